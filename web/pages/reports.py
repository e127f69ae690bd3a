"""Attendance reports over many classes, as pages and downloads: a group's month (learner ×
class), a learner's history (the digital footprint), and learners per agency for its HR
service. Every download carries the chain heads of the classes it was built from; so does the
page, for staff who keep a printout. Each is built and rendered in a worker process, from one
moment of the database (``web.core.offload``): the media's event loop never waits for it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from access.errors import UserNotFound
from access.models import Role, User
from attendance import tables
from attendance.export import ChainHead, Table
from attendance.mark_forms import MarkRefused, thresholds_of
from attendance.marks import LearnerMark, Mark, MarkRules
from attendance.register import Register, register
from attendance.reports import ClassSlot, by_learner, marks_by_class
from scheduler import calendar
from scheduler.calendar import Month
from scheduler.models import DEFAULT_TIMEZONE, ClassFormat, Group, LiveClass

from ..core import clock, keys, policy
from ..core.http import (
    LANG_KEY,
    PageError,
    actor,
    download,
    gettext_of,
    redirect,
    render,
    require_role,
    require_session,
)
from ..core.offload import in_worker
from .classes import OBSERVER_ROLES, class_zone

routes = web.RouteTableDef()

# Who may pull reports on groups and learners; agencies' reports go to HR, through staff.
REPORTERS = OBSERVER_ROLES
AGENCY_REPORTERS = frozenset({Role.STAFF, Role.ADMIN, Role.DIRECTOR})
RULE_EDITORS = frozenset({Role.STAFF, Role.ADMIN})


def month_of(request: web.Request, zone: str) -> Month:
    """The month asked for (``?month=YYYY-MM``, this month by default), bounded in ``zone``."""
    _ = gettext_of(request)
    raw = request.query.get("month", "")
    if not raw:
        raw = datetime.fromtimestamp(clock.now(request), ZoneInfo(zone)).strftime("%Y-%m")
    try:
        return calendar.month(raw, zone)
    except ValueError:
        raise PageError(400, _("Give the month as YYYY-MM."), "bad_month") from None


def _rules(request: web.Request) -> MarkRules:
    return request.app[keys.MARK_RULES].current()


def _happened(request: web.Request, classes: Sequence[LiveClass]) -> Register:
    return happened_in(request.app, classes, clock.now(request))


def happened_in(app: web.Application, classes: Sequence[LiveClass], now: float) -> Register:
    """The register of ``classes`` (``attendance.register``): those that took place online."""
    return register(
        classes,
        ledger=app[keys.LEDGER],
        grace=app[keys.MARK_RULES].grace_seconds,
        timetable=app[keys.TIMETABLE],
        excuses=app[keys.EXCUSES],
        statuses=app[keys.ADMISSION],
        now=now,
    )


def _marks(request: web.Request, happened: Register) -> dict[int, dict[int, LearnerMark]]:
    return marks_in(request.app, happened, clock.now(request))


def marks_in(
    app: web.Application, happened: Register, now: float
) -> dict[int, dict[int, LearnerMark]]:
    """Each class judged by the thresholds in force when it was to end: a change staff make
    applies from then on and does not rewrite registers already handed on."""
    store = app[keys.MARK_RULES]
    return marks_by_class(
        happened.slots,
        happened.digests,
        now,
        lambda s: store.at(s.ends_at),
        happened.excused,
        happened.not_admitted,
    )


def _heads(request: web.Request, slots: Sequence[ClassSlot]) -> list[ChainHead]:
    return heads_in(request.app, slots)


def heads_in(app: web.Application, slots: Sequence[ClassSlot]) -> list[ChainHead]:
    ledger = app[keys.LEDGER]
    return [ChainHead(s.id, *ledger.chain_head(s.id)) for s in slots]


def _thresholds_notes(request: web.Request, slots: Sequence[ClassSlot]) -> list[str]:
    return thresholds_notes_in(request.app, gettext_of(request), slots)


def thresholds_notes_in(
    app: web.Application, _: Callable[[str], str], slots: Sequence[ClassSlot]
) -> list[str]:
    """What the marks mean, with the thresholds the report's classes were judged by (each by
    those in force when it was to end; more than one line if staff changed them within the
    period)."""
    store = app[keys.MARK_RULES]
    used = list(dict.fromkeys(store.at(s.ends_at) for s in slots)) or [store.current()]
    labels = tables.mark_labels(_)
    return [
        " ".join(
            f"{labels[mark]}: {text}"
            for mark, text in tables.mark_definitions(_, rules)
            if mark in (Mark.PRESENT, Mark.LATE, Mark.LEFT_EARLY)
        )
        for rules in used
    ]


def _page(
    request: web.Request,
    table: Table,
    *,
    marks: Sequence[Sequence[str]] = (),
    links: Sequence[str | None] = (),
    month: Month | None = None,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    """A report as a page: the table, its downloads, the heads it was built from.

    ``marks`` gives, per row, the mark of each cell (for colour); ``links`` a link per row."""
    _ = gettext_of(request)
    return render(
        request,
        "report.html",
        {
            "table": table,
            "marks": marks,
            "links": links,
            "month": month,
            "heads_note": tables.heads_explained(_),
            "downloads": [
                (f"{request.path}.{fmt}?{request.query_string}".rstrip("?"), label)
                for fmt, label in (("csv", "CSV"), ("xlsx", "Excel (XLSX)"))
            ],
            **(extra or {}),
        },
    )


# -- the index ----------------------------------------------------------------------------------
@routes.get("/reports")
async def reports_index(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    user = require_role(request, REPORTERS, _("Reports are for staff."))
    tz = ZoneInfo(DEFAULT_TIMEZONE)
    return render(
        request,
        "reports.html",
        {
            "groups": policy.visible(request, user, request.app[keys.TIMETABLE].groups()),
            "month": datetime.fromtimestamp(clock.now(request), tz).strftime("%Y-%m"),
            "agencies": user.role in AGENCY_REPORTERS,
            "can_edit_rules": user.role in RULE_EDITORS,
            "rules": _rules(request),
            "rules_history": [
                (datetime.fromtimestamp(ch.at, UTC), ch)
                for ch in request.app[keys.MARK_RULES].history()
            ],
            "zone": DEFAULT_TIMEZONE,
        },
    )


# -- a group's month ----------------------------------------------------------------------------
def group_month(request: web.Request, portal: bool = False) -> tuple[Group, Month, list[LiveClass]]:
    """The group and month asked for, and the group's classes in the month; refused unless
    the asker sees the group's register. ``portal``: asked with an API key that has the
    "reports" scope (checked by the caller)."""
    _ = gettext_of(request)
    tt = request.app[keys.TIMETABLE]
    user = None if portal else require_session(request).user
    group: Group = tt.group(int(request.match_info["group_id"]))
    if user is not None and not policy.sees_group_register(request, user, group):
        raise PageError(403, _("Only the group's teachers and staff see its reports."), "forbidden")
    month = month_of(request, group.timezone)
    return group, month, tt.classes_of_group(group.id, month.start, month.end)


def keep_group_digests(request: web.Request, portal: bool = False) -> None:
    """Before a group's month is read (``in_worker``'s ``prepare``, which may write): the
    digests of its classes kept up to date, so that the report reads one a class rather than
    every event of each (a class whose chain grows after this is drawn from its events)."""
    _group, _month, classes = group_month(request, portal)
    request.app[keys.LEDGER].keep_digests(
        (c.id for c in classes if c.format is ClassFormat.LIVE_ONLINE),
        request.app[keys.MARK_RULES].grace_seconds,
    )


def group_report(
    request: web.Request, portal: bool = False
) -> tuple[Table, list[list[str]], list[str | None], Month]:
    """``portal``: asked with an API key that has the "reports" scope (checked by the caller)."""
    _ = gettext_of(request)
    tt, accounts = request.app[keys.TIMETABLE], request.app[keys.ACCOUNTS]
    group, month, classes = group_month(request, portal)
    happened = _happened(request, classes)
    slots, marks = happened.slots, _marks(request, happened)
    people = accounts.many(tt.members(group.id))
    learners = sorted(people, key=lambda u: people[u].full_name.casefold())
    table, row_marks = tables.group_month_table(
        _,
        group,
        month,
        {u: people[u].full_name for u in learners},
        slots,
        marks,
        notes=_thresholds_notes(request, slots),
        heads=_heads(request, slots),
        heads_title=tables.heads_title(_),
        language=request.get(LANG_KEY, "en"),
    )
    links: list[str | None] = [f"/reports/learners/{u}" for u in learners]
    return table, row_marks, links, month


@routes.get("/reports/groups/{group_id:\\d{1,18}}")
async def group_report_page(request: web.Request) -> web.Response:
    return await in_worker(request, _group_page, keep_group_digests)


def _group_page(request: web.Request) -> web.Response:
    table, row_marks, links, month = group_report(request)
    return _page(request, table, marks=row_marks, links=links, month=month)


@routes.get("/reports/groups/{group_id:\\d{1,18}}.{fmt:(csv|xlsx)}")
async def group_report_download(request: web.Request) -> web.Response:
    return await in_worker(request, _group_download, keep_group_digests)


def _group_download(request: web.Request) -> web.Response:
    table, _m, _l, month = group_report(request)
    stem = f"group-{request.match_info['group_id']}-{month.text}"
    return download(table, stem, request.match_info["fmt"])


# -- a learner's history ------------------------------------------------------------------------
def learner_report(request: web.Request, portal: bool = False) -> tuple[Table, list[list[str]]]:
    _ = gettext_of(request)
    tt, accounts = request.app[keys.TIMETABLE], request.app[keys.ACCOUNTS]
    user = None if portal else require_session(request).user
    try:
        learner = accounts.get(int(request.match_info["user_id"]))
    except UserNotFound:
        raise PageError(404, _("There is no such student."), "not_found") from None
    groups = tt.groups_of_member(learner.id)
    if user is not None and not policy.sees_learner(request, user, learner.id):
        raise PageError(
            403,
            _("A student's history is seen by the student, their teachers and staff."),
            "forbidden",
        )
    classes = tt.classes_of_learner(learner.id)
    if user is not None and user.id != learner.id:  # of their classes, those the asker sees
        classes = policy.visible(request, user, classes)
    happened = _happened(request, classes)
    slots, marks = happened.slots, _marks(request, happened)
    teachers = accounts.many(c.teacher_id for c in classes)
    # The introduction (clause 5): when each step was first taken, in the first group's zone.
    taken = request.app[keys.INTRODUCTION].of(learner.id).taken_at
    return tables.learner_history_table(
        _,
        learner,
        groups,
        slots,
        marks,
        events=request.app[keys.LEDGER].events_of_classes(s.id for s in slots),
        zones={c.id: class_zone(request, c) for c in classes},
        teachers={
            c.id: teachers[c.teacher_id].full_name for c in classes if c.teacher_id in teachers
        },
        introduction=tables.introduction_note(
            _, taken, groups[0].timezone if groups else DEFAULT_TIMEZONE
        ),
        notes=_thresholds_notes(request, slots),
        heads=_heads(request, slots),
        heads_title=tables.heads_title(_),
    )


@routes.get("/reports/learners/{user_id:\\d{1,18}}")
async def learner_report_page(request: web.Request) -> web.Response:
    return await in_worker(request, _learner_page)


def _learner_page(request: web.Request) -> web.Response:
    table, row_marks = learner_report(request)
    return _page(request, table, marks=row_marks)


@routes.get("/reports/learners/{user_id:\\d{1,18}}.{fmt:(csv|xlsx)}")
async def learner_report_download(request: web.Request) -> web.Response:
    return await in_worker(request, _learner_download)


def _learner_download(request: web.Request) -> web.Response:
    table, _m = learner_report(request)
    return download(table, f"learner-{request.match_info['user_id']}", request.match_info["fmt"])


# -- per agency ---------------------------------------------------------------------------------
def _agency_report(request: web.Request) -> tuple[Table, Month]:
    _ = gettext_of(request)
    user = require_role(request, AGENCY_REPORTERS, _("Reports for agencies are made by staff."))
    tt, accounts = request.app[keys.TIMETABLE], request.app[keys.ACCOUNTS]
    month = month_of(request, DEFAULT_TIMEZONE)
    only = request.query.get("agency", "").strip()
    learners = [
        u
        for u in accounts.learners_with_agency()
        if u.agency and (not only or u.agency == only) and policy.sees_learner(request, user, u.id)
    ]
    classes = policy.visible(request, user, tt.classes_between(month.start, month.end))
    table = agency_table(
        request.app, _, month, learners, classes, clock.now(request), only,
        language=request.get(LANG_KEY, "en"),
    )  # fmt: skip
    return table, month


def agency_table(
    app: web.Application,
    _: Callable[[str], str],
    month: Month,
    learners: Sequence[User],
    classes: Sequence[LiveClass],
    now: float,
    only: str = "",
    *,
    language: str,
) -> Table:
    """The attendance of ``learners`` (each with their agency) in ``classes`` of ``month``,
    totals per learner, in the language of ``_`` (``language``): the page, its downloads and the HR
    services' monthly mail (``control.hr_mail``) are this table."""
    wanted = {u.id for u in learners}
    happened = happened_in(app, classes, now)
    slots = [s for s in happened.slots if wanted.intersection(s.learner_ids)]
    totals = by_learner(marks_in(app, replace(happened, slots=slots), now))
    return tables.agency_table(
        _, month, learners, totals, app[keys.TIMETABLE].groups_of_member, only=only,
        zone=DEFAULT_TIMEZONE, notes=thresholds_notes_in(app, _, slots),
        heads=heads_in(app, slots), heads_title=tables.heads_title(_), language=language,
    )  # fmt: skip


