"""The monthly guarantee (clause 9): every active group has a live class every calendar month.

One pass looks at each active group in every month of its study period from the current one
to the period's last (a group whose period has no end: to ``months_ahead`` months later). A
month with a held or a planned (or running) live online class is fine. Otherwise the pass plans
one, in the first slot free for the group and a teacher of the group, on a working day of the
academy calendar (never a public holiday or a day off staff set; a working Saturday staff set
is one) within working hours, inside the study period, at least ``notice_days`` ahead;
if no such slot is left in the month, it raises an alert that staff see. Every action is
logged with its reason. The pass is idempotent and never creates a conflict (it plans through
the timetable's conflict checks). It also marks live classes whose end passed without ever
starting as missed. The months a group owes and their states are ``scheduler.guarantee_months``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from .errors import ClassConflict, GroupInactive, NonWorkingDay, OutsideStudyPeriod
from .guarantee_months import MonthsView, month_bounds, months_owed, next_month
from .models import (
    ClassFormat,
    ClassKind,
    ClassStatus,
    Group,
    LiveClass,
    TimetableAction,
    zone,
)
from .planning import SABAQ, Actor, ClassSpec
from .service import ClassStatuses, HeldEvidence, class_ended
from .workdays import AcademyCalendar

# A live online class in one of these settles its month (missed ones were marked first).
SETTLING = frozenset({ClassStatus.HELD, ClassStatus.PLANNED, ClassStatus.LIVE})

STALE_AFTER = timedelta(hours=12)  # a class overrunning its end this long is over

# Reasons the guarantee logs; control.guarantee_run words them for people.
PLANNED_NO_CLASS = "guarantee:no_live_class"
ALERT_NO_SLOT = "guarantee:no_free_slot"
ALERT_NO_TEACHER = "guarantee:no_teacher"
MISSED_NEVER_STARTED = "guarantee:never_started"
CONFIRMED_UNANSWERED = "guarantee:confirmed_unanswered"


class GuaranteeTimetable(MonthsView, ClassStatuses, Protocol):
    """What the guarantee's pass reads and writes (``SqliteTimetable`` is one)."""

    def groups(self) -> list[Group]: ...

    def teachers(self, group_id: int) -> list[int]: ...

    def academy_calendar(self) -> AcademyCalendar: ...

    def groups_with_live_class(
        self, start: datetime, end: datetime, statuses: frozenset[ClassStatus]
    ) -> set[int]: ...

    def add_classes(
        self,
        specs: Sequence[ClassSpec],
        *,
        by: Actor = ...,
        reason: str = "",
        on_day_off: bool = ...,
        proposed: bool = ...,
    ) -> list[LiveClass]: ...

    def proposed_before(self, moment: datetime) -> list[LiveClass]: ...

    def confirm_class(self, class_id: int, *, by: Actor, reason: str = ...) -> LiveClass: ...

    def check_classes(
        self,
        specs: Sequence[ClassSpec],
        *,
        on_day_off: bool = ...,
        others: Sequence[LiveClass] = ...,
    ) -> list[LiveClass]: ...

    def live_before(self, moment: datetime) -> list[LiveClass]: ...

    def planned_before(self, moment: datetime) -> list[LiveClass]: ...

    def raise_alert(self, group_id: int, month: str, reason: str, at: float) -> None: ...

    def clear_alert(self, group_id: int, month: str, at: float) -> None: ...

    def log(
        self,
        action: TimetableAction,
        *,
        by: Actor,
        reason: str,
        class_id: int | None = None,
        group_id: int | None = None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class GuaranteeRules:
    working_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday to Friday
    day_starts: time = time(9, 0)  # local, in the group's zone
    day_ends: time = time(18, 0)
    class_minutes: int = 80
    step_minutes: int = 30
    notice_days: int = 2
    # A group whose study period has no end: the current month and this many after it.
    months_ahead: int = 1
    # A class it proposed that no person confirmed is confirmed this many days before it starts.
    confirm_days: int = 3

    def __post_init__(self) -> None:
        if not self.working_days or not self.working_days <= set(range(7)):
            raise ValueError("Working days are some of 0 (Monday) … 6 (Sunday)")
        if not 0 < self.class_minutes <= 720 or not 0 < self.step_minutes <= 720:
            raise ValueError("A class and a step last 1 to 720 minutes")
        if self.day_ends <= self.day_starts:
            raise ValueError("The working day ends after it starts")
        if not 0 <= self.confirm_days <= 60:
            raise ValueError("Proposals are confirmed 0 to 60 days before")
        if not 0 <= self.notice_days <= 60 or not 0 <= self.months_ahead <= 24:
            raise ValueError("Notice is 0 to 60 days, and the horizon 0 to 24 months")


@dataclass(slots=True)
class PassReport:
    planned: list[int] = field(default_factory=list)  # class ids
    alerts: list[tuple[int, str, str]] = field(default_factory=list)  # group, month, reason
    missed: list[int] = field(default_factory=list)
    cleared: list[tuple[int, str]] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)  # live classes long over, now held or missed
    confirmed: list[int] = field(default_factory=list)  # proposals nobody confirmed, now due


