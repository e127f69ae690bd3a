"""The academy's structure: institutes (with their director) and their departments (with their
head). Staff and administrators create them, rename them, name the director or the head and
archive them (nothing is deleted: classes, groups and reports refer to it; an archived one is
left out of the pickers and still shown where history names it). A director and a head of
department see their own institute here without the forms. Who may do what is the policy's
(``web/core/policy.py``) and the rules are the scheduler's (``scheduler/structure.py``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from access.models import Role, User
from scheduler.errors import DepartmentNotFound, InstituteNotFound, SchedulerError
from scheduler.models import Department, Institute
from scheduler.sqlite_groups import SqliteGroups
from scheduler.sqlite_structure import KEEP, Keep
from scheduler.structure import MAX_STRUCTURE_NAME

from ..core import keys, policy
from ..core.errors import message_of, status_of
from ..core.http import PageError, actor, gettext_of, redirect, render, require_session

log = logging.getLogger("sabaq.web.structure")
routes = web.RouteTableDef()

INSTITUTE = r"/structure/institutes/{institute_id:\d{1,18}}"
DEPARTMENT = r"/structure/departments/{department_id:\d{1,18}}"
ACTIONS = ("rename", "person", "archive", "unarchive")


def _viewer(request: web.Request) -> User:
    """Who may see the structure's pages (403 for anyone else)."""
    _ = gettext_of(request)
    user = require_session(request).user
    if not policy.sees_structure(request, user):
        raise PageError(
            403,
            _("The structure is seen by staff, administrators, directors and heads of department."),
            "forbidden",
        )
    return user


def _manager(request: web.Request) -> User:
    _ = gettext_of(request)
    user = require_session(request).user
    if not policy.manages_structure(user):
        raise PageError(
            403, _("The structure is managed by staff and administrators."), "forbidden"
        )
    return user


def _people(request: web.Request, role: Role) -> list[User]:
    return SqliteGroups(request.app[keys.DB]).users_with_role(role)


def _names(request: web.Request) -> dict[int, str]:
    """Directors' and heads' names by id."""
    store = SqliteGroups(request.app[keys.DB])
    return {
        u.id: u.full_name
        for role in (Role.DIRECTOR, Role.HEAD_OF_DEPARTMENT)
        for u in store.users_with_role(role)
    }


def _institute_of(request: web.Request, user: User) -> Institute:
    _ = gettext_of(request)
    try:
        found = request.app[keys.TIMETABLE].institute(int(request.match_info["institute_id"]))
    except InstituteNotFound:
        found = None
    if found is None or not policy.sees_institute(request, user, found.id):
        raise PageError(404, _("There is no such institute."), "institute_not_found")
    return found


def _department_of(request: web.Request, user: User) -> Department:
    _ = gettext_of(request)
    tt = request.app[keys.TIMETABLE]
    try:
        found = tt.structure_department(int(request.match_info["department_id"]))
    except DepartmentNotFound:
        found = None
    if found is None or not policy.sees_institute(request, user, found.institute_id):
        raise PageError(404, _("There is no such department."), "department_not_found")
    return found


def _person(raw: str) -> int | None:
    """A director or head chosen in a select ("" for nobody; the store checks the role)."""
    text = raw.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


# -- the list -------------------------------------------------------------------------------------
def _index(
    request: web.Request, user: User, error: str | None = None, status: int = 200, **values: str
) -> web.Response:
    tt = request.app[keys.TIMETABLE]
    institutes = [i for i in tt.institutes() if policy.sees_institute(request, user, i.id)]
    departments = tt.departments()
    rows = [(i, [d for d in departments if d.institute_id == i.id]) for i in institutes]
    return render(
        request,
        "structure.html",
        {
            "rows": [(i, ds) for i, ds in rows if not i.archived],
            "archived": [i for i, _ in rows if i.archived],
            "names": _names(request),
            "can_manage": policy.manages_structure(user),
            "sees_agencies": policy.sees_agencies(request, user),
            "directors": _people(request, Role.DIRECTOR),
            "error": error,
            "values": {"name": "", "person_id": ""} | values,
            "max_name": MAX_STRUCTURE_NAME,
        },
        status,
    )


@routes.get("/structure")
async def structure_index(request: web.Request) -> web.Response:
    return _index(request, _viewer(request))


