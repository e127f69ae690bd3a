"""Guest lecturers (clause 10), the control plane's pages: the head of department files a request
for a class of the department; the director of the institute sees a queue and approves (the
invite link is shown once, to copy), rejects with a comment, or revokes until the class ends;
staff or the director let another browser use an invite. Every step is on the request."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from access.addresses import is_address
from access.errors import UserNotFound
from access.models import Role, User
from admission import guest_service as rules
from admission.errors import AdmissionError, AlreadyDecided, RequestNotFound
from admission.guests import (
    MAX_FIELD,
    MAX_TEXT,
    GuestAction,
    GuestRequest,
    GuestStatus,
    token_hash,
)
from admission.sqlite_guests import GuestQuery
from admission.visibility import may_see_guest_request
from control.mail import Mail, MailState
from control.words import render as render_mail
from scheduler.labels import class_status_labels
from scheduler.models import LiveClass

from ..core import clock, keys, policy
from ..core.http import LANG_KEY, PageError, gettext_of, redirect, render, require_session
from ..core.i18n import N_, format_time
from ..core.paging import fetch_page, page_number, pager, search_of
from .classes import EDITORS, class_zone
from .invites import guest_user_id

log = logging.getLogger("sabaq.web.guests")
routes = web.RouteTableDef()

REVOKED_MESSAGE = N_("The director of the institute revoked your invitation.")
FIELDS = ("guest_name", "organisation", "position", "contact", "topic", "justification")
MAX_COMMENT = 1000
# The invite as an e-mail to the guest, in the language of the page it was sent from.
INVITE_SUBJECT = N_("Invitation to the class {title}")
INVITE_BODY = N_(
    "Hello, {name}.\n\n"
    "You are invited to the live class {title}, which begins {when}. Your personal invite:\n\n"
    "{link}\n\n"
    "Open it in a browser on a computer with a camera and a microphone. It opens shortly before"
    " the class starts, works until the class ends, and only for you: do not pass it on."
)


def status_labels(request: web.Request) -> dict[GuestStatus, str]:
    _ = gettext_of(request)
    return {
        GuestStatus.PENDING: _("Awaiting the director's decision"),
        GuestStatus.APPROVED: _("Approved"),
        GuestStatus.REJECTED: _("Rejected"),
        GuestStatus.REVOKED: _("Approval revoked"),
    }


def action_labels(request: web.Request) -> dict[GuestAction, str]:
    _ = gettext_of(request)
    return {
        GuestAction.FILED: _("Filed"),
        GuestAction.APPROVED: _("Approved"),
        GuestAction.REJECTED: _("Rejected"),
        GuestAction.REVOKED: _("Approval revoked"),
        GuestAction.REDEEMED: _("The guest opened the invite"),
        GuestAction.RESET: _("The invite may be opened on another device"),
    }


def _class_of(request: web.Request) -> LiveClass:
    return request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))


def _new_form(
    request: web.Request,
    c: LiveClass,
    values: dict[str, str],
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    return render(
        request,
        "guest_new.html",
        {
            "c": c,
            "zone": class_zone(request, c),
            "values": values,
            "error": error,
            "max_field": MAX_FIELD,
            "max_text": MAX_TEXT,
        },
        status,
    )


def _refuse(request: web.Request, exc: AdmissionError) -> PageError:
    _ = gettext_of(request)
    messages = {
        "not_the_head": _("Guests are requested by the head of the class's department."),
        "not_the_director": _("Only the director of the institute decides guest requests."),
        "class_over": _("This class is over."),
        "not_allowed": _("Only staff and the director let an invite be used on another device."),
        "already_decided": _("The request has already been decided."),
    }
    status = 409 if exc.code in ("class_over", "already_decided") else 403
    return PageError(status, messages.get(exc.code, str(exc)), exc.code)


@routes.get("/classes/{class_id:\\d{1,18}}/guests/new")
async def guest_form(request: web.Request) -> web.Response:
    user = require_session(request).user
    c = _class_of(request)
    try:
        rules.check_file(request.app[keys.TIMETABLE], c, user)
    except AdmissionError as exc:
        raise _refuse(request, exc) from None
    return _new_form(request, c, dict.fromkeys((*FIELDS, "presents"), ""))


@routes.post("/classes/{class_id:\\d{1,18}}/guests")
async def guest_file(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_session(request).user
    c = _class_of(request)
    tt = request.app[keys.TIMETABLE]
    try:
        rules.check_file(tt, c, user)
    except AdmissionError as exc:
        raise _refuse(request, exc) from None
    form = await request.post()
    values = {k: str(form.get(k, "")).strip() for k in FIELDS}
    values["presents"] = "1" if str(form.get("presents", "")) == "1" else ""
    try:
        r = request.app[keys.GUESTS].file(
            class_id=c.id,
            **{k: values[k] for k in FIELDS},
            presents=bool(values["presents"]),
            by_id=user.id,
            by_name=user.full_name,
            at=clock.now(request),
        )
    except ValueError:
        message = _(
            "Fill in every field: the guest's full name, organisation, position, e-mail or phone,"
            " the topic and the justification (at most {n} characters each, {m} for the"
            " justification)."
        )
        message = message.replace("{n}", str(MAX_FIELD)).replace("{m}", str(MAX_TEXT))
        return _new_form(request, c, values, message, 400)
    log.info("guest request %s filed by %s for class %s", r.id, user.id, c.id)
    return redirect(f"/guests/{r.id}")


def _query(request: web.Request, user: User) -> GuestQuery:
    """The requests a user may see — staff every one, a director those they decide (of their
    institute's classes), a head of department their own — with the list's filters."""
    _ = gettext_of(request)
    status = request.query.get("status", "")
    q = GuestQuery(
        search=search_of(request),
        pending={"pending": True, "decided": False}.get(status),
    )
    if user.role in EDITORS:
        return q
    if user.role is Role.DIRECTOR:
        groups = frozenset(request.app[keys.TIMETABLE].groups_of_director(user.id))
        return replace(q, director_groups=groups)
    if user.role is Role.HEAD_OF_DEPARTMENT:
        return replace(q, filed_by=user.id)
    raise PageError(
        403, _("Guest requests are for heads of department and the director."), "forbidden"
    )


def _row(request: web.Request, r: GuestRequest) -> dict[str, Any]:
    tt = request.app[keys.TIMETABLE]
    c = tt.get_class(r.class_id)
    teachers = request.app[keys.ACCOUNTS].many([c.teacher_id])
    return {
        "r": r,
        "c": c,
        "teacher_name": teachers[c.teacher_id].full_name if c.teacher_id in teachers else "",
        "zone": class_zone(request, c),
        "groups": ", ".join(tt.group(g).name for g in c.group_ids),
        "status": status_labels(request)[r.status],
    }


@routes.get("/guests")
async def guests_index(request: web.Request) -> web.Response:
    user = require_session(request).user
    query = _query(request, user)
    found, total, page = fetch_page(
        lambda limit, offset: request.app[keys.GUESTS].find(query, limit, offset),
        page_number(request.query.get("page", "1")),
    )
    rows = [_row(request, r) for r in found]
    status = {True: "pending", False: "decided", None: ""}[query.pending]
    return render(
        request,
        "guests.html",
        {
            # The waiting come first: the template says a section is empty only on the page
            # where it would begin (the first for the waiting, the last for the decided).
            "pending": [x for x in rows if x["r"].status is GuestStatus.PENDING],
            "others": [x for x in rows if x["r"].status is not GuestStatus.PENDING],
            "search": query.search,
            "status": status,
            "pager": pager("/guests", {"q": query.search, "status": status}, page, total),
        },
    )


def _request_for(request: web.Request) -> tuple[GuestRequest, User]:
    _ = gettext_of(request)
    user = require_session(request).user
    tt = request.app[keys.TIMETABLE]
    try:
        r = request.app[keys.GUESTS].get(int(request.match_info["request_id"]))
    except RequestNotFound:
        raise PageError(404, _("There is no such request."), "not_found") from None
    c = tt.get_class(r.class_id)
    if not may_see_guest_request(
        policy.viewer(request, user), r.filed_by, rules.director_id(tt, c), c.teacher_id
    ):
        raise PageError(
            403,
            _(
                "A guest request is seen by its head of department, the director, the teacher"
                " and staff."
            ),
            "forbidden",
        )
    return r, user


def _invite_mails(request: web.Request, r: GuestRequest) -> list[tuple[Mail, str]]:
    """The invite's e-mails to the guest and where each stands, in the reader's words."""
    _ = gettext_of(request)
    lang = request.get(LANG_KEY, "en")
    zone = class_zone(request, request.app[keys.TIMETABLE].get_class(r.class_id))
    out = []
    for m in request.app[keys.MAIL].with_prefix(f"guest-invite:{r.id}:"):
        to = ", ".join(m.recipients)
        if m.state is MailState.SENT:
            at = format_time(datetime.fromtimestamp(m.sent_at or 0, UTC), zone, lang)
            text = _("Sent by e-mail to {address} at {time}.").replace("{time}", at)
        elif m.state is MailState.FAILED:
            text = _("The e-mail to {address} could not be delivered: {error}").replace(
                "{error}", m.last_error
            )
        else:
            text = _("Queued for e-mail to {address}; it is sent in a moment.")
            if m.attempts:
                text += " " + _("The mail server did not take it yet: {error}").replace(
                    "{error}", m.last_error
                )
        out.append((m, text.replace("{address}", to)))
    return out


def _detail(
    request: web.Request,
    *,
    invite: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    r, user = _request_for(request)
    tt, accounts = request.app[keys.TIMETABLE], request.app[keys.ACCOUNTS]
    c = tt.get_class(r.class_id)
    actions = action_labels(request)
    director = rules.director_id(tt, c)
    try:
        teacher = accounts.get(c.teacher_id).full_name
        director_name = accounts.get(director).full_name if director else None
    except UserNotFound:
        teacher, director_name = "", None
    can = rules.choices(r, c, director, user)
    return render(
        request,
        "guest.html",
        {
            **_row(request, r),
            "teacher": teacher,
            "director": director_name,
            "class_status": class_status_labels(gettext_of(request))[c.status],
            "steps": [
                (datetime.fromtimestamp(s.at, UTC), s, actions[s.action])
                for s in request.app[keys.GUESTS].steps(r.id)
            ],
            "can_decide": can.decide,
            "can_revoke": can.revoke,
            "can_reset": can.reset,
            "invite": invite,
            # The invite may go by e-mail when mail is set up and the contact is an address.
            "invite_mail_to": r.contact.strip()
            if request.app[keys.MAIL].enabled and is_address(r.contact.strip())
            else None,
            "invite_mails": _invite_mails(request, r),
            "error": error,
            "max_comment": MAX_COMMENT,
        },
        status,
    )


@routes.get("/guests/{request_id:\\d{1,18}}")
async def guest_page(request: web.Request) -> web.Response:
    return _detail(request)


@routes.post("/guests/{request_id:\\d{1,18}}/decision")
async def guest_decide(request: web.Request) -> web.StreamResponse:
    """The director approves (the invite link is shown on this answer, once) or rejects."""
    _ = gettext_of(request)
    r, user = _request_for(request)
    tt, store = request.app[keys.TIMETABLE], request.app[keys.GUESTS]
    form = await request.post()
    decision, comment = str(form.get("decision", "")), str(form.get("comment", "")).strip()
    try:
        rules.check_decide(tt, tt.get_class(r.class_id), user)
    except AdmissionError as exc:
        raise _refuse(request, exc) from None
    if decision not in ("approve", "reject") or len(comment) > MAX_COMMENT:
        return _detail(request, error=_("Choose to approve or to reject."), status=400)
    if decision == "reject" and not comment:
        return _detail(request, error=_("Say why the request is rejected."), status=400)
    try:
        if decision == "approve":
            _r, token = store.approve(r.id, user.id, user.full_name, comment, clock.now(request))
        else:
            store.reject(r.id, user.id, user.full_name, comment, clock.now(request))
            token = None
    except AlreadyDecided:
        return _detail(request, error=_("The request has already been decided."), status=409)
    log.info("guest request %s: %s by director %s", r.id, decision, user.id)
    if token is None:
        return redirect(f"/guests/{r.id}")
    link = f"{request.scheme}://{request.host}/invite/{token}"
    response = _detail(request, invite=link)
    response.headers["Cache-Control"] = "no-store"  # the link is shown once, not kept
    return response


@routes.post("/guests/{request_id:\\d{1,18}}/invite-mail")
async def guest_invite_mail(request: web.Request) -> web.StreamResponse:
    """The approved invite sent to the guest's address, through the outbox, in the page's
    language. Whoever sees the request and holds the invite (shown once, on the approval) may
    send it; the same invite is queued once however often this is asked."""
    _ = gettext_of(request)
    r, user = _request_for(request)
    tt = request.app[keys.TIMETABLE]
    c = tt.get_class(r.class_id)
    form = await request.post()
    token = str(form.get("invite", ""))[:2048].rpartition("/invite/")[2]
    found = request.app[keys.GUESTS].by_token(token) if token else None
    if (
        found is None
        or found[0].id != r.id
        or r.status is not GuestStatus.APPROVED
        or c.status in rules.OVER
    ):
        raise PageError(
            409,
            _("This invite can no longer be sent: it was revoked, or its class is over."),
            "invite_gone",
        )
    box = request.app[keys.MAIL]
    if not box.enabled:
        raise PageError(409, _("E-mail is not set up on this server."), "mail_off")
    address = r.contact.strip()
    if not is_address(address):
        raise PageError(
            400, _("The guest's contact is not an e-mail address: send the link yourself."),
            "not_an_address",
        )  # fmt: skip
    lang = request.get(LANG_KEY, request.app[keys.SETTINGS].default_language)
    link = f"{request.scheme}://{request.host}/invite/{token}"  # this server's, not the form's
    when = format_time(c.starts_at, class_zone(request, c), lang, "full")
    m = render_mail(
        request.app[keys.CATALOGUES], lang, INVITE_SUBJECT, INVITE_BODY,
        name=r.guest_name, title=c.title, when=when, link=link,
    )  # fmt: skip
    key = f"guest-invite:{r.id}:{token_hash(token)[:24]}"
    if box.enqueue(key, address, lang, m.subject, m.body):
        log.info("guest request %s: invite queued for e-mail by %s", r.id, user.id)
    return redirect(f"/guests/{r.id}")


@routes.post("/guests/{request_id:\\d{1,18}}/revoke")
async def guest_revoke(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    r, user = _request_for(request)
    tt = request.app[keys.TIMETABLE]
    form = await request.post()
    comment = str(form.get("comment", "")).strip()[:MAX_COMMENT]
    try:
        rules.check_revoke(tt, tt.get_class(r.class_id), user)
        request.app[keys.GUESTS].revoke(r.id, user.id, user.full_name, comment, clock.now(request))
    except AdmissionError as exc:
        raise _refuse(request, exc) from None
    # At once, also for a guest already in the class: the media node takes them out.
    if keys.MEDIA_CONTROL in request.app:
        c = tt.get_class(r.class_id)
        language = tt.group(c.group_ids[0]).language  # the guest's page speaks the class's
        told = request.app[keys.CATALOGUES][language].gettext(REVOKED_MESSAGE)
        await request.app[keys.MEDIA_CONTROL].remove_user(
            r.class_id, guest_user_id(r), "revoked", told
        )
    log.info("guest request %s revoked by %s", r.id, user.id)
    return redirect(f"/guests/{r.id}")


@routes.post("/guests/{request_id:\\d{1,18}}/reset")
async def guest_reset(request: web.Request) -> web.StreamResponse:
    r, user = _request_for(request)
    tt = request.app[keys.TIMETABLE]
    try:
        rules.check_reset(tt, tt.get_class(r.class_id), user)
    except AdmissionError as exc:
        raise _refuse(request, exc) from None
    request.app[keys.GUESTS].reset(r.id, user.id, user.full_name, clock.now(request))
    return redirect(f"/guests/{r.id}")
