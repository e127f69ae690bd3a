"""The API's people: accounts listed (searched, by role, paged), made, changed, deactivated and
reactivated, by the rule of ``access.people``: a signed-in person as their role allows, the
portal's key (scope: people) as staff do — never an administrator's account."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from access.api_keys import Scope
from access.errors import LoginTaken, UserNotFound
from access.models import Role, User
from access.people import (
    Account,
    Steward,
    manageable_departments,
    manageable_roles,
    may_change,
    may_deactivate,
    may_make,
    may_manage,
)
from access.sqlite_people import PeopleQuery

from ..core import keys, policy
from ..core.http import Caller, PageError, api_caller, gettext_of, idempotent
from ..pages.people import address_problem, back_into_live_classes, out_of_live_classes
from . import models as api_models
from .calls import json_body
from .openapi import operation, query

log = logging.getLogger("sabaq.web.api")
routes = web.RouteTableDef()


def _steward(request: web.Request) -> tuple[Steward, Caller]:
    """Who asks, as one who manages accounts, and their name for the log; 403 for whoever
    manages none."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.PEOPLE)
    s = (
        Steward(0, Role.STAFF, portal=True)  # the portal's key: learners and teachers only
        if caller.user is None
        else policy.steward(request, caller.user)
    )
    if not manageable_roles(s):
        raise PageError(403, _("Accounts are managed by staff and administrators."), "forbidden")
    return s, caller


def _json(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "login": u.login,
        "full_name": u.full_name,
        "role": u.role.value,
        "department_id": u.department_id,
        "active": u.active,
        "email": u.email,
    }


def _person(request: web.Request, s: Steward) -> User:
    _ = gettext_of(request)
    try:
        u = request.app[keys.PEOPLE].get(int(request.match_info["user_id"]))
    except UserNotFound:
        u = None
    if u is None or not may_manage(s, policy.account(u)):
        raise PageError(404, _("There is no such person."), "not_found")
    return u


def _email(request: web.Request, email: str | None) -> str:
    """The body's e-mail address as kept ("" for none); 400 naming the field if it is not
    an address."""
    problem = address_problem(gettext_of(request), (email or "").strip())
    if problem is not None:
        raise PageError(400, f"email: {problem}", "bad_email")
    return (email or "").strip()


def _department(request: web.Request, department_id: int | None) -> None:
    _ = gettext_of(request)
    if department_id is not None and department_id not in {
        d.id for d in policy.departments(request)
    }:
        raise PageError(404, _("There is no such department."), "not_found")


