"""The portal's operations beyond the timetable: join links for its users, groups (paged) with
their members and teachers, guest requests."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from aiohttp import web

from access.api_keys import Scope
from access.errors import UserNotFound
from access.models import ClassRole, Role
from admission import guest_service as guest_rules
from admission.errors import AdmissionError
from scheduler.models import DEFAULT_TIMEZONE
from scheduler.roster import RowStatus, check, make_row
from scheduler.sqlite_groups import SqliteGroups

from . import api_models, clock, keys
from .groups import row_message
from .http import (
    Caller,
    PageError,
    api_caller,
    gettext_of,
    idempotent,
    json_body,
)
from .openapi import operation, query
from .views import EDITORS, JOINABLE, class_role

log = logging.getLogger("sabaq.web.api")
routes = web.RouteTableDef()

JOIN_LINK_TTL = 600.0  # a join link signs its person in within ten minutes, once
MAX_PAGE = api_models.MAX_PAGE
GUEST_FIELDS = ("guest_name", "organisation", "position", "contact", "topic", "justification")


def staff_or_portal(request: web.Request, scope: Scope, refusal: str) -> Caller:
    """The portal with a key of ``scope``, or a signed-in staff member (403 ``refusal`` for
    anyone else)."""
    caller = api_caller(request, scope)
    if caller.user is not None and caller.user.role not in EDITORS:
        raise PageError(403, refusal, "forbidden")
    return caller


@routes.post("/api/v1/join-links")
@operation(
    "joinLink",
    "A ten-minute link that opens one class for its student or teacher, and nothing else"
    " (scope: join; an API key only)",
    answers={201: ("The link", api_models.JoinLinkMade)},
    errors=(400, 401, 403, 404, 409, 413),
    body=api_models.JoinLink,
)
async def join_link(request: web.Request) -> web.Response:
    """A short-lived link that opens one class for a portal user, its student or teacher
    (scope: join). Only the portal's API key makes one: from a person's session it would let
    staff act as anyone."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.JOIN)
    if caller.key is None:
        raise PageError(
            403,
            _("Join links are made by the portal with its API key, not from a signed-in session."),
            "api_key_required",
        )
    body = await json_body(request, api_models.JoinLink)
    c = request.app[keys.TIMETABLE].get_class(body["class_id"])
    try:
        user = request.app[keys.ACCOUNTS].get(body["user_id"])
    except UserNotFound:
        raise PageError(404, _("There is no such user."), "not_found") from None
    role = class_role(request, user, c)  # 403 if the person has no place in the class
    if role not in (ClassRole.LEARNER, ClassRole.HOST):
        # A link signs its person in: only for the class's students and teacher, the portal's
        # users — never for staff, a director or an administrator.
        raise PageError(
            403, _("Join links are for the class's students and teacher."), "not_a_participant"
        )
    if c.status not in JOINABLE:
        raise PageError(409, _("This class is over."), "class_over")
    token = request.app[keys.SIGNER].mint_signin(
        user_id=user.id, ttl=JOIN_LINK_TTL, class_id=c.id, key_id=caller.key.id
    )
    url = f"{request.scheme}://{request.host}/signin/link?token={token}&next=/classes/{c.id}"
    log.info("join link for user %s, class %s, made by %s", user.id, c.id, caller.name)
    return web.json_response(
        {"url": url, "expires_in": int(JOIN_LINK_TTL), "role": role.value}, status=201
    )


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
    tt = request.app[keys.TIMETABLE]
    every = tt.groups()
    page = every[offset : offset + limit]
    items: list[dict[str, Any]] = [_group_json(request, g.id) for g in page]
    more = offset + limit < len(every)
    return web.json_response(
        {"items": items, "total": len(every), "next_offset": offset + limit if more else None}
    )


@routes.post("/api/v1/guest-requests")
@operation(
    "fileGuestRequest",
    "File a guest request as the head of the class's department (scope: schedule); the"
    " director decides it in Sabaq",
    answers={201: ("Filed", api_models.GuestRequestFiled)},
    errors=(400, 401, 403, 404, 409, 413, 422),
    body=api_models.GuestRequest,
    idempotent=True,
)
async def file_guest_request(request: web.Request) -> web.Response:
    """A guest request filed through the portal, as the head of department the portal names
    (scope: schedule); only the director decides it, in Sabaq."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.SCHEDULE)
    raw = await request.read()
    body = await json_body(request, api_models.GuestRequest)

    def run() -> web.Response:
        try:
            head = request.app[keys.ACCOUNTS].get(body["head_user_id"])
        except UserNotFound:
            raise PageError(404, _("There is no such user."), "not_found") from None
        if caller.user is not None and caller.user.id != head.id:
            raise PageError(403, _("Guests are requested by the head of the class's department."),
                            "not_the_head")  # fmt: skip
        c = request.app[keys.TIMETABLE].get_class(body["class_id"])
        try:
            guest_rules.check_file(request.app[keys.TIMETABLE], c, head)
        except AdmissionError as exc:
            message = (
                _("This class is over.")
                if exc.code == "class_over"
                else _("Guests are requested by the head of the class's department.")
            )
            raise PageError(409 if exc.code == "class_over" else 403, message, exc.code) from None
        fields = {k: body[k].strip() for k in GUEST_FIELDS}
        try:
            r = request.app[keys.GUESTS].file(
                class_id=c.id, **fields, presents=bool(body.get("presents", False)),
                by_id=head.id, by_name=head.full_name, at=clock.now(request),
            )  # fmt: skip
        except ValueError:
            raise PageError(400, _("Fill in every field of the guest."), "bad_body") from None
        log.info("guest request %s filed through %s for head %s", r.id, caller.name, head.id)
        return web.json_response(
            {"id": r.id, "class_id": r.class_id, "status": r.status.value}, status=201
        )

    return idempotent(request, raw, run)


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
    store = SqliteGroups(request.app[keys.DB])
    # No await from the check to the write: nothing changes the accounts in between.
    checked = check(rows, store.users_by_login(r.login for r in rows), set(tt.members(group.id)))
    wrong = [c for c in checked if c.status is RowStatus.ERROR]
    if wrong:
        listed = "; ".join(f"members[{c.row.line}]: {row_message(_, c)}" for c in wrong[:20])
        raise PageError(400, _("No one was added: {rows}").replace("{rows}", listed), "bad_members")
    done = store.import_members(group.id, checked)
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
