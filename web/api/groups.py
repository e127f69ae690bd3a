"""The API's groups: the list (paged), a new group, its members and its teachers."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from aiohttp import web

from access.api_keys import Scope
from access.errors import UserNotFound
from access.models import Role
from scheduler.models import DEFAULT_TIMEZONE
from scheduler.roster import RowStatus, check, make_row
from scheduler.sqlite_groups import SqliteGroups
from scheduler.sqlite_membership import GroupQuery

from ..core import keys
from ..core.http import PageError, gettext_of, idempotent
from ..pages.group_import import row_message
from . import models as api_models
from .calls import json_body, staff_or_portal
from .openapi import operation, query

log = logging.getLogger("sabaq.web.api")
routes = web.RouteTableDef()


MAX_PAGE = api_models.MAX_PAGE


@routes.get("/api/v1/groups")
@operation(
    "groups",
    "The groups, a page at a time (scope: read)",
    answers={200: ("A page of groups", api_models.GroupPage)},
    errors=(400, 401, 403),
    query=(query("limit", api_models.PageLimit), query("offset", api_models.PageOffset)),
)
async def groups(request: web.Request) -> web.Response:
    """The academy's groups, a page at a time (scope: read)."""
    _ = gettext_of(request)
    staff_or_portal(request, Scope.READ, _("The list of groups is for staff and the portal."))
    try:
        limit = int(request.query.get("limit", "50"))
        offset = int(request.query.get("offset", "0"))
        if not (1 <= limit <= MAX_PAGE and 0 <= offset <= 10**9):
            raise ValueError
    except ValueError:
        raise PageError(
            400,
            _("Give limit from 1 to {n} and offset from 0.").replace("{n}", str(MAX_PAGE)),
            "bad_page",
        ) from None
    page, total = request.app[keys.TIMETABLE].find_groups(GroupQuery(), limit, offset)
    items: list[dict[str, Any]] = [_group_json(request, g.id) for g in page]
    more = offset + limit < total
    return web.json_response(
        {"items": items, "total": total, "next_offset": offset + limit if more else None}
    )


def _group_json(request: web.Request, group_id: int) -> dict[str, Any]:
    tt = request.app[keys.TIMETABLE]
    g = tt.group(group_id)
    return {
        "id": g.id,
        "name": g.name,
        "language": g.language,
        "time_zone": g.timezone,
        "active": g.active,
        "programme_id": g.programme_id,
        "starts_on": g.starts_on.isoformat() if g.starts_on else None,
        "ends_on": g.ends_on.isoformat() if g.ends_on else None,
        "members": tt.members(g.id),
        "teachers": tt.teachers(g.id),
    }


@routes.post("/api/v1/groups")
@operation(
    "createGroup",
    "Create a group (scope: schedule); an additional-education group starts inactive until it"
    " has 20 members",
    answers={201: ("Created", api_models.Group)},
    errors=(400, 401, 403, 404, 409, 422, 413),
    body=api_models.NewGroup,
    idempotent=True,
)
async def create_group(request: web.Request) -> web.Response:
    """A new group (scope: schedule); with an Idempotency-Key a retry gets the first answer."""
    _ = gettext_of(request)
    caller = staff_or_portal(request, Scope.SCHEDULE, _("Groups are managed by staff."))
    raw = await request.read()
    body = await json_body(request, api_models.NewGroup)

    def run() -> web.Response:
        tt = request.app[keys.TIMETABLE]
        tt.department(body["department_id"])  # 404 if unknown
        if body.get("programme_id") is not None:
            tt.programme(body["programme_id"])
        if SqliteGroups(request.app[keys.DB]).name_taken(body["name"].strip()):
            raise PageError(409, _("A group with this name exists."), "name_taken")
        try:
            g = tt.add_group(
                body["name"].strip(),
                body["department_id"],
                body["language"],
                body.get("time_zone", DEFAULT_TIMEZONE),
                programme_id=body.get("programme_id"),
                starts_on=date.fromisoformat(body["starts_on"]) if "starts_on" in body else None,
                ends_on=date.fromisoformat(body["ends_on"]) if "ends_on" in body else None,
            )
        except ValueError:
            raise PageError(
                400, _("Check the time zone and the study period."), "bad_group"
            ) from None
        log.info("group %s created through %s", g.id, caller.name)
        return web.json_response(_group_json(request, g.id), status=201)

    return idempotent(request, raw, run)


