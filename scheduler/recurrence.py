"""Recurring classes: a weekly rule (RRULE via python-dateutil) on given days at a local time,
until a date, with exceptions, turned into UTC start and end times. The local time is kept
across a change of the zone's offset (Almaty moved from UTC+6 to UTC+5 on 2024-03-01): a class
at 10:00 stays at 10:00 on the wall clock."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dateutil.rrule import WEEKLY, rrule, weekday

from .errors import (
    ClassTooLong,
    EndsBeforeStart,
    NoWeekdays,
    RuleEndsBeforeStart,
    TooManyOccurrences,
)
from .models import LONGEST_CLASS, check_day, zone

MAX_OCCURRENCES = 400


@dataclass(frozen=True, slots=True)
class Occurrence:
    starts_at: datetime  # UTC
    ends_at: datetime


def local_span(day: date, start: time, end: time, tz_name: str) -> Occurrence:
    """A class on a local day from ``start`` to ``end`` (wall-clock times in the zone)."""
    check_day(day)
    tz = zone(tz_name)
    starts = datetime.combine(day, start, tz).astimezone(UTC)
    ends = datetime.combine(day, end, tz).astimezone(UTC)
    if ends <= starts:
        raise EndsBeforeStart
    if ends - starts > LONGEST_CLASS:
        raise ClassTooLong(LONGEST_CLASS)
    return Occurrence(starts, ends)


def weekly(
    first_day: date,
    until: date,
    weekdays: Sequence[int],
    start: time,
    end: time,
    tz_name: str,
    except_days: Collection[date] = (),
) -> list[Occurrence]:
    """Every ``weekdays`` (0 = Monday) from ``first_day`` to ``until`` inclusive, except the
    days listed, at ``start``–``end`` local time."""
    if until < first_day:
        raise RuleEndsBeforeStart
    check_day(first_day)
    check_day(until)
    days = sorted(set(weekdays))
    if not days or any(not 0 <= d <= 6 for d in days):
        raise NoWeekdays
    rule = rrule(
        WEEKLY,
        dtstart=datetime.combine(first_day, time()),
        until=datetime.combine(until, time()),
        byweekday=[weekday(d) for d in days],
    )
    out = []
    skip = set(except_days)
    for moment in rule.xafter(datetime.combine(first_day, time()) - timedelta(days=1), inc=True):
        day = moment.date()
        if day in skip:
            continue
        out.append(local_span(day, start, end, tz_name))
        if len(out) > MAX_OCCURRENCES:
            raise TooManyOccurrences(MAX_OCCURRENCES)
    return out
