"""People: the accounts of every role, listed (searched, filtered by role, a page at a time),
made, edited, deactivated and reactivated, each by whoever the rule of ``access.people`` lets
manage it; and set-password links that staff and administrators issue (shown once, to copy)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from access.addresses import MAX_ADDRESS, is_address
from access.audit import Action, ObjectKind
from access.errors import LoginTaken, UserNotFound
from access.labels import role_labels
from access.models import Role, User
from access.people import (
    MAX_NAME,
    Account,
    manageable_departments,
    manageable_roles,
    may_make,
)
from access.person_forms import Draft, DraftProblem, read_draft
from access.person_forms import draft_problem as draft_rule
from access.sqlite_people import PeopleQuery
from scheduler.models import Department

from ..core import clock, keys, policy
from ..core.http import PageError, actor, gettext_of, redirect, render, require_session
from ..core.i18n import N_
from ..core.paging import fetch_page, page_number, pager, search_of

log = logging.getLogger("sabaq.web.people")
routes = web.RouteTableDef()

SET_LINK_TTL = 48 * 3600.0  # a set-password link works for two days, once


def require_steward(request: web.Request) -> User:
    """The signed-in person, if they manage anyone's account (403 if not)."""
    _ = gettext_of(request)
    user = require_session(request).user
    if not manageable_roles(policy.steward(request, user)):
        raise PageError(403, _("Accounts are managed by staff and administrators."), "forbidden")
    return user


def person_of(request: web.Request, user: User) -> User:
    """The account of the path, if ``user`` manages it (404 for any other: nothing said)."""
    _ = gettext_of(request)
    try:
        target = request.app[keys.PEOPLE].get(int(request.match_info["user_id"]))
    except UserNotFound:
        target = None
    if target is None or not policy.manages(request, user, target):
        raise PageError(404, _("There is no such person."), "not_found")
    return target


def department_choices(request: web.Request, user: User) -> list[Department]:
    allowed = manageable_departments(policy.steward(request, user))
    return [d for d in policy.departments(request) if allowed is None or d.id in allowed]


def address_problem(_: Callable[[str], str], address: str) -> str | None:
    """What is wrong with an account's e-mail address as typed (shown at its field; blank is
    none, and right); None if nothing."""
    if address and not is_address(address):
        return _(
            "{address} is not an e-mail address: give one like name@example.kz, or leave the"
            " field empty."
        ).replace("{address}", address[:MAX_ADDRESS])
    return None


def email_problem(request: web.Request, d: Draft) -> str | None:
    return address_problem(gettext_of(request), d.email)


def draft_problem(
    request: web.Request, user: User, d: Draft, *, new: bool, before: User | None = None
) -> str | None:
    """What is wrong with a form, in the person's words; None when it may be saved."""
    _ = gettext_of(request)
    steward = policy.steward(request, user)

    def allowed(after: Account) -> bool:
        if before is None:
            return may_make(steward, after)
        return policy.changes(request, user, before, after)

    match draft_rule(
        d,
        new=new,
        departments={dep.id for dep in policy.departments(request)},
        allowed=allowed,
        before_id=before.id if before else 0,
    ):
        case None:
            return None
        case DraftProblem.BAD_LOGIN:
            return _(
                "The login must be 2 to 63 characters: Latin letters a-z, digits, dots, hyphens"
                " and underscores, starting with a letter or a digit."
            )
        case DraftProblem.NO_NAME:
            return _("The full name is missing.")
        case DraftProblem.LONG_NAME:
            return _("The full name is longer than {n} characters.").replace("{n}", str(MAX_NAME))
        case DraftProblem.NOT_LISTED:
            return _("Choose a role and a department from the lists.")
        case DraftProblem.NOT_ALLOWED:
            return _("You may not give this role in this department.")


def form_context(request: web.Request, user: User) -> dict[str, Any]:
    _ = gettext_of(request)
    labels = role_labels(_)
    roles = manageable_roles(policy.steward(request, user))
    return {
        "roles": [(r.value, labels[r]) for r in Role if r in roles],
        "departments": department_choices(request, user),
        "role_names": {r.value: labels[r] for r in Role},
    }