@routes.post("/structure/institutes")
async def create_institute(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _manager(request)
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in ("name", "person_id")}
    try:
        made = request.app[keys.TIMETABLE].create_institute(
            values["name"], _person(values["person_id"]), actor(user)
        )
    except SchedulerError as exc:
        return _index(request, user, message_of(_, exc), status_of(exc), **values)
    log.info("%s %s created institute %s", user.role, user.id, made.id)
    return redirect(f"/structure/institutes/{made.id}")


# -- an institute ---------------------------------------------------------------------------------
def _institute_page(
    request: web.Request,
    user: User,
    institute: Institute,
    error: str | None = None,
    status: int = 200,
    **values: str,
) -> web.Response:
    tt = request.app[keys.TIMETABLE]
    return render(
        request,
        "structure_institute.html",
        {
            "i": institute,
            "departments": tt.departments(institute.id),
            "names": _names(request),
            "can_manage": policy.manages_structure(user),
            "directors": _people(request, Role.DIRECTOR),
            "heads": _people(request, Role.HEAD_OF_DEPARTMENT),
            "error": error,
            "values": {"name": "", "person_id": ""} | values,
            "max_name": MAX_STRUCTURE_NAME,
        },
        status,
    )


@routes.get(INSTITUTE)
async def institute_page(request: web.Request) -> web.Response:
    user = _viewer(request)
    return _institute_page(request, user, _institute_of(request, user))


def _changes(form: Mapping[str, Any]) -> dict[str, Any]:
    """What an action of the forms changes: the name, the person, or the archive."""
    action = str(form.get("action", ""))
    if action == "rename":
        return {"name": str(form.get("name", ""))}
    if action == "person":
        return {"person": _person(str(form.get("person_id", "")))}
    if action in ("archive", "unarchive"):
        return {"archived": action == "archive"}
    return {}


@routes.post(INSTITUTE)
async def change_institute(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _manager(request)
    institute = _institute_of(request, user)
    form = await request.post()
    changes = _changes(form)
    if not changes:
        raise PageError(400, _("Choose what to change."), "bad_action")
    person: int | Keep | None = changes.pop("person", KEEP)
    try:
        request.app[keys.TIMETABLE].change_institute(
            institute.id, director_id=person, actor=actor(user), **changes
        )
    except SchedulerError as exc:
        return _institute_page(request, user, institute, message_of(_, exc), status_of(exc))
    log.info("%s %s changed institute %s: %s", user.role, user.id, institute.id, changes)
    return redirect(f"/structure/institutes/{institute.id}")


@routes.post(INSTITUTE + "/departments")
async def create_department(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _manager(request)
    institute = _institute_of(request, user)
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in ("name", "person_id")}
    try:
        made = request.app[keys.TIMETABLE].create_department(
            institute.id, values["name"], _person(values["person_id"]), actor(user)
        )
    except SchedulerError as exc:
        error = message_of(_, exc)
        return _institute_page(request, user, institute, error, status_of(exc), **values)
    log.info("%s %s created department %s", user.role, user.id, made.id)
    return redirect(f"/structure/institutes/{institute.id}")


# -- a department ---------------------------------------------------------------------------------
def _department_page(
    request: web.Request,
    user: User,
    department: Department,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    tt = request.app[keys.TIMETABLE]
    return render(
        request,
        "structure_department.html",
        {
            "d": department,
            "i": tt.institute(department.institute_id),
            "groups": [g for g in tt.groups() if g.department_id == department.id],
            "names": _names(request),
            "can_manage": policy.manages_structure(user),
            "heads": _people(request, Role.HEAD_OF_DEPARTMENT),
            "error": error,
            "max_name": MAX_STRUCTURE_NAME,
        },
        status,
    )


@routes.get(DEPARTMENT)
async def department_page(request: web.Request) -> web.Response:
    user = _viewer(request)
    return _department_page(request, user, _department_of(request, user))


@routes.post(DEPARTMENT)
async def change_department(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _manager(request)
    department = _department_of(request, user)
    form = await request.post()
    changes = _changes(form)
    if not changes:
        raise PageError(400, _("Choose what to change."), "bad_action")
    person: int | Keep | None = changes.pop("person", KEEP)
    try:
        request.app[keys.TIMETABLE].change_department(
            department.id, head_id=person, actor=actor(user), **changes
        )
    except SchedulerError as exc:
        return _department_page(request, user, department, message_of(_, exc), status_of(exc))
    log.info("%s %s changed department %s: %s", user.role, user.id, department.id, changes)
    return redirect(f"/structure/departments/{department.id}")
