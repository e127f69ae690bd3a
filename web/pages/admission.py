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

from access.errors import UserNotFound
from access.models import Role, User
from admission.door import (
    NotInProgramme,
    UnknownDiscipline,
    Who,
    programmes_of_learner,
    turned_away,
)
from admission.door import set_status as record_status
from admission.labels import not_admitted_labels
from admission.status import (
    MAX_NOTE,
    AdmissionChange,
    NotAdmittedReason,
    StatusKey,
    current,
    key_text,
    parse_key,
)
from scheduler.models import (
    DEFAULT_TIMEZONE,
    OPEN,
    ClassFormat,
    ClassStatus,
    ProgrammeKind,
)

from ..core import clock, keys, policy
from ..core.http import PageError, gettext_of, redirect, render, require_role, require_session
from .classes import not_admitted_message

log = logging.getLogger("sabaq.web.admission")
routes = web.RouteTableDef()

RECORDERS = frozenset({Role.STAFF, Role.ADMIN})
ADMITTED = "admitted"


def status_choices(_: Callable[[str], str]) -> list[tuple[str, str]]:
    reasons = not_admitted_labels(_)
    return [(ADMITTED, _("admitted"))] + [
        (r.value, _("not admitted: {reason}").replace("{reason}", reasons[r]))
        for r in NotAdmittedReason
    ]


def learner_and_viewer(request: web.Request) -> tuple[User, User]:
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
                    "key": key_text(key),  # the form's value
                    "status_key": key,
                    "change": change,
                    "since": utc_time(change.at) if change else None,
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
                {"change": ch, "what": what.get(key_text(ch.key), "—"), "at": utc_time(ch.at)}
                for ch in reversed(history)
            ],
            "refusals": [
                {"at": utc_time(r.at), "class": classes.get(r.class_id), "class_id": r.class_id}
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


def utc_time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@routes.get("/learners/{user_id:\\d{1,18}}/admission")
async def admission_page(request: web.Request) -> web.Response:
    learner, viewer = learner_and_viewer(request)
    return _page(request, learner, viewer)


@routes.post("/learners/{user_id:\\d{1,18}}/admission")
async def admission_record(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    learner, viewer = learner_and_viewer(request)
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
