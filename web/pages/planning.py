"""Staff edit the timetable on the pages: plan a class or a weekly series, the class card, move
and cancel a class, a group's activity, emergency switches online and their undo."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from admission.errors import DisciplineNotNamed
from admission.status import class_discipline
from admission.visibility import proposals_seen
from scheduler.errors import (
    ClassConflict,
    GroupInactive,
    GroupNotReady,
    InvalidTransition,
    NonWorkingDay,
    OutsideStudyPeriod,
    PlannedInPast,
)
from scheduler.labels import (
    action_labels,
    class_status_labels,
    conflict_message,
    day_name,
    format_labels,
    kind_labels,
)
from scheduler.models import (
    DEFAULT_TIMEZONE,
    ClassStatus,
    Group,
    LiveClass,
)
from scheduler.plan_forms import (
    MAX_REASON,
    MAX_TEXT,
    RULE_REFUSALS,
    SPAN_REFUSALS,
    PlanProblem,
    PlanRefused,
    move_span,
    occurrences_of,
    plan_basics,
)
from scheduler.sqlite_store import Actor, ClassSpec

from ..core import clock, keys, policy
from ..core.alerts import reason_text
from ..core.errors import message_of, status_of
from ..core.http import PageError, gettext_of, redirect, render, require_session
from .classes import EDITORS
from .timetable import (
    actor,
    require_editor,
)

log = logging.getLogger("sabaq.web.timetable")
routes = web.RouteTableDef()


# -- planning -------------------------------------------------------------------------------------
class PlanError(Exception):
    """A plan that cannot be made, with the message to show."""

    status = 400
    code = "bad_plan"
    day_off: NonWorkingDay | None = None  # a non-working day the plan may be confirmed on

    @classmethod
    def of(cls, request: web.Request, exc: Exception) -> PlanError:
        """The domain's refusal (a code in the table of ``web.errors``), in the reader's words."""
        error = cls(message_of(gettext_of(request), exc))
        error.status = status_of(exc)
        error.code = getattr(exc, "code", "bad_plan")
        if isinstance(exc, NonWorkingDay):
            error.day_off = exc
        return error


# The day's refusals a plan or a move may meet: the page and the API say which and why.
DAY_REFUSALS = (NonWorkingDay, OutsideStudyPeriod, GroupInactive)


def confirmed(data: Mapping[str, Any]) -> bool:
    """The plan is confirmed on a non-working day (a form's checkbox, or the API's flag)."""
    value = data.get("on_day_off", False)
    return value is True or str(value) in ("1", "on", "true")


def day_off_prompt(request: web.Request, exc: NonWorkingDay | None) -> str | None:
    """The confirmation a form asks for, naming the non-working day, or None."""
    if exc is None:
        return None
    _ = gettext_of(request)
    return (
        _("Plan on {day} anyway, although it is a non-working day ({name})")
        .replace("{day}", exc.day.strftime("%d.%m.%Y"))
        .replace("{name}", day_name(_, exc.name))
    )


class PlanConflict(PlanError):
    """The timetable is in the way: a class at that time, or a class no longer planned."""

    status = 409


def plan_message(request: web.Request, problem: PlanProblem) -> str:
    """What is wrong with a plan or a move, in the reader's language."""
    _ = gettext_of(request)
    match problem:
        case PlanProblem.TITLE:
            return _("Give the class a title (at most {n} characters).").replace(
                "{n}", str(MAX_TEXT)
            )
        case PlanProblem.CHOICES:
            return _("Choose the group, the teacher, the kind and the format.")
        case PlanProblem.WHEN:
            return _("Give the day and the start and end times.")
        case PlanProblem.WEEKLY:
            return _(
                "For a weekly class give the days of the week, the last day and the"
                " exceptions as YYYY-MM-DD."
            )
        case PlanProblem.WEEKDAYS:
            return _("Choose the days of the week.")
        case PlanProblem.NO_CLASSES:
            return _("The rule makes no classes: check the days and the exceptions.")
        case PlanProblem.REASON:
            return _("A reason takes at most {n} characters.").replace("{n}", str(MAX_REASON))


