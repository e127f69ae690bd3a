"""A learner's admission status (clauses 12 and 20): staff record it per discipline or course with
the reason and the record it rests on; the learner, staff, the institute's people and the
learner's teachers read it with its whole history and the times the learner was turned away.

A change reaches classes already running: a learner no longer admitted is taken out of a live
control at once, and one admitted again may come back in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from access.api_keys import Scope
from access.errors import UserNotFound
from access.models import Role, User
from admission.door import (
    OPEN,
    NotInProgramme,
    UnknownDiscipline,
    Who,
    programmes_of_learner,
    turned_away,
)
from admission.door import set_status as record_status
from admission.status import (
    MAX_NOTE,
    AdmissionChange,
    NotAdmittedReason,
    StatusKey,
    current,
    discipline_named,
)
from scheduler.models import (
    DEFAULT_TIMEZONE,
    ClassFormat,
    ClassKind,
    ClassStatus,
    Group,
    ProgrammeKind,
)

from . import api_models, clock, keys, policy
from .http import (
    Caller,
    PageError,
    api_caller,
    gettext_of,
    json_body,
    redirect,
    render,
    require_role,
    require_session,
)
from .labels import not_admitted_labels
from .openapi import operation
from .views import not_admitted_message

log = logging.getLogger("sabaq.web.admission")
routes = web.RouteTableDef()

RECORDERS = frozenset({Role.STAFF, Role.ADMIN})
ADMITTED = "admitted"


def key_value(key: StatusKey) -> str:
    return f"{key.programme_id}:{key.discipline_id if key.discipline_id is not None else ''}"


def parse_key(value: str) -> StatusKey | None:
    programme, sep, discipline = value.partition(":")
    if not sep or not programme.isdigit() or len(programme) > 18:
        return None
    if discipline and (not discipline.isdigit() or len(discipline) > 18):
        return None
    return StatusKey(int(programme), int(discipline) if discipline else None)


def status_choices(_: Callable[[str], str]) -> list[tuple[str, str]]:
    reasons = not_admitted_labels(_)
    return [(ADMITTED, _("admitted"))] + [
        (r.value, _("not admitted: {reason}").replace("{reason}", reasons[r]))
        for r in NotAdmittedReason
    ]


def named_discipline(request: web.Request, group: Group, kind: ClassKind, text: str) -> str:
    """The discipline a class of the group names, spelt as its programme spells it: the rule
    is the domain's (``admission.status.discipline_named``, which raises
    ``DisciplineNotNamed``); this finds its facts, the discipline so named and the others."""
    tt = request.app[keys.TIMETABLE]
    if group.programme_id is None:
        return text
    found = tt.discipline_named(group.programme_id, text) if text.strip() else None
    if found is not None:
        return discipline_named(kind, text, found.name, ())
    names = [d.name for d in tt.disciplines(group.programme_id)]
    return discipline_named(kind, text, None, names)


def _learner(request: web.Request) -> tuple[User, User]:
    """The learner the page is about, and the person asking, if they may see it."""
    _ = gettext_of(request)
    viewer = require_session(request).user
    try:
        learner = request.app[keys.ACCOUNTS].get(int(request.match_info["user_id"]))
    except UserNotFound:
        raise PageError(404, _("There is no such user."), "not_found") from None
    if not policy.sees_learner(request, viewer, learner.id):
        raise PageError(
            403,
            _("Only the student, their teachers and the academy's staff see this."),
            "forbidden",
        )
    return learner, viewer


def rows_of(
    request: web.Request, learner: User, history: Sequence[AdmissionChange]
) -> list[dict[str, Any]]:
    """One row per discipline (postgraduate) or course (additional education) of the learner's
    programmes, with the status in force."""
    _ = gettext_of(request)
    tt = request.app[keys.TIMETABLE]
    now = current(history)
    rows = []
    for p in programmes_of_learner(tt, learner.id):
        keys_: list[tuple[StatusKey, str]]
        if p.kind is ProgrammeKind.ADDITIONAL:
            keys_ = [(StatusKey(p.id), _("the whole course"))]
        else:
            keys_ = [(StatusKey(p.id, d.id), d.name) for d in tt.disciplines(p.id)]
        for key, what in keys_:
            change = now.get(key)
            rows.append(
                {
                    "programme": p,
                    "what": what,
                    "key": key_value(key),  # the form's value
                    "status_key": key,
                    "change": change,
                    "since": _at(change.at) if change else None,
                }
            )
    return rows


def _page(
    request: web.Request,
    learner: User,
    viewer: User,
    *,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    _ = gettext_of(request)
    tt = request.app[keys.TIMETABLE]
    store = request.app[keys.ADMISSION]
    history = store.history(learner.id)
    rows = rows_of(request, learner, history)
    what = {r["key"]: f"{r['programme'].name} · {r['what']}" for r in rows}
    refusals = store.refusals_of(learner.id)
    classes = {cid: tt.get_class(cid) for cid in {r.class_id for r in refusals}}
    groups = tt.groups_of_member(learner.id)
    return render(
        request,
        "admission.html",
        {
            "learner": learner,
            "rows": rows,
            "history": [
                {"change": ch, "what": what.get(key_value(ch.key), "—"), "at": _at(ch.at)}
                for ch in reversed(history)
            ],
            "refusals": [
                {"at": _at(r.at), "class": classes.get(r.class_id), "class_id": r.class_id}
                for r in reversed(refusals)
            ],
            "reasons": not_admitted_labels(_),
            "choices": status_choices(_),
            "can_record": viewer.role in RECORDERS,
            "zone": groups[0].timezone if groups else DEFAULT_TIMEZONE,
            "error": error,
            "values": values or {"key": "", "status": "", "note": ""},
            "max_note": MAX_NOTE,
        },
        status=status,
    )


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@routes.get("/learners/{user_id:\\d{1,18}}/admission")
async def admission_page(request: web.Request) -> web.Response:
    learner, viewer = _learner(request)
    return _page(request, learner, viewer)


@routes.post("/learners/{user_id:\\d{1,18}}/admission")
async def admission_record(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    learner, viewer = _learner(request)
    require_role(request, RECORDERS, _("Only staff record a student's admission."))
    form = await request.post()
    values = {f: str(form.get(f, "")).strip() for f in ("key", "status", "note")}
    key = parse_key(values["key"])
    choice = values["status"]
    if key is None or choice not in {c for c, _label in status_choices(_)}:
        return _page(
            request, learner, viewer, error=_("Choose the discipline and the status."),
            values=values, status=400,
        )  # fmt: skip
    reason = None if choice == ADMITTED else NotAdmittedReason(choice)
    if not values["note"] or len(values["note"]) > MAX_NOTE:
        return _page(
            request,
            learner,
            viewer,
            error=_(
                "Say what the change rests on: the portal's record, the cleared debt"
                " (at most {n} characters)."
            ).replace("{n}", str(MAX_NOTE)),
            values=values,
            status=400,
        )
    try:
        change, _new = await change_status(
            request, learner.id, key, reason, values["note"], Who(viewer.id, viewer.full_name)
        )
    except (NotInProgramme, UnknownDiscipline, ValueError):
        return _page(
            request, learner, viewer,
            error=_("This discipline or course is not one of the student's programmes."),
            values=values, status=400,
        )  # fmt: skip
    log.info("admission of %s: change %s by %s", learner.id, change.id, viewer.id)
    return redirect(f"/learners/{learner.id}/admission")


async def change_status(
    request: web.Request,
    learner_id: int,
    key: StatusKey,
    reason: NotAdmittedReason | None,
    note: str,
    who: Who,
) -> tuple[AdmissionChange, bool]:
    """Record the change and carry it to the classes to come and running; returns the change in
    force and whether it is new."""
    change, new = record_status(
        request.app[keys.ADMISSION], request.app[keys.TIMETABLE],
        learner_id=learner_id, key=key, admitted=reason is None, reason=reason, note=note,
        by=who, at=clock.now(request),
    )  # fmt: skip
    if new:
        await sync_rooms(request, learner_id)
    return change, new


async def sync_rooms(request: web.Request, learner_id: int) -> None:
    """Take the learner out of the classes to come and running that their status now closes
    (a join token they still hold no longer gets them in); let them back into those it opens."""
    if keys.MEDIA_CONTROL not in request.app:
        return
    node = request.app[keys.MEDIA_CONTROL]
    tt = request.app[keys.TIMETABLE]
    store = request.app[keys.ADMISSION]
    now = clock.now(request)
    for c in tt.classes_of_learner(learner_id):
        if c.status not in OPEN or c.format is not ClassFormat.LIVE_ONLINE:
            continue
        if c.status is ClassStatus.LIVE:
            request.app[keys.CHANGES].notify(c.id)  # open live registers show the change
        barred = turned_away(store, tt, learner_id, c, now)
        if barred is None:
            await node.readmit(c.id, learner_id)
            continue
        language = tt.group(c.group_ids[0]).language if c.group_ids else "ru"
        told = not_admitted_message(request.app, language, c, barred, learner_id)
        if await node.remove_user(c.id, learner_id, "not_admitted", told):
            store.refused(c.id, learner_id, barred.id, now)


# -- the portal's API -----------------------------------------------------------------------------
def _learner_for_api(request: web.Request, scope: Scope) -> tuple[User, Caller]:
    _ = gettext_of(request)
    caller = api_caller(request, scope)
    if caller.user is not None:
        learner, _viewer = _learner(request)
        return learner, caller
    try:
        return request.app[keys.ACCOUNTS].get(int(request.match_info["user_id"])), caller
    except UserNotFound:
        raise PageError(404, _("There is no such user."), "not_found") from None


def _stamp(ts: float) -> str:
    return _at(ts).isoformat().replace("+00:00", "Z")


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
