"""Push channels: ``events/watch``, ``channels/stop`` and the notifications they trigger."""

from __future__ import annotations

import hashlib
from typing import Any

from provider_emulators.google.context import GoogleEmulator
from provider_emulators.google.errors import GoogleApiError, invalid, not_found, required
from provider_emulators.google.push import Notification, channel_headers
from provider_emulators.google.state import Channel

DEFAULT_CHANNEL_TTL_MS = 7 * 24 * 3600 * 1000


def _expiration_ms(value: Any, default: float) -> int:
    if value is None or value == "":
        return int(default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid("Invalid value for: expiration", "expiration") from None


class ChannelService:
    """Channels per calendar; ``notify`` is called by every event write (API or direct edit)."""

    def __init__(self, emu: GoogleEmulator) -> None:
        self.emu = emu
        self.state = emu.state

    def watch(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        channel_id, address = body.get("id"), body.get("address")
        if not channel_id:
            raise required("id")
        if not isinstance(channel_id, str):
            raise invalid("Invalid value for: id", "id")
        if body.get("type") not in ("web_hook", "webhook"):
            raise invalid("Invalid value for: type", "type")
        if not isinstance(address, str) or not address.startswith(("https://", "http://")):
            raise invalid("Invalid value for: address", "address")
        if channel_id in self.state.channels:
            raise GoogleApiError(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
        if body.get("token") is not None and not isinstance(body["token"], str):
            raise invalid("Invalid value for: token", "token")
        default_expiration = self.state.clock.time() * 1000 + DEFAULT_CHANNEL_TTL_MS
        expiration = _expiration_ms(body.get("expiration"), default_expiration)
        channel = Channel(
            id=str(channel_id),
            resource_id=hashlib.sha1(calendar_id.encode(), usedforsecurity=False).hexdigest()[:27],
            calendar_id=calendar_id,
            address=address,
            token=body.get("token"),
            expiration_ms=expiration,
        )
        self.state.channels[channel.id] = channel
        self._send(channel, "sync")
        response: dict[str, Any] = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": self._resource_uri(calendar_id),
            "expiration": str(channel.expiration_ms),
        }
        if channel.token is not None:
            response["token"] = channel.token
        return response

    def stop(self, body: dict[str, Any]) -> None:
        channel = self.state.channels.get(str(body.get("id", "")))
        if channel is None or (body.get("resourceId") and body["resourceId"] != channel.resource_id):
            raise not_found(f"Channel '{body.get('id')}' not found")
        del self.state.channels[channel.id]

    def notify(self, calendar_id: str) -> None:
        now_ms = self.state.clock.time() * 1000
        for channel in list(self.state.channels.values()):
            if channel.calendar_id == calendar_id and channel.expiration_ms > now_ms:
                self._send(channel, "exists")

    def _send(self, channel: Channel, resource_state: str) -> None:
        channel.message_number += 1
        headers = channel_headers(
            channel_id=channel.id,
            token=channel.token,
            resource_id=channel.resource_id,
            resource_uri=self._resource_uri(channel.calendar_id),
            resource_state=resource_state,
            message_number=channel.message_number,
            expiration_ms=channel.expiration_ms,
        )
        self.emu.notifier.send(Notification(channel.address, headers))

    def _resource_uri(self, calendar_id: str) -> str:
        return f"{self.emu.base_url}/calendar/v3/calendars/{calendar_id}/events?alt=json"