def plan_from(
    request: web.Request, data: Mapping[str, Any], *, weekdays: Sequence[str] = ()
) -> tuple[list[ClassSpec], Group]:
    """Classes to plan from a form or a JSON body: one (``day``) or weekly (``repeat`` with
    ``weekday``s, ``until`` and ``except`` days)."""
    _ = gettext_of(request)
    tt = request.app[keys.TIMETABLE]
    try:
        b = plan_basics(data)
    except PlanRefused as exc:
        raise PlanError(plan_message(request, exc.problem)) from None
    group = tt.group(b.group_id)
    if b.teacher_id not in tt.teachers(b.group_id):
        raise PlanError(_("The teacher does not teach this group."))
    try:
        discipline = class_discipline(request.app[keys.TIMETABLE], group, b.kind, b.discipline)
    except DisciplineNotNamed as exc:
        raise PlanError.of(request, exc) from None
    try:
        occurrences = occurrences_of(data, weekdays, group.timezone, clock.utc_now(request))
    except PlanRefused as exc:
        raise PlanError(plan_message(request, exc.problem)) from None
    except (*RULE_REFUSALS, PlannedInPast) as exc:
        raise PlanError.of(request, exc) from None
    return [
        ClassSpec(
            b.title, b.kind, b.format, b.teacher_id, o.starts_at, o.ends_at, (b.group_id,), (),
            discipline,
        )
        for o in occurrences
    ], group  # fmt: skip


def _new_form(
    request: web.Request,
    values: Mapping[str, Any],
    error: str | None = None,
    status: int = 200,
    day_off: NonWorkingDay | None = None,
) -> web.Response:
    _ = gettext_of(request)
    tt, accounts = request.app[keys.TIMETABLE], request.app[keys.ACCOUNTS]
    groups = tt.groups()
    teacher_ids = sorted({t for g in groups for t in tt.teachers(g.id)})
    teachers = accounts.many(teacher_ids)
    return render(
        request,
        "timetable_new.html",
        {
            "groups": groups,
            "teachers": sorted(teachers.values(), key=lambda u: u.full_name.casefold()),
            "kinds": list(kind_labels(_).items()),
            "formats": list(format_labels(_).items()),
            "weekday_names": _weekday_names(request),
            # The disciplines of the groups' programmes, offered as the discipline is typed.
            "disciplines": sorted(
                {
                    d.name
                    for pid in {g.programme_id for g in groups if g.programme_id}
                    for d in tt.disciplines(pid)
                },
                key=str.casefold,
            ),
            "values": values,
            "error": error,
            "confirm_day_off": day_off_prompt(request, day_off),
        },
        status,
    )


def _weekday_names(request: web.Request) -> list[tuple[int, str]]:
    _ = gettext_of(request)
    names = (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))
    return list(enumerate(names))


PLAN_FIELDS = (
    "title", "discipline", "kind", "format", "group_id", "teacher_id", "day", "start", "end",
    "repeat", "until", "except", "on_day_off",
)  # fmt: skip


@routes.get("/timetable/new")
async def new_class_form(request: web.Request) -> web.Response:
    require_editor(request)
    values: dict[str, Any] = dict.fromkeys(PLAN_FIELDS, "")
    values |= {"group_id": request.query.get("group", ""), "weekday": []}
    return _new_form(request, values)


