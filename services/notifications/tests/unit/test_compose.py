"""Mail composition: what each mail says, in Japanese first then English, and its .ics parsed
back with icalendar (one UID per appointment, SEQUENCE = version, REQUEST / CANCEL)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar
from notifications_testkit import CODE, GUEST_URL, START, body_of, ics_of, snapshot

from notifications_service.domain import compose
from notifications_service.domain.ics import appointment_uid
from notifications_service.domain.message import mime_message
from notifications_service.domain.model import IcsMethod, MailKind, Recipient
from visitor_common.events import AppointmentStatus

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2030, 3, 1, tzinfo=UTC)


def event_of(ics: bytes) -> tuple[Calendar, object]:
    calendar = Calendar.from_ical(ics)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def test_invitation_carries_the_link_and_every_candidate_japanese_first() -> None:
    appointment = snapshot()
    mail = compose.invitation(
        appointment,
        appointment.guests[0],
        host_name="花子 Hana",
        guest_url=GUEST_URL,
        link_expires_at=None,
        zone=TOKYO,
    )
    assert mail.kind is MailKind.INVITATION and mail.to == Recipient("taro@guest.example", "山田 太郎")
    assert mail.subject.startswith("【ご来訪日時のご確認】") and "Please choose a time" in mail.subject
    assert mail.text.count(GUEST_URL) == 2  # in both languages
    assert mail.text.index("山田 太郎 様") < mail.text.index("Dear 山田 太郎")
    assert "2030年4月1日(月) 10:00〜11:00 (Asia/Tokyo)" in mail.text
    assert "Mon 1 Apr 2030, 10:00–11:00 (Asia/Tokyo)" in mail.text
    assert "2030年4月2日(火)" in mail.text  # the second candidate
    assert mail.calendar is None
    assert GUEST_URL not in repr(mail)


def test_confirmation_has_time_place_host_code_and_an_ics_request() -> None:
    appointment = snapshot(version=3, confirmed=True)
    mail = compose.confirmation(
        appointment, appointment.guests[1], host_name="花子 Hana", reception_code=CODE, zone=TOKYO, stamp=NOW
    )
    assert mail is not None
    for expected in (
        "受付コード: 482913",
        "Reception code: 482913",
        "会議室7 / Room 7",
        "担当: 花子 Hana 様",
    ):
        assert expected in mail.text
    assert "2030年4月1日(月) 10:00〜11:00" in mail.text
    assert mail.calendar is not None and mail.calendar.method is IcsMethod.REQUEST
    calendar, event = event_of(mail.calendar.content)
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == appointment_uid("appt-1")
    assert int(event["SEQUENCE"]) == 3
    assert event.decoded("DTSTART") == START and event.decoded("DTEND") == START.replace(hour=2)
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["LOCATION"]) == "会議室7 / Room 7"
    assert str(event["ORGANIZER"]) == "mailto:hana@example.com"
    assert {str(a) for a in event["ATTENDEE"]} == {"mailto:taro@guest.example", "mailto:jane@guest.example"}
    assert CODE not in mail.calendar.content.decode()  # the code is for the mail, not the calendar


def test_reschedule_keeps_the_uid_and_raises_the_sequence() -> None:
    confirmed = snapshot(version=3, confirmed=True)
    first = compose.confirmation(
        confirmed, confirmed.guests[0], host_name=None, reception_code=CODE, zone=TOKYO, stamp=NOW
    )
    moved = snapshot(version=4, confirmed=True, start=START.replace(day=3))
    second = compose.rescheduled(moved, moved.guests[0], zone=TOKYO, stamp=NOW)
    assert first is not None and first.calendar is not None and second.calendar is not None
    _, before = event_of(first.calendar.content)
    calendar, after = event_of(second.calendar.content)
    assert str(before["UID"]) == str(after["UID"])
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert calendar["METHOD"] == "REQUEST" and after.decoded("DTSTART") == START.replace(day=3)
    assert "新しい日時: 2030年4月3日(水) 10:00〜11:00" in second.text
    assert "受付コードは変わりません" in second.text and CODE not in second.text


def test_reschedule_of_a_proposal_lists_the_new_candidates_without_an_ics() -> None:
    proposed = snapshot(version=2)
    mail = compose.rescheduled(proposed, proposed.guests[0], zone=TOKYO, stamp=NOW)
    assert mail.calendar is None
    assert "新しい候補日時" in mail.text and "New proposed times" in mail.text


def test_cancellation_of_a_confirmed_visit_cancels_the_calendar_entry() -> None:
    appointment = snapshot(version=5, confirmed=True).model_copy(
        update={"status": AppointmentStatus.CANCELLED}
    )
    mail = compose.cancelled(appointment, appointment.guests[0], zone=TOKYO, stamp=NOW)
    assert "取り消されました" in mail.text and "has been cancelled" in mail.text
    assert mail.calendar is not None and mail.calendar.filename == "cancel.ics"
    calendar, event = event_of(mail.calendar.content)
    assert calendar["METHOD"] == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == appointment_uid("appt-1") and int(event["SEQUENCE"]) == 5


def test_cancellation_of_a_proposal_has_no_ics() -> None:
    appointment = snapshot(version=2).model_copy(update={"status": AppointmentStatus.CANCELLED})
    assert compose.cancelled(appointment, appointment.guests[0], zone=TOKYO, stamp=NOW).calendar is None


def test_arrival_mail_goes_to_the_host() -> None:
    appointment = snapshot(confirmed=True)
    mail = compose.checked_in(
        title=appointment.title,
        host=Recipient("hana@example.com", "花子 Hana"),
        guests=appointment.guests,
        slot=appointment.candidates[0],
        checked_in_at=START.replace(minute=55, hour=0),
        zone=TOKYO,
    )
    assert mail.to.email == "hana@example.com"
    assert "山田 太郎 様、Jane Roe 様 が受付に到着しました" in mail.text
    assert "山田 太郎, Jane Roe arrived at reception." in mail.text
    assert "受付時刻: 2030年4月1日(月) 09:55" in mail.text


def test_the_mime_message_is_utf8_text_with_a_calendar_part_and_a_stable_message_id() -> None:
    appointment = snapshot(version=3, confirmed=True)
    mail = compose.confirmation(
        appointment, appointment.guests[0], host_name=None, reception_code=CODE, zone=TOKYO, stamp=NOW
    )
    assert mail is not None
    outgoing = mime_message(mail, sender="Visits <noreply@example.com>", delivery_key="ev1.abc", date=NOW)
    assert (outgoing.envelope_from, outgoing.envelope_to) == ("noreply@example.com", ("taro@guest.example",))
    message = outgoing.parsed()  # as the guest's mail program reads the bytes
    assert message["Message-ID"] == "<ev1.abc@visitor-scheduling.notifications>"
    assert message["To"].addresses[0].addr_spec == "taro@guest.example"
    assert message["To"].addresses[0].display_name == mail.to.name  # non-ASCII names survive
    assert message["Subject"] == mail.subject and not mail.subject.isascii()
    assert message["From"].addresses[0].display_name == "Visits"
    assert b"\r\n" in outgoing.data and b"\n" not in outgoing.data.replace(b"\r\n", b"")  # CRLF only
    assert "受付コード: 482913" in body_of(message)
    calendar_part = next(p for p in message.iter_attachments() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "REQUEST"
    ics = ics_of(message)
    assert ics is not None and b"BEGIN:VCALENDAR" in ics