@routes.get("/reports/agencies")
async def agency_report_page(request: web.Request) -> web.Response:
    return await in_worker(request, _agency_page)


def _agency_page(request: web.Request) -> web.Response:
    table, month = _agency_report(request)
    return _page(request, table, month=month)


@routes.get("/reports/agencies.{fmt:(csv|xlsx)}")
async def agency_report_download(request: web.Request) -> web.Response:
    return await in_worker(request, _agency_download)


def _agency_download(request: web.Request) -> web.Response:
    table, month = _agency_report(request)
    return download(table, f"agencies-{month.text}", request.match_info["fmt"])


# -- thresholds ---------------------------------------------------------------------------------
@routes.post("/reports/rules")
async def set_rules(request: web.Request) -> web.StreamResponse:
    """Staff set the thresholds marks are derived with; the change is kept with their name."""
    _ = gettext_of(request)
    staff = require_role(request, RULE_EDITORS, _("Only staff set the attendance thresholds."))
    form = await request.post()
    store = request.app[keys.MARK_RULES]
    try:
        rules = thresholds_of(
            str(form.get("late_after_minutes", "")),
            str(form.get("present_percent", "")),
            store.current(),
        )
    except MarkRefused:
        raise PageError(
            400,
            _("Late after: 0 to 240 minutes. Present: 1 to 100 percent of the class."),
            "bad_request",
        ) from None
    store.set(
        rules,
        staff.id,
        staff.full_name,
        clock.now(request),
        actor(staff),
    )
    return redirect("/reports")
