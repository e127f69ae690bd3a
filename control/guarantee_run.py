"""The monthly guarantee run now, by staff (``POST /api/v1/guarantee/run``) or on the command
line (``sabaq guarantee``), and what it would do or did in words, per group-month, times in the
group's zone; the reasons it logs in words (``reason_words``: the pages' alerts and the
timetable's log say them too). Its rules are the settings' (``Settings.guarantee_rules``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.guarantee import (
    ALERT_NO_SLOT,
    ALERT_NO_TEACHER,
    CONFIRMED_UNANSWERED,
    MISSED_NEVER_STARTED,
    PLANNED_NO_CLASS,
    Guarantee,
    GuaranteeTimetable,
    PassReport,
    Plan,
)
from scheduler.models import Group, LiveClass
from scheduler.planning import ClassSpec

from .words import N_, Catalogues

log = logging.getLogger("sabaq.web.app")  # the name the job's log lines always had
GUARANTEE_TITLE = N_("Live class (monthly guarantee)")


def titles(catalogues: Catalogues) -> Callable[[Group], str]:
    """The title of a class the guarantee plans, in its group's language."""

    def title(group: Group) -> str:
        return catalogues[group.language].gettext(GUARANTEE_TITLE)

    return title


def reason_words(_: Callable[[str], str], reason: str) -> str:
    """A logged reason in words, in the language of ``_`` (the command line's is English): the
    guarantee's codes translated, people's words as they are."""
    if not reason.startswith("guarantee:"):
        return reason
    parts = reason.split(":")
    code, month = ":".join(parts[:2]), (parts[2] if len(parts) > 2 else "")
    texts = {
        PLANNED_NO_CLASS: _(
            "Planned by the monthly guarantee: the group had no held or planned live class"
            " in {month}."
        ),
        ALERT_NO_SLOT: _(
            "The monthly guarantee found no free slot for a live class in {month}: plan one"
            " by hand."
        ),
        ALERT_NO_TEACHER: _(
            "The monthly guarantee cannot plan a live class in {month}: the group has no teacher."
        ),
        MISSED_NEVER_STARTED: _("Missed: the class never started."),
        CONFIRMED_UNANSWERED: _(
            "Confirmed by the monthly guarantee: nobody confirmed or moved the class in time."
        ),
    }
    return texts.get(code, reason).replace("{month}", month)


def one_pass(job: Guarantee, clock: Callable[[], float]) -> PassReport:
    """The background job's pass at ``clock``'s moment; what it did is logged."""
    report = job.run(dt.datetime.fromtimestamp(clock(), dt.UTC))
    if report.planned or report.alerts or report.missed:
        log.info(
            "guarantee: planned %s, alerts %s, missed %s",
            report.planned,
            report.alerts,
            report.missed,
        )
    return report


@dataclass(frozen=True, slots=True)
class Outcome:
    """A pass's result, or (``dry_run``) what it would be; ``describe`` words it."""

    dry_run: bool
    classes: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    cleared: list[dict[str, Any]]
    missed: list[int]
    closed: list[int]
    confirmed: list[int]  # proposals nobody confirmed, confirmed by the guarantee

    def json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "classes": self.classes,
            "alerts": self.alerts,
            "cleared": self.cleared,
            "missed": self.missed,
            "closed": self.closed,
            "confirmed": self.confirmed,
        }


def run_now(
    job: Guarantee,
    groups: Mapping[int, Group],
    now: dt.datetime,
    *,
    dry_run: bool,
    gettext: Callable[[str], str],
) -> Outcome:
    """Run the guarantee at ``now`` (``dry_run``: only plan it, writing nothing)."""
    tt: GuaranteeTimetable = job.timetable
    if dry_run:
        plan = job.plan(now)
        rows = [_class_row(groups, p.group_id, p.month, None, p.spec) for p in plan.proposals]
        return _outcome(True, rows, plan, groups, gettext)
    report = job.run(now)
    rows = []
    for cid in report.planned:
        c = tt.get_class(cid)
        gid = c.group_ids[0]
        tz = ZoneInfo(groups[gid].timezone if gid in groups else "UTC")
        month = f"{c.starts_at.astimezone(tz):%Y-%m}"
        rows.append(_class_row(groups, gid, month, c.id, c))
    return _outcome(False, rows, report, groups, gettext)


def _outcome(
    dry_run: bool,
    rows: list[dict[str, Any]],
    done: Plan | PassReport,
    groups: Mapping[int, Group],
    gettext: Callable[[str], str],
) -> Outcome:
    return Outcome(
        dry_run=dry_run,
        classes=rows,
        alerts=[
            {
                "group_id": gid,
                "group": groups[gid].name if gid in groups else "",
                "month": month,
                "reason": reason.split(":", 1)[1],
                "message": reason_words(gettext, f"{reason}:{month}"),
            }
            for gid, month, reason in done.alerts
        ],
        cleared=[{"group_id": gid, "month": month} for gid, month in done.cleared],
        missed=list(done.missed),
        closed=list(done.closing if isinstance(done, Plan) else done.closed),
        confirmed=list(done.confirming if isinstance(done, Plan) else done.confirmed),
    )


def _class_row(
    groups: Mapping[int, Group],
    group_id: int,
    month: str,
    class_id: int | None,
    c: ClassSpec | LiveClass,
) -> dict[str, Any]:
    group = groups.get(group_id)
    tz = ZoneInfo(group.timezone if group else "UTC")
    return {
        "group_id": group_id,
        "group": group.name if group else "",
        "month": month,
        "class_id": class_id,
        "teacher_id": c.teacher_id,
        "starts_at": c.starts_at.astimezone(tz).isoformat(),
        "ends_at": c.ends_at.astimezone(tz).isoformat(),
        "timezone": str(tz),
    }


def lines(outcome: Outcome) -> list[str]:
    """The outcome for a terminal, a line per class, alert, cleared alert."""
    would = outcome.dry_run
    out = []
    for c in outcome.classes:
        starts = dt.datetime.fromisoformat(c["starts_at"])
        ends = dt.datetime.fromisoformat(c["ends_at"])
        what = "would plan" if would else f"planned class {c['class_id']}"
        out.append(
            f"{c['month']} group {c['group_id']} ({c['group']}): {what} on"
            f" {starts:%a %Y-%m-%d %H:%M}-{ends:%H:%M} {c['timezone']},"
            f" teacher {c['teacher_id']}"
        )
    for a in outcome.alerts:
        what = "would alert" if would else "alert"
        out.append(f"{a['month']} group {a['group_id']} ({a['group']}): {what}: {a['message']}")
    for a in outcome.cleared:
        what = "would clear" if would else "cleared"
        out.append(f"{a['month']} group {a['group_id']}: {what} its alert")
    if outcome.missed:
        what = "would mark" if would else "marked"
        out.append(f"{what} missed (never started): classes {outcome.missed}")
    if outcome.closed:
        what = "would decide" if would else "decided"
        out.append(f"{what} held or missed (live long past the end): classes {outcome.closed}")
    if outcome.confirmed:
        what = "would confirm" if would else "confirmed"
        out.append(f"{what} (proposed, nobody confirmed them in time): classes {outcome.confirmed}")
    return out
