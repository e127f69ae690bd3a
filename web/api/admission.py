"""The API's admission status of a learner: read the statuses and their history, record a change."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from access.api_keys import Scope
from access.errors import UserNotFound
from access.models import User
from admission.door import (
    NotInProgramme,
    UnknownDiscipline,
    Who,
)
from admission.status import (
    AdmissionChange,
    NotAdmittedReason,
    StatusKey,
)

from ..core import keys
from ..core.http import Caller, PageError, api_caller, gettext_of
from ..pages.admission import RECORDERS, change_status, learner_and_viewer, rows_of, utc_time
from . import models as api_models
from .calls import json_body
from .openapi import operation

log = logging.getLogger("sabaq.web.admission")
routes = web.RouteTableDef()


# -- the portal's API -----------------------------------------------------------------------------
def _learner_for_api(request: web.Request, scope: Scope) -> tuple[User, Caller]:
    _ = gettext_of(request)
    caller = api_caller(request, scope)
    if caller.user is not None:
        learner, _viewer = learner_and_viewer(request)
        return learner, caller
    try:
        return request.app[keys.ACCOUNTS].get(int(request.match_info["user_id"])), caller
    except UserNotFound:
        raise PageError(404, _("There is no such user."), "not_found") from None


def _stamp(ts: float) -> str:
    return utc_time(ts).isoformat().replace("+00:00", "Z")


def change_json(change: AdmissionChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "programme_id": change.key.programme_id,
        "discipline_id": change.key.discipline_id,
        "admitted": change.admitted,
        "reason": change.reason.value if change.reason else None,
        "note": change.note,
        "by": change.by_name,
        "at": _stamp(change.at),
    }


@routes.get("/api/v1/learners/{user_id:\\d{1,18}}/admission")
@operation(
    "learnerAdmission",
    "A learner's admission status per discipline or course, and its history (scope: read)",
    answers={200: ("The statuses and their history", api_models.Admission)},
    errors=(401, 403, 404),
)
async def admission_json(request: web.Request) -> web.Response:
    """A learner's statuses and their history (scope: read)."""
    learner, _caller = _learner_for_api(request, Scope.READ)
    changes = request.app[keys.ADMISSION].history(learner.id)
    statuses = []
    for row in rows_of(request, learner, changes):
        key: StatusKey = row["status_key"]
        change: AdmissionChange | None = row["change"]
        statuses.append(
            {
                "programme_id": key.programme_id,
                "discipline_id": key.discipline_id,
                "name": row["what"],
                "admitted": change is None or change.admitted,
                "reason": change.reason.value if change and change.reason else None,
                "since": _stamp(change.at) if change else None,
            }
        )
    history = [change_json(c) for c in changes]
    return web.json_response({"learner_id": learner.id, "statuses": statuses, "history": history})


@routes.post("/api/v1/learners/{user_id:\\d{1,18}}/admission")
@operation(
    "changeAdmission",
    "Record a change of a learner's admission status, with why (scope: schedule); a learner"
    " no longer admitted is taken out of a running control at once",
    answers={
        201: ("Recorded", api_models.AdmissionChange),
        200: ("The learner already has this status: nothing new", api_models.AdmissionChange),
    },
    errors=(400, 401, 403, 404, 413),
    body=api_models.NewAdmissionChange,
)
async def admission_change_json(request: web.Request) -> web.Response:
    """Record a change (scope: schedule): 201 with it, or 200 if the learner already has it."""
    _ = gettext_of(request)
    learner, caller = _learner_for_api(request, Scope.SCHEDULE)
    if caller.user is not None and caller.user.role not in RECORDERS:
        raise PageError(403, _("Only staff record a student's admission."), "forbidden")
    body = await json_body(request, api_models.NewAdmissionChange)
    if not body["note"].strip():
        raise PageError(
            400, _("Say what the change rests on: the portal's record, the cleared debt."),
            "note_missing",
        )  # fmt: skip
    reason = NotAdmittedReason(body["reason"]) if body.get("reason") else None
    if body["admitted"] == (reason is not None):
        raise PageError(
            400,
            _("Give a reason when the student is not admitted, and none when admitted."),
            "bad_body",
        )
    who = Who(caller.user.id, caller.user.full_name) if caller.user else Who(None, caller.name)
    key = StatusKey(body["programme_id"], body.get("discipline_id"))
    try:
        change, new = await change_status(request, learner.id, key, reason, body["note"], who)
    except NotInProgramme:
        raise PageError(
            400, _("The student is in no group of this programme."), "not_in_programme"
        ) from None
    except UnknownDiscipline:
        raise PageError(
            400, _("This discipline is not one of the programme's."), "unknown_discipline"
        ) from None
    except ValueError:
        raise PageError(
            400,
            _(
                "In a postgraduate programme the status is kept per discipline; in additional"
                " education, for the whole course."
            ),
            "bad_key",
        ) from None
    log.info("admission of %s: change %s by %s", learner.id, change.id, caller.name)
    return web.json_response(change_json(change), status=201 if new else 200)
