"""The timetable's calendar: the week or month a person looks at, its neighbours, the weeks of
days that cover it with the classes of each day, and a month's bounds in a time zone. Pure:
given the raw choice (as asked) and today, never the clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .models import LiveClass

FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years the timetable answers for


@dataclass(frozen=True, slots=True)
class Span:
    view: str  # "week" or "month"
    first: date  # local days, inclusive
    last: date
    previous: str  # query strings of the neighbouring spans
    next: str

    def bounds(self, zone: str) -> tuple[datetime, datetime]:
        tz = ZoneInfo(zone)
        start = datetime.combine(self.first, time(), tz).astimezone(UTC)
        end = datetime.combine(self.last + timedelta(days=1), time(), tz).astimezone(UTC)
        return start, end


def span(view: str, month: str, day: str) -> Span:
    """The week (``view`` "week": the one holding ``day``, YYYY-MM-DD, from its Monday) or the
    month (``view`` "month": ``month``, YYYY-MM). ``ValueError`` for another view, a malformed
    day or month, or a year outside 2000–2100."""
    if view == "month":
        first = datetime.strptime(month, "%Y-%m").date()
        if not FIRST_YEAR <= first.year <= LAST_YEAR:
            raise ValueError(f"year {first.year} is out of range")
        after = (first + timedelta(days=32)).replace(day=1)
        before = (first - timedelta(days=1)).replace(day=1)
        return Span(
            "month",
            first,
            after - timedelta(days=1),
            f"view=month&month={before:%Y-%m}",
            f"view=month&month={after:%Y-%m}",
        )
    if view != "week":
        raise ValueError(f"no view {view!r}")
    asked = date.fromisoformat(day)
    if not FIRST_YEAR <= asked.year <= LAST_YEAR:
        raise ValueError(f"year {asked.year} is out of range")
    monday = asked - timedelta(days=asked.weekday())
    return Span(
        "week",
        monday,
        monday + timedelta(days=6),
        f"view=week&date={monday - timedelta(days=7)}",
        f"view=week&date={monday + timedelta(days=7)}",
    )


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    inside: bool  # within the span (a month's first and last weeks reach outside it)
    classes: list[LiveClass]


def weeks(span: Span, classes: Sequence[LiveClass], zone: str) -> list[list[Day]]:
    """Weeks of days (Monday first) covering the span, each day with the classes that start on
    it in ``zone``."""
    tz = ZoneInfo(zone)
    by_day: dict[date, list[LiveClass]] = {}
    for c in classes:
        by_day.setdefault(c.starts_at.astimezone(tz).date(), []).append(c)
    day = span.first - timedelta(days=span.first.weekday())
    out = []
    while day <= span.last:
        week = []
        for _i in range(7):
            week.append(Day(day, span.first <= day <= span.last, by_day.get(day, [])))
            day += timedelta(days=1)
        out.append(week)
    return out


@dataclass(frozen=True, slots=True)
class Month:
    text: str  # YYYY-MM
    start: datetime  # UTC
    end: datetime  # UTC, exclusive


def month(text: str, zone: str) -> Month:
    """The month ``text`` (YYYY-MM) bounded in ``zone``; ``ValueError`` if malformed or outside
    2000–2100."""
    tz = ZoneInfo(zone)
    first = datetime.strptime(text, "%Y-%m").replace(tzinfo=tz)
    if not FIRST_YEAR <= first.year <= LAST_YEAR:
        raise ValueError(f"year {first.year} is out of range")
    nxt = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )
    return Month(text, first.astimezone(UTC), nxt.astimezone(UTC))
