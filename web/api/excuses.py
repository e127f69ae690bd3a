"""The API's excuse requests: file one for a learner (as the portal or staff), read one
with its decision."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from access.api_keys import Scope
from access.errors import UserNotFound
from admission import service
from admission.errors import RequestNotFound
from admission.excuse_forms import FormRefused, excuse_fields
from admission.excuse_words import form_message
from admission.models import ExcuseRequest

from ..core import clock, keys
from ..core.http import PageError, api_caller, gettext_of, idempotent
from ..pages.excuses import FILE_FIELDS, FILERS, request_for
from . import models as api_models
from .calls import json_body
from .openapi import operation

log = logging.getLogger("sabaq.web.excuses")
routes = web.RouteTableDef()


# -- the portal's API -----------------------------------------------------------------------------
def request_json(request: web.Request, r: ExcuseRequest) -> dict[str, Any]:
    store, tt = request.app[keys.EXCUSES], request.app[keys.TIMETABLE]
    return {
        "id": r.id,
        "learner_id": r.learner_id,
        "group_id": r.group_id,
        "reason": r.reason.value,
        "first_day": r.first_day.isoformat(),
        "last_day": r.last_day.isoformat(),
        "document": r.document,
        "details": r.details,
        "status": r.status.value,
        "decider_id": service.decider_id(tt, r),
        "steps": [
            {
                "action": step.action.value,
                "by": step.actor_name,
                "comment": step.comment,
                "class_id": step.class_id,
                "at": datetime.fromtimestamp(step.at, UTC).isoformat().replace("+00:00", "Z"),
            }
            for step in store.steps(r.id)
        ],
    }


@routes.post("/api/v1/excuse-requests")
@operation(
    "fileExcuseRequest",
    "File a learner's excuse request (clause 12) as the staff member named (scope: schedule);"
    " the director of the group's institute decides it in Sabaq",
    answers={201: ("Filed", api_models.ExcuseRequest)},
    errors=(400, 401, 403, 404, 413, 422),
    body=api_models.NewExcuseRequest,
    idempotent=True,
)
async def excuse_file_json(request: web.Request) -> web.Response:
    """A learner's request filed through the portal as the staff member it names (scope:
    schedule); the director decides it in Sabaq."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.SCHEDULE)
    raw = await request.read()
    body = await json_body(request, api_models.NewExcuseRequest)

    def run() -> web.Response:
        try:
            staff = request.app[keys.ACCOUNTS].get(body["filed_by_user_id"])
        except UserNotFound:
            raise PageError(404, _("There is no such user."), "not_found") from None
        if staff.role not in FILERS or (caller.user is not None and caller.user.id != staff.id):
            raise PageError(403, _("Requests are filed by staff."), "not_staff")
        request.app[keys.TIMETABLE].group(body["group_id"])  # 404 if there is none
        try:
            filed = excuse_fields({k: str(body.get(k, "")) for k in FILE_FIELDS if k != "learner"})
        except FormRefused as exc:
            raise PageError(400, form_message(_, exc.problem), "bad_body") from None
        try:
            r = service.file_request(
                request.app[keys.EXCUSES], request.app[keys.TIMETABLE],
                learner_id=body["learner_id"], group_id=body["group_id"], reason=filed.reason,
                first_day=filed.first_day, last_day=filed.last_day, document=filed.document,
                details=filed.details, by=staff,
                at=clock.now(request),
            )  # fmt: skip
        except service.NotInGroup:
            raise PageError(
                400, _("The student is not a member of this group."), "not_in_group"
            ) from None
        log.info("excuse request %s filed through %s as %s", r.id, caller.name, staff.id)
        return web.json_response(request_json(request, r), status=201)

    return idempotent(request, raw, run)


@routes.get("/api/v1/excuse-requests/{request_id:\\d{1,18}}")
@operation(
    "excuseRequest",
    "An excuse request with its status and history (scope: schedule)",
    answers={200: ("The request", api_models.ExcuseRequest)},
    errors=(401, 403, 404),
)
async def excuse_json(request: web.Request) -> web.Response:
    """A request with its status and history (scope: schedule, the scope that files it: a
    request carries health and family matters that a key to read timetables must not)."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.SCHEDULE)
    if caller.user is not None:
        r, _user = request_for(request)
    else:
        try:
            r = request.app[keys.EXCUSES].get(int(request.match_info["request_id"]))
        except RequestNotFound:
            raise PageError(404, _("There is no such request."), "not_found") from None
    return web.json_response(request_json(request, r))