@routes.get("/api/v1/people")
@operation(
    "people",
    "The accounts the caller manages, a page at a time, by name (scope: people)",
    answers={200: ("A page of people", api_models.PersonPage)},
    errors=(400, 401, 403),
    query=(
        query("q", api_models.Text),
        query("role", api_models.RoleValue),
        query("limit", api_models.PageLimit),
        query("offset", api_models.PageOffset),
    ),
)
async def people(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    s, _name = _steward(request)
    role_raw = request.query.get("role", "")
    try:
        limit = int(request.query.get("limit", "50"))
        offset = int(request.query.get("offset", "0"))
        if not (1 <= limit <= api_models.MAX_PAGE and 0 <= offset <= 10**9):
            raise ValueError
        if role_raw and role_raw not in set(Role):
            raise ValueError
    except ValueError:
        raise PageError(
            400,
            _("Give limit from 1 to {n}, offset from 0 and a known role.").replace(
                "{n}", str(api_models.MAX_PAGE)
            ),
            "bad_page",
        ) from None
    q = PeopleQuery(
        search=request.query.get("q", "")[:100],
        role=Role(role_raw) if role_raw else None,
        roles=manageable_roles(s),
        departments=manageable_departments(s),
    )
    found, total = request.app[keys.PEOPLE].find(q, limit, offset)
    more = offset + limit < total
    return web.json_response(
        {
            "items": [_json(u) for u in found],
            "total": total,
            "next_offset": offset + limit if more else None,
        }
    )


@routes.get("/api/v1/people/{user_id:\\d{1,18}}")
@operation(
    "person",
    "An account the caller manages (scope: people)",
    answers={200: ("The person", api_models.Person)},
    errors=(401, 403, 404),
)
async def person(request: web.Request) -> web.Response:
    s, _name = _steward(request)
    return web.json_response(_json(_person(request, s)))


@routes.post("/api/v1/people")
@operation(
    "createPerson",
    "Make an account (scope: people); its owner sets a password through a link staff issue",
    answers={201: ("Created", api_models.Person)},
    errors=(400, 401, 403, 404, 409, 413, 422),
    body=api_models.NewPerson,
    idempotent=True,
)
async def create_person(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    s, caller = _steward(request)
    raw = await request.read()
    body = await json_body(request, api_models.NewPerson)

    def run() -> web.Response:
        role, dep = Role(body["role"]), body.get("department_id")
        email = _email(request, body.get("email"))
        _department(request, dep)
        if not may_make(s, Account(0, role, dep)):
            raise PageError(403, _("You may not give this role in this department."), "forbidden")
        try:
            u = request.app[keys.ACCOUNTS].create_user(
                login=body["login"],
                full_name=body["full_name"],
                role=role,
                department_id=dep,
                email=email,
                actor=caller.actor,
            )
        except LoginTaken:
            raise PageError(409, _("This login is taken."), "login_taken") from None
        except ValueError:
            raise PageError(400, _("The full name is missing."), "bad_person") from None
        log.info("account %s (%s) made through %s", u.id, role.value, caller.name)
        return web.json_response(_json(u), status=201)

    return idempotent(request, raw, run)


@routes.patch("/api/v1/people/{user_id:\\d{1,18}}")
@operation(
    "updatePerson",
    "Change an account's name, role, department or e-mail address (scope: people); what is"
    " left out stays",
    answers={200: ("The person", api_models.Person)},
    errors=(400, 401, 403, 404, 413),
    body=api_models.PersonChange,
)
async def update_person(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    s, caller = _steward(request)
    before = _person(request, s)
    body = await json_body(request, api_models.PersonChange)
    role = Role(body["role"]) if "role" in body else before.role
    dep = body.get("department_id", before.department_id)
    email = _email(request, body["email"]) if "email" in body else None  # None: as it is
    _department(request, dep)
    if not may_change(s, policy.account(before), Account(before.id, role, dep)):
        raise PageError(403, _("You may not give this role in this department."), "forbidden")
    full_name = body.get("full_name", before.full_name)
    if not full_name.strip():
        raise PageError(400, _("The full name is missing."), "bad_person")
    u = request.app[keys.PEOPLE].update(
        before.id,
        full_name=full_name,
        role=role,
        department_id=dep,
        email=email,
        actor=caller.actor,
    )
    log.info("account %s changed through %s", u.id, caller.name)
    return web.json_response(_json(u))


async def _switch(request: web.Request, active: bool) -> web.Response:
    _ = gettext_of(request)
    s, caller = _steward(request)
    target = _person(request, s)
    if not may_deactivate(s, policy.account(target)):
        raise PageError(403, _("You cannot deactivate your own account."), "forbidden")
    people_ = request.app[keys.PEOPLE]
    if active:
        u = people_.reactivate(target.id, caller.actor)
        await back_into_live_classes(request, u)
    else:
        u = people_.deactivate(target.id, caller.actor)
        await out_of_live_classes(request, u)
    log.info(
        "account %s %s through %s", u.id, "reactivated" if active else "deactivated", caller.name
    )
    return web.json_response(_json(u))


@routes.post("/api/v1/people/{user_id:\\d{1,18}}/deactivate")
@operation(
    "deactivatePerson",
    "Deactivate an account (scope: people): it cannot sign in, its sessions end at once, its"
    " history stays",
    answers={200: ("The person", api_models.Person)},
    errors=(401, 403, 404),
)
async def deactivate(request: web.Request) -> web.Response:
    return await _switch(request, False)


@routes.post("/api/v1/people/{user_id:\\d{1,18}}/reactivate")
@operation(
    "reactivatePerson",
    "Reactivate an account (scope: people)",
    answers={200: ("The person", api_models.Person)},
    errors=(401, 403, 404),
)
async def reactivate(request: web.Request) -> web.Response:
    return await _switch(request, True)
