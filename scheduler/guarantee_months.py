"""The months a group owes a live class (clause 9) and the state of each: green (one held),
amber (one planned or running), red (none: an alert, or a month past without one), or outside
the group's study period. The monthly guarantee (``scheduler.guarantee``) plans over these
months; the timetable's page shows their states."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from .models import ClassStatus, Group, zone


class MonthsView(Protocol):
    """What the months' states read (``SqliteTimetable`` is one)."""

    def live_classes_summary(
        self, start: datetime, end: datetime, group_ids: Sequence[int]
    ) -> dict[int, list[tuple[int, ClassStatus, datetime]]]: ...

    def open_alerts(self, group_ids: Sequence[int] | None = None) -> dict[tuple[int, str], str]: ...


class MonthState(enum.StrEnum):
    GREEN = "green"  # a live class was held this month
    AMBER = "amber"  # none held yet, one planned (or running)
    RED = "red"  # none held or planned: an alert, or a month past without one
    OUTSIDE = "outside"  # the month is outside the group's study period: nothing is owed


@dataclass(frozen=True, slots=True)
class GroupMonth:
    group_id: int
    month: str  # YYYY-MM, in the group's zone
    state: MonthState
    class_id: int | None = None  # the held or planned class that settles it
    alert: str | None = None  # the alert's reason, if one is open


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def months(first: date, count: int) -> Iterator[date]:
    day = month_start(first)
    for _ in range(count):
        yield day
        day = next_month(day)


def month_bounds(first_day: date, tz_name: str) -> tuple[datetime, datetime]:
    tz = zone(tz_name)
    start = datetime.combine(first_day, time(), tz).astimezone(UTC)
    end = datetime.combine(next_month(first_day), time(), tz).astimezone(UTC)
    return start, end


def in_study_period(group: Group, first_day: date) -> bool:
    last_day = next_month(first_day) - timedelta(days=1)
    if group.starts_on and last_day < group.starts_on:
        return False
    return not (group.ends_on and first_day > group.ends_on)


MOST_MONTHS = 120  # a study period longer than ten years is looked at for its first ten


def months_owed(group: Group, today: date, months_ahead: int) -> list[date]:
    """The first days of the months of the group's study period from ``today``'s month on: to
    the period's last month, or (no end set) ``months_ahead`` months after the current one."""
    first = month_start(today)
    if group.starts_on and month_start(group.starts_on) > first:
        first = month_start(group.starts_on)
    if group.ends_on:
        last = month_start(group.ends_on)
    else:
        last = list(months(today, months_ahead + 1))[-1]
    out: list[date] = []
    day = first
    while day <= last and len(out) < MOST_MONTHS:
        out.append(day)
        day = next_month(day)
    return out


def outside_reason(group: Group, first_day: date) -> str | None:
    """Why the month is outside the group's study period ("before" or "after"), or None."""
    last_day = next_month(first_day) - timedelta(days=1)
    if group.starts_on and last_day < group.starts_on:
        return "before"
    if group.ends_on and first_day > group.ends_on:
        return "after"
    return None


def month_states(
    timetable: MonthsView, group: Group, first_days: Sequence[date], now: datetime
) -> list[GroupMonth]:
    """Green, amber or red for each month of the group, with the class or alert behind it."""
    return states_of_groups(timetable, [group], first_days).get(group.id, [])


def states_of_groups(
    timetable: MonthsView, groups: Sequence[Group], first_days: Sequence[date]
) -> dict[int, list[GroupMonth]]:
    """``month_states`` of many groups, reading their live classes in one query."""
    if not first_days or not groups:
        return {}
    start = min(month_bounds(first_days[0], g.timezone)[0] for g in groups)
    end = max(month_bounds(first_days[-1], g.timezone)[1] for g in groups)
    summary = timetable.live_classes_summary(start, end, [g.id for g in groups])
    alerts = timetable.open_alerts([g.id for g in groups])
    out: dict[int, list[GroupMonth]] = {}
    for group in groups:
        tz = zone(group.timezone)
        months_of: dict[date, list[tuple[int, ClassStatus]]] = {}
        for cid, status, starts_at in summary.get(group.id, ()):
            months_of.setdefault(starts_at.astimezone(tz).date().replace(day=1), []).append(
                (cid, status)
            )
        row = out[group.id] = []
        for first in first_days:
            key = f"{first:%Y-%m}"
            if not in_study_period(group, first):
                row.append(GroupMonth(group.id, key, MonthState.OUTSIDE))
                continue
            there = months_of.get(first, [])
            held = next((c for c, st in there if st is ClassStatus.HELD), None)
            planned = next(
                (c for c, st in there if st in (ClassStatus.PLANNED, ClassStatus.LIVE)), None
            )
            if held:
                row.append(GroupMonth(group.id, key, MonthState.GREEN, held))
            elif planned:
                row.append(GroupMonth(group.id, key, MonthState.AMBER, planned))
            else:
                row.append(
                    GroupMonth(group.id, key, MonthState.RED, None, alerts.get((group.id, key)))
                )
    return out


MOST_MONTHS_SHOWN = 60


def guarantee_months(groups: Sequence[Group], today: date, months_ahead: int) -> list[date]:
    """The months the guarantee's page shows: last month, and every month of the groups' study
    periods (from the earliest start to the latest end; a period without an end to
    ``months_ahead`` months after the current one), at most five years."""
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    last = list(months(today, months_ahead + 1))[-1]
    for g in groups:
        if g.starts_on:
            first = min(first, g.starts_on.replace(day=1))
        if g.ends_on:
            last = max(last, g.ends_on.replace(day=1))
    out: list[date] = []
    for m in months(first, MOST_MONTHS_SHOWN):
        if m > last:
            break
        out.append(m)
    return out
