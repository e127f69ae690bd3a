"""Pages for people: sign-in, class lists, the live class, attendance; health checks."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web

from access.api_keys import ApiKeyInvalid
from access.errors import TokenInvalid, UserNotFound
from access.events import EventKind
from access.ids import uuid7
from access.models import ClassRole, Role, User
from access.passwords import Passwords
from access.turn import turn_credentials
from admission import guest_service as guest_rules
from admission.door import OPEN, KeptOut, enter, not_admitted_now
from admission.guests import GuestStatus
from admission.status import AdmissionChange
from attendance.export import Cell, ChainHead, Table
from attendance.marks import LearnerMark, Mark, MarkRules, class_window
from attendance.models import IncomingEvent, counts
from attendance.presence import hosts_live_seconds
from attendance.register import class_register
from attendance.sqlite_dead_events import SqliteDeadEvents
from control.ingest import events_delayed
from control.placement import NoMediaNode
from scheduler.models import DEFAULT_TIMEZONE, ClassFormat, LiveClass

from . import clock, keys, policy
from .alerts import alert_lines, switch_notices
from .http import (
    LANG_COOKIE,
    LANG_KEY,
    SESSION_COOKIE,
    Caller,
    PageError,
    download,
    gettext_of,
    redirect,
    render,
    require_session,
    session_of,
    set_session_cookie,
)
from .i18n import N_, format_time
from .labels import not_admitted_labels
from .ratelimit import address_key, login_at
from .settings import Settings

log = logging.getLogger("sabaq.web.views")
routes = web.RouteTableDef()

OBSERVER_ROLES = policy.OBSERVERS  # who may look into a class: which classes, web/policy.py says
EDITORS = frozenset({Role.STAFF, Role.ADMIN})  # they edit the timetable
JOINABLE = OPEN  # a class to come or running


def _safe_next(value: str | None) -> str:
    """Only same-site paths are followed after sign-in."""
    if not value or not value.startswith("/") or value[1:2] == "/":
        return "/"
    # Browsers drop tabs and newlines and read "\\" as "/": "/\t\\evil" would leave the site.
    if "\\" in value or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def class_zone(request: web.Request, live_class: LiveClass) -> str:
    tt = request.app[keys.TIMETABLE]
    return tt.group(live_class.group_ids[0]).timezone if live_class.group_ids else DEFAULT_TIMEZONE


def class_role(request: web.Request, user: User, live_class: LiveClass) -> ClassRole:
    """The user's role in the class, as its door (``admission.door.enter``) decides, or a
    refusal that says why: a learner whose admission status keeps them out is told why and
    whom to ask, and the refusal is logged."""
    _ = gettext_of(request)
    now = clock.now(request)

    def ran() -> tuple[float, float]:  # the ledger is read only if a status matters
        return class_window(
            request.app[keys.LEDGER].events(live_class.id),
            live_class.starts_at.timestamp(),
            live_class.ends_at.timestamp(),
            now,
        )

    admission = request.app[keys.ADMISSION]
    answer = enter(
        admission, admission, request.app[keys.TIMETABLE], user.id, live_class, now,
        ran=ran, observes=lambda: policy.observes(request, user, live_class),
    )  # fmt: skip
    if isinstance(answer, ClassRole):
        return answer
    if isinstance(answer, KeptOut):
        barred = answer.change
        log.info(
            "class %s: learner %s not admitted (status change %s)",
            live_class.id, user.id, barred.id,
        )  # fmt: skip
        message = not_admitted_message(
            request.app, request.get(LANG_KEY, "en"), live_class, barred, user.id
        )
        raise PageError(403, message, "not_admitted")
    raise PageError(
        403,
        _("This class is for another group. You can join only the classes of your own group."),
        "not_in_class",
    )


def not_admitted_message(
    app: web.Application, lang: str, c: LiveClass, barred: AdmissionChange, learner_id: int
) -> str:
    """Why a learner may not enter, since when, and whom to ask, in ``lang``."""
    _ = app[keys.CATALOGUES][lang].gettext
    tt = app[keys.TIMETABLE]
    mine = [g for g in c.group_ids if learner_id in tt.members(g)] or list(c.group_ids)
    zone = tt.group(mine[0]).timezone if mine else DEFAULT_TIMEZONE
    director_id = tt.institute_of_group(mine[0]).director_id if mine else None
    director = app[keys.ACCOUNTS].get(director_id).full_name if director_id else "—"
    since = format_time(datetime.fromtimestamp(barred.at, UTC), zone, lang)
    reason = not_admitted_labels(_)[barred.reason] if barred.reason else ""
    return (
        _(
            "You are not admitted to this class: {reason} (since {since}, recorded by {by})."
            " To clear the debt, contact {by} or the staff of your institute. With a valid"
            " reason (illness, the death of a close relative, service duty) you may write to"
            " the director of the institute, {director}, for an individual schedule."
        )
        .replace("{reason}", reason)
        .replace("{since}", since)
        .replace("{by}", barred.by_name)
        .replace("{director}", director)
    )


def class_view(request: web.Request, c: LiveClass) -> dict[str, Any]:
    tt = request.app[keys.TIMETABLE]
    return {
        "c": c,
        "zone": class_zone(request, c),
        "groups": [tt.group(g).name for g in c.group_ids],
        "teacher": request.app[keys.ACCOUNTS].get(c.teacher_id).full_name,
        "joinable": c.status in JOINABLE and c.format is ClassFormat.LIVE_ONLINE,
    }


# -- health -----------------------------------------------------------------------------------
@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        request.app[keys.DB].execute("SELECT 1").fetchone()
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": str(exc)}, status=503)
    if keys.CLUSTER in request.app:  # a control node: Redis carries the cluster
        if not request.app[keys.CLUSTER].reachable:
            return web.json_response({"status": "unavailable", "redis": "unreachable"}, status=503)
        # Set aside: in the control's database, and in the live media nodes' dead-letter files.
        on_nodes = await request.app[keys.CLUSTER].dead_events_of_nodes()
        dead = SqliteDeadEvents(request.app[keys.DB]).count() + sum(on_nodes.values())
        doc = {"role": "control", "dead_events": dead, "dead_events_on_nodes": on_nodes}
        waited = await request.app[keys.CLUSTER].events_waiting()  # in the stream, uncommitted
        if waited is not None and waited > request.app[keys.SETTINGS].event_delay_bound_seconds:
            doc |= {"status": "unavailable", "oldest_event_age": round(waited, 3)}
            return web.json_response({**doc, "events": "events_delayed"}, status=503)
        return web.json_response({"status": "ready", **doc})
    node = request.app[keys.MEDIA_NODE]
    doc = {
        "rooms": len(node.rooms),
        "pending_events": node.outbox.pending,
        # Events the register could not store, set aside (an administrator looks at them).
        "dead_events": SqliteDeadEvents(request.app[keys.DB]).count(),
    }
    if not node.accepting:
        return web.json_response({"status": "unavailable", "media": "stopping", **doc}, status=503)
    settings = request.app[keys.SETTINGS]
    delayed = events_delayed(
        node.outbox.oldest, settings.event_delay_bound_seconds, settings.clock()
    )
    if delayed is not None:
        return web.json_response(
            {
                "status": "unavailable",
                "media": "events_delayed",
                "oldest_event_age": delayed,
                **doc,
            },
            status=503,
        )
    return web.json_response({"status": "ready", **doc})


# -- sign-in ----------------------------------------------------------------------------------
@routes.get("/signin")
async def signin_form(request: web.Request) -> web.Response:
    return render(
        request, "signin.html", {"next": _safe_next(request.query.get("next")), "error": None}
    )


@routes.post("/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    form = await request.post()
    login = str(form.get("login", "")).strip().lower()[:64]
    password = str(form.get("password", ""))[:1024]
    nxt = _safe_next(str(form.get("next", "/")))
    accounts, passwords = request.app[keys.ACCOUNTS], request.app[keys.PASSWORDS]
    limits, now = request.app[keys.LIMITS], time.time()
    address = address_key(request.remote)
    # Only failed attempts count, per login and address and per address — never per login
    # alone: someone guessing a password elsewhere does not lock its owner out.
    pair = login_at(login, address)
    wait = limits.signin_per_address.blocked(address, now)
    if wait is None:
        wait = limits.signin_per_login_and_address.blocked(pair, now)
    if wait is not None:
        log.warning("sign-in attempts over the limit for %r from %s", login, request.remote)
        response = render(
            request,
            "signin.html",
            {"next": nxt, "error": too_many(request, wait)},
            status=429,
        )
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    # Counted as a failure until the password proves right: guesses sent all at once wait
    # like guesses sent one by one.
    limits.signin_per_address.fail(address, now)
    limits.signin_per_login_and_address.fail(pair, now)
    try:
        user, stored = accounts.by_login(login)
    except UserNotFound:
        user, stored = None, None
    # argon2 takes tens of milliseconds of CPU on purpose: off the event loop, which also
    # carries the media plane in the single-process deployment.
    loop = asyncio.get_running_loop()
    # An unknown login costs the same argon2 check as a known one: timing tells nothing.
    valid = await loop.run_in_executor(
        None, passwords.verify, stored or _dummy_hash(passwords), password
    )
    if user is None or stored is None or not valid:
        log.info("sign-in failed for %r", login)
        # The waits run from the answer, however long the check took.
        for backoff, key in ((limits.signin_per_address, address),
                             (limits.signin_per_login_and_address, pair)):  # fmt: skip
            backoff.undo(key)
            backoff.fail(key, time.time())
        return render(
            request,
            "signin.html",
            {"next": nxt, "error": _("The login or the password is wrong.")},
            status=401,
        )
    limits.signin_per_address.undo(address)
    limits.signin_per_login_and_address.clear(pair)
    if stored is not None and passwords.needs_rehash(stored):
        rehashed = await loop.run_in_executor(None, passwords.hash, password)
        accounts.set_password_hash(user.id, rehashed)
    return _signed_in(request, user, nxt)


def _signed_in(
    request: web.Request, user: User, nxt: str, class_id: int | None = None
) -> web.StreamResponse:
    token, _session = request.app[keys.ACCOUNTS].open_session(user.id, class_id=class_id)
    log.info(
        "signed in user=%s role=%s%s",
        user.id,
        user.role.value,
        "" if class_id is None else f" for class {class_id} only",
    )
    response = redirect(nxt)
    set_session_cookie(response, request, token)
    return response


_DUMMY: list[str] = []


def _dummy_hash(passwords: Passwords) -> str:
    if not _DUMMY:
        _DUMMY.append(passwords.hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def too_many(request: web.Request, wait: float) -> str:
    _ = gettext_of(request)
    if wait < 59.5:
        seconds = max(1, round(wait))
        return _("Too many attempts. Try again in {n} s.").replace("{n}", str(seconds))
    minutes = max(1, -(-round(wait) // 60))
    return _("Too many attempts. Try again in {n} min.").replace("{n}", str(minutes))


def limited(request: web.Request, wait: float | None) -> None:
    """A 429 that says how long to wait, if a rate limit says so."""
    if wait is not None:
        raise PageError(429, too_many(request, wait), "rate_limited")


@routes.get("/signin/link")
async def signin_link(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    accounts = request.app[keys.ACCOUNTS]
    limits, address, now = request.app[keys.LIMITS], address_key(request.remote), time.time()
    limited(request, limits.signin_per_address.blocked(address, now))
    try:
        claims = request.app[keys.SIGNER].verify_signin(request.query.get("token", ""))
        user = accounts.get(claims.user_id)
    except (TokenInvalid, UserNotFound):
        limits.signin_per_address.hit(address, now)
        raise PageError(
            401, _("This sign-in link is not valid or has expired."), "token_invalid"
        ) from None
    made_by = None
    if claims.class_id is not None:  # a join link: its portal key must still be in force
        try:
            key = request.app[keys.API_KEYS].get(claims.key_id or 0)
        except ApiKeyInvalid:
            key = None
        if key is None or not key.active:
            raise PageError(
                401, _("This sign-in link is not valid or has expired."), "token_invalid"
            )
        made_by = Caller(None, key).name
    if not accounts.use_signin_link(claims.jti, claims.expires_at):
        limits.signin_per_address.hit(address, now)
        raise PageError(
            401,
            _("This sign-in link was already used. Each link signs in once; ask for a new one."),
            "token_used",
        )
    if claims.class_id is None:
        return _signed_in(request, user, _safe_next(request.query.get("next")))
    # A join link opens its class, and only it: the session it starts reaches nothing else
    # (someone signed in already as this person keeps their own session).
    log.info("join link used: user=%s class=%s, link made by %s", user.id, claims.class_id, made_by)
    current = session_of(request)
    if current is not None and current.user.id == user.id and current.class_id is None:
        return redirect(f"/classes/{claims.class_id}")
    return _signed_in(request, user, f"/classes/{claims.class_id}", claims.class_id)


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    request.app[keys.ACCOUNTS].close_session(request.cookies.get(SESSION_COOKIE, ""))
    response = redirect("/signin")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.post("/language")
async def set_language(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    form = await request.post()
    lang = str(form.get("lang", ""))
    if lang not in request.app[keys.SETTINGS].languages:
        raise PageError(400, _("Unknown language."), "bad_language")
    session = session_of(request)
    if session is not None:
        request.app[keys.ACCOUNTS].set_language(session.user.id, lang)
    response = redirect(_safe_next(str(form.get("next", "/"))))
    response.set_cookie(LANG_COOKIE, lang, samesite="Lax", max_age=365 * 86400, path="/")
    return response


# -- classes ----------------------------------------------------------------------------------
@routes.get("/")
async def home(request: web.Request) -> web.Response:
    session = require_session(request)
    user = session.user
    tt = request.app[keys.TIMETABLE]
    if user.role is Role.TEACHER:
        classes = tt.classes_of_teacher(user.id)
    elif user.role in OBSERVER_ROLES:
        classes = policy.visible(request, user, tt.all_classes())
    else:
        classes = tt.classes_of_learner(user.id)
    return render(
        request,
        "classes.html",
        {
            "classes": [class_view(request, c) for c in classes],
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
        },
    )


@routes.get("/classes/{class_id:\\d{1,18}}")
async def class_page(request: web.Request) -> web.Response:
    session = require_session(request)
    c = request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))
    role = class_role(request, session.user, c)
    return render(
        request,
        "room.html",
        {
            **class_view(request, c),
            "role": role.value,
            "is_host": role is ClassRole.HOST,
            "publishes": role is ClassRole.HOST,
            "join_token_url": None,
            "echo_url": "/practice/echo",  # the device check's media path, as in practice
            "can_see_attendance": role is ClassRole.HOST or role is ClassRole.OBSERVER,
            # The head of the department may ask for a guest; the teacher and staff see who
            # is approved to come.
            "can_request_guest": session.user.role is Role.HEAD_OF_DEPARTMENT
            and session.user.id == guest_rules.head_id(request.app[keys.TIMETABLE], c),
            "guests": [
                g
                for g in request.app[keys.GUESTS].of_classes([c.id])
                if g.status is GuestStatus.APPROVED
            ]
            if role is ClassRole.HOST or role is ClassRole.OBSERVER
            else [],
            "ice_servers": [{"urls": u} for u in request.app[keys.SETTINGS].ice_servers],
            "recordings": _recordings(request, c),
            "not_admitted": _not_admitted(request, c)
            if (role is ClassRole.HOST or role is ClassRole.OBSERVER) and c.status in JOINABLE
            else [],
            # The teacher is told how long until the class counts as held (shorter is missed).
            "held_min_live": request.app[keys.SETTINGS].held_min_live_seconds,
            "live_so_far": hosts_live_seconds(
                request.app[keys.LEDGER].events(c.id), [c.teacher_id], clock.now(request)
            )
            if role is ClassRole.HOST
            else 0.0,
        },
    )


def _not_admitted(request: web.Request, c: LiveClass) -> list[tuple[str, str, int]]:
    """(name, reason, id) of the class's learners their admission status keeps out, by name."""
    _ = gettext_of(request)
    barred = not_admitted_now(
        request.app[keys.ADMISSION], request.app[keys.TIMETABLE], c, clock.now(request)
    )
    if not barred:
        return []
    people = request.app[keys.ACCOUNTS].many(barred)
    reasons = not_admitted_labels(_)
    rows = [
        (people[u].full_name, reasons[ch.reason] if ch.reason else "", u)
        for u, ch in barred.items()
    ]
    return sorted(rows, key=lambda r: r[0].casefold())


