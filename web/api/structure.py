"""The API's structure of the academy: institutes, departments and agencies — listed (staff,
administrators and the portal the academy's; a director and a head of department their own
institute), created, renamed, given a director or head, archived and brought back (staff and
administrators, signed in: not the portal). Nothing is deleted; an archived one keeps its id
and history."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from access.api_keys import Scope
from access.models import User
from scheduler.models import Department, Institute
from scheduler.sqlite_structure import KEEP, Keep
from scheduler.structure import Agency

from ..core import keys, policy
from ..core.http import Caller, PageError, actor, api_caller, gettext_of
from ..pages.agencies import store as agencies_store
from . import admin_models
from .calls import json_body
from .openapi import operation

log = logging.getLogger("sabaq.web.api")
routes = web.RouteTableDef()

READ_ERRORS = (401, 403)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413)


def _reader(request: web.Request) -> Caller:
    """The portal with a read key, or a person who may see the structure."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.READ)
    if caller.user is not None and not policy.sees_structure(request, caller.user):
        raise PageError(
            403,
            _("The structure is seen by staff, administrators, directors and heads of department."),
            "forbidden",
        )
    return caller


def _manager(request: web.Request) -> User:
    """A signed-in member of staff or administrator (an API key does not manage structure)."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.READ)
    if caller.user is None or not policy.manages_structure(caller.user):
        raise PageError(
            403, _("The structure is managed by staff and administrators."), "forbidden"
        )
    return caller.user


def _sees(request: web.Request, caller: Caller, institute_id: int) -> bool:
    return caller.user is None or policy.sees_institute(request, caller.user, institute_id)


def _person(body: dict[str, Any], field: str) -> int | Keep | None:
    found: int | Keep | None = body.get(field, KEEP)
    return found


def institute_json(i: Institute) -> dict[str, Any]:
    return {"id": i.id, "name": i.name, "director_id": i.director_id, "archived": i.archived}


def department_json(d: Department) -> dict[str, Any]:
    return {
        "id": d.id, "institute_id": d.institute_id, "name": d.name, "head_id": d.head_id,
        "archived": d.archived,
    }  # fmt: skip


def agency_json(a: Agency) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "contacts": list(a.contacts), "archived": a.archived}


# -- institutes -----------------------------------------------------------------------------------
@routes.get("/api/v1/institutes")
@operation(
    "institutes",
    "The institutes, archived ones too (scope: read; a director or head: their own)",
    answers={200: ("The institutes", admin_models.Institutes)},
    errors=READ_ERRORS,
)
async def institutes(request: web.Request) -> web.Response:
    caller = _reader(request)
    found = request.app[keys.TIMETABLE].institutes()
    items = [institute_json(i) for i in found if _sees(request, caller, i.id)]
    return web.json_response({"items": items})


@routes.post("/api/v1/institutes")
@operation(
    "createInstitute",
    "Create an institute (staff and administrators, signed in)",
    answers={201: ("Created", admin_models.Institute)},
    errors=WRITE_ERRORS,
    body=admin_models.NewInstitute,
)
async def create_institute(request: web.Request) -> web.Response:
    user = _manager(request)
    body = await json_body(request, admin_models.NewInstitute)
    made = request.app[keys.TIMETABLE].create_institute(
        body["name"], body.get("director_id"), actor(user)
    )
    log.info("%s %s created institute %s through the API", user.role, user.id, made.id)
    return web.json_response(institute_json(made), status=201)


@routes.patch(r"/api/v1/institutes/{institute_id:\d{1,18}}")
@operation(
    "changeInstitute",
    "Rename an institute, name or clear its director, archive it or bring it back",
    answers={200: ("Changed", admin_models.Institute)},
    errors=WRITE_ERRORS,
    body=admin_models.InstituteChange,
)
async def change_institute(request: web.Request) -> web.Response:
    user = _manager(request)
    body = await json_body(request, admin_models.InstituteChange)
    institute_id = int(request.match_info["institute_id"])
    changed = request.app[keys.TIMETABLE].change_institute(
        institute_id,
        name=body.get("name"),
        director_id=_person(body, "director_id"),
        archived=body.get("archived"),
        actor=actor(user),
    )
    log.info("%s %s changed institute %s through the API", user.role, user.id, institute_id)
    return web.json_response(institute_json(changed))


# -- departments ----------------------------------------------------------------------------------
@routes.get("/api/v1/departments")
@operation(
    "departments",
    "The departments, archived ones too (scope: read; a director or head: their institute's)",
    answers={200: ("The departments", admin_models.Departments)},
    errors=READ_ERRORS,
)
async def departments(request: web.Request) -> web.Response:
    caller = _reader(request)
    found = request.app[keys.TIMETABLE].departments()
    items = [department_json(d) for d in found if _sees(request, caller, d.institute_id)]
    return web.json_response({"items": items})


@routes.post("/api/v1/departments")
@operation(
    "createDepartment",
    "Create a department of an institute (staff and administrators, signed in)",
    answers={201: ("Created", admin_models.Department)},
    errors=WRITE_ERRORS,
    body=admin_models.NewDepartment,
)
async def create_department(request: web.Request) -> web.Response:
    user = _manager(request)
    body = await json_body(request, admin_models.NewDepartment)
    made = request.app[keys.TIMETABLE].create_department(
        body["institute_id"], body["name"], body.get("head_id"), actor(user)
    )
    log.info("%s %s created department %s through the API", user.role, user.id, made.id)
    return web.json_response(department_json(made), status=201)


@routes.patch(r"/api/v1/departments/{department_id:\d{1,18}}")
@operation(
    "changeDepartment",
    "Rename a department, name or clear its head, archive it or bring it back",
    answers={200: ("Changed", admin_models.Department)},
    errors=WRITE_ERRORS,
    body=admin_models.DepartmentChange,
)
async def change_department(request: web.Request) -> web.Response:
    user = _manager(request)
    body = await json_body(request, admin_models.DepartmentChange)
    department_id = int(request.match_info["department_id"])
    changed = request.app[keys.TIMETABLE].change_department(
        department_id,
        name=body.get("name"),
        head_id=_person(body, "head_id"),
        archived=body.get("archived"),
        actor=actor(user),
    )
    log.info("%s %s changed department %s through the API", user.role, user.id, department_id)
    return web.json_response(department_json(changed))


# -- agencies -------------------------------------------------------------------------------------
@routes.get("/api/v1/agencies")
@operation(
    "agencies",
    "The agencies that send learners and their HR services' addresses (scope: read; staff)",
    answers={200: ("The agencies", admin_models.Agencies)},
    errors=READ_ERRORS,
)
async def agencies(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    caller = api_caller(request, Scope.READ)
    if caller.user is not None and not policy.sees_agencies(request, caller.user):
        raise PageError(403, _("Agencies are seen by staff and administrators."), "forbidden")
    items = [agency_json(a) for a in agencies_store(request).agencies()]
    return web.json_response({"items": items})


@routes.post("/api/v1/agencies")
@operation(
    "createAgency",
    "Create an agency with its HR service's addresses (staff and administrators, signed in)",
    answers={201: ("Created", admin_models.Agency)},
    errors=WRITE_ERRORS,
    body=admin_models.NewAgency,
)
async def create_agency(request: web.Request) -> web.Response:
    user = _manager(request)
    body = await json_body(request, admin_models.NewAgency)
    made = agencies_store(request).create_agency(
        body["name"], tuple(body.get("contacts", ())), actor(user)
    )
    log.info("%s %s created agency %s through the API", user.role, user.id, made.id)
    return web.json_response(agency_json(made), status=201)


@routes.patch(r"/api/v1/agencies/{agency_id:\d{1,18}}")
@operation(
    "changeAgency",
    "Rename an agency (on its learners too), replace its HR addresses, archive or bring back",
    answers={200: ("Changed", admin_models.Agency)},
    errors=WRITE_ERRORS,
    body=admin_models.AgencyChange,
)
async def change_agency(request: web.Request) -> web.Response:
    user = _manager(request)
    body = await json_body(request, admin_models.AgencyChange)
    agency_id = int(request.match_info["agency_id"])
    contacts = body.get("contacts")
    changed = agencies_store(request).change_agency(
        agency_id,
        name=body.get("name"),
        contacts=tuple(contacts) if contacts is not None else None,
        archived=body.get("archived"),
        actor=actor(user),
    )
    log.info("%s %s changed agency %s through the API", user.role, user.id, agency_id)
    return web.json_response(agency_json(changed))
