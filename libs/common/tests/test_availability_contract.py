"""The availability contract refuses slots no provider would answer (found by fuzzing the
running stack: a 363-year slot took Graph 15 s of paging and Google answered it with a 502)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from visitor_common.contracts.availability import AvailabilityQuery, TimeSlot

START = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (START, START, "end must be after start"),
        (START, START + timedelta(hours=24, seconds=1), "at most 24 hours"),
        (datetime(302, 6, 16, tzinfo=UTC), datetime(302, 6, 16, 1, tzinfo=UTC), "years 2000 and 2100"),
        (datetime(2100, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, 1, tzinfo=UTC), "years 2000 and 2100"),
    ],
)
def test_slots_no_provider_would_answer_are_refused(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TimeSlot(start=start, end=end)


def test_a_meeting_sized_slot_is_accepted() -> None:
    query = AvailabilityQuery(slots=[TimeSlot(start=START, end=START + timedelta(hours=24))])
    assert query.slots[0].end - query.slots[0].start == timedelta(hours=24)