@routes.post("/timetable/classes")
async def plan_classes(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_editor(request)
    form = await request.post()
    values: dict[str, Any] = {k: str(form.get(k, "")) for k in PLAN_FIELDS}
    values["weekday"] = [str(d) for d in form.getall("weekday", [])]
    try:
        specs, group = plan_from(request, values, weekdays=values["weekday"])
        made = request.app[keys.TIMETABLE].add_classes(
            specs, by=actor(user), on_day_off=confirmed(values)
        )
    except PlanError as exc:
        return _new_form(request, values, str(exc), 400)
    except DAY_REFUSALS as exc:
        error = PlanError.of(request, exc)
        return _new_form(request, values, str(error), error.status, error.day_off)
    except ClassConflict as exc:
        zone = request.app[keys.TIMETABLE].group(int(values["group_id"])).timezone
        return _new_form(request, values, conflict_message(gettext_of(request), exc, zone), 409)
    log.info("staff %s planned %d classes for group %s", user.id, len(made), group.id)
    local = made[0].starts_at.astimezone(ZoneInfo(group.timezone)).date()
    return redirect(f"/timetable/groups/{group.id}?view=week&date={local}")


def _class_card(
    request: web.Request,
    error: str | None = None,
    status: int = 200,
    day_off: NonWorkingDay | None = None,
    asked: Mapping[str, Any] | None = None,
) -> web.Response:
    """The class card; ``asked`` (a move refused) fills the move form again as it was sent."""
    _ = gettext_of(request)
    user = require_session(request).user
    tt, accounts = request.app[keys.TIMETABLE], request.app[keys.ACCOUNTS]
    c = tt.get_class(int(request.match_info["class_id"]))
    group = tt.group(c.group_ids[0])
    if not policy.sees_class(request, user, c):
        if c.individual and any(policy.sees_group(request, user, tt.group(g)) for g in c.group_ids):
            raise PageError(403, _("This class is for another student."), "forbidden")
        raise PageError(
            403, _("A group's timetable is seen by its students, teachers and staff."), "forbidden"
        )
    tz = ZoneInfo(group.timezone)
    actions = action_labels(_)
    return render(
        request,
        "timetable_class.html",
        {
            "c": c,
            "zone": group.timezone,
            "groups": [tt.group(g).name for g in c.group_ids],
            "teacher": accounts.get(c.teacher_id).full_name,
            "kind": kind_labels(_)[c.kind],
            "format": format_labels(_)[c.format],
            "status": class_status_labels(_)[c.status],
            "local_day": c.starts_at.astimezone(tz).date().isoformat(),
            "local_start": c.starts_at.astimezone(tz).strftime("%H:%M"),
            "local_end": c.ends_at.astimezone(tz).strftime("%H:%M"),
            "asked": {k: str(asked.get(k, "")) for k in ("day", "start", "end", "reason")}
            if asked
            else None,
            "changes": [
                (
                    datetime.fromtimestamp(ch.at, UTC),
                    ch,
                    actions[ch.action],
                    reason_text(request, ch.reason),
                )
                for ch in tt.changes(class_id=c.id)
            ],
            "can_edit": user.role in EDITORS and c.status is ClassStatus.PLANNED,
            "proposed": c.id in proposals_seen(tt, user, [c]),
            "confirm_days": request.app[keys.SETTINGS].guarantee_confirm_days,
            "error": error,
            "confirm_day_off": day_off_prompt(request, day_off),
        },
        status,
    )


@routes.get("/timetable/classes/{class_id:\\d{1,18}}")
async def class_card(request: web.Request) -> web.Response:
    return _class_card(request)


def move(request: web.Request, by: Actor, data: Mapping[str, Any]) -> LiveClass:
    _ = gettext_of(request)
    tt = request.app[keys.TIMETABLE]
    c = tt.get_class(int(request.match_info["class_id"]))
    zone = tt.group(c.group_ids[0]).timezone
    try:
        span, reason = move_span(data, zone, clock.utc_now(request))
    except PlanRefused as exc:
        raise PlanError(plan_message(request, exc.problem)) from None
    except (*SPAN_REFUSALS, PlannedInPast) as exc:
        raise PlanError.of(request, exc) from None
    try:
        return tt.move_class(
            c.id, span.starts_at, span.ends_at, by=by, reason=reason, on_day_off=confirmed(data)
        )
    except DAY_REFUSALS as exc:
        raise PlanError.of(request, exc) from None
    except ClassConflict as exc:
        raise PlanConflict(conflict_message(gettext_of(request), exc, zone)) from None
    except InvalidTransition:
        raise PlanConflict(_("Only a planned class can be moved or cancelled.")) from None


def cancel(request: web.Request, by: Actor, data: Mapping[str, Any]) -> LiveClass:
    _ = gettext_of(request)
    tt = request.app[keys.TIMETABLE]
    reason = str(data.get("reason", "")).strip()
    if not reason or len(reason) > MAX_REASON:
        raise PlanError(
            _("Give the reason for the cancellation (at most {n} characters).").replace(
                "{n}", str(MAX_REASON)
            )
        )
    try:
        return tt.cancel_class(int(request.match_info["class_id"]), by=by, reason=reason)
    except InvalidTransition:
        raise PlanConflict(_("Only a planned class can be moved or cancelled.")) from None


@routes.post("/timetable/classes/{class_id:\\d{1,18}}/move")
async def move_class(request: web.Request) -> web.StreamResponse:
    user = require_editor(request)
    try:
        form = await request.post()
        c = move(request, actor(user), form)
    except PlanError as exc:
        return _class_card(request, str(exc), exc.status, exc.day_off, form)
    return redirect(f"/timetable/classes/{c.id}")


@routes.post("/timetable/classes/{class_id:\\d{1,18}}/confirm")
async def confirm_class(request: web.Request) -> web.StreamResponse:
    """Staff or a teacher of the class's group confirm a class the guarantee proposed."""
    _ = gettext_of(request)
    user = require_session(request).user
    tt = request.app[keys.TIMETABLE]
    c = tt.get_class(int(request.match_info["class_id"]))
    if c.id not in proposals_seen(tt, user, [c]):
        if c.proposed and c.status is ClassStatus.PLANNED:
            raise PageError(
                403,
                _("A proposed class is confirmed by staff and the group's teachers."),
                "forbidden",
            )
        return redirect(f"/timetable/classes/{c.id}")  # confirmed already: nothing to do
    tt.confirm_class(c.id, by=actor(user))
    log.info("user %s confirmed the proposed class %s", user.id, c.id)
    return redirect(f"/timetable/classes/{c.id}")


@routes.post("/timetable/classes/{class_id:\\d{1,18}}/cancel")
async def cancel_class(request: web.Request) -> web.StreamResponse:
    user = require_editor(request)
    try:
        c = cancel(request, actor(user), await request.post())
    except PlanError as exc:
        return _class_card(request, str(exc), exc.status)
    return redirect(f"/timetable/classes/{c.id}")


@routes.post("/timetable/groups/{group_id:\\d{1,18}}/active")
async def set_group_active(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    require_editor(request)
    form = await request.post()
    tt = request.app[keys.TIMETABLE]
    group_id = int(request.match_info["group_id"])
    try:
        tt.set_active(group_id, str(form.get("active", "")) == "1")
    except GroupNotReady:
        raise PageError(
            409,
            _("An additional-education group needs at least 20 students to be activated."),
            "group_not_ready",
        ) from None
    return redirect("/timetable")


# -- the emergency switch (clause 3) ------------------------------------------------------------
def _emergency_page(
    request: web.Request, values: Mapping[str, Any], error: str | None = None, status: int = 200
) -> web.Response:
    tt = request.app[keys.TIMETABLE]
    names = {g.id: g.name for g in tt.groups()}
    switches = tt.switches()
    return render(
        request,
        "emergency.html",
        {
            "groups": tt.groups(),
            "switches": [
                (
                    sw,
                    ", ".join(names.get(g, "") for g in sw.group_ids),
                    datetime.fromtimestamp(sw.at, UTC),
                )
                for sw in switches
            ],
            "values": values,
            "error": error,
            "zone": DEFAULT_TIMEZONE,
        },
        status,
    )


@routes.get("/timetable/emergency")
async def emergency_page(request: web.Request) -> web.Response:
    require_editor(request)
    return _emergency_page(
        request, {"first_day": "", "last_day": "", "reason": "", "group_ids": [], "all": "1"}
    )


@routes.post("/timetable/emergency")
async def emergency_switch(request: web.Request) -> web.StreamResponse:
    """Staff move every in-person class of a period (of some groups, or all) online."""
    _ = gettext_of(request)
    user = require_editor(request)
    form = await request.post()
    values: dict[str, Any] = {
        "first_day": str(form.get("first_day", "")),
        "last_day": str(form.get("last_day", "")),
        "reason": str(form.get("reason", "")).strip(),
        "group_ids": [str(g) for g in form.getall("group_id", [])],
        "all": str(form.get("all", "")),
    }
    tt = request.app[keys.TIMETABLE]
    try:
        first = date.fromisoformat(values["first_day"])
        last = date.fromisoformat(values["last_day"])
        groups = [] if values["all"] else [int(g) for g in values["group_ids"]]
        known = {g.id for g in tt.groups()}
        if (not values["all"] and not groups) or any(g not in known for g in groups):
            raise PlanError(_("Choose the groups, or all of them."))
        if not values["reason"] or len(values["reason"]) > MAX_REASON:
            raise PlanError(
                _("Give the reason (at most {n} characters).").replace("{n}", str(MAX_REASON))
            )
        sw = tt.switch_online(first, last, groups, by=actor(user), reason=values["reason"])
    except PlanError as exc:
        return _emergency_page(request, values, str(exc), 400)
    except ValueError:
        return _emergency_page(
            request,
            values,
            _("Give the first and the last day (the last not before the first)."),
            400,
        )
    log.warning("emergency switch %s by %s: %d classes online", sw.id, user.id, len(sw.class_ids))
    return redirect("/timetable/emergency")


@routes.post("/timetable/emergency/{switch_id:\\d{1,18}}/undo")
async def emergency_undo(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_editor(request)
    tt = request.app[keys.TIMETABLE]
    try:
        tt.undo_switch(int(request.match_info["switch_id"]), by=actor(user))
    except InvalidTransition:
        raise PageError(409, _("This switch has already been undone."), "already_undone") from None
    return redirect("/timetable/emergency")
