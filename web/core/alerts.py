"""What staff, teachers and learners are told about the timetable: the monthly guarantee's
reasons and alerts, and emergency switches, in words for people."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from access.models import Role, User
from scheduler.guarantee import (
    ALERT_NO_SLOT,
    ALERT_NO_TEACHER,
    CONFIRMED_UNANSWERED,
    MISSED_NEVER_STARTED,
    PLANNED_NO_CLASS,
)
from scheduler.models import DEFAULT_TIMEZONE

from . import clock, keys, policy
from .http import gettext_of, require_session


def reason_text(request: web.Request, reason: str) -> str:
    """A logged reason in words: the guarantee's codes translated, people's words as they are."""
    return reason_words(gettext_of(request), reason)


def reason_words(_: Callable[[str], str], reason: str) -> str:
    """``reason_text`` with a translation's gettext (the command line's is English)."""
    if not reason.startswith("guarantee:"):
        return reason
    parts = reason.split(":")
    code, month = ":".join(parts[:2]), (parts[2] if len(parts) > 2 else "")
    texts = {
        PLANNED_NO_CLASS: _(
            "Planned by the monthly guarantee: the group had no held or planned live class"
            " in {month}."
        ),
        ALERT_NO_SLOT: _(
            "The monthly guarantee found no free slot for a live class in {month}: plan one"
            " by hand."
        ),
        ALERT_NO_TEACHER: _(
            "The monthly guarantee cannot plan a live class in {month}: the group has no teacher."
        ),
        MISSED_NEVER_STARTED: _("Missed: the class never started."),
        CONFIRMED_UNANSWERED: _(
            "Confirmed by the monthly guarantee: nobody confirmed or moved the class in time."
        ),
    }
    return texts.get(code, reason).replace("{month}", month)


def alert_lines(request: web.Request) -> list[tuple[int, str, str]]:
    """(group id, group name, the alert in words) for every open alert of the guarantee about
    a group the signed-in person sees."""
    tt = request.app[keys.TIMETABLE]
    names = {
        g.id: g.name for g in policy.visible(request, require_session(request).user, tt.groups())
    }
    return [
        (a.group_id, names[a.group_id], reason_text(request, f"{a.reason}:{a.month}"))
        for a in tt.alerts()
        if a.group_id in names
    ]


def switch_notices(request: web.Request, user: User) -> list[str]:
    """For a learner's or teacher's home page: the emergency switches that touch their groups."""
    _ = gettext_of(request)
    tt = request.app[keys.TIMETABLE]
    if user.role is Role.TEACHER:
        groups = tt.groups_of_teacher(user.id)
    else:
        groups = [g.id for g in tt.groups_of_member(user.id)]
    if not groups:
        return []
    today = clock.today(request, DEFAULT_TIMEZONE)
    return [
        _("From {first} to {last} in-person classes are held online: {reason}")
        .replace("{first}", sw.first_day.strftime("%d.%m.%Y"))
        .replace("{last}", sw.last_day.strftime("%d.%m.%Y"))
        .replace("{reason}", sw.reason)
        for sw in tt.switches_for(groups, today)
    ]
