"""What staff, teachers and learners are told about the timetable: the monthly guarantee's
reasons and alerts, and emergency switches, in words for people."""

from __future__ import annotations

from aiohttp import web

from access.models import Role, User
from control.guarantee_run import reason_words
from scheduler.models import DEFAULT_TIMEZONE

from . import clock, keys, policy
from .http import gettext_of, require_session


def reason_text(request: web.Request, reason: str) -> str:
    """A logged reason in words: the guarantee's codes translated, people's words as they are."""
    return reason_words(gettext_of(request), reason)


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