RECORDING_NAME = re.compile(r"^\d{8}T\d{6}Z-(camera|screen)\.webm$")


def _recordings(request: web.Request, c: LiveClass) -> list[dict[str, Any]]:
    """The class's recordings that are still kept, newest first."""
    folder = request.app[keys.SETTINGS].recordings_dir / str(c.id)
    out = []
    for le in request.app[keys.LEDGER].events(c.id):
        if le.event.kind is not EventKind.RECORDING_STOPPED:
            continue
        for name in le.event.data.get("files", []):
            if RECORDING_NAME.match(str(name)) and (folder / name).is_file():
                out.append(
                    {
                        "name": name,
                        "screen": str(name).endswith("-screen.webm"),
                        "at": datetime.fromtimestamp(le.event.origin_time, UTC),
                    }
                )
    return sorted(out, key=lambda r: str(r["name"]), reverse=True)


@routes.get("/classes/{class_id:\\d{1,18}}/recordings/{name}")
async def recording_file(request: web.Request) -> web.StreamResponse:
    """A recording, for the class's group, its teacher and staff only; seekable (ranges)."""
    _ = gettext_of(request)
    session = require_session(request)
    c = request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))
    class_role(request, session.user, c)  # refuses everyone else
    name = request.match_info["name"]
    path = request.app[keys.SETTINGS].recordings_dir / str(c.id) / name
    if not RECORDING_NAME.match(name) or not path.is_file():
        raise PageError(404, _("This recording does not exist or is no longer kept."), "no_file")
    return web.FileResponse(path, headers={"Content-Type": "video/webm"})


