"""The API's timetable: a group's or teacher's classes in a range, plan, move and cancel classes
(the same rules as the pages), the monthly guarantee's open alerts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from access.api_keys import Scope
from control.guarantee_run import run_now
from scheduler.errors import ClassConflict
from scheduler.labels import conflict_message
from scheduler.models import (
    DEFAULT_TIMEZONE,
    LiveClass,
    check_day,
)
from scheduler.sqlite_store import Actor

from ..core import keys, policy
from ..core.alerts import reason_text
from ..core.http import PageError, api_caller, gettext_of, idempotent
from ..core.offload import off_loop
from ..pages.classes import EDITORS, OBSERVER_ROLES
from ..pages.planning import DAY_REFUSALS, PlanError, cancel, confirmed, move, plan_from
from ..pages.timetable import MAX_SPAN_DAYS, actor, may_see_group, may_see_teacher
from . import models as api_models
from .calls import json_body, staff_or_portal
from .openapi import RANGE, operation

routes = web.RouteTableDef()


@routes.get("/api/v1/guarantee/alerts")
@operation(
    "guaranteeAlerts",
    "Open alerts of the monthly guarantee (scope: read)",
    answers={200: ("The alerts", api_models.Alerts)},
    errors=(401, 403),
)
async def guarantee_alerts_json(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    caller = api_caller(request, Scope.READ)
    if caller.user is not None and caller.user.role not in EDITORS | OBSERVER_ROLES:
        raise PageError(403, _("The monthly guarantee is watched by staff."), "forbidden")
    tt = request.app[keys.TIMETABLE]
    seen = {g.id for g in policy.visible(request, caller.user, tt.groups())}
    return web.json_response(
        {
            "alerts": [
                {
                    "group_id": a.group_id,
                    "month": a.month,
                    "reason": a.reason.split(":", 1)[1],
                    "message": reason_text(request, f"{a.reason}:{a.month}"),
                    "raised_at": datetime.fromtimestamp(a.raised_at, UTC).isoformat(),
                }
                for a in tt.alerts()
                if a.group_id in seen
            ]
        }
    )


@routes.post("/api/v1/guarantee/run")
@operation(
    "runGuarantee",
    "Run the monthly guarantee now: per group-month, the live classes it plans and the alerts it"
    " raises (times in the group's zone); with dry_run, what it would do, writing nothing"
    " (scope: schedule)",
    answers={200: ("What it did, or would do", api_models.GuaranteeOutcome)},
    errors=(400, 401, 403, 413),
    body=api_models.GuaranteeRun,
)
async def run_guarantee_json(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    staff_or_portal(request, Scope.SCHEDULE, _("The monthly guarantee is run by staff."))
    body = await json_body(request, api_models.GuaranteeRun)
    app = request.app
    now = datetime.fromtimestamp(app[keys.SETTINGS].clock(), UTC)

    def run() -> dict[str, Any]:
        groups = {g.id: g for g in app[keys.TIMETABLE].groups()}
        job = app[keys.GUARANTEE]
        return run_now(job, groups, now, dry_run=bool(body.get("dry_run", True)), gettext=_).json()

    return web.json_response(await off_loop(app, run))


# -- JSON -----------------------------------------------------------------------------------------
def class_json(c: LiveClass, zone: str, *, learners: bool = True) -> dict[str, Any]:
    tz = ZoneInfo(zone)
    return {
        "id": c.id,
        "title": c.title,
        "discipline": c.discipline,
        "kind": c.kind.value,
        "format": c.format.value,
        "status": c.status.value,
        "teacher_id": c.teacher_id,
        "group_ids": list(c.group_ids),
        "learner_ids": list(c.learner_ids) if learners else [],
        "individual": c.individual,
        "series_id": c.series_id,
        "starts_at": c.starts_at.isoformat(),
        "ends_at": c.ends_at.isoformat(),
        "local_start": c.starts_at.astimezone(tz).isoformat(),
        "local_end": c.ends_at.astimezone(tz).isoformat(),
        "time_zone": zone,
    }


def _json_range(request: web.Request, zone: str) -> tuple[datetime, datetime]:
    _ = gettext_of(request)
    tz = ZoneInfo(zone)
    try:
        first = date.fromisoformat(request.query["from"])
        last = date.fromisoformat(request.query["to"])
        check_day(first)
        check_day(last)
        if last < first or (last - first).days > MAX_SPAN_DAYS:
            raise ValueError
    except (KeyError, ValueError):
        raise PageError(
            400,
            _("Give from=YYYY-MM-DD and to=YYYY-MM-DD, at most {n} days apart.").replace(
                "{n}", str(MAX_SPAN_DAYS)
            ),
            "bad_range",
        ) from None
    return (
        datetime.combine(first, time(), tz).astimezone(UTC),
        datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC),
    )


@routes.get("/api/v1/groups/{group_id:\\d{1,18}}/timetable")
@operation(
    "groupTimetable",
    "A group's classes in a range of local days (scope: read)",
    answers={200: ("The classes", api_models.GroupTimetable)},
    errors=(400, 401, 403, 404),
    query=RANGE,
)
async def group_timetable_json(request: web.Request) -> web.Response:
    caller = api_caller(request, Scope.READ)
    user = caller.user
    tt = request.app[keys.TIMETABLE]
    group = tt.group(int(request.match_info["group_id"]))
    if user is not None:
        may_see_group(request, user, group)
    staff = user is None or user.role in EDITORS | OBSERVER_ROLES  # the portal sees all
    classes = policy.visible(
        request, user, tt.classes_of_group(group.id, *_json_range(request, group.timezone))
    )
    return web.json_response(
        {
            "group_id": group.id,
            "classes": [class_json(c, group.timezone, learners=staff) for c in classes],
        }
    )


@routes.get("/api/v1/teachers/{user_id:\\d{1,18}}/timetable")
@operation(
    "teacherTimetable",
    "A teacher's classes in a range of days (scope: read)",
    answers={200: ("The classes", api_models.TeacherTimetable)},
    errors=(400, 401, 403, 404),
    query=RANGE,
)
async def teacher_timetable_json(request: web.Request) -> web.Response:
    caller = api_caller(request, Scope.READ)
    teacher_id = int(request.match_info["user_id"])
    if caller.user is not None:
        may_see_teacher(request, caller.user, teacher_id)
    tt = request.app[keys.TIMETABLE]
    start, end = _json_range(request, DEFAULT_TIMEZONE)
    classes = policy.visible(
        request,
        caller.user,
        [c for c in tt.classes_of_teacher(teacher_id) if start <= c.starts_at < end],
    )
    zones = {c.id: tt.group(c.group_ids[0]).timezone for c in classes}
    return web.json_response(
        {"teacher_id": teacher_id, "classes": [class_json(c, zones[c.id]) for c in classes]}
    )


def _scheduler(request: web.Request) -> Actor:
    """Who edits the timetable through the API: staff signed in, or a key with "schedule"."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.SCHEDULE)
    if caller.user is None:
        return Actor(None, caller.name)
    if caller.user.role not in EDITORS:
        raise PageError(403, _("The timetable is edited by staff."), "forbidden")
    return actor(caller.user)


