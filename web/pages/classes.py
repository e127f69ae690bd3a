"""Pages for people: sign-in, class lists, the live class, attendance; health checks."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from access.models import ClassRole, Role, User
from access.turn import turn_credentials
from admission import guest_service as guest_rules
from admission.door import KeptOut, enter, not_admitted_now, prepares_join
from admission.guests import GuestStatus
from admission.labels import not_admitted_labels
from admission.status import AdmissionChange
from admission.visibility import OBSERVERS
from attendance.breakout import latest_saved_split
from attendance.marks import class_window
from attendance.presence import hosts_live_seconds
from attendance.recordings import RECORDING_TYPES, recorded, recording_kind
from control.gate import cancel_reason as logged_reason
from control.placement import NoMediaNode
from scheduler.models import DEFAULT_TIMEZONE, OPEN, LiveClass, closed_code, room_mode

from ..core import clock, keys, policy
from ..core.alerts import reason_text
from ..core.http import LANG_KEY, PageError, gettext_of, render, require_session, session_of
from ..core.i18n import format_time
from ..core.settings import Settings
from .signin import limited

log = logging.getLogger("sabaq.web.views")
routes = web.RouteTableDef()

OBSERVER_ROLES = OBSERVERS  # who may look into a class: which classes, admission/visibility.py says
EDITORS = frozenset({Role.STAFF, Role.ADMIN})  # they edit the timetable
JOINABLE = OPEN  # a class to come or running
# The class page's state of a class by why it cannot be joined (``scheduler.models.closed_code``).
CLASS_STATES = {
    None: "open",
    "class_cancelled": "cancelled",
    "not_online": "in_person",
    "class_ended": "ended",
}


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


def class_state(c: LiveClass) -> str:
    """What the class page says of the class: "open" (to come or running: one may join),
    "cancelled", "in_person" (no online session) or "ended" (held or missed: its recordings
    and register). A guest's invitation adds "not_open", until its window opens."""
    return CLASS_STATES[closed_code(c)]  # as the media node refuses a join (control.gate)


def cancel_reason(request: web.Request, c: LiveClass) -> str:
    """Why the class was cancelled, as the timetable's log keeps it ("" if it gave none)."""
    reason = logged_reason(request.app[keys.TIMETABLE], c.id)
    return reason_text(request, reason) if reason else ""


def cancelled_text(request: web.Request, c: LiveClass) -> str:
    """The class is cancelled, and why if the timetable says, in one message (a join refused)."""
    _ = gettext_of(request)
    reason = cancel_reason(request, c)
    said = _("This class has been cancelled.")
    if not reason:
        return said
    return said + " " + _("Reason: {reason}").replace("{reason}", reason)


def class_view(request: web.Request, c: LiveClass) -> dict[str, Any]:
    tt = request.app[keys.TIMETABLE]
    state = class_state(c)
    return {
        "c": c,
        "zone": class_zone(request, c),
        "groups": [tt.group(g).name for g in c.group_ids],
        "teacher": request.app[keys.ACCOUNTS].get(c.teacher_id).full_name,
        "state": state,
        "joinable": state == "open",
        "cancel_reason": cancel_reason(request, c) if state == "cancelled" else "",
    }


@routes.get("/classes/{class_id:\\d{1,18}}")
async def class_page(request: web.Request) -> web.Response:
    session = require_session(request)
    c = request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))
    role = class_role(request, session.user, c)
    removed = role is not ClassRole.HOST and session.user.id in await removed_from(request, c)
    view = class_view(request, c)
    return render(
        request,
        "room.html",
        {
            **view,
            "joinable": view["joinable"] and not removed,
            "removed": removed,
            "role": role.value,
            "is_host": role is ClassRole.HOST,
            "publishes": role is ClassRole.HOST,
            "join_token_url": None,
            "prepare_join": prepares_join(role, c, datetime.fromtimestamp(clock.now(request), UTC)),
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
            "saved_split": last_saved_split(request, c) if role is ClassRole.HOST else None,
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


SAVED_SPLIT_CLASSES = 30  # how many of a group's latest classes are looked at for a saved split


def last_saved_split(request: web.Request, c: LiveClass) -> list[list[int]] | None:
    """The breakout split a teacher last saved in a class of this class's groups (this one
    included), from the ledger: offered in the teacher's dialog."""
    tt, ledger = request.app[keys.TIMETABLE], request.app[keys.LEDGER]
    now = datetime.fromtimestamp(clock.now(request), UTC)
    classes = {k.id: k for g in c.group_ids for k in tt.classes_of_group(g, end=now)}
    classes[c.id] = c
    return latest_saved_split(classes.values(), ledger.events, SAVED_SPLIT_CLASSES)


async def removed_from(request: web.Request, c: LiveClass) -> set[int]:
    """Whom the teacher removed from the class and has not let back in."""
    taken_out = await request.app[keys.MEDIA_CONTROL].taken_out(c.id)
    return {u for u, code in taken_out.items() if code == "removed"}


def removed_message(request: web.Request) -> str:
    _ = gettext_of(request)
    return _(
        "The teacher removed you from this class. You cannot join it again unless the teacher"
        " lets you back in: ask the teacher."
    )


def _teacher_of(request: web.Request) -> LiveClass:
    """The class of the request, for its teacher only (who removes and lets back in)."""
    _ = gettext_of(request)
    session = require_session(request)
    c = request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))
    if class_role(request, session.user, c) is not ClassRole.HOST:
        raise PageError(403, _("Only the teacher can do that."), "not_allowed")
    return c


