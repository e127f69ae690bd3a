"""The timetable's calendar: weeks and months asked for, their neighbours, the weeks of days
that cover them, and a month's bounds in a time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from scheduler.calendar import Span, month, span, weeks
from scheduler.models import ClassFormat, ClassKind, ClassStatus, LiveClass

ALMATY = "Asia/Almaty"  # UTC+5 all year


def _class(class_id: int, starts_at: datetime) -> LiveClass:
    return LiveClass(
        id=class_id,
        title="Algebra",
        kind=ClassKind.LECTURE,
        format=ClassFormat.LIVE_ONLINE,
        teacher_id=1,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        status=ClassStatus.PLANNED,
    )


def test_a_week_runs_from_the_monday_of_the_day_asked_with_its_neighbours() -> None:
    s = span("week", "2020-01", "2024-02-29")  # a Thursday of a leap year
    assert (s.view, s.first, s.last) == ("week", date(2024, 2, 26), date(2024, 3, 3))
    assert s.previous == "view=week&date=2024-02-19"
    assert s.next == "view=week&date=2024-03-04"


def test_a_month_runs_from_its_first_to_its_last_day_across_a_year_end() -> None:
    s = span("month", "2024-12", "2024-02-29")
    assert (s.view, s.first, s.last) == ("month", date(2024, 12, 1), date(2024, 12, 31))
    assert s.previous == "view=month&month=2024-11"
    assert s.next == "view=month&month=2025-01"
    assert span("month", "2024-02", "").last == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("view", "month_text", "day"),
    [
        ("year", "2024-01", "2024-01-01"),
        ("week", "2024-01", "2024-13-01"),
        ("week", "2024-01", "1999-12-31"),
        ("month", "2101-01", "2024-01-01"),
        ("month", "24-1", "2024-01-01"),
    ],
)
def test_another_view_a_malformed_date_or_a_year_out_of_range_is_refused(
    view: str, month_text: str, day: str
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the page answers every one the same
        span(view, month_text, day)


def test_a_spans_bounds_are_its_local_days_in_utc() -> None:
    s = Span("week", date(2024, 3, 4), date(2024, 3, 10), "", "")
    assert s.bounds(ALMATY) == (
        datetime(2024, 3, 3, 19, tzinfo=UTC),
        datetime(2024, 3, 10, 19, tzinfo=UTC),
    )


def test_weeks_cover_a_month_from_monday_and_put_each_class_on_its_local_day() -> None:
    s = span("month", "2024-03", "")  # 1 March 2024 is a Friday, the 31st a Sunday
    late = _class(1, datetime(2024, 3, 4, 20, tzinfo=UTC))  # 01:00 on the 5th in Almaty
    days = weeks(s, [late], ALMATY)
    assert len(days) == 5
    assert all(len(w) == 7 for w in days)
    assert days[0][0].day == date(2024, 2, 26)
    assert not days[0][0].inside
    assert days[0][4].inside
    assert days[-1][-1].day == date(2024, 3, 31)
    by_day = {d.day: d.classes for w in days for d in w}
    assert by_day[date(2024, 3, 5)] == [late]
    assert by_day[date(2024, 3, 4)] == []


def test_a_month_is_bounded_in_its_time_zone_and_ends_where_the_next_begins() -> None:
    m = month("2024-12", ALMATY)
    assert m.text == "2024-12"
    assert m.start == datetime(2024, 11, 30, 19, tzinfo=UTC)
    assert m.end == datetime(2024, 12, 31, 19, tzinfo=UTC)
    for bad in ("2024-13", "1999-12", "2024/12", ""):
        with pytest.raises(ValueError):  # noqa: PT011 - the page answers every one the same
            month(bad, ALMATY)