@routes.post("/api/v1/groups/{group_id:\\d{1,18}}/members")
@operation(
    "addMembers",
    "Students into a group (scope: schedule): unknown logins become student accounts, known"
    " students are added; all or none, every wrong one named; a repeat changes nothing",
    answers={200: ("Added", api_models.MembersAdded)},
    errors=(400, 401, 403, 404, 413),
    body=api_models.NewMembers,
)
async def add_members(request: web.Request) -> web.Response:
    """Students into a group (scope: schedule), as the import does: a login not yet known
    becomes a student account (signing in through join links), a known student is added. All
    of them or, if any is wrong, none, with every wrong one named. Repeating it changes
    nothing."""
    _ = gettext_of(request)
    caller = staff_or_portal(request, Scope.SCHEDULE, _("Groups are managed by staff."))
    body = await json_body(request, api_models.NewMembers)
    tt = request.app[keys.TIMETABLE]
    group = tt.group(int(request.match_info["group_id"]))
    rows = [
        make_row(i, m["login"], m["full_name"], m.get("agency", ""))
        for i, m in enumerate(body["members"])
    ]
    store = SqliteGroups(request.app[keys.DB], request.app[keys.SETTINGS].clock)
    # No await from the check to the write: nothing changes the accounts in between.
    checked = check(rows, store.users_by_login(r.login for r in rows), set(tt.members(group.id)))
    wrong = [c for c in checked if c.status is RowStatus.ERROR]
    if wrong:
        listed = "; ".join(f"members[{c.row.line}]: {row_message(_, c)}" for c in wrong[:20])
        raise PageError(400, _("No one was added: {rows}").replace("{rows}", listed), "bad_members")
    done = store.import_members(group.id, checked, caller.actor)
    log.info(
        "%d created, %d added to group %s through %s",
        done.created, done.added, group.id, caller.name,
    )  # fmt: skip
    by_login = store.users_by_login(r.login for r in rows)
    return web.json_response(
        {
            "created": done.created,
            "added": done.added,
            "already": done.already,
            "members": [{"login": r.login, "user_id": by_login[r.login].id} for r in rows],
            "group": _group_json(request, group.id),
        }
    )


@routes.post("/api/v1/groups/{group_id:\\d{1,18}}/teachers")
@operation(
    "addTeacher",
    "A teacher for a group (scope: schedule)",
    answers={200: ("The group", api_models.Group)},
    errors=(400, 401, 403, 404, 413),
    body=api_models.NewTeacher,
)
async def add_teacher(request: web.Request) -> web.Response:
    """A teacher for a group (scope: schedule); the account must be a teacher's."""
    _ = gettext_of(request)
    caller = staff_or_portal(request, Scope.SCHEDULE, _("Groups are managed by staff."))
    body = await json_body(request, api_models.NewTeacher)
    tt = request.app[keys.TIMETABLE]
    group = tt.group(int(request.match_info["group_id"]))
    try:
        teacher = request.app[keys.ACCOUNTS].get(body["user_id"])
    except UserNotFound:
        raise PageError(404, _("There is no such user."), "not_found") from None
    if teacher.role is not Role.TEACHER:
        raise PageError(400, _("This account is not a teacher's."), "not_a_teacher")
    tt.add_teacher(group.id, teacher.id)
    log.info("user %s made a teacher of group %s through %s", teacher.id, group.id, caller.name)
    return web.json_response(_group_json(request, group.id))
