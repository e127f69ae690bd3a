"""Calendar feeds (iCalendar) per group and per teacher, at secret URLs that Google Calendar,
Outlook and Thunderbird subscribe to. A feed follows the timetable: a moved class keeps its UID
with a higher SEQUENCE, a cancelled one stays in the feed as CANCELLED."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from aiohttp import web

from scheduler.feeds import AHEAD, PAST, classes_ics, days_off_ics, feed_token
from scheduler.labels import day_name, format_labels, kind_labels
from scheduler.models import LiveClass

from ..core import clock, keys, policy
from ..core.http import PageError, gettext_of, require_session

routes = web.RouteTableDef()


def feed_url(request: web.Request, kind: str, ident: int) -> str:
    token = feed_token(request.app[keys.SETTINGS].secret_key, kind, ident)
    return f"/ical/{kind}/{ident}/{token}.ics"


def _check(request: web.Request, kind: str) -> int:
    _ = gettext_of(request)
    ident = int(request.match_info["ident"])
    expected = feed_token(request.app[keys.SETTINGS].secret_key, kind, ident)
    if not hmac.compare_digest(expected, request.match_info["token"]):
        raise PageError(404, _("This page does not exist."), "not_found")
    return ident


def calendar(
    request: web.Request, name: str, zone: str, classes: Sequence[LiveClass]
) -> web.Response:
    """The feed: one VEVENT per class, UTC times, the class page as its URL."""
    _ = gettext_of(request)
    tt, accounts = request.app[keys.TIMETABLE], request.app[keys.ACCOUNTS]
    teachers = accounts.many(c.teacher_id for c in classes)
    body = classes_ics(
        name,
        zone,
        classes,
        now=clock.utc_now(request),
        base=f"{request.scheme}://{request.host}",
        changes=lambda class_id: tt.changes(class_id=class_id),
        group_name=lambda group_id: tt.group(group_id).name,
        teachers={i: u.full_name for i, u in teachers.items()},
        kinds=kind_labels(_),
        formats=format_labels(_),
    )
    return _feed(body)


def _feed(body: bytes) -> web.Response:
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )


@routes.get("/ical/groups/{ident:\\d{1,18}}/{token:[0-9a-f]{32}}.ics")
async def group_feed(request: web.Request) -> web.Response:
    group_id = _check(request, "groups")
    tt = request.app[keys.TIMETABLE]
    group = tt.group(group_id)
    now = clock.utc_now(request)
    classes = [
        c for c in tt.classes_of_group(group.id, now - PAST, now + AHEAD) if not c.individual
    ]
    return calendar(request, group.name, group.timezone, classes)


@routes.get("/ical/teachers/{ident:\\d{1,18}}/{token:[0-9a-f]{32}}.ics")
async def teacher_feed(request: web.Request) -> web.Response:
    teacher_id = _check(request, "teachers")
    tt = request.app[keys.TIMETABLE]
    teacher = request.app[keys.ACCOUNTS].many([teacher_id]).get(teacher_id)
    if teacher is None:
        raise PageError(404, gettext_of(request)("This page does not exist."), "not_found")
    now = clock.utc_now(request)
    classes = [
        c for c in tt.classes_of_teacher(teacher_id) if now - PAST <= c.starts_at < now + AHEAD
    ]
    zone = tt.group(classes[0].group_ids[0]).timezone if classes else "Asia/Almaty"
    return calendar(request, teacher.full_name, zone, classes)


@routes.get("/ical/calendar/{ident:\\d{1,18}}/{token:[0-9a-f]{32}}.ics")
async def days_off_feed(request: web.Request) -> web.Response:
    """The academy calendar's non-working days, as all-day events (its URL is shown to everyone
    signed in, on the calendar's page)."""
    _check(request, "calendar")
    _ = gettext_of(request)
    now = clock.utc_now(request)
    days = request.app[keys.TIMETABLE].academy_calendar()
    return _feed(
        days_off_ics(
            _("Non-working days of the academy"),
            (
                (day, day_name(_, name))
                for day, name in days.days_off((now - PAST).date(), (now + AHEAD).date())
            ),
            now,
        )
    )


def may_subscribe(request: web.Request, kind: str, ident: int) -> bool:
    """Who is shown a feed's secret URL: the group's people or the teacher, and staff."""
    user = require_session(request).user
    if kind == "teachers":
        return policy.sees_teachers_feed(request, user, ident)
    return policy.sees_group(request, user, request.app[keys.TIMETABLE].group(ident))