@dataclass(frozen=True, slots=True)
class Proposal:
    """A live class the guarantee would plan for a group-month."""

    group_id: int
    month: str  # YYYY-MM, in the group's zone
    spec: ClassSpec


@dataclass(slots=True)
class Plan:
    """What a pass would do, read with nothing written (``Guarantee.plan``); ``apply`` does it."""

    proposals: list[Proposal] = field(default_factory=list)
    alerts: list[tuple[int, str, str]] = field(default_factory=list)  # group, month, reason
    cleared: list[tuple[int, str]] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)  # planned classes that never started
    closing: list[int] = field(default_factory=list)  # live classes long over, to be decided
    confirming: list[int] = field(default_factory=list)  # proposals due to be confirmed


class Guarantee:
    """The job; ``title_for`` names a class it plans, in the group's language."""

    def __init__(
        self,
        timetable: GuaranteeTimetable,
        rules: GuaranteeRules,
        title_for: Callable[[Group], str],
        evidence: HeldEvidence | None = None,
    ) -> None:
        self.timetable = timetable
        self.rules = rules
        self.title_for = title_for
        self.evidence = evidence
        # One pass at a time: the scheduled pass and one staff ask for run on worker threads.
        self._running = threading.Lock()

    def run(self, now: datetime) -> PassReport:
        """One pass: missed and stale classes first (they unsettle their months), then what
        ``plan`` finds is applied."""
        with self._running:
            report = PassReport()
            report.missed = self.mark_missed(now)
            report.closed = self.close_stale(now)
            self.apply(self.plan(now), now, report)
            report.confirmed = self.confirm_due(now)
            return report

    def confirm_due(self, now: datetime) -> list[int]:
        """Classes it proposed that no person confirmed or moved, starting within
        ``confirm_days``: confirmed by the guarantee, so a month never goes without its class
        for want of a click."""
        due = now + timedelta(days=self.rules.confirm_days)
        out = []
        for c in self.timetable.proposed_before(due):
            self.timetable.confirm_class(c.id, by=SABAQ, reason=CONFIRMED_UNANSWERED)
            out.append(c.id)
        return out

    def plan(self, now: datetime) -> Plan:
        """What a pass at ``now`` would do, with nothing written: the classes it would plan
        (checked as the timetable checks them), the alerts it would raise or clear, the
        classes it would mark missed or decide. A class still live past its end counts as
        settling its month here (whether it was held is decided when the pass runs)."""
        out = Plan()
        tt = self.timetable
        out.missed = [c.id for c in tt.planned_before(now) if c.format is ClassFormat.LIVE_ONLINE]
        if self.evidence is not None:
            out.closing = [c.id for c in tt.live_before(now - STALE_AFTER)]
        missed = set(out.missed)
        due = now + timedelta(days=self.rules.confirm_days)
        out.confirming = [c.id for c in tt.proposed_before(due) if c.id not in missed]
        groups = [g for g in tt.groups() if g.active]
        open_alerts = tt.open_alerts([g.id for g in groups])
        calendar = tt.academy_calendar()
        # (zone, month) → the groups that owe it: one query per zone and month tells which
        # groups are settled.
        owing: dict[tuple[str, date], list[Group]] = {}
        today_in: dict[str, date] = {}
        for g in groups:
            today = today_in.setdefault(g.timezone, now.astimezone(zone(g.timezone)).date())
            for first in months_owed(g, today, self.rules.months_ahead):
                owing.setdefault((g.timezone, first), []).append(g)
        drafts: list[LiveClass] = []  # proposed so far: later ones must not clash with them
        for (zone_name, first), members in sorted(owing.items(), key=lambda kv: kv[0][1]):
            key = f"{first:%Y-%m}"
            today = today_in[zone_name]
            summary = tt.live_classes_summary(
                *month_bounds(first, zone_name), [g.id for g in members]
            )
            for group in members:
                settled = any(
                    st in SETTLING and cid not in missed for cid, st, _ in summary.get(group.id, ())
                )
                if not settled:
                    found = self._find(group, first, today, now, calendar, drafts)
                    if found is None:
                        reason = ALERT_NO_SLOT if tt.teachers(group.id) else ALERT_NO_TEACHER
                        if open_alerts.get((group.id, key)) != reason:
                            out.alerts.append((group.id, key, reason))
                        continue
                    spec, draft = found
                    drafts.append(draft)
                    out.proposals.append(Proposal(group.id, key, spec))
                if (group.id, key) in open_alerts:
                    out.cleared.append((group.id, key))
        return out

    def apply(self, plan: Plan, now: datetime, report: PassReport | None = None) -> PassReport:
        """Do what ``plan`` found: plan its classes, raise and clear its alerts. A class the
        timetable refuses now (it changed since) is looked for again in its month."""
        report = report if report is not None else PassReport()
        tt = self.timetable
        calendar = tt.academy_calendar()
        by_id = {g.id: g for g in tt.groups()}
        failed: list[tuple[int, str, str]] = []
        for p in plan.proposals:
            try:
                c = tt.add_classes(
                    [p.spec], by=SABAQ, reason=f"{PLANNED_NO_CLASS}:{p.month}", proposed=True
                )[0]
            except (ClassConflict, NonWorkingDay, OutsideStudyPeriod, GroupInactive):
                group = by_id.get(p.group_id)
                cid = None
                if group is not None:
                    first = date.fromisoformat(f"{p.month}-01")
                    today = now.astimezone(zone(group.timezone)).date()
                    cid = self._plan(group, first, today, now, calendar)
                if cid is None:
                    reason = ALERT_NO_SLOT if tt.teachers(p.group_id) else ALERT_NO_TEACHER
                    failed.append((p.group_id, p.month, reason))
                    continue
                report.planned.append(cid)
                continue
            report.planned.append(c.id)
        for group_id, month, reason in [*plan.alerts, *failed]:
            tt.raise_alert(group_id, month, reason, now.timestamp())
            report.alerts.append((group_id, month, reason))
        failed_months = {(g, m) for g, m, _ in failed}
        for group_id, month in plan.cleared:
            if (group_id, month) not in failed_months:
                tt.clear_alert(group_id, month, now.timestamp())
                report.cleared.append((group_id, month))
        return report

    def _slots(
        self, group: Group, first: date, today: date, now: datetime, calendar: AcademyCalendar
    ) -> Iterator[ClassSpec]:
        """Every candidate class of the month, in order: on a working day of the academy
        calendar, within working hours and the study period, after the notice, each teacher."""
        tt, rules = self.timetable, self.rules
        teachers = tt.teachers(group.id)
        if not teachers:
            return
        tz = zone(group.timezone)
        earliest = max(first, today + timedelta(days=rules.notice_days))
        if group.starts_on:  # only within the group's study period
            earliest = max(earliest, group.starts_on)
        day = earliest
        length = timedelta(minutes=rules.class_minutes)
        step = timedelta(minutes=rules.step_minutes)
        end_of_month = next_month(first)
        if group.ends_on:
            end_of_month = min(end_of_month, group.ends_on + timedelta(days=1))
        while day < end_of_month:
            if calendar.is_working(day, rules.working_days):
                moment = datetime.combine(day, rules.day_starts, tz)
                closing = datetime.combine(day, rules.day_ends, tz)
                while moment + length <= closing:
                    starts, ends = moment.astimezone(UTC), (moment + length).astimezone(UTC)
                    if starts > now:
                        for teacher in teachers:
                            yield ClassSpec(
                                self.title_for(group), ClassKind.CONSULTATION,
                                ClassFormat.LIVE_ONLINE, teacher, starts, ends, (group.id,),
                            )  # fmt: skip
                    moment += step
            day += timedelta(days=1)

    def _find(
        self,
        group: Group,
        first: date,
        today: date,
        now: datetime,
        calendar: AcademyCalendar,
        others: Sequence[LiveClass],
    ) -> tuple[ClassSpec, LiveClass] | None:
        """The first candidate the timetable would accept (besides ``others``), unwritten."""
        for spec in self._slots(group, first, today, now, calendar):
            try:
                return spec, self.timetable.check_classes([spec], others=others)[0]
            except (ClassConflict, NonWorkingDay, OutsideStudyPeriod, GroupInactive):
                continue
        return None

    def _plan(
        self, group: Group, first: date, today: date, now: datetime, calendar: AcademyCalendar
    ) -> int | None:
        """Plan a live class in the first free slot of the month, or None."""
        for spec in self._slots(group, first, today, now, calendar):
            try:
                c = self.timetable.add_classes(
                    [spec], by=SABAQ, reason=f"{PLANNED_NO_CLASS}:{first:%Y-%m}", proposed=True
                )[0]
            except (ClassConflict, NonWorkingDay, OutsideStudyPeriod, GroupInactive):
                continue
            return c.id
        return None

    def close_stale(self, now: datetime) -> list[int]:
        """A class still "live" twelve hours after its scheduled end (its end never came: the
        teacher's browser and the server lost each other) is decided on the evidence, held or
        missed, so its month is judged on what happened."""
        if self.evidence is None:
            return []
        out = []
        for c in self.timetable.live_before(now - STALE_AFTER):
            class_ended(self.timetable, c.id, self.evidence)
            out.append(c.id)
        return out

    def mark_missed(self, now: datetime) -> list[int]:
        """Live online classes still planned after their end never started: missed."""
        tt = self.timetable
        out = []
        for c in tt.planned_before(now):
            if c.format is not ClassFormat.LIVE_ONLINE:
                continue
            tt.set_status(c.id, ClassStatus.MISSED)
            tt.log(
                TimetableAction.MISSED,
                by=SABAQ,
                reason=MISSED_NEVER_STARTED,
                class_id=c.id,
                group_id=c.group_ids[0] if c.group_ids else None,
            )
            out.append(c.id)
        return out