def _plan_json(request: web.Request, by: Actor, body: dict[str, Any]) -> web.Response:
    _ = gettext_of(request)
    weekdays = body.get("weekdays", [])
    if "except" in body:
        body = body | {"except": ",".join(body["except"])}
    try:
        specs, group = plan_from(request, body, weekdays=[str(d) for d in weekdays])
        made = request.app[keys.TIMETABLE].add_classes(specs, by=by, on_day_off=confirmed(body))
    except PlanError as exc:
        raise PageError(400, str(exc), "bad_plan") from None
    except DAY_REFUSALS as exc:
        return day_refusal(request, PlanError.of(request, exc))
    except ClassConflict as exc:
        zone = request.app[keys.TIMETABLE].group(int(str(body.get("group_id")))).timezone
        return web.json_response(
            {
                "error": {
                    "code": "class_conflict",
                    "message": conflict_message(gettext_of(request), exc, zone),
                    "conflicting_class_id": exc.conflicting.id,
                    "who": exc.who,
                }
            },
            status=409,
        )
    return web.json_response({"classes": [class_json(c, group.timezone) for c in made]}, status=201)


@routes.post("/api/v1/classes")
@operation(
    "planClasses",
    "Plan a class, or a weekly series, all or nothing (scope: schedule)",
    answers={201: ("Planned", api_models.PlannedClasses)},
    errors=(400, 401, 403, 404, 409, 422, 413),
    body=api_models.Plan,
    idempotent=True,
)
async def plan_classes_json(request: web.Request) -> web.Response:
    """Plan classes; with an ``Idempotency-Key`` a retry gets the first answer back."""
    _ = gettext_of(request)
    by = _scheduler(request)
    raw = await request.read()
    body = await json_body(request, api_models.Plan)
    return idempotent(request, raw, lambda: _plan_json(request, by, body))


def day_refusal(request: web.Request, exc: PlanError) -> web.Response:
    """A plan or move refused for its day: the code, the reason, and for a non-working day
    the day and its name (sent again with ``"on_day_off": true`` it is planned)."""
    error: dict[str, Any] = {"code": exc.code, "message": str(exc)}
    if exc.day_off is not None:
        error |= {"day": exc.day_off.day.isoformat(), "day_off": exc.day_off.name}
    return web.json_response({"error": error}, status=exc.status)


async def _change_json(
    request: web.Request,
    model: type[api_models.Request],
    change: Callable[[web.Request, Actor, Mapping[str, Any]], LiveClass],
    code: str,
) -> web.Response:
    """Move or cancel a class through the API: the same rules as the pages."""
    by = _scheduler(request)
    body = await json_body(request, model)
    try:
        c = change(request, by, body)
    except PlanError as exc:
        if exc.code in {e.code for e in DAY_REFUSALS}:
            return day_refusal(request, exc)
        raise PageError(exc.status, str(exc), code) from None
    zone = request.app[keys.TIMETABLE].group(c.group_ids[0]).timezone
    return web.json_response(class_json(c, zone))


@routes.post("/api/v1/classes/{class_id:\\d{1,18}}/move")
@operation(
    "moveClass",
    "Move a planned class (scope: schedule)",
    answers={200: ("Moved", api_models.Class)},
    errors=(400, 401, 403, 404, 409, 413, 422),
    body=api_models.Move,
)
async def move_class_json(request: web.Request) -> web.Response:
    return await _change_json(request, api_models.Move, move, "not_moved")


@routes.post("/api/v1/classes/{class_id:\\d{1,18}}/cancel")
@operation(
    "cancelClass",
    "Cancel a planned class with a reason (scope: schedule)",
    answers={200: ("Cancelled", api_models.Class)},
    errors=(400, 401, 403, 404, 409, 413),
    body=api_models.Cancel,
)
async def cancel_class_json(request: web.Request) -> web.Response:
    return await _change_json(request, api_models.Cancel, cancel, "not_cancelled")
