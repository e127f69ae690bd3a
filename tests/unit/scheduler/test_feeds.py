"""The timetable's calendar feeds: a moved class keeps its UID with a higher SEQUENCE, a
cancelled one stays as CANCELLED; non-working days are all-day events."""

from __future__ import annotations

from datetime import UTC, date, datetime

from icalendar import Calendar

from scheduler.feeds import classes_ics, days_off_ics, feed_token
from scheduler.models import (
    ClassFormat,
    ClassKind,
    ClassStatus,
    LiveClass,
    TimetableAction,
    TimetableChange,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_feed_s_secret_is_per_kind_and_id() -> None:
    token = feed_token(b"key", "groups", 3)
    assert len(token) == 32
    assert token != feed_token(b"key", "teachers", 3) != feed_token(b"other", "groups", 3)


def test_classes_follow_the_timetable() -> None:
    moved = LiveClass(
        7, "Law", ClassKind.LECTURE, ClassFormat.LIVE_ONLINE, 5,
        datetime(2026, 3, 2, 5, tzinfo=UTC), datetime(2026, 3, 2, 6, tzinfo=UTC),
        ClassStatus.CANCELLED, (3,),
    )  # fmt: skip
    log = [
        TimetableChange(2.0, TimetableAction.CANCELLED, 1, "Staff", 7, None, ""),
        TimetableChange(1.0, TimetableAction.MOVED, 1, "Staff", 7, None, ""),
        TimetableChange(0.0, TimetableAction.PLANNED, 1, "Staff", 7, None, ""),
    ]
    body = classes_ics(
        "LAW-1", "Asia/Almaty", [moved], now=NOW, base="https://sabaq.example",
        changes=lambda _id: log, group_name=lambda _id: "LAW-1", teachers={5: "Bek"},
        kinds={ClassKind.LECTURE: "lecture"}, formats={ClassFormat.LIVE_ONLINE: "online"},
    )  # fmt: skip
    (event,) = Calendar.from_ical(body).walk("VEVENT")
    assert str(event["uid"]) == "class-7@sabaq"
    assert event["sequence"] == 2
    assert str(event["status"]) == "CANCELLED"
    assert str(event["description"]) == "lecture · online · Bek · LAW-1"
    assert str(event["url"]) == "https://sabaq.example/classes/7"


def test_days_off_are_all_day_events() -> None:
    body = days_off_ics("Days off", [(date(2026, 3, 8), "Women's day")], NOW)
    (event,) = Calendar.from_ical(body).walk("VEVENT")
    assert event.decoded("dtstart") == date(2026, 3, 8)
    assert str(event["summary"]) == "Women's day"
