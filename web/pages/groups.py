"""Groups and their members: staff create groups (and programmes), assign teachers, and import
members from CSV or XLSX — first a preview that writes nothing and says what would happen to
each row, then a confirmation that checks every row again and writes them in one transaction.

The preview hands its rows to the confirmation in a hidden field, compressed and signed with
the application's secret (bound to the group, the staff member and an hour), so nothing is kept
in memory between the two and a forged confirmation is refused; the rows are checked again on
confirmation anyway, so even a signed one cannot make anything but students of valid rows."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from access.models import Role, User
from attendance.introduction import Step, first_class, urgent
from scheduler.group_forms import (
    GROUP_LANGUAGES,
    MAX_GROUP_NAME,
    MAX_PROGRAMME_NAME,
    GroupProblem,
    GroupRefused,
    choice,
    group_from,
    programme_from,
)
from scheduler.models import (
    DEFAULT_TIMEZONE,
    MAX_CREDITS,
    MAX_DISCIPLINE_NAME,
    MIN_CREDITS,
    Group,
    ProgrammeKind,
)
from scheduler.roster import (
    RowStatus,
)
from scheduler.sqlite_groups import SqliteGroups
from scheduler.sqlite_membership import GroupQuery

from ..core import clock, keys, policy
from ..core.http import (
    MAX_BODY,
    PageError,
    gettext_of,
    redirect,
    render,
    require_role,
    require_session,
)
from ..core.i18n import LANGUAGE_NAMES
from ..core.paging import fetch_page, page_number, pager, search_of

log = logging.getLogger("sabaq.web.groups")
routes = web.RouteTableDef()

MANAGERS = frozenset({Role.STAFF, Role.ADMIN})
# The group's first class this close (or past) with learners who have not taken the
# introduction (clause 5): the list is highlighted.
GROUP_FIELDS = (
    "name", "department_id", "programme_id", "language", "timezone", "starts_on", "ends_on",
)  # fmt: skip
PROGRAMME_FIELDS = ("programme_name", "kind", "institute_id", "distance")


def kind_labels(_: Callable[[str], str]) -> dict[ProgrammeKind, str]:
    return {
        ProgrammeKind.POSTGRADUATE: _("Postgraduate education"),
        ProgrammeKind.ADDITIONAL: _("Additional education"),
    }


def status_labels(_: Callable[[str], str]) -> dict[RowStatus, str]:
    return {
        RowStatus.NEW: _("New student"),
        RowStatus.EXISTING: _("Existing student"),
        RowStatus.MEMBER: _("Already in the group"),
        RowStatus.ERROR: _("Error"),
    }


def require_manager(request: web.Request) -> User:
    _ = gettext_of(request)
    return require_role(request, MANAGERS, _("Groups are managed by staff."))


def groups_store(request: web.Request) -> SqliteGroups:
    return SqliteGroups(request.app[keys.DB], request.app[keys.SETTINGS].clock)


def _period(group: Group) -> str:
    if group.starts_on is None and group.ends_on is None:
        return ""
    first = f"{group.starts_on:%d.%m.%Y}" if group.starts_on else "…"
    last = f"{group.ends_on:%d.%m.%Y}" if group.ends_on else "…"
    return f"{first} — {last}"


# -- the list -------------------------------------------------------------------------------------
@routes.get("/groups")
async def groups_index(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    require_manager(request)
    tt, store = request.app[keys.TIMETABLE], groups_store(request)
    search = search_of(request)
    status = request.query.get("status", "")
    status = status if status in ("active", "inactive") else ""
    query = GroupQuery(search=search, active=None if not status else status == "active")
    found, total, page = fetch_page(
        lambda limit, offset: tt.find_groups(query, limit, offset),
        page_number(request.query.get("page", "1")),
    )
    programmes = {p.id: p for p in store.programmes()}
    departments = {d.id: d for d in store.departments()}
    counts = store.member_counts([g.id for g in found])
    kinds = kind_labels(_)
    rows = []
    for g in found:
        programme = programmes.get(g.programme_id) if g.programme_id else None
        rows.append(
            {
                "g": g,
                "programme": programme,
                "kind": kinds[programme.kind] if programme else "",
                "department": departments[g.department_id].name,
                "language": LANGUAGE_NAMES.get(g.language, g.language),
                "period": _period(g),
                "flags": tt.flags(g),
                "members": counts.get(g.id, 0),
            }
        )
    return render(
        request,
        "groups.html",
        {
            "rows": rows,
            "search": search,
            "status": status,
            "pager": pager("/groups", {"q": search, "status": status}, page, total),
        },
    )


# -- a new group, a new programme -----------------------------------------------------------------
def _new_form(
    request: web.Request,
    values: Mapping[str, str],
    error: str | None = None,
    status: int = 200,
    programme_error: str | None = None,
    programme_values: Mapping[str, str] | None = None,
) -> web.Response:
    _ = gettext_of(request)
    store = groups_store(request)
    kinds = kind_labels(_)
    return render(
        request,
        "groups_new.html",
        {
            "values": values,
            "error": error,
            "departments": store.departments(archived=False),
            "institutes": store.institutes(archived=False),
            "programmes": [(p, kinds[p.kind]) for p in store.programmes()],
            "kinds": list(kinds.items()),
            "group_languages": [(c, LANGUAGE_NAMES[c]) for c in GROUP_LANGUAGES],
            "programme_error": programme_error,
            "programme_values": programme_values or dict.fromkeys(PROGRAMME_FIELDS, ""),
            "max_name": MAX_GROUP_NAME,
            "max_programme_name": MAX_PROGRAMME_NAME,
        },
        status,
    )


def group_message(_: Callable[[str], str], exc: GroupRefused) -> str:
    """Why a group or a programme cannot be saved, in the reader's language."""
    match exc.problem:
        case GroupProblem.NAME:
            return _("Give the group a name (at most {n} characters).").replace(
                "{n}", str(MAX_GROUP_NAME)
            )
        case GroupProblem.DEPARTMENT:
            return _("Choose the department.")
        case GroupProblem.PROGRAMME:
            return _("Choose the programme.")
        case GroupProblem.LANGUAGE:
            return _("Choose the language of instruction.")
        case GroupProblem.ZONE:
            return _("Unknown time zone {zone}: give one like Asia/Almaty.").replace(
                "{zone}", exc.value
            )
        case GroupProblem.PERIOD:
            return _("Give the days of the study period as YYYY-MM-DD.")
        case GroupProblem.PERIOD_ORDER:
            return _("The study period ends after it starts.")
        case GroupProblem.NAME_TAKEN:
            return _("A group named {name} already exists: choose another name.").replace(
                "{name}", exc.value
            )
        case GroupProblem.PROGRAMME_NAME:
            return _("Give the programme a name (at most {n} characters).").replace(
                "{n}", str(MAX_PROGRAMME_NAME)
            )
        case GroupProblem.KIND:
            return _("Choose the kind of programme.")
        case GroupProblem.INSTITUTE:
            return _("Choose the institute.")
        case GroupProblem.DISTANCE:
            return _("Say whether the programme is a distance programme.")
        case GroupProblem.DISCIPLINE_NAME:
            return _("Give the discipline a name (at most {n} characters).").replace(
                "{n}", str(MAX_DISCIPLINE_NAME)
            )
        case GroupProblem.CREDITS:
            return (
                _("Give the credits as a whole number from {min} to {max}.")
                .replace("{min}", str(MIN_CREDITS))
                .replace("{max}", str(MAX_CREDITS))
            )
        case GroupProblem.FORMAT:
            return _("Choose how the discipline is studied: distance learning or in person.")