@routes.post("/classes/{class_id:\\d{1,18}}/join-token")
async def join_token(request: web.Request) -> web.Response:
    """A fresh, short-lived join token for the signed-in person and this class."""
    _ = gettext_of(request)
    session = session_of(request)
    if session is None:
        raise PageError(401, _("Sign in to join the class."), "signin_required")
    limited(request, request.app[keys.LIMITS].join_per_user.hit(str(session.user.id), time.time()))
    settings = request.app[keys.SETTINGS]
    c = request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))
    role = class_role(request, session.user, c)
    if c.format is not ClassFormat.LIVE_ONLINE:
        raise PageError(409, _("This class is held in person, not online."), "not_online")
    if c.status not in JOINABLE:
        raise PageError(409, _("This class is over."), "class_over")
    media_url = await media_url_for(request, c)
    token = request.app[keys.SIGNER].mint_join(
        user_id=session.user.id,
        class_id=c.id,
        role=role,
        display_name=session.user.full_name,
        media_url=media_url,
        ttl=settings.join_token_ttl,
    )
    return web.json_response(
        {
            "token": token,
            "media_url": media_url,
            "class_id": c.id,
            "role": role.value,
            "ice_servers": ice_servers_for(settings, f"c{c.id}u{session.user.id}"),
        }
    )


