"""The agencies that send learners (clauses 18, 19): their names and their HR services' e-mail
addresses. Staff and administrators create, rename and archive them (an archived agency is not
offered for new learners; its learners and reports still name it) and keep the contacts. Every
name a learner was given is an agency (``scheduler/sqlite_agencies.py``).

Staff and administrators also set when the HR services' monthly mail goes (the timetable of the
coming month, the attendance of the past month: ``control/hr_mail.py``), read on an agency's
page what was sent when and how it stands in the outbox, and send a month's mail now or a
logged one again."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from access.models import User
from attendance.hr_dispatch import DispatchKind, DispatchReason, DispatchRule, covered, schedule_of
from control.hr_mail import HrMailRefused, dispatch_rows, kind_words, refusal_words
from scheduler import calendar
from scheduler.errors import AgencyNotFound, SchedulerError
from scheduler.models import DEFAULT_TIMEZONE
from scheduler.sqlite_agencies import SqliteAgencies
from scheduler.structure import MAX_CONTACTS, MAX_STRUCTURE_NAME, Agency, split_contacts

from ..core import clock, keys, policy
from ..core.errors import message_of, status_of
from ..core.hr_mail import hr_mailer
from ..core.http import PageError, actor, gettext_of, redirect, render, require_session

log = logging.getLogger("sabaq.web.agencies")
routes = web.RouteTableDef()

AGENCY = r"/agencies/{agency_id:\d{1,18}}"
SHOWN_DISPATCHES = 100  # the newest mails listed on an agency's page


def store(request: web.Request) -> SqliteAgencies:
    return SqliteAgencies(request.app[keys.DB], request.app[keys.SETTINGS].clock)


def _viewer(request: web.Request) -> User:
    _ = gettext_of(request)
    user = require_session(request).user
    if not policy.sees_agencies(request, user):
        raise PageError(403, _("Agencies are seen by staff and administrators."), "forbidden")
    return user


def _manager(request: web.Request) -> User:
    _ = gettext_of(request)
    user = _viewer(request)
    if not policy.manages_structure(user):
        raise PageError(403, _("Agencies are managed by staff and administrators."), "forbidden")
    return user


def _agency_of(request: web.Request) -> Agency:
    _ = gettext_of(request)
    try:
        return store(request).agency(int(request.match_info["agency_id"]))
    except AgencyNotFound:
        raise PageError(404, _("There is no such agency."), "agency_not_found") from None


def _index(
    request: web.Request, user: User, error: str | None = None, status: int = 200, **values: str
) -> web.Response:
    agencies = store(request)
    counts = agencies.learner_counts()
    every = agencies.agencies()
    return render(
        request,
        "agencies.html",
        {
            "rows": [(a, counts.get(a.name.casefold(), 0)) for a in every if not a.archived],
            "archived": [a for a in every if a.archived],
            "can_manage": policy.manages_structure(user),
            "error": error,
            "values": {"name": "", "contacts": ""} | values,
            "max_name": MAX_STRUCTURE_NAME,
            "max_contacts": MAX_CONTACTS,
            "schedule": _schedule_rows(request) if policy.sends_hr_mail(user) else [],
            "zone": DEFAULT_TIMEZONE,
            "mail_enabled": request.app[keys.SETTINGS].mail_enabled,
        },
        status,
    )


@routes.get("/agencies")
async def agencies_index(request: web.Request) -> web.Response:
    return _index(request, _viewer(request))


@routes.post("/agencies")
async def create_agency(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _manager(request)
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in ("name", "contacts")}
    try:
        made = store(request).create_agency(
            values["name"], split_contacts(values["contacts"]), actor(user)
        )
    except SchedulerError as exc:
        return _index(request, user, message_of(_, exc), status_of(exc), **values)
    log.info("%s %s created agency %s", user.role, user.id, made.id)
    return redirect(f"/agencies/{made.id}")


def _page(
    request: web.Request, user: User, agency: Agency, error: str | None = None, status: int = 200
) -> web.Response:
    return render(
        request,
        "agency.html",
        {
            "a": agency,
            "learners": store(request).learner_counts().get(agency.name.casefold(), 0),
            "can_manage": policy.manages_structure(user),
            "error": error,
            "max_name": MAX_STRUCTURE_NAME,
            "max_contacts": MAX_CONTACTS,
            **_hr_mail_context(request, user, agency),
        },
        status,
    )


@routes.get(AGENCY)
async def agency_page(request: web.Request) -> web.Response:
    return _page(request, _viewer(request), _agency_of(request))


@routes.post(AGENCY)
async def change_agency(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _manager(request)
    agency = _agency_of(request)
    form = await request.post()
    action = str(form.get("action", ""))
    agencies = store(request)
    try:
        if action == "rename":
            agencies.change_agency(agency.id, name=str(form.get("name", "")), actor=actor(user))
        elif action == "contacts":
            contacts = split_contacts(str(form.get("contacts", "")))
            agencies.change_agency(agency.id, contacts=contacts, actor=actor(user))
        elif action in ("archive", "unarchive"):
            agencies.change_agency(agency.id, archived=action == "archive", actor=actor(user))
        else:
            raise PageError(400, _("Choose what to change."), "bad_action")
    except SchedulerError as exc:
        return _page(request, user, agency, message_of(_, exc), status_of(exc))
    log.info("%s %s changed agency %s: %s", user.role, user.id, agency.id, action)
    return redirect(f"/agencies/{agency.id}")


# -- the HR services' monthly mail (clauses 18, 19) ---------------------------------------------
def _schedule_rows(request: web.Request) -> list[tuple[DispatchKind, str, DispatchRule]]:
    labels = kind_words(gettext_of(request))
    rules = request.app[keys.HR_DISPATCH].schedule()
    return [(kind, labels[kind], rules[kind]) for kind in DispatchKind]


def _hr_mail_context(request: web.Request, user: User, agency: Agency) -> dict[str, Any]:
    """The agency's mail log and the forms to send by hand, for staff and administrators."""
    if not policy.sends_hr_mail(user):
        return {"hr_mail": False}
    dispatches = request.app[keys.HR_DISPATCH].dispatches(agency.id, SHOWN_DISPATCHES)
    rows = dispatch_rows(gettext_of(request), dispatches, request.app[keys.MAIL].get)
    now = datetime.fromtimestamp(clock.now(request), ZoneInfo(DEFAULT_TIMEZONE))
    return {
        "hr_mail": True,
        "dispatches": rows,
        "zone": DEFAULT_TIMEZONE,
        "mail_enabled": request.app[keys.SETTINGS].mail_enabled,
        "send_months": {
            "timetable": covered(DispatchKind.TIMETABLE, now.year, now.month),
            "attendance": covered(DispatchKind.ATTENDANCE, now.year, now.month),
        },
    }