@routes.get("/groups/new")
async def new_group_form(request: web.Request) -> web.Response:
    require_manager(request)
    values = dict.fromkeys(GROUP_FIELDS, "") | {
        "timezone": DEFAULT_TIMEZONE,
        "language": "ru",
        "programme_id": request.query.get("programme", "")[:20],
    }
    return _new_form(request, values)


@routes.post("/groups/new")
async def create_group(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_manager(request)
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in GROUP_FIELDS}
    tt = request.app[keys.TIMETABLE]
    store = groups_store(request)
    try:
        draft = group_from(
            values,
            departments=[d.id for d in store.departments(archived=False)],
            programmes=[p.id for p in store.programmes()],
            name_taken=store.name_taken,
        )
        try:
            group = tt.add_group(
                draft.name, draft.department_id, draft.language, draft.timezone,
                programme_id=draft.programme_id, starts_on=draft.starts_on,
                ends_on=draft.ends_on,
            )  # fmt: skip
        except sqlite3.IntegrityError:  # the name, taken since it was checked
            raise GroupRefused(GroupProblem.NAME_TAKEN, draft.name) from None
    except GroupRefused as exc:
        return _new_form(request, values, group_message(_, exc), 400)
    log.info("staff %s created group %s (%s)", user.id, group.id, group.name)
    return redirect(f"/groups/{group.id}")