@routes.get("/classes/{class_id:\\d{1,18}}/removed")
async def removed_list(request: web.Request) -> web.Response:
    """The people the teacher removed from the class, by name (for "Let back in")."""
    c = _teacher_of(request)
    people = request.app[keys.ACCOUNTS].many(await removed_from(request, c))
    rows = sorted(people.items(), key=lambda kv: kv[1].full_name.casefold())
    return web.json_response({"removed": [{"user_id": u, "name": a.full_name} for u, a in rows]})


@routes.get("/classes/{class_id:\\d{1,18}}/removed/me")
async def removed_me(request: web.Request) -> web.Response:
    """Whether the teacher still keeps the caller out (a removed student's page asks, to offer
    Join again once the teacher lets them back in), and whether the class can still be joined."""
    session = require_session(request)
    c = request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))
    class_role(request, session.user, c)
    removed = session.user.id in await removed_from(request, c)
    return web.json_response({"removed": removed, "joinable": class_view(request, c)["joinable"]})


@routes.post("/classes/{class_id:\\d{1,18}}/removed/{user_id:\\d{1,18}}/readmit")
async def let_back_in(request: web.Request) -> web.Response:
    """The teacher lets a removed person back in (a bar of the admission status stays)."""
    _ = gettext_of(request)
    c = _teacher_of(request)
    user_id = int(request.match_info["user_id"])
    if user_id not in await removed_from(request, c):
        raise PageError(404, _("This person is not removed from the class."), "not_removed")
    await request.app[keys.MEDIA_CONTROL].let_back(c.id, user_id)
    log.info("class %s: user %s let back in by the teacher", c.id, user_id)
    return web.json_response({"readmitted": user_id})


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


def _recordings(request: web.Request, c: LiveClass) -> list[dict[str, Any]]:
    """The class's recordings that are still kept, newest first."""
    folder = request.app[keys.SETTINGS].recordings_dir / str(c.id)
    kept = recorded(request.app[keys.LEDGER].events(c.id), lambda name: (folder / name).is_file())
    return [
        {
            "name": r.name,
            "kind": r.kind,
            "screen": r.screen,
            "at": datetime.fromtimestamp(r.at, UTC),
        }
        for r in kept
    ]


@routes.get("/classes/{class_id:\\d{1,18}}/recordings")
async def recordings_list(request: web.Request) -> web.Response:
    """The class's recordings (camera, screen, chat) as JSON, for those who may see them (the
    class page asks once the class has ended)."""
    session = require_session(request)
    c = request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))
    class_role(request, session.user, c)  # refuses everyone else
    rows = [
        {
            "name": r["name"],
            "kind": r["kind"],
            "at": r["at"].isoformat(),
            "url": f"/classes/{c.id}/recordings/{r['name']}",
        }
        for r in _recordings(request, c)
    ]
    return web.json_response({"recordings": rows}, headers={"Cache-Control": "no-store"})


@routes.get("/classes/{class_id:\\d{1,18}}/recordings/{name}")
async def recording_file(request: web.Request) -> web.StreamResponse:
    """A recording's file, for the class's group, its teacher and staff only; the videos are
    seekable (ranges), the chat's sidecar is downloaded."""
    _ = gettext_of(request)
    session = require_session(request)
    c = request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))
    class_role(request, session.user, c)  # refuses everyone else
    name = request.match_info["name"]
    path = request.app[keys.SETTINGS].recordings_dir / str(c.id) / name
    kind = recording_kind(name)
    if kind is None or not path.is_file():
        raise PageError(404, _("This recording does not exist or is no longer kept."), "no_file")
    headers = {"Content-Type": RECORDING_TYPES[path.suffix.lstrip(".")]}
    if kind == "chat":
        headers["Content-Disposition"] = f'attachment; filename="class-{c.id}-{name}"'
    return web.FileResponse(path, headers=headers)


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
    if role is not ClassRole.HOST and session.user.id in await removed_from(request, c):
        raise PageError(403, removed_message(request), "removed")
    # Refused with the page's own states (room.js shows each as the page opened later would).
    state = class_state(c)
    if state == "cancelled":
        raise PageError(409, cancelled_text(request, c), "class_cancelled")
    if state == "in_person":
        raise PageError(409, _("This class is held in person, not online."), "not_online")
    if state == "ended":
        raise PageError(409, _("This class is over."), "class_over")
    media_url = await media_url_for(request, c, role)
    token = request.app[keys.SIGNER].mint_join(
        user_id=session.user.id,
        class_id=c.id,
        role=role,
        display_name=session.user.full_name,
        media_url=media_url,
        ttl=settings.join_token_ttl,
        mode=room_mode(c.kind),
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


async def media_url_for(request: web.Request, c: LiveClass, role: ClassRole) -> str:
    """Where the class's signaling is for one joining in ``role``: this process's media node,
    or in a cluster the node the class is placed on (placed now, on the least-loaded live node,
    when it has none), or for a lecture's viewer when that node is full one relaying it."""
    settings = request.app[keys.SETTINGS]
    if keys.CLUSTER not in request.app:
        return settings.media_url or f"{request.scheme}://{request.host}/media"
    _ = gettext_of(request)
    expected = 1 + len(request.app[keys.TIMETABLE].learners(c))
    try:
        cluster = request.app[keys.CLUSTER]
        return (await cluster.media_node_for(c.id, expected, role, room_mode(c.kind))).url
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
