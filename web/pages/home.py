"""The home page: a person's classes, and for those who watch the academy its alerts and
notices; an administrator's carries the first run's checklist until the academy is set up
(an institute, a department, people, a group, a class)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from access.models import Role
from attendance.sqlite_dead_events import SqliteDeadEvents
from scheduler.sqlite_classes import ClassQuery
from scheduler.structure import FirstRun

from ..core import keys, policy
from ..core.alerts import alert_lines, switch_notices
from ..core.http import gettext_of, render, require_session
from ..core.paging import fetch_page, page_number, pager, search_of
from .classes import OBSERVER_ROLES, class_view

routes = web.RouteTableDef()


# Each step of setting up the academy: what to do, and where.
STEPS = {
    "institute": "/structure",
    "department": "/structure",
    "people": "/people",
    "group": "/groups/new",
    "class": "/timetable/new",
}


def first_run_steps(_: Callable[[str], str], state: FirstRun) -> list[tuple[str, str, bool]] | None:
    """The checklist (label, link, done), or ``None`` once every step is done."""
    if state.done:
        return None
    labels = {
        "institute": _("Create an institute"),
        "department": _("Create a department of the institute"),
        "people": _("Create the accounts of the people: directors, heads, teachers, staff"),
        "group": _("Create a study group"),
        "class": _("Plan a class"),
    }
    return [(labels[step], STEPS[step], done) for step, done in state.steps]


# -- classes ----------------------------------------------------------------------------------
@routes.get("/")
async def home(request: web.Request) -> web.Response:
    session = require_session(request)
    user = session.user
    tt = request.app[keys.TIMETABLE]
    search, listed = "", None
    if user.role is Role.TEACHER:
        classes = tt.classes_of_teacher(user.id)
    elif user.role in OBSERVER_ROLES:
        # Those who watch the academy (or an institute) see many classes: searched, a page at
        # a time, of those the policy lets them see.
        search = search_of(request)
        query = ClassQuery(policy.class_scope(request, user), search)
        classes, total, page = fetch_page(
            lambda limit, offset: tt.find_classes(query, limit, offset),
            page_number(request.query.get("page", "1")),
        )
        listed = pager("/", {"q": search}, page, total)
    else:
        classes = tt.classes_of_learner(user.id)
    return render(
        request,
        "classes.html",
        {
            "classes": [class_view(request, c) for c in classes],
            "search": search,
            "pager": listed,
            # Staff's dashboard carries the monthly guarantee's alerts; teachers and learners
            # are told when their in-person classes go online.
            "alerts": alert_lines(request) if user.role in OBSERVER_ROLES else [],
            "dead_events": (
                SqliteDeadEvents(request.app[keys.DB]).count() if user.role in OBSERVER_ROLES else 0
            ),
            "dead_events_on_nodes": (
                await request.app[keys.CLUSTER].dead_events_of_nodes()
                if user.role in OBSERVER_ROLES and keys.CLUSTER in request.app
                else {}
            ),
            "notices": switch_notices(request, user) if user.role not in OBSERVER_ROLES else [],
            # A director's decisions waiting, and a head's requests waiting for the director.
            "waiting": request.app[keys.NOTICES].waiting(user.id)
            if user.role in (Role.DIRECTOR, Role.HEAD_OF_DEPARTMENT)
            else None,
            # Clause 5: a student is asked to take the introduction until both steps are in.
            "introduction_due": user.role is Role.STUDENT
            and not request.app[keys.INTRODUCTION].of(user.id).done,
            "first_run": first_run_steps(gettext_of(request), tt.first_run())
            if user.role is Role.ADMIN
            else None,
        },
    )