async def media_url_for(request: web.Request, c: LiveClass) -> str:
    """Where the class's signaling is: this process's media node, or in a cluster the node the
    class is placed on (placed now, on the least-loaded live node, when it has none)."""
    settings = request.app[keys.SETTINGS]
    if keys.CLUSTER not in request.app:
        return settings.media_url or f"{request.scheme}://{request.host}/media"
    _ = gettext_of(request)
    expected = 1 + len(request.app[keys.TIMETABLE].learners(c))
    try:
        return (await request.app[keys.CLUSTER].node_for(c.id, expected)).url
    except NoMediaNode as exc:
        log.error("class %s cannot be placed: %s", c.id, exc)
        raise PageError(
            503,
            _("No class server can take the class right now. Try again in a minute."),
            "no_media_node",
        ) from None


def ice_servers_for(settings: Settings, who: str) -> list[dict[str, Any]]:
    """The ICE servers a participant just let in uses: the STUN/TURN URLs configured, and the
    TURN relay with credentials minted for them (time-limited; coturn checks them itself)."""
    servers: list[dict[str, Any]] = [{"urls": u} for u in settings.ice_servers]
    if settings.turn_urls:
        minted = turn_credentials(settings.turn_secret, who, time.time(), settings.turn_ttl_seconds)
        servers.append(minted.ice_server(settings.turn_urls))
    return servers