@routes.post("/programmes")
async def create_programme(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_manager(request)
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in PROGRAMME_FIELDS}
    values["distance"] = values["distance"] or "1"  # Sabaq's programmes are distance ones
    store = groups_store(request)
    try:
        new = programme_from(values, institutes=[i.id for i in store.institutes(archived=False)])
    except GroupRefused as exc:
        error = group_message(_, exc)
        group_values = dict.fromkeys(GROUP_FIELDS, "") | {
            "timezone": DEFAULT_TIMEZONE,
            "language": "ru",
        }
        return _new_form(
            request, group_values, None, 400, programme_error=error, programme_values=values
        )
    programme = request.app[keys.TIMETABLE].add_programme(
        new.name, new.kind, new.institute_id, distance=new.distance
    )
    log.info("staff %s created programme %s", user.id, programme.id)
    return redirect(f"/groups/new?programme={programme.id}")


# -- the introduction (clause 5): who has not taken it before the group's first class --------
def introduction_of(request: web.Request, group: Group) -> dict[str, Any]:
    """The group's students who have not taken both steps of the introduction (with the steps
    they lack), the group's first class (not cancelled, not a make-up class) and whether it is
    within a week or past."""
    _ = gettext_of(request)
    tt, accounts = request.app[keys.TIMETABLE], request.app[keys.ACCOUNTS]
    members = sorted(
        accounts.many(tt.members(group.id)).values(),
        key=lambda u: (u.full_name.casefold(), u.id),
    )
    taken = request.app[keys.INTRODUCTION].of_many(u.id for u in members)
    first = first_class(tt.classes_of_group(group.id))
    labels = {Step.CHECK: _("Device check"), Step.TOUR: _("Tour of the class page")}
    not_taken = [
        (u, ", ".join(labels[s] for s in taken[u.id].missing))
        for u in members
        if not taken[u.id].done
    ]
    return {
        "first_class": first,
        "urgent": urgent(bool(not_taken), first, clock.utc_now(request)),
        "not_taken": not_taken,
        "members": len(members),
    }


@routes.get("/groups/{group_id:\\d{1,18}}/introduction")
async def group_introduction(request: web.Request) -> web.Response:
    """Who of the group has not taken the introduction: for its teachers and those who see
    its institute (a group's register's readers)."""
    _ = gettext_of(request)
    user = require_session(request).user
    group = group_of(request)
    if not policy.sees_group_register(request, user, group):
        raise PageError(
            403,
            _("Who has taken the introduction is seen by the group's teachers and staff."),
            "forbidden",
        )
    return render(
        request,
        "groups_introduction.html",
        {"g": group, "intro": introduction_of(request, group)},
    )


# -- one group: members, teachers, the import form ------------------------------------------------
def detail(
    request: web.Request,
    group: Group,
    *,
    error: str | None = None,
    import_error: str | None = None,
    status: int = 200,
) -> web.Response:
    _ = gettext_of(request)
    tt, accounts, store = (
        request.app[keys.TIMETABLE],
        request.app[keys.ACCOUNTS],
        groups_store(request),
    )
    members = sorted(
        accounts.many(tt.members(group.id)).values(),
        key=lambda u: (u.full_name.casefold(), u.id),
    )
    teacher_ids = tt.teachers(group.id)
    teachers = sorted(
        accounts.many(teacher_ids).values(), key=lambda u: (u.full_name.casefold(), u.id)
    )
    programme = tt.programme(group.programme_id) if group.programme_id else None
    return render(
        request,
        "groups_detail.html",
        {
            "g": group,
            "programme": programme,
            "kind": kind_labels(_)[programme.kind] if programme else "",
            "department": tt.department(group.department_id).name,
            "language": LANGUAGE_NAMES.get(group.language, group.language),
            "period": _period(group),
            "flags": tt.flags(group),
            "members": members,
            "intro": introduction_of(request, group),
            "teachers": teachers,
            "candidates": [
                t for t in store.users_with_role(Role.TEACHER) if t.id not in teacher_ids
            ],
            "error": error,
            "import_error": import_error,
            "max_kb": MAX_BODY // 1024,
        },
        status,
    )


def group_of(request: web.Request) -> Group:
    return request.app[keys.TIMETABLE].group(int(request.match_info["group_id"]))


@routes.get("/groups/{group_id:\\d{1,18}}")
async def group_page(request: web.Request) -> web.Response:
    require_manager(request)
    return detail(request, group_of(request))


@routes.post("/groups/{group_id:\\d{1,18}}/teachers")
async def add_teacher(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_manager(request)
    group = group_of(request)
    form = await request.post()
    teachers = [t.id for t in groups_store(request).users_with_role(Role.TEACHER)]
    teacher_id = choice(str(form.get("teacher_id", "")), teachers)
    if teacher_id is None:
        return detail(request, group, error=_("Choose a teacher."), status=400)
    request.app[keys.TIMETABLE].add_teacher(group.id, teacher_id)
    log.info("staff %s made user %s a teacher of group %s", user.id, teacher_id, group.id)
    return redirect(f"/groups/{group.id}")