# -- the list -------------------------------------------------------------------------------------
@routes.get("/people")
async def people_index(request: web.Request) -> web.Response:
    user = require_steward(request)
    s = policy.steward(request, user)
    search = search_of(request)
    role_raw = request.query.get("role", "")
    role = Role(role_raw) if role_raw in set(Role) else None
    status = request.query.get("status", "")
    status = status if status in ("active", "deactivated") else ""
    query = PeopleQuery(
        search=search,
        role=role,
        roles=manageable_roles(s),
        departments=manageable_departments(s),
        active=None if not status else status == "active",
    )
    found, total, page = fetch_page(
        lambda limit, offset: request.app[keys.PEOPLE].find(query, limit, offset),
        page_number(request.query.get("page", "1")),
    )
    filters = {"q": search, "role": role.value if role else "", "status": status}
    names = {d.id: d.name for d in policy.departments(request)}
    return render(
        request,
        "people.html",
        {
            **form_context(request, user),
            "people": found,
            "department_names": names,
            "total": total,
            "search": search,
            "role": role_raw if role else "",
            "status": status,
            "pager": pager("/people", filters, page, total),
            "may_import": bool(manageable_roles(s) & {Role.TEACHER, Role.STAFF}),
        },
    )


# -- a new person ---------------------------------------------------------------------------------
def _new_form(
    request: web.Request, user: User, values: Mapping[str, Any], error: str | None, status: int,
    email_error: str | None = None,
) -> web.Response:  # fmt: skip
    return render(
        request,
        "people_form.html",
        {
            **form_context(request, user),
            "person": None,
            "values": values,
            "error": error,
            "email_error": email_error,
            "link": None,
            "own": False,
        },
        status=status,
    )


@routes.get("/people/new")
async def new_person_form(request: web.Request) -> web.Response:
    user = require_steward(request)
    return _new_form(request, user, {}, None, 200)


