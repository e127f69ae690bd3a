"""The agencies that send learners (clauses 18, 19): their names and their HR services' e-mail
addresses. Staff and administrators create, rename and archive them (an archived agency is not
offered for new learners; its learners and reports still name it) and keep the contacts. Every
name a learner was given is an agency (``scheduler/sqlite_agencies.py``)."""

from __future__ import annotations

import logging

from aiohttp import web

from access.models import User
from scheduler.errors import AgencyNotFound, SchedulerError
from scheduler.sqlite_agencies import SqliteAgencies
from scheduler.structure import MAX_CONTACTS, MAX_STRUCTURE_NAME, Agency, split_contacts

from ..core import keys, policy
from ..core.errors import message_of, status_of
from ..core.http import PageError, actor, gettext_of, redirect, render, require_session

log = logging.getLogger("sabaq.web.agencies")
routes = web.RouteTableDef()

AGENCY = r"/agencies/{agency_id:\d{1,18}}"


def store(request: web.Request) -> SqliteAgencies:
    return SqliteAgencies(request.app[keys.DB], request.app[keys.SETTINGS].clock)


def _viewer(request: web.Request) -> User:
    _ = gettext_of(request)
    user = require_session(request).user
    if not policy.sees_agencies(request, user):
        raise PageError(403, _("Agencies are seen by staff and administrators."), "forbidden")
    return user


def _manager(request: web.Request) -> User:
    _ = gettext_of(request)
    user = _viewer(request)
    if not policy.manages_structure(user):
        raise PageError(403, _("Agencies are managed by staff and administrators."), "forbidden")
    return user


def _agency_of(request: web.Request) -> Agency:
    _ = gettext_of(request)
    try:
        return store(request).agency(int(request.match_info["agency_id"]))
    except AgencyNotFound:
        raise PageError(404, _("There is no such agency."), "agency_not_found") from None


def _index(
    request: web.Request, user: User, error: str | None = None, status: int = 200, **values: str
) -> web.Response:
    agencies = store(request)
    counts = agencies.learner_counts()
    every = agencies.agencies()
    return render(
        request,
        "agencies.html",
        {
            "rows": [(a, counts.get(a.name.casefold(), 0)) for a in every if not a.archived],
            "archived": [a for a in every if a.archived],
            "can_manage": policy.manages_structure(user),
            "error": error,
            "values": {"name": "", "contacts": ""} | values,
            "max_name": MAX_STRUCTURE_NAME,
            "max_contacts": MAX_CONTACTS,
        },
        status,
    )


@routes.get("/agencies")
async def agencies_index(request: web.Request) -> web.Response:
    return _index(request, _viewer(request))


@routes.post("/agencies")
async def create_agency(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _manager(request)
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in ("name", "contacts")}
    try:
        made = store(request).create_agency(
            values["name"], split_contacts(values["contacts"]), actor(user)
        )
    except SchedulerError as exc:
        return _index(request, user, message_of(_, exc), status_of(exc), **values)
    log.info("%s %s created agency %s", user.role, user.id, made.id)
    return redirect(f"/agencies/{made.id}")


def _page(
    request: web.Request, user: User, agency: Agency, error: str | None = None, status: int = 200
) -> web.Response:
    return render(
        request,
        "agency.html",
        {
            "a": agency,
            "learners": store(request).learner_counts().get(agency.name.casefold(), 0),
            "can_manage": policy.manages_structure(user),
            "error": error,
            "max_name": MAX_STRUCTURE_NAME,
            "max_contacts": MAX_CONTACTS,
        },
        status,
    )


@routes.get(AGENCY)
async def agency_page(request: web.Request) -> web.Response:
    return _page(request, _viewer(request), _agency_of(request))


@routes.post(AGENCY)
async def change_agency(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _manager(request)
    agency = _agency_of(request)
    form = await request.post()
    action = str(form.get("action", ""))
    agencies = store(request)
    try:
        if action == "rename":
            agencies.change_agency(agency.id, name=str(form.get("name", "")), actor=actor(user))
        elif action == "contacts":
            contacts = split_contacts(str(form.get("contacts", "")))
            agencies.change_agency(agency.id, contacts=contacts, actor=actor(user))
        elif action in ("archive", "unarchive"):
            agencies.change_agency(agency.id, archived=action == "archive", actor=actor(user))
        else:
            raise PageError(400, _("Choose what to change."), "bad_action")
    except SchedulerError as exc:
        return _page(request, user, agency, message_of(_, exc), status_of(exc))
    log.info("%s %s changed agency %s: %s", user.role, user.id, agency.id, action)
    return redirect(f"/agencies/{agency.id}")