OVERRIDERS = frozenset({Role.STAFF, Role.ADMIN})
HEADS_TITLE = N_("Attendance ledger chain heads (check with: sabaq verify --report FILE)")
MAX_REASON = 500


def attendance_class(request: web.Request) -> tuple[LiveClass, User]:
    """The class whose attendance is asked for, and the user, if they may see it."""
    _ = gettext_of(request)
    user = require_session(request).user
    c = request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))
    if not policy.sees_register(request, user, c):
        raise PageError(
            403, _("Only the class's teacher and staff see its attendance."), "forbidden"
        )
    return c, user


def mark_rules(request: web.Request, c: LiveClass) -> MarkRules:
    """The thresholds the class is judged by: those in force when it was to end."""
    return request.app[keys.MARK_RULES].at(c.ends_at.timestamp())


def mark_labels(request: web.Request) -> dict[Mark, str]:
    _ = gettext_of(request)
    return {
        Mark.PRESENT: _("present"),
        Mark.LATE: _("late"),
        Mark.LEFT_EARLY: _("left early"),
        Mark.ABSENT: _("absent"),
        Mark.EXCUSED: _("excused"),
        Mark.NOT_ADMITTED: _("not admitted"),
    }


def mark_definitions(request: web.Request, rules: MarkRules) -> list[tuple[Mark, str]]:
    """What each mark means, by what the person did, with the thresholds ``rules`` give
    (as ``attendance.marks`` derives them)."""
    _ = gettext_of(request)
    minutes = f"{rules.late_after_seconds / 60:g}"
    grace = f"{rules.grace_seconds:g}"
    away = f"{round((1 - rules.present_share) * 100, 1):g}"
    return [
        (
            Mark.PRESENT,
            _(
                "came in within {minutes} minutes of the start, stayed to the end and was not"
                " away for long."
            ).replace("{minutes}", minutes),
        ),
        (
            Mark.LATE,
            _("first came in more than {minutes} minutes after the start.").replace(
                "{minutes}", minutes
            ),
        ),
        (
            Mark.LEFT_EARLY,
            _(
                "came in on time, but left more than {grace} seconds before the end, or was"
                " away for more than {percent}% of the class in all."
            )
            .replace("{grace}", grace)
            .replace("{percent}", away),
        ),
        (Mark.ABSENT, _("never came in.")),
        (Mark.EXCUSED, _("an approved excuse request covers the class.")),
        (Mark.NOT_ADMITTED, _("kept out of the class by their admission status; not an absence.")),
    ]


