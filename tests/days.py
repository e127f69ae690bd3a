"""Days for tests that plan on the wall clock's calendar, whatever today is."""

from __future__ import annotations

from datetime import date, timedelta

from scheduler.workdays import AcademyCalendar


def working_day(calendar: AcademyCalendar, day: date, step: int = 1) -> date:
    """``day``, or the first day ``step`` days after it (and so on) that is not a day off (a
    public holiday, a moved day off): planning on a day off asks for confirmation, which is not
    what such a test is about. ``step=7`` keeps the weekday."""
    while calendar.day_off(day) is not None:
        day += timedelta(days=step)
    return day