@routes.post("/people/new")
async def create_person(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_steward(request)
    form = await request.post()
    d = read_draft(form)
    bad_email = email_problem(request, d)
    if bad_email is not None:
        return _new_form(request, user, form, None, 400, email_error=bad_email)
    problem = draft_problem(request, user, d, new=True)
    if problem is not None:
        return _new_form(request, user, form, problem, 400)
    assert d.role is not None
    try:
        made = request.app[keys.ACCOUNTS].create_user(
            login=d.login,
            full_name=d.full_name,
            role=d.role,
            department_id=d.department_id,
            email=d.email,
            actor=actor(user),
        )
    except LoginTaken:
        return _new_form(request, user, form, _("This login is taken."), 409)
    log.info("user %s made account %s (%s)", user.id, made.id, made.role.value)
    return redirect(f"/people/{made.id}")


# -- one person -----------------------------------------------------------------------------------
def person_page(
    request: web.Request,
    user: User,
    person: User,
    *,
    error: str | None = None,
    link: str | None = None,
    status: int = 200,
    email_error: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> web.Response:
    values = values or {
        "login": person.login,
        "full_name": person.full_name,
        "role": person.role.value,
        "department_id": str(person.department_id or ""),
        "email": person.email or "",
    }
    return render(
        request,
        "people_form.html",
        {
            **form_context(request, user),
            "person": person,
            "values": values,
            "error": error,
            "email_error": email_error,
            "link": link,
            "link_hours": int(SET_LINK_TTL // 3600),
            "may_deactivate": policy.deactivates(request, user, person),
            "may_issue_link": policy.issues_link(request, user, person),
            "own": person.id == user.id,
        },
        status=status,
    )


@routes.get("/people/{user_id:\\d{1,18}}")
async def person_detail(request: web.Request) -> web.Response:
    user = require_steward(request)
    return person_page(request, user, person_of(request, user))


@routes.post("/people/{user_id:\\d{1,18}}")
async def update_person(request: web.Request) -> web.StreamResponse:
    user = require_steward(request)
    person = person_of(request, user)
    form = await request.post()
    d = read_draft(form)
    bad_email = email_problem(request, d)
    if bad_email is not None:
        return person_page(request, user, person, email_error=bad_email, status=400,
                           values={**form, "login": person.login})  # fmt: skip
    problem = draft_problem(request, user, d, new=False, before=person)
    if problem is not None:
        return person_page(request, user, person, error=problem, status=400)
    assert d.role is not None
    request.app[keys.PEOPLE].update(
        person.id,
        full_name=d.full_name,
        role=d.role,
        department_id=d.department_id,
        email=d.email,
        actor=actor(user),
    )
    log.info("user %s edited account %s", user.id, person.id)
    return redirect(f"/people/{person.id}")


def _switch(active: bool) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.StreamResponse:
        _ = gettext_of(request)
        user = require_steward(request)
        person = person_of(request, user)
        if not policy.deactivates(request, user, person):
            raise PageError(403, _("You cannot deactivate your own account."), "forbidden")
        people = request.app[keys.PEOPLE]
        if active:
            people.reactivate(person.id, actor(user))
            await back_into_live_classes(request, person)
        else:
            people.deactivate(person.id, actor(user))
            await out_of_live_classes(request, person)
        log.info("user %s %s account %s", user.id, "reactivated" if active else "deactivated",
                 person.id)  # fmt: skip
        return redirect(f"/people/{person.id}")

    return handler


routes.post("/people/{user_id:\\d{1,18}}/deactivate")(_switch(False))
routes.post("/people/{user_id:\\d{1,18}}/reactivate")(_switch(True))


DEACTIVATED = N_("Your account was deactivated: you cannot take part any more.")


async def out_of_live_classes(request: web.Request, person: User) -> int:
    """A deactivated person is taken out of every live class they are in, at once (and kept
    out of it); how many."""
    if keys.MEDIA_CONTROL not in request.app:
        return 0
    tt, media = request.app[keys.TIMETABLE], request.app[keys.MEDIA_CONTROL]
    taken = 0
    for c in tt.live_before(clock.utc_now(request) + timedelta(days=2)):
        if person.id in await media.present_user_ids(c.id):
            language = tt.group(c.group_ids[0]).language if c.group_ids else "ru"
            told = request.app[keys.CATALOGUES][language].gettext(DEACTIVATED)
            taken += await media.remove_user(c.id, person.id, "deactivated", told)
    return taken


async def back_into_live_classes(request: web.Request, person: User) -> None:
    """Reactivated: the bars of deactivation on classes still live are lifted (no other)."""
    if keys.MEDIA_CONTROL not in request.app:
        return
    tt, media = request.app[keys.TIMETABLE], request.app[keys.MEDIA_CONTROL]
    for c in tt.live_before(clock.utc_now(request) + timedelta(days=2)):
        if (await media.taken_out(c.id)).get(person.id) == "deactivated":
            await media.readmit(c.id, person.id)


def issue_link(request: web.Request, user: User, person: User) -> str:
    """A set-password link for ``person`` (the caller checked who may issue it)."""
    token = request.app[keys.SIGNER].mint_password_set(
        user_id=person.id, ttl=SET_LINK_TTL, role=person.role.value, issuer_id=user.id
    )
    request.app[keys.AUDIT].record(
        actor(user),
        Action.PASSWORD_LINK,
        ObjectKind.ACCOUNT,
        person.id,
        label=person.login,
        after={"valid_hours": int(SET_LINK_TTL // 3600)},  # the link itself is kept nowhere
    )
    log.info("user %s issued a set-password link for account %s", user.id, person.id)
    return f"{request.scheme}://{request.host}/password/set?{urlencode({'token': token})}"


@routes.post("/people/{user_id:\\d{1,18}}/password-link")
async def password_link(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    user = require_steward(request)
    person = person_of(request, user)
    if not policy.issues_link(request, user, person):
        raise PageError(
            403, _("Set-password links are issued by staff and administrators."), "forbidden"
        )
    if not person.active:
        raise PageError(409, _("Reactivate the account first."), "account_deactivated")
    response = person_page(request, user, person, link=issue_link(request, user, person))
    response.headers["Cache-Control"] = "no-store"  # the link is shown once, kept nowhere
    return response