def mark_definitions_note(request: web.Request, rules: MarkRules) -> str:
    """What "the end" and "away" mean in the definitions."""
    _ = gettext_of(request)
    return _(
        "The end of the class is when the teacher ended it, else its end in the timetable."
        " A lost connection back within {grace} seconds is not time away."
    ).replace("{grace}", f"{rules.grace_seconds:g}")


def _marks(request: web.Request, c: LiveClass, rules: MarkRules) -> list[tuple[str, LearnerMark]]:
    """(name, mark) for every learner of the class, absentees included, by name."""
    marks = class_register(
        c, request.app[keys.LEDGER].events(c.id),
        timetable=request.app[keys.TIMETABLE], excuses=request.app[keys.EXCUSES],
        statuses=request.app[keys.ADMISSION], rules=rules, now=clock.now(request),
    )  # fmt: skip
    people = request.app[keys.ACCOUNTS].many(m.user_id for m in marks)
    named = [(people[m.user_id].full_name, m) for m in marks]
    return sorted(named, key=lambda nm: nm[0].casefold())


def _at(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def attendance_now(request: web.Request, c: LiveClass, rules: MarkRules) -> dict[str, Any]:
    """The class's register as it stands: a row per learner (who is in the class now, the mark
    so far, minutes), the count per mark, and how many are in the class now."""
    marks = _marks(request, c, rules)
    labels = mark_labels(request)
    rows = [
        {
            "user_id": m.user_id,
            "name": name,
            "mark": m.mark.value,
            "mark_label": labels[m.mark],
            "override": m.override,
            "joined": _at(m.first_joined),
            "left": _at(m.last_left),
            "still_here": bool(m.intervals) and m.last_left is None,
            "minutes": m.minutes if m.intervals else None,
        }
        for name, m in marks
    ]
    per_mark = {k: sum(1 for _n, m in marks if m.mark is k) for k in Mark}
    here = sum(1 for r in rows if r["still_here"])
    ngettext = request.app[keys.CATALOGUES][request.get(LANG_KEY, "en")].ngettext
    return {
        "rows": rows,
        "counts": [(k.value, labels[k], per_mark[k]) for k in Mark],
        "here_now": here,
        "here_text": ngettext(
            "%(num)d student is in the class now", "%(num)d students are in the class now", here
        )
        % {"num": here},
    }


@routes.get("/classes/{class_id:\\d{1,18}}/attendance")
async def attendance_page(request: web.Request) -> web.Response:
    c, user = attendance_class(request)
    rules = mark_rules(request, c)
    labels = mark_labels(request)
    return render(
        request,
        "attendance.html",
        {
            **class_view(request, c),
            **attendance_now(request, c, rules),
            "group_links": [(g, request.app[keys.TIMETABLE].group(g).name) for g in c.group_ids],
            "month": c.starts_at.astimezone(ZoneInfo(class_zone(request, c))).strftime("%Y-%m"),
            "mark_choices": [(k.value, label) for k, label in labels.items()],
            "can_override": user.role in OVERRIDERS,
            "definitions": [
                (k.value, labels[k], text) for k, text in mark_definitions(request, rules)
            ],
            "definitions_note": mark_definitions_note(request, rules),
            "uncounted": uncounted_notice(request, c),
        },
    )


def uncounted_notice(request: web.Request, c: LiveClass) -> str:
    """Who has presence a class server reported after it was declared dead (it was cut off,
    not down): kept in the register, not counted — staff check and correct the marks."""
    ids = {
        le.event.user_id
        for le in request.app[keys.LEDGER].events(c.id)
        if le.event.user_id is not None and le.event.user_id > 0 and not counts(le.event.data)
    }
    if not ids:
        return ""
    _ = gettext_of(request)
    names = sorted(p.full_name for p in request.app[keys.ACCOUNTS].many(ids).values())
    return _(
        "A class server lost contact during the class; what it recorded afterwards about"
        " {names} was kept but not counted. Ask the teacher and correct their marks if they"
        " were in the class."
    ).replace("{names}", ", ".join(names))


@routes.post("/classes/{class_id:\\d{1,18}}/attendance/override")
async def attendance_override(request: web.Request) -> web.StreamResponse:
    """A staff member corrects a learner's mark, with a reason; recorded in the ledger."""
    _ = gettext_of(request)
    c, staff = attendance_class(request)
    if staff.role not in OVERRIDERS:
        raise PageError(403, _("Only staff correct attendance marks."), "forbidden")
    form = await request.post()
    reason = str(form.get("reason", "")).strip()
    try:
        learner = int(str(form.get("user_id", "")))
        mark = Mark(str(form.get("mark", "")))
    except ValueError:
        raise PageError(400, _("Choose a student and a mark."), "bad_request") from None
    if learner not in request.app[keys.TIMETABLE].learners(c):
        raise PageError(400, _("This student is not in the class's groups."), "bad_request")
    if not reason or len(reason) > MAX_REASON:
        raise PageError(
            400,
            _("Give the reason for the correction (at most {n} characters).").replace(
                "{n}", str(MAX_REASON)
            ),
            "bad_request",
        )
    request.app[keys.LEDGER].append(
        IncomingEvent(
            id=str(uuid7()),
            kind=EventKind.MARK_OVERRIDDEN,
            class_id=c.id,
            node="control",
            node_seq=0,
            origin_time=clock.now(request),
            user_id=learner,
            role=ClassRole.LEARNER.value,
            data={
                "mark": mark.value,
                "reason": reason,
                "by_user_id": staff.id,
                "by_name": staff.full_name,
            },
        )
    )
    request.app[keys.CHANGES].notify(c.id)  # live registers show the correction at once
    log.info("class %s: staff %s set the mark of %s to %s", c.id, staff.id, learner, mark)
    return redirect(f"/classes/{c.id}/attendance")


def attendance_table(request: web.Request, c: LiveClass) -> Table:
    _ = gettext_of(request)
    zone = class_zone(request, c)
    tz = ZoneInfo(zone)
    labels = mark_labels(request)
    view = class_view(request, c)

    def local(ts: float | None) -> str:
        if ts is None:
            return ""
        return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")

    rows: list[list[Cell]] = [
        [
            name,
            labels[m.mark],
            local(m.first_joined),
            local(m.last_left),
            m.minutes if m.intervals else 0,
            m.override.reason if m.override else "",
        ]
        for name, m in _marks(request, c, mark_rules(request, c))
    ]
    count, head = request.app[keys.LEDGER].chain_head(c.id)
    return Table(
        title=_("Attendance: {title}").replace("{title}", c.title),
        notes=(
            _("Teacher: {name}").replace("{name}", view["teacher"]),
            _("Groups: {names}").replace("{names}", ", ".join(view["groups"])),
            _("Class start: {time}").replace("{time}", local(c.starts_at.timestamp())),
            _("Times are in the time zone {zone}.").replace("{zone}", zone),
        ),
        header=[
            _("Student"),
            _("Mark"),
            _("Joined"),
            _("Left"),
            _("Minutes present"),
            _("Correction reason"),
        ],
        rows=rows,
        heads=[ChainHead(c.id, count, head)],
        heads_title=_(HEADS_TITLE),
    )


@routes.get("/classes/{class_id:\\d{1,18}}/attendance.{fmt:(csv|xlsx)}")
async def attendance_download(request: web.Request) -> web.Response:
    c, _user = attendance_class(request)
    return download(attendance_table(request, c), f"attendance-{c.id}", request.match_info["fmt"])
