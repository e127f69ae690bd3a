"""The academy calendar: Kazakhstan's public holidays, and the days staff set over them."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.errors import BadCalendarDay, NonWorkingDay
from scheduler.workdays import AcademyCalendar, CalendarDay, DayKind, DaySource

WEEK = range(5)  # Monday to Friday


def test_public_holidays_are_non_working_days() -> None:
    cal = AcademyCalendar()
    assert cal.day_off(date(2027, 1, 1)) == "New Year's Day"
    assert cal.day_off(date(2027, 3, 8)) == "International Women's Day"
    for day in (21, 22, 23):  # Nauryz, three days
        assert cal.day_off(date(2027, 3, day)) == "Nowruz Holiday"
    assert cal.day_off(date(2027, 12, 16)) == "Independence Day"
    # A holiday on a weekend moves its day off to the next working day (the law's rule).
    assert cal.day_off(date(2027, 3, 24)) == "Nowruz Holiday (observed)"
    assert cal.day_off(date(2027, 1, 4)) == "New Year's Day (observed)"
    assert not cal.is_working(date(2027, 3, 22), WEEK)  # a Monday
    # Ordinary days: a weekday is worked, a weekend is not, neither is named off.
    assert cal.day_off(date(2027, 3, 10)) is None and cal.is_working(date(2027, 3, 10), WEEK)
    assert cal.day_off(date(2027, 3, 13)) is None and not cal.is_working(date(2027, 3, 13), WEEK)


def test_leap_day_and_the_year_s_ends() -> None:
    cal = AcademyCalendar()
    assert cal.day_off(date(2028, 2, 29)) is None and cal.is_working(date(2028, 2, 29), WEEK)
    assert cal.day_off(date(2026, 12, 31)) is None and cal.is_working(date(2026, 12, 31), WEEK)
    assert cal.day_off(date(2028, 1, 1)) == "New Year's Day"


def test_days_staff_set_come_before_the_law() -> None:
    moved = CalendarDay(date(2027, 1, 8), DayKind.DAY_OFF, "Перенос с субботы 16 января")
    saturday = CalendarDay(date(2027, 1, 16), DayKind.WORKING_DAY, "Рабочая суббота")
    own = CalendarDay(date(2027, 9, 1), DayKind.DAY_OFF, "День академии")
    worked = CalendarDay(date(2027, 3, 8), DayKind.WORKING_DAY, "Сессия: 8 марта работаем")
    cal = AcademyCalendar({d.day: d for d in (moved, saturday, own, worked)})
    assert cal.day_off(date(2027, 1, 8)) == "Перенос с субботы 16 января"  # a Friday off
    assert not cal.is_working(date(2027, 1, 8), WEEK)
    assert cal.is_working(date(2027, 1, 16), WEEK) and cal.day_off(date(2027, 1, 16)) is None
    assert cal.day_off(date(2027, 9, 1)) == "День академии"
    # A holiday staff made a working day is worked, and needs no confirmation.
    assert cal.day_off(date(2027, 3, 8)) is None and cal.is_working(date(2027, 3, 8), WEEK)
    cal.check(date(2027, 3, 8), confirmed=False)
    # Forgetting what staff set: the law again.
    assert AcademyCalendar().day_off(date(2027, 3, 8)) == "International Women's Day"
    year = {d.day: d for d in cal.year(2027)}
    assert year[date(2027, 3, 8)].source is DaySource.STAFF
    assert not year[date(2027, 3, 8)].off
    assert year[date(2027, 3, 8)].holiday == "International Women's Day"
    assert year[date(2027, 1, 16)].source is DaySource.STAFF and not year[date(2027, 1, 16)].off
    assert year[date(2027, 3, 22)].source is DaySource.HOLIDAY and year[date(2027, 3, 22)].off
    assert list(year) == sorted(year)
    offs = cal.days_off(date(2027, 1, 1), date(2027, 1, 31))
    assert (date(2027, 1, 8), "Перенос с субботы 16 января") in offs
    assert all(d != date(2027, 1, 16) for d, _ in offs)


def test_a_class_on_a_day_off_needs_confirmation_naming_the_day() -> None:
    cal = AcademyCalendar()
    with pytest.raises(NonWorkingDay) as caught:
        cal.check(date(2027, 3, 22), confirmed=False)
    assert caught.value.day == date(2027, 3, 22) and caught.value.name == "Nowruz Holiday"
    cal.check(date(2027, 3, 22), confirmed=True)
    cal.check(date(2027, 3, 20), confirmed=False)  # a Saturday: not a day off by name


@pytest.mark.parametrize(
    ("day", "name"),
    [(date(2027, 1, 8), ""), (date(2027, 1, 8), "   "), (date(2027, 1, 8), "x" * 201),
     (date(1999, 12, 31), "Старый день")],
)  # fmt: skip
def test_a_day_staff_set_has_a_name_and_a_day_in_range(day: date, name: str) -> None:
    with pytest.raises(BadCalendarDay):
        CalendarDay(day, DayKind.DAY_OFF, name)
