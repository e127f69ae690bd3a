"""A guest's way in: the invitation page (the lobby, the refusals in words for the guest) and the
join token it asks for."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from access.events import EventKind
from access.ids import uuid7
from access.models import ClassRole
from admission import guest_service as rules
from admission.guests import (
    GuestRequest,
    InviteRefusal,
    token_hash,
)
from attendance.models import IncomingEvent
from scheduler.models import ClassStatus, LiveClass, room_mode

from ..core import clock, keys
from ..core.http import LANG_KEY, PageError, gettext_of, render
from .classes import (
    cancelled_text,
    class_state,
    class_view,
    ice_servers_for,
    media_url_for,
    removed_from,
    removed_message,
)
from .signin import limited

log = logging.getLogger("sabaq.web.guests")
routes = web.RouteTableDef()


LOBBY = uuid.UUID("5d1c7e0e-3a8f-4c59-9a4e-6b1d2f0a9c11")  # namespace of lobby event ids
LOBBY_RETRY_SECONDS = 3  # how often a guest waiting in the lobby asks to be let in


# -- the guest's way in ---------------------------------------------------------------------------
DEVICE_COOKIE = "sabaq_guest_device"


def guest_user_id(r: GuestRequest) -> int:
    """A guest is not an account: in the class and the ledger they are the request, negated."""
    return -r.id


def _lobby_event(request: web.Request, r: GuestRequest, kind: EventKind, event_id: str) -> None:
    request.app[keys.LEDGER].append(
        IncomingEvent(
            id=event_id,
            kind=kind,
            class_id=r.class_id,
            node="control",
            node_seq=0,
            origin_time=clock.now(request),
            user_id=guest_user_id(r),
            role=ClassRole.PRESENTER.value if r.presents else ClassRole.GUEST.value,
            data={"guest": r.guest_name, "organisation": r.organisation},
        )
    )


def _device(request: web.Request) -> tuple[str, bool]:
    device = request.cookies.get(DEVICE_COOKIE, "")
    if 20 <= len(device) <= 100:
        return device, False
    return secrets.token_urlsafe(32), True


def refusal_text(request: web.Request, why: InviteRefusal) -> tuple[int, str]:
    _ = gettext_of(request)
    texts = {
        InviteRefusal.UNKNOWN: (
            404,
            _("This invite is not known. Check that the whole link was copied."),
        ),
        InviteRefusal.NOT_APPROVED: (403, _("This invite has not been approved.")),
        InviteRefusal.REVOKED: (
            403,
            _("This invite was revoked by the director of the institute."),
        ),
        InviteRefusal.NOT_YET_VALID: (
            403,
            _("The invite opens shortly before the class. Come back closer to the start."),
        ),
        InviteRefusal.EXPIRED: (410, _("This invite has expired: the class's time is over.")),
        InviteRefusal.CLASS_ENDED: (410, _("The class has ended.")),
        InviteRefusal.OTHER_DEVICE: (
            403,
            _(
                "This invite has already been opened on another device. Ask the academy's staff"
                " to let you use it on this one."
            ),
        ),
    }
    return texts[why]


def bound_elsewhere(request: web.Request, device: str) -> bool:
    """Whether the invite asked with is bound to another browser than ``device``."""
    found = request.app[keys.GUESTS].by_token(request.match_info["token"])
    return found is not None and found[1] is not None and found[1] != token_hash(device)


def told_to(request: web.Request, why: InviteRefusal, device: str) -> InviteRefusal:
    """The refusal said to ``device``: a class not open yet or over (said on the class page,
    with a cancellation's reason) only to the browser the invite admits; to another, that the
    invite is another browser's (``admission.guests.refusal`` weighs the class first)."""
    if why in (InviteRefusal.NOT_YET_VALID, InviteRefusal.CLASS_ENDED) and bound_elsewhere(
        request, device
    ):
        return InviteRefusal.OTHER_DEVICE
    return why


def refused_on_the_class_page(
    request: web.Request, why: InviteRefusal, c: LiveClass | None
) -> dict[str, Any] | None:
    """A refusal the class page itself says (None: the error page's words do): a class not
    open yet, with the time it opens (one held in person has nothing to open: its own state);
    a class that was cancelled (the invite's "ended")."""
    if c is None:
        return None
    if why is InviteRefusal.NOT_YET_VALID and class_state(c) == "in_person":
        return {}  # the class's own state
    if why is InviteRefusal.NOT_YET_VALID:
        lead = request.app[keys.SETTINGS].guest_lead_seconds
        opens = datetime.fromtimestamp(rules.window(c, lead).opens, UTC)
        return {"state": "not_open", "opens_at": opens}
    if why is InviteRefusal.CLASS_ENDED and class_state(c) == "cancelled":
        return {}  # the class's own state
    return None


@routes.get("/invite/{token:[A-Za-z0-9_-]{20,100}}")
async def invite_page(request: web.Request) -> web.StreamResponse:
    """The guest's page: the class, and whether they may come in yet. Opening it binds
    nothing (mail and chat scanners open links); the first browser that asks to come in is the
    only one the invite admits."""
    settings = request.app[keys.SETTINGS]
    device, new_device = _device(request)
    admission = rules.redeem(
        request.app[keys.GUESTS],
        request.app[keys.TIMETABLE],
        request.match_info["token"],
        device,
        clock.now(request),
        settings.guest_lead_seconds,
        bind=False,
    )
    tt = request.app[keys.TIMETABLE]
    r = admission.request
    c = tt.get_class(r.class_id) if r is not None else None
    if c is not None and c.group_ids:  # the page speaks the class's language
        request[LANG_KEY] = tt.group(c.group_ids[0]).language
    on_page = None
    if admission.refused is not None:
        log.info("invite refused: %s", admission.refused.value)
        why = told_to(request, admission.refused, device)
        admission = dataclasses.replace(admission, refused=why)
        on_page = refused_on_the_class_page(request, why, c)
    if admission.refused is not None and on_page is None:
        status, message = refusal_text(request, admission.refused)
        response = render(request, "error.html", {"status": status, "message": message}, status)
    else:
        assert r is not None
        assert c is not None
        removed = guest_user_id(r) in await removed_from(request, c)
        response = render(
            request,
            "room.html",
            {
                **class_view(request, c),
                **({"joinable": False, **on_page} if on_page is not None else {}),
                "role": ClassRole.PRESENTER.value if r.presents else ClassRole.GUEST.value,
                "is_host": False,
                "publishes": r.presents,
                "join_token_url": f"/invite/{request.match_info['token']}/join-token",
                "echo_url": None,  # a guest has no session: the page's reach is checked
                "can_see_attendance": False,
                "can_request_guest": False,
                "guests": [],
                "ice_servers": [{"urls": u} for u in settings.ice_servers],
                "recordings": [],
                "welcome": r.guest_name,
                **({"removed": True, "joinable": False} if removed else {}),
            },
            refusal_text(request, admission.refused)[0] if admission.refused else 200,
        )
    if new_device:
        response.set_cookie(
            DEVICE_COOKIE,
            device,
            httponly=True,
            samesite="Lax",
            secure=request.secure,
            path="/invite",
            max_age=180 * 24 * 3600,
        )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.post("/invite/{token:[A-Za-z0-9_-]{20,100}}/join-token")
async def invite_join_token(request: web.Request) -> web.Response:
    """The lobby asks to be let in: a join token once the teacher has started the class."""
    _ = gettext_of(request)
    settings = request.app[keys.SETTINGS]
    device, new = _device(request)
    if new:  # only a browser that opened the invite page may ask
        raise PageError(400, _("Open the invitation link in this browser first."), "no_device")
    admission = rules.redeem(
        request.app[keys.GUESTS],
        request.app[keys.TIMETABLE],
        request.match_info["token"],
        device,
        clock.now(request),
        settings.guest_lead_seconds,
    )
    if admission.refused is not None:
        admission = dataclasses.replace(
            admission, refused=told_to(request, admission.refused, device)
        )
    if admission.refused is InviteRefusal.CLASS_ENDED and admission.request is not None:
        c = request.app[keys.TIMETABLE].get_class(admission.request.class_id)
        if class_state(c) == "cancelled":  # said as the class page says it, with the reason
            raise PageError(410, cancelled_text(request, c), "class_cancelled")
    if admission.refused is not None or admission.request is None:
        status, message = refusal_text(request, admission.refused or InviteRefusal.UNKNOWN)
        raise PageError(status, message, (admission.refused or InviteRefusal.UNKNOWN).value)
    r = admission.request
    c = request.app[keys.TIMETABLE].get_class(r.class_id)
    if guest_user_id(r) in await removed_from(request, c):  # the teacher took them out
        raise PageError(403, removed_message(request), "removed")
    if class_state(c) == "in_person":  # nothing online to wait for, as the class page says
        raise PageError(409, _("This class is held in person, not online."), "not_online")
    if c.status is not ClassStatus.LIVE:  # in the lobby: recorded once per browser
        _lobby_event(
            request, r, EventKind.LOBBY_ENTERED, str(uuid.uuid5(LOBBY, f"{r.id}:{device}"))
        )
        # Waiting is no error: the lobby asks again after ``retry_after`` seconds.
        return web.json_response(
            {
                "state": "waiting",
                "message": _("The class has not started yet: waiting for the teacher."),
                "retry_after": LOBBY_RETRY_SECONDS,
            }
        )
    limited(request, request.app[keys.LIMITS].join_per_user.hit(f"guest:{r.id}", time.time()))
    role = ClassRole.PRESENTER if r.presents else ClassRole.GUEST
    media_url = await media_url_for(request, c, role)
    token = request.app[keys.SIGNER].mint_join(
        user_id=guest_user_id(r),
        class_id=c.id,
        role=role,
        display_name=f"{r.guest_name} ({r.organisation})",
        media_url=media_url,
        ttl=settings.join_token_ttl,
        mode=room_mode(c.kind),
    )
    _lobby_event(request, r, EventKind.LOBBY_ADMITTED, str(uuid7()))
    return web.json_response(
        {
            "token": token,
            "media_url": media_url,
            "class_id": c.id,
            "role": role.value,
            "ice_servers": ice_servers_for(settings, f"c{c.id}g{r.id}"),
        }
    )
