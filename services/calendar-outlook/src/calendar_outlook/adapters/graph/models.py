"""Typed views of the Graph resources the connector reads (unknown fields are ignored)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_FRACTION = re.compile(r"(\.\d{1,6})\d*")


class _Graph(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class DateTimeTimeZone(_Graph):
    date_time: str = Field(alias="dateTime")
    time_zone: str = Field("UTC", alias="timeZone")

    def as_utc(self) -> dt.datetime:
        """The instant, assuming ``Prefer: outlook.timezone="UTC"`` (the client always sends it)."""
        text = _FRACTION.sub(lambda m: m.group(1), self.date_time.rstrip("Z"))
        value = dt.datetime.fromisoformat(text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    @classmethod
    def utc(cls, value: dt.datetime) -> DateTimeTimeZone:
        stamp = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        return cls.model_validate({"dateTime": stamp, "timeZone": "UTC"})


class EmailAddress(_Graph):
    address: str | None = None
    name: str | None = None


class ResponseStatus(_Graph):
    response: str = "none"
    time: str | None = None


class Attendee(_Graph):
    email_address: EmailAddress = Field(alias="emailAddress")
    type: str = "required"
    status: ResponseStatus = Field(default_factory=ResponseStatus)


class Location(_Graph):
    display_name: str = Field("", alias="displayName")
    location_email_address: str | None = Field(None, alias="locationEmailAddress")
    location_type: str | None = Field(None, alias="locationType")


class ItemBody(_Graph):
    content_type: str = Field("text", alias="contentType")
    content: str = ""


class ExtendedProperty(_Graph):
    id: str
    value: str


class GraphEvent(_Graph):
    id: str
    change_key: str | None = Field(None, alias="changeKey")
    transaction_id: str | None = Field(None, alias="transactionId")
    subject: str | None = None
    body: ItemBody | None = None
    start: DateTimeTimeZone | None = None
    end: DateTimeTimeZone | None = None
    show_as: str | None = Field(None, alias="showAs")
    is_cancelled: bool = Field(False, alias="isCancelled")
    location: Location | None = None
    attendees: list[Attendee] = Field(default_factory=list)
    extended_properties: list[ExtendedProperty] = Field(
        default_factory=list, alias="singleValueExtendedProperties"
    )
    removed: dict[str, Any] | None = Field(None, alias="@removed")

    def property_value(self, prop_id: str) -> str | None:
        wanted = prop_id.lower()
        return next((p.value for p in self.extended_properties if p.id.lower() == wanted), None)

    def attendee_response(self, address: str) -> str | None:
        wanted = address.lower()
        for attendee in self.attendees:
            if (attendee.email_address.address or "").lower() == wanted:
                return attendee.status.response
        return None


class DeltaResult(_Graph):
    """All pages of one delta round: changed events, removed ids, and the next deltaLink."""

    changed: list[GraphEvent] = Field(default_factory=list)
    removed_ids: list[str] = Field(default_factory=list)
    delta_link: str


class ScheduleItem(_Graph):
    status: str = "busy"
    start: DateTimeTimeZone
    end: DateTimeTimeZone


class ScheduleError(_Graph):
    message: str | None = None
    response_code: str | None = Field(None, alias="responseCode")


class ScheduleInformation(_Graph):
    schedule_id: str = Field(alias="scheduleId")
    availability_view: str = Field("", alias="availabilityView")
    schedule_items: list[ScheduleItem] = Field(default_factory=list, alias="scheduleItems")
    error: ScheduleError | None = None


class GraphRoomList(_Graph):
    id: str
    display_name: str = Field("", alias="displayName")
    email_address: str | None = Field(None, alias="emailAddress")


class GraphRoom(_Graph):
    id: str
    email_address: str | None = Field(None, alias="emailAddress")
    display_name: str = Field("", alias="displayName")
    capacity: int | None = None
    building: str | None = None
    floor_label: str | None = Field(None, alias="floorLabel")
    floor_number: int | None = Field(None, alias="floorNumber")


class GraphSubscription(_Graph):
    id: str
    resource: str = ""
    change_type: str = Field("", alias="changeType")
    client_state: str | None = Field(None, alias="clientState")
    notification_url: str = Field("", alias="notificationUrl")
    expiration: dt.datetime = Field(alias="expirationDateTime")