def _sender(request: web.Request) -> User:
    _ = gettext_of(request)
    user = _viewer(request)
    if not policy.sends_hr_mail(user):
        raise PageError(
            403, _("Mail to the HR services is sent by staff and administrators."), "forbidden"
        )
    return user


def _send(
    request: web.Request, user: User, agency: Agency, kind: DispatchKind, month: str,
    reason: DispatchReason,
) -> web.StreamResponse:  # fmt: skip
    try:
        made = hr_mailer(request.app).send(agency, kind, month, actor(user), reason)
    except HrMailRefused as exc:
        return _page(request, user, agency, refusal_words(gettext_of(request), exc.code), 409)
    log.info(
        "%s %s sent agency %s its %s of %s (%s)",
        user.role, user.id, agency.id, kind.value, month, made.mail_key,
    )  # fmt: skip
    return redirect(f"/agencies/{agency.id}#hr-mail")


@routes.post(AGENCY + "/hr-mail")
async def send_now(request: web.Request) -> web.StreamResponse:
    """The "Send now" button: the mail of a kind for a month, to the agency's HR service."""
    _ = gettext_of(request)
    user = _sender(request)
    agency = _agency_of(request)
    form = await request.post()
    raw_kind, month = str(form.get("kind", "")), str(form.get("month", "")).strip()
    if raw_kind not in set(DispatchKind):
        raise PageError(400, _("Choose what to send."), "bad_kind")
    try:
        calendar.month(month, DEFAULT_TIMEZONE)
    except ValueError:
        raise PageError(400, _("Give the month as YYYY-MM."), "bad_month") from None
    return _send(request, user, agency, DispatchKind(raw_kind), month, DispatchReason.MANUAL)


@routes.post(AGENCY + r"/hr-mail/{dispatch_id:\d{1,18}}/again")
async def send_again(request: web.Request) -> web.StreamResponse:
    """The "Send again" button: a logged mail made anew (with today's data), under a new key."""
    _ = gettext_of(request)
    user = _sender(request)
    agency = _agency_of(request)
    d = request.app[keys.HR_DISPATCH].dispatch(int(request.match_info["dispatch_id"]))
    if d is None or d.agency_id != agency.id:
        raise PageError(404, _("There is no such mail."), "dispatch_not_found")
    return _send(request, user, agency, d.kind, d.month, DispatchReason.RESENT)


@routes.post("/agencies/hr-schedule")
async def set_schedule(request: web.Request) -> web.StreamResponse:
    """Staff set when the HR services' mail goes: the day of the month and the hour."""
    _ = gettext_of(request)
    user = _sender(request)
    form = await request.post()
    try:
        rules = schedule_of(form)
    except ValueError:
        return _index(request, user, _("The day of the month is 1 to 31, the hour 0 to 23."), 400)
    request.app[keys.HR_DISPATCH].set_schedule(rules, actor(user))
    log.info("%s %s set the HR mail schedule", user.role, user.id)
    return redirect("/agencies#hr-schedule")
