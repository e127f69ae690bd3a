"""The academy's timetable: week and month views per group and per teacher; staff plan classes
one by one or weekly (with exceptions), move and cancel them, each change logged with who and
why; conflicts are refused with the class in the way named. The same as JSON under /api/v1."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from access.models import Role, User
from admission.visibility import proposals_seen
from scheduler import calendar
from scheduler.calendar import Span
from scheduler.guarantee_months import guarantee_months, states_of_groups
from scheduler.labels import (
    class_status_labels,
    format_labels,
    kind_labels,
    month_detail,
    month_labels,
)
from scheduler.models import (
    DEFAULT_TIMEZONE,
    Group,
    LiveClass,
)
from scheduler.sqlite_store import Actor

from ..core import clock, keys, policy
from ..core.alerts import alert_lines, reason_text
from ..core.http import PageError, gettext_of, redirect, render, require_role, require_session
from ..core.paging import fetch_page, page_number, pager, search_of
from .classes import EDITORS, OBSERVER_ROLES
from .ical import feed_url, may_subscribe

log = logging.getLogger("sabaq.web.timetable")
routes = web.RouteTableDef()

MAX_SPAN_DAYS = 62  # the longest range the JSON timetable answers at once


def actor(user: User) -> Actor:
    return Actor(user.id, user.full_name)


def require_editor(request: web.Request) -> User:
    _ = gettext_of(request)
    return require_role(request, EDITORS, _("The timetable is edited by staff."))


def may_see_group(request: web.Request, user: User, group: Group) -> None:
    _ = gettext_of(request)
    if not policy.sees_group(request, user, group):
        raise PageError(
            403, _("A group's timetable is seen by its students, teachers and staff."), "forbidden"
        )


def may_see_teacher(request: web.Request, user: User, teacher_id: int) -> None:
    _ = gettext_of(request)
    if not policy.sees_teacher(request, user, teacher_id):
        raise PageError(
            403, _("A teacher's timetable is seen by the teacher and staff."), "forbidden"
        )


# -- ranges -------------------------------------------------------------------------------------
def span_of(request: web.Request, zone: str) -> Span:
    """The week (``?view=week&date=YYYY-MM-DD``, the default) or month (``?view=month&
    month=YYYY-MM``) asked for, this one by default."""
    _ = gettext_of(request)
    today = clock.today(request, zone)
    try:
        return calendar.span(
            request.query.get("view", "week"),
            request.query.get("month") or today.strftime("%Y-%m"),
            request.query.get("date") or today.isoformat(),
        )
    except ValueError:
        raise PageError(
            400, _("Ask for a week as date=YYYY-MM-DD or a month as month=YYYY-MM."), "bad_range"
        ) from None


def _timetable_page(
    request: web.Request,
    title: str,
    zone: str,
    classes: Sequence[LiveClass],
    span: Span,
    **extra: Any,
) -> web.Response:
    _ = gettext_of(request)
    tt, accounts = request.app[keys.TIMETABLE], request.app[keys.ACCOUNTS]
    teachers = accounts.many(c.teacher_id for c in classes)
    names = {g.id: g.name for g in tt.groups()}
    user = require_session(request).user
    return render(
        request,
        "timetable.html",
        {
            "title": title,
            "zone": zone,
            "span": span,
            "weeks": calendar.weeks(span, classes, zone),
            "teachers": {k: v.full_name for k, v in teachers.items()},
            "class_groups": {c.id: ", ".join(names[g] for g in c.group_ids) for c in classes},
            "kinds": kind_labels(_),
            "formats": format_labels(_),
            "statuses": class_status_labels(_),
            "can_edit": user.role in EDITORS,
            "proposed": proposals_seen(tt, user, classes),
            **extra,
        },
    )


# -- pages ----------------------------------------------------------------------------------------
@routes.get("/timetable")
async def timetable_index(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_session(request).user
    tt = request.app[keys.TIMETABLE]
    if user.role is Role.TEACHER:
        return redirect(f"/timetable/teachers/{user.id}")
    if user.role is Role.STUDENT:
        groups = tt.groups_of_member(user.id)
        if not groups:
            raise PageError(404, _("You are not in a group yet."), "not_found")
        return redirect(f"/timetable/groups/{groups[0].id}")
    search = search_of(request)
    query = policy.group_query(request, user, search)
    groups, total, page = fetch_page(
        lambda limit, offset: tt.find_groups(query, limit, offset),
        page_number(request.query.get("page", "1")),
    )
    teacher_ids = sorted({t for g in groups for t in tt.teachers(g.id)})
    teachers = request.app[keys.ACCOUNTS].many(teacher_ids)
    return render(
        request,
        "timetable_index.html",
        {
            "groups": [(g, tt.flags(g)) for g in groups],
            "search": search,
            "pager": pager("/timetable", {"q": search}, page, total),
            "teachers": sorted(teachers.values(), key=lambda u: u.full_name.casefold()),
            "can_edit": user.role in EDITORS,
            "alerts": alert_lines(request),
        },
    )


@routes.get("/timetable/guarantee")
async def guarantee_page(request: web.Request) -> web.Response:
    """Per group and month: green (a live class held), amber (one planned), red (none), with
    the reason."""
    _ = gettext_of(request)
    user = require_session(request).user
    if user.role not in EDITORS | OBSERVER_ROLES:
        raise PageError(403, _("The monthly guarantee is watched by staff."), "forbidden")
    tt = request.app[keys.TIMETABLE]
    settings = request.app[keys.SETTINGS]
    now = clock.utc_now(request)
    today = now.astimezone(ZoneInfo(DEFAULT_TIMEZONE)).date()
    active = [g for g in policy.visible(request, user, tt.groups()) if g.active]
    shown = guarantee_months(active, today, settings.guarantee_months_ahead)
    labels = month_labels(_)
    rows = []
    states = states_of_groups(tt, active, shown)
    for g in active:
        cells = []
        for first, gm in zip(shown, states.get(g.id, []), strict=True):
            reason = functools.partial(reason_text, request)
            detail = month_detail(_, g, first, gm, tt.get_class, reason)
            cells.append({"gm": gm, "label": labels[gm.state], "detail": detail})
        rows.append((g, cells))
    return render(
        request,
        "guarantee.html",
        {"months": [f"{m:%Y-%m}" for m in shown], "rows": rows, "alerts": alert_lines(request)},
    )


@routes.get("/timetable/groups/{group_id:\\d{1,18}}")
async def group_timetable(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    user = require_session(request).user
    tt = request.app[keys.TIMETABLE]
    group = tt.group(int(request.match_info["group_id"]))
    may_see_group(request, user, group)
    span = span_of(request, group.timezone)
    classes = policy.visible(
        request, user, tt.classes_of_group(group.id, *span.bounds(group.timezone))
    )
    title = _("Timetable of group {group}").replace("{group}", group.name)
    feed = (
        feed_url(request, "groups", group.id)
        if may_subscribe(request, "groups", group.id)
        else None
    )
    return _timetable_page(
        request,
        title,
        group.timezone,
        classes,
        span,
        group=group,
        flags=tt.flags(group),
        feed=feed,
        sees_introduction=policy.sees_group_register(request, user, group),
    )


@routes.get("/timetable/teachers/{user_id:\\d{1,18}}")
async def teacher_timetable(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    user = require_session(request).user
    teacher_id = int(request.match_info["user_id"])
    may_see_teacher(request, user, teacher_id)
    teacher = request.app[keys.ACCOUNTS].many([teacher_id]).get(teacher_id)
    if teacher is None:
        raise PageError(404, _("There is no such teacher."), "not_found")
    tt = request.app[keys.TIMETABLE]
    zone = DEFAULT_TIMEZONE
    span = span_of(request, zone)
    start, end = span.bounds(zone)
    classes = policy.visible(
        request, user, [c for c in tt.classes_of_teacher(teacher_id) if start <= c.starts_at < end]
    )
    title = _("Timetable of {name}").replace("{name}", teacher.full_name)
    feed = (
        feed_url(request, "teachers", teacher_id)
        if may_subscribe(request, "teachers", teacher_id)
        else None
    )
    return _timetable_page(request, title, zone, classes, span, group=None, flags=[], feed=feed)
