"""The API's emergency switches (clause 3): the switches made, a new one put in force (the
in-person classes of its days and groups go live online, and so does every in-person class
planned or moved there while it is in force), and lifting one (the classes it changed go back
to in person). Staff signed in, or a key with "read" to list and "schedule" to change."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web

from access.api_keys import Scope
from scheduler.errors import ClassNotFound, InvalidTransition
from scheduler.models import EmergencySwitch, check_day
from scheduler.plan_forms import MAX_REASON
from scheduler.planning import Actor

from ..core import keys
from ..core.http import Caller, PageError, gettext_of, idempotent
from ..pages.timetable import actor
from . import models as api_models
from .calls import json_body, staff_or_portal
from .openapi import operation

routes = web.RouteTableDef()


def switch_json(sw: EmergencySwitch) -> dict[str, Any]:
    def moment(at: float | None) -> str | None:
        return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()

    return {
        "id": sw.id,
        "first_day": sw.first_day.isoformat(),
        "last_day": sw.last_day.isoformat(),
        "group_ids": list(sw.group_ids),
        "reason": sw.reason,
        "by": sw.by_name,
        "at": moment(sw.at),
        "in_force": sw.active,
        "class_ids": list(sw.class_ids),
        "lifted_at": moment(sw.undone_at),
        "lifted_by": sw.undone_by_name,
    }


def _caller(request: web.Request, scope: Scope) -> Caller:
    _ = gettext_of(request)
    return staff_or_portal(request, scope, _("Emergency switches are made by staff."))


def _actor(caller: Caller) -> Actor:
    return Actor(None, caller.name) if caller.user is None else actor(caller.user)


@routes.get("/api/v1/switches")
@operation(
    "emergencySwitches",
    "Emergency switches to live online, newest first (scope: read)",
    answers={200: ("The switches", api_models.Switches)},
    errors=(401, 403),
)
async def switches_json(request: web.Request) -> web.Response:
    _caller(request, Scope.READ)
    tt = request.app[keys.TIMETABLE]
    return web.json_response({"switches": [switch_json(sw) for sw in tt.switches()]})


@routes.post("/api/v1/switches")
@operation(
    "makeSwitch",
    "Put an emergency switch in force: the in-person classes of its days and groups, and those"
    " planned or moved there while it is in force, are live online (scope: schedule)",
    answers={201: ("In force", api_models.Switch)},
    errors=(400, 401, 403, 404, 413),
    body=api_models.NewSwitch,
    idempotent=True,
)
async def make_switch_json(request: web.Request) -> web.Response:
    """With an Idempotency-Key a retry gets the first answer (a second switch is never put in
    force by a portal retrying after a timeout)."""
    _ = gettext_of(request)
    by = _actor(_caller(request, Scope.SCHEDULE))
    raw = await request.read()
    body = await json_body(request, api_models.NewSwitch)
    return idempotent(request, raw, lambda: _make_switch(request, body, by))


def _make_switch(request: web.Request, body: dict[str, Any], by: Actor) -> web.Response:
    _ = gettext_of(request)
    try:
        first = date.fromisoformat(str(body["first_day"]))
        last = date.fromisoformat(str(body["last_day"]))
        check_day(first)
        check_day(last)
        if last < first:
            raise ValueError
    except ValueError:
        raise PageError(
            400,
            _("Give the first and the last day (the last not before the first)."),
            "bad_range",
        ) from None
    groups = [int(g) for g in body.get("group_ids", [])]
    if bool(body.get("all_groups", False)) == bool(groups):
        raise PageError(400, _("Choose the groups, or all of them."), "bad_groups")
    reason = str(body["reason"]).strip()
    if not reason:
        message = _("Give the reason (at most {n} characters).")
        raise PageError(400, message.replace("{n}", str(MAX_REASON)), "bad_reason")
    tt = request.app[keys.TIMETABLE]
    for g in groups:
        tt.group(g)  # an unknown group: 404
    sw = tt.switch_online(first, last, groups, by=by, reason=reason)
    return web.json_response(switch_json(sw), status=201)


@routes.post("/api/v1/switches/{switch_id:\\d{1,18}}/lift")
@operation(
    "liftSwitch",
    "Lift an emergency switch: the classes it changed go back to in person (scope: schedule)",
    answers={200: ("Lifted", api_models.Switch)},
    errors=(401, 403, 404, 409),
)
async def lift_switch_json(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    by = _actor(_caller(request, Scope.SCHEDULE))
    tt = request.app[keys.TIMETABLE]
    try:
        sw = tt.undo_switch(int(request.match_info["switch_id"]), by=by)
    except ClassNotFound:
        raise PageError(404, _("There is no such emergency switch."), "not_found") from None
    except InvalidTransition:
        raise PageError(409, _("This switch has already been undone."), "already_undone") from None
    return web.json_response(switch_json(sw))
