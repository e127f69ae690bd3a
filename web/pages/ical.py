"""Calendar feeds (iCalendar) per group and per teacher, at secret URLs that Google Calendar,
Outlook and Thunderbird subscribe to. A feed follows the timetable: a moved class keeps its UID
with a higher SEQUENCE, a cancelled one stays in the feed as CANCELLED."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from aiohttp import web
from icalendar import Calendar, Event

from scheduler.models import ClassFormat, ClassStatus, LiveClass, TimetableAction

from ..core import clock, keys, policy
from ..core.http import PageError, gettext_of, require_session
from ..core.labels import day_name, format_labels, kind_labels

routes = web.RouteTableDef()

PAST = timedelta(days=62)  # how far back a feed reaches
AHEAD = timedelta(days=400)


def feed_token(secret: bytes, kind: str, ident: int) -> str:
    """The secret part of a feed's URL: derived from the server's key, 128 bits."""
    mac = hmac.new(secret, f"ical:{kind}:{ident}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


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
    kinds, formats = kind_labels(_), format_labels(_)
    teachers = accounts.many(c.teacher_id for c in classes)
    base = f"{request.scheme}://{request.host}"
    cal = Calendar()
    cal.add("prodid", "-//Sabaq//Timetable//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", zone)
    now = clock.utc_now(request)
    for c in classes:
        changes = tt.changes(class_id=c.id)
        event = Event()
        event.add("uid", f"class-{c.id}@sabaq")
        event.add("dtstamp", now)
        event.add("dtstart", c.starts_at)
        event.add("dtend", c.ends_at)
        event.add("summary", c.title)
        # Each move, cancellation or switch is a new version of the event for calendar apps.
        event.add("sequence", sum(ch.action is not TimetableAction.PLANNED for ch in changes))
        if changes:
            event.add("last-modified", datetime.fromtimestamp(changes[0].at, UTC))
        groups = ", ".join(tt.group(g).name for g in c.group_ids)
        teacher = teachers[c.teacher_id].full_name if c.teacher_id in teachers else ""
        event.add(
            "description",
            f"{kinds[c.kind]} · {formats[c.format]} · {teacher} · {groups}",
        )
        if c.format is ClassFormat.LIVE_ONLINE:
            event.add("url", f"{base}/classes/{c.id}")
            event.add("location", f"{base}/classes/{c.id}")
        else:
            event.add("location", formats[c.format])
        event.add("status", "CANCELLED" if c.status is ClassStatus.CANCELLED else "CONFIRMED")
        cal.add_component(event)
    return web.Response(
        body=cal.to_ical(),
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
    cal = Calendar()
    cal.add("prodid", "-//Sabaq//Academy calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", _("Non-working days of the academy"))
    for day, name in days.days_off((now - PAST).date(), (now + AHEAD).date()):
        event = Event()
        event.add("uid", f"day-off-{day:%Y%m%d}@sabaq")
        event.add("dtstamp", now)
        event.add("dtstart", day)
        event.add("dtend", day + timedelta(days=1))
        event.add("summary", day_name(_, name))
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return web.Response(
        body=cal.to_ical(),
        content_type="text/calendar",
        charset="utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )


def may_subscribe(request: web.Request, kind: str, ident: int) -> bool:
    """Who is shown a feed's secret URL: the group's people or the teacher, and staff."""
    user = require_session(request).user
    if kind == "teachers":
        return policy.sees_teachers_feed(request, user, ident)
    return policy.sees_group(request, user, request.app[keys.TIMETABLE].group(ident))
