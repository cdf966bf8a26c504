"""Bad input never produces a 5xx (SPEC §7): property tests over the write and query surfaces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ApiFactory = Callable[..., httpx.Client]
EVENTS = "/calendar/v3/calendars/primary/events"
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
times = st.one_of(
    st.text(max_size=25),
    st.sampled_from(
        ["2030-01-07T10:00:00Z", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2030-02-30"]
    ),
)
event_time = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={"dateTime": times, "date": times, "timeZone": st.text(max_size=20)}),
)
event_bodies = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", max_size=12), json_values),
        "summary": json_values,
        "start": event_time,
        "end": event_time,
        "status": st.one_of(st.sampled_from(["confirmed", "tentative", "cancelled"]), json_values),
        "attendees": st.one_of(json_values, st.lists(st.fixed_dictionaries({"email": st.text(max_size=10)}))),
        "extendedProperties": json_values,
        "sequence": json_values,
        "transparency": json_values,
    },
)


def assert_client_error_or_success(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["errors"][0]["reason"]


def test_event_writes_never_5xx(google_api: ApiFactory) -> None:
    api = google_api()
    api.post(EVENTS, json={"id": "fuzz00001", "start": {"date": "2030-01-07"}, "end": {"date": "2030-01-08"}})

    @SETTINGS
    @given(body=event_bodies)
    def check(body: dict[str, Any]) -> None:
        assert_client_error_or_success(api.post(EVENTS, json=body))
        assert_client_error_or_success(api.patch(f"{EVENTS}/fuzz00001", json=body))
        assert_client_error_or_success(api.put(f"{EVENTS}/fuzz00001", json=body))

    check()


def test_queries_never_5xx(google_api: ApiFactory) -> None:
    api = google_api()
    params = st.dictionaries(
        st.sampled_from(
            [
                "timeMin",
                "timeMax",
                "maxResults",
                "pageToken",
                "syncToken",
                "orderBy",
                "singleEvents",
                "showDeleted",
                "q",
                "privateExtendedProperty",
            ]
        ),
        times,
        max_size=4,
    )

    @SETTINGS
    @given(
        query=params, freebusy=st.dictionaries(st.sampled_from(["timeMin", "timeMax", "items"]), json_values)
    )
    def check(query: dict[str, str], freebusy: dict[str, Any]) -> None:
        assert_client_error_or_success(api.get(EVENTS, params=query))
        assert_client_error_or_success(api.post("/calendar/v3/freeBusy", json=freebusy))
        assert_client_error_or_success(api.post(f"{EVENTS}/watch", json=freebusy | {"id": query.get("q")}))

    check()
