"""The academy calendar (clause 7.3): which days are non-working. Kazakhstan's public holidays
(and the days off the law moves when a holiday falls on a weekend) come from the ``holidays``
library; staff add what it cannot know: the government's yearly moved days off (a working
Saturday, a weekday off in exchange) and the academy's own non-working days, or make a holiday
a working day. Pure: the days staff set are given, the library computes the rest."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import holidays

from .errors import BadCalendarDay, NonWorkingDay
from .models import EARLIEST_DAY, LATEST_DAY

COUNTRY = "KZ"
MAX_DAY_NAME = 200


class DayKind(enum.StrEnum):
    DAY_OFF = "day_off"  # not worked: no class without confirmation; the guarantee avoids it
    WORKING_DAY = "working_day"  # worked, even on a weekend or a public holiday


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """A day staff set in the academy calendar."""

    day: date
    kind: DayKind
    name: str  # why: "Working Saturday for 2 January", "Academy's founding day"
    by_name: str = ""
    at: float = 0.0

    def __post_init__(self) -> None:
        if not EARLIEST_DAY <= self.day <= LATEST_DAY:
            raise BadCalendarDay(MAX_DAY_NAME)
        if not self.name.strip() or len(self.name) > MAX_DAY_NAME:
            raise BadCalendarDay(MAX_DAY_NAME)
        DayKind(self.kind)


class DaySource(enum.StrEnum):
    HOLIDAY = "holiday"  # a public holiday (or its moved day off) from the library
    STAFF = "staff"  # set by staff


@dataclass(frozen=True, slots=True)
class YearDay:
    """A day of a year's calendar that is not a plain day: off, or worked against the rule."""

    day: date
    off: bool
    name: str  # the holiday's English name (the library's), or staff's words
    source: DaySource
    holiday: str | None = None  # the public holiday staff overrode, if any


@dataclass(slots=True)
class AcademyCalendar:
    """The calendar as it stands: public holidays under the days staff set."""

    staff_days: Mapping[date, CalendarDay] = field(default_factory=dict)
    _years: dict[int, dict[date, str]] = field(default_factory=dict, repr=False)

    def public_holidays(self, year: int) -> dict[date, str]:
        """The year's public holidays and moved days off, by the library, English names."""
        if year not in self._years:
            kz = holidays.country_holidays(COUNTRY, years=year, language="en_US")
            self._years[year] = {d: str(n) for d, n in sorted(kz.items())}
        return self._years[year]

    def holiday(self, day: date) -> str | None:
        return self.public_holidays(day.year).get(day)

    def day_off(self, day: date) -> str | None:
        """Why ``day`` is not worked (a public holiday or a day staff set off), or None. A
        plain weekend is not named here: whether it is worked is the working week's matter."""
        own = self.staff_days.get(day)
        if own is not None:
            return own.name if own.kind is DayKind.DAY_OFF else None
        return self.holiday(day)

    def worked(self, day: date) -> bool:
        """Staff made ``day`` a working day (a working Saturday, a holiday worked)."""
        own = self.staff_days.get(day)
        return own is not None and own.kind is DayKind.WORKING_DAY

    def is_working(self, day: date, weekdays: Iterable[int]) -> bool:
        """A day to work on: a day of the working week (``weekdays``, 0 = Monday) that is not
        off, or a day staff made a working day."""
        if self.worked(day):
            return True
        return day.weekday() in set(weekdays) and self.day_off(day) is None

    def check(self, day: date, *, confirmed: bool) -> None:
        """A class on a non-working day needs confirmation: ``NonWorkingDay`` names the day."""
        name = self.day_off(day)
        if name is not None and not confirmed:
            raise NonWorkingDay(day, name)

    def year(self, year: int) -> list[YearDay]:
        """The year's days off and the days staff set, in order."""
        holidays_ = self.public_holidays(year)
        out: dict[date, YearDay] = {
            d: YearDay(d, True, n, DaySource.HOLIDAY, n) for d, n in holidays_.items()
        }
        for d, own in self.staff_days.items():
            if d.year == year:
                out[d] = YearDay(
                    d, own.kind is DayKind.DAY_OFF, own.name, DaySource.STAFF, holidays_.get(d)
                )
        return [out[d] for d in sorted(out)]

    def days_off(self, first: date, last: date) -> list[tuple[date, str]]:
        """Every non-working day (named) from ``first`` to ``last``, inclusive."""
        out = []
        for year in range(first.year, last.year + 1):
            for yd in self.year(year):
                if yd.off and first <= yd.day <= last:
                    out.append((yd.day, yd.name))
        return out


def holiday_name(day: date, language: str) -> str | None:
    """A public holiday's name in the library's ``language`` ("kk" or "en_US")."""
    return holidays.country_holidays(COUNTRY, years=day.year, language=language).get(day)
