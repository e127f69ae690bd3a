"""The practice room (clause 5: an introduction before classes start): anyone signed in checks,
alone, their browser, the way to the class server, camera, microphone and speakers, each with
a plain-language verdict and what to do; and takes a short tour of the class page. The network
check is a real peer connection to the media node, which echoes (streaming.practice).

A student's check passed in every part, and their tour taken to its end, are recorded, the
first time each (``/practice/taken``): the introduction taken, in their history, on their
group's page for staff and teachers, and asked for on their home page until both are in."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from access.models import Role
from attendance.introduction import Step, step_of
from streaming.practice import TooManyEchoes

from ..core import clock, keys
from ..core.http import PageError, gettext_of, json_object, render, require_session, session_of
from .classes import ice_servers_for
from .signin import limited

log = logging.getLogger("sabaq.web.practice")
routes = web.RouteTableDef()

MAX_SDP = 20_000
# The parts of the device check, each of which must have passed for the check to count.
CHECK_PARTS = ("browser", "server", "path", "camera", "microphone", "speakers")


@routes.get("/practice")
async def practice_page(request: web.Request) -> web.Response:
    require_session(request)
    return render(request, "practice.html", {})


@routes.get("/practice/ice")
async def practice_ice(request: web.Request) -> web.Response:
    """The ICE servers a check connects with (a relay's credentials minted for this person), so
    a network that lets only the relay through is checked as a class would use it."""
    _ = gettext_of(request)
    session = session_of(request)
    if session is None:
        raise PageError(401, _("Sign in to use the practice room."), "signin_required")
    settings = request.app[keys.SETTINGS]
    return web.json_response({"ice_servers": ice_servers_for(settings, f"p{session.user.id}")})


@routes.post("/practice/echo")
async def practice_echo(request: web.Request) -> web.Response:
    """An answer to the page's offer: a data channel the media node echoes on, for a minute."""
    _ = gettext_of(request)
    session = session_of(request)
    if session is None:
        raise PageError(401, _("Sign in to use the practice room."), "signin_required")
    limited(request, request.app[keys.LIMITS].echo_per_user.hit(str(session.user.id), time.time()))
    body = await json_object(request)
    sdp = body.get("sdp")
    if not isinstance(sdp, str) or not sdp or len(sdp) > MAX_SDP:
        raise PageError(400, _("The connection offer is not valid."), "bad_offer")
    try:
        answer = await request.app[keys.PRACTICE].answer(sdp, str(session.user.id))
    except TooManyEchoes:
        raise PageError(
            503,
            _("The practice room is busy right now. Try again in a minute."),
            "practice_busy",
        ) from None
    except ValueError:
        raise PageError(400, _("The connection offer is not valid."), "bad_offer") from None
    return web.json_response({"sdp": answer})


@routes.post("/practice/taken")
async def practice_taken(request: web.Request) -> web.Response:
    """A student took a step of the introduction: ``{"step": "tour"}``, or ``{"step": "check",
    "results": {part: true, ...}}`` with every part passed. Only the student themself records
    their steps; the first time counts, later ones change nothing (``recorded`` says which)."""
    _ = gettext_of(request)
    session = session_of(request)
    if session is None:
        raise PageError(401, _("Sign in to use the practice room."), "signin_required")
    if session.user.role is not Role.STUDENT:
        raise PageError(403, _("The introduction is recorded for students only."), "forbidden")
    body = await json_object(request)
    step = step_of(body.get("step"))
    if step is None:
        raise PageError(400, _("There is no such step of the introduction."), "bad_step")
    if step is Step.CHECK:
        results = body.get("results")
        if not isinstance(results, dict) or not all(results.get(p) is True for p in CHECK_PARTS):
            raise PageError(
                400,
                _("The device check counts only when every part of it has passed."),
                "check_not_passed",
            )
    store = request.app[keys.INTRODUCTION]
    recorded = store.record(session.user.id, step, clock.now(request))
    if recorded:
        log.info("student %s took the introduction's %s", session.user.id, step.value)
    return web.json_response(
        {"step": step.value, "recorded": recorded, "done": store.of(session.user.id).done}
    )
