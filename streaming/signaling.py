"""The signaling sub-application: one WebSocket per participant at ``/classes/{id}/ws``.

``web/`` mounts it (at ``/media``). It verifies the join token with the shared secret only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import WSMsgType, web

from access.errors import TokenExpired, TokenInvalid, TokenWrongClass
from access.events import EventKind
from access.ids import uuid7
from access.tokens import JoinClaims, ReconnectClaims

from .cascade_feed import relay_feed
from .events import NotRecorded
from .media_ports import MediaBackend
from .node import MediaNode
from .piping import Socket
from .protocol import MAX_MESSAGE_BYTES, ProtocolError, parse_client_message, server_message
from .room import (
    CLOSE_CLASS_ENDED,
    CLOSE_PROTOCOL,
    CLOSE_REMOVED,
    CLOSE_SERVER_STOPPING,
    CLOSE_UNAUTHORIZED,
    Barred,
    Floor,
    InvalidStateError,
    Participant,
    ReconnectExpired,
    Room,
    WaitingForTeacher,
)

log = logging.getLogger("sabaq.streaming.signaling")
# Leaves under way, kept referenced until done (a task nobody holds may be collected).
_LEAVING: set[asyncio.Future[bool]] = set()


def _log_failed_leave(leaving: asyncio.Future[bool]) -> None:
    if not leaving.cancelled() and leaving.exception() is not None:
        log.error("a departure could not be completed", exc_info=leaving.exception())


GONE = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
LET_GO_WAIT = 10.0  # seconds a socket the room let go waits for the room to close it

CLOSE_MOVED = 4410  # ask the control plane again: it names the node the class is on now

# The node is found through the parent application (``request.config_dict``), which owns it.
NODE_KEY = web.AppKey("media_node", MediaNode)

USED_LINK_MESSAGE = "This join link was used already; open the class again from your page"
# How a refusal of the node closes the socket (anything else: try again later).
REFUSAL_CLOSES = {
    "moved": CLOSE_MOVED,
    "class_ended": CLOSE_CLASS_ENDED,
    # Cancelled, or held in person, since the join token: as final as an ended class.
    "class_cancelled": CLOSE_CLASS_ENDED,
    "not_online": CLOSE_CLASS_ENDED,
    "revoked": CLOSE_REMOVED,
    "removed": CLOSE_REMOVED,
}

TOKEN_ERRORS: dict[type[TokenInvalid], str] = {
    TokenExpired: "The join link has expired; open the class again from your page",
    TokenWrongClass: "This join token is for another class",
    TokenInvalid: "The join token is not valid",
}


async def _refuse(ws: Socket, code: str, message: str, close_code: int, reason: str = "") -> None:
    """Say why (a cancelled class's ``reason`` as the timetable keeps it), then close."""
    said = {"reason": reason} if reason else {}
    await ws.send_str(server_message("error", code=code, message=message, **said))
    await ws.close(code=close_code, message=code.encode()[:120])


Admitted = tuple[ReconnectClaims, JoinClaims | None, float, str]


async def _authenticate(node: MediaNode, ws: Socket, class_id: int) -> Admitted | None:
    """The first message admits: a join token (a new participant id is given) or a reconnect
    token (the participant's own id). Returns who it is (and the join token's claims, for a
    join), when the message arrived (``time.monotonic``) and the message itself, or None after
    refusing."""
    try:
        async with asyncio.timeout(node.settings.join_timeout):
            msg = await ws.receive()
        arrived = time.monotonic()
    except TimeoutError:
        await _refuse(ws, "join_timeout", "No join message arrived in time", CLOSE_PROTOCOL)
        return None
    if msg.type is not WSMsgType.TEXT:
        if msg.type in (WSMsgType.BINARY,):
            await _refuse(ws, "bad_message", "Messages are JSON text", CLOSE_PROTOCOL)
        return None
    try:
        first = parse_client_message(msg.data)
    except ProtocolError as exc:
        close = CLOSE_UNAUTHORIZED if exc.code == "token_missing" else CLOSE_PROTOCOL
        await _refuse(ws, exc.code, exc.message, close)
        return None
    if first.type not in ("join", "rejoin") or first.token is None:
        await _refuse(ws, "token_missing", "Send a join message with a token first", 4401)
        return None
    try:
        if first.type != "join":
            who = node.signer.verify_reconnect(first.token, class_id=class_id)
            return who, None, arrived, msg.data
        claims = node.signer.verify_join(first.token, class_id=class_id)
        who = ReconnectClaims(
            user_id=claims.user_id,
            class_id=claims.class_id,
            participant_id="",  # a new participant
            role=claims.role,
            display_name=claims.display_name,
        )
        return who, claims, arrived, msg.data
    except TokenInvalid as exc:
        message = next(m for t, m in TOKEN_ERRORS.items() if isinstance(exc, t))
        log.info("refused join to class %s: %s", class_id, exc.code)
        await _refuse(ws, exc.code, message, CLOSE_UNAUTHORIZED)
        return None


async def _serve(node: MediaNode, room: Room, p: Participant, ws: Socket) -> tuple[EventKind, str]:
    """Handle the participant's messages; returns how they went (left, or lost) and why."""
    while True:
        msg = await ws.receive()
        if msg.type is WSMsgType.CLOSE:  # the client said goodbye with a close frame
            if msg.data in (1000, 1001):
                return EventKind.LEFT, "closed the page"
            return EventKind.DISCONNECTED, f"closed by the client ({msg.data})"
        if msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return EventKind.DISCONNECTED, "connection lost"
        if msg.type is not WSMsgType.TEXT:
            raise ProtocolError("bad_message", "Messages are JSON text")
        m = parse_client_message(msg.data)
        if not await p.allowed(m.type):
            continue  # a flood: dropped (the sender was warned)
        if m.type == "ping":
            await p.send("pong")
        elif m.type == "publish" and m.sdp is not None:
            await room.publish(p.id, m.sdp, m.tracks)
        elif m.type == "answer" and m.sdp is not None and m.offer_id is not None:
            await room.answer(p.id, m.sdp, m.offer_id)
        elif m.type == "chat" and m.text is not None:
            await room.say(p.id, m.text, m.to)
        elif m.type == "start_recording":
            await room.start_recording(p.id)
        elif m.type == "stop_recording":
            await room.stop_recording(p.id)
        elif m.type == "unpublish" and m.publication is not None:
            await room.unpublish(p.id, m.publication)
        elif m.type == "low_bandwidth":
            await room.set_low_bandwidth(p.id, m.on)
        elif m.type == "view":
            await room.set_view(p.id, m.tiles, m.stage)
        elif m.type == "set_mode" and m.mode is not None:
            await room.set_mode(p.id, m.mode)
        elif m.type == "media_state":
            await room.set_media_state(p.id, m.microphone, m.camera)
        elif m.type == "mute" and m.participant_id is not None:
            await room.mute(p.id, m.participant_id)
        elif m.type == "ask_unmute" and m.participant_id is not None:
            await room.ask_unmute(p.id, m.participant_id)
        elif m.type in ("raise_hand", "lower_hand"):
            await room.raise_hand(p.id, m.type == "raise_hand")
        elif m.type == "grant_floor" and m.participant_id is not None:
            floor = Floor.AUDIO_VIDEO if m.camera else Floor.AUDIO
            await room.grant_floor(p.id, m.participant_id, floor)
        elif m.type == "next_hand":
            await room.next_hand(p.id, Floor.AUDIO_VIDEO if m.camera else Floor.AUDIO)
        elif m.type == "revoke_floor" and m.participant_id is not None:
            await room.revoke_floor(p.id, m.participant_id)
        elif m.type == "remove" and m.participant_id is not None:
            await room.remove(p.id, m.participant_id)
        elif m.type == "ask" and m.question is not None:
            await room.ask(p.id, m.question)
        elif m.type == "answer_question" and m.question_id is not None:
            await room.answer_question(p.id, m.question_id, m.choices)
        elif m.type == "close_question" and m.question_id is not None:
            await room.close_question(p.id, m.question_id)
        elif m.type == "show_results" and m.question_id is not None:
            await room.show_results(p.id, m.question_id, m.on)
        elif m.type == "open_breakout" and m.breakout is not None:
            await room.open_breakout(p.id, m.breakout)
        elif m.type == "move_to_group":
            await room.move_to_group(p.id, m.group, m.participant_id)
        elif m.type == "add_time":
            await room.add_time(p.id, m.seconds)
        elif m.type == "broadcast" and m.text is not None:
            await room.broadcast(p.id, m.text)
        elif m.type == "close_breakout":
            await room.close_breakout(p.id)
        elif m.type == "end_class":
            await room.end(p.id)
            return EventKind.LEFT, "ended the class"
        elif m.type == "leave":
            return EventKind.LEFT, "left"
        else:
            raise ProtocolError("bad_order", f"A {m.type!r} message is not expected now")


async def websocket(request: web.Request) -> web.StreamResponse:
    """One participant's connection: the first message admits them (or they are refused, the
    socket closed with the code the browser acts on); then their messages until they go."""
    node = request.config_dict[NODE_KEY]
    try:
        class_id = int(request.match_info["class_id"])
    except ValueError:
        raise web.HTTPNotFound(text="No such class") from None
    # The transport accepts up to 16x the protocol's limit so that an oversized message gets
    # a protocol error the client can read, instead of a bare close frame.
    ws = web.WebSocketResponse(
        max_msg_size=16 * MAX_MESSAGE_BYTES, heartbeat=node.settings.heartbeat, autoping=True
    )
    try:
        await ws.prepare(request)
    except ConnectionResetError:
        # The page went before its socket was up (a page closed as it loaded, its socket
        # opened early for a quick join): nobody to refuse or admit.
        log.info("websocket to class %s closed by the browser before it opened", class_id)
        # Not the half-made socket: aiohttp would close it as if it were open, and fail.
        return web.Response(status=400, text="The connection closed before it opened")
    if not node.accepting:
        await _refuse(
            ws, "server_stopping", "The server is restarting; try again", CLOSE_SERVER_STOPPING
        )
        return ws
    admitted = await _authenticate(node, ws, class_id)
    if admitted is None:
        return ws
    pipe = await node.relay_of(class_id)
    if pipe is not None:
        # A class relayed here from its origin: the origin's room is the class (its roster,
        # chat, floor, register); this socket is piped to it, its media served here.
        await pipe.pipe(ws, admitted[3])
        return ws
    await admit_and_serve(node, ws, class_id, admitted)
    return ws


async def admit_and_serve(
    node: MediaNode,
    ws: Socket,
    class_id: int,
    admitted: Admitted | None = None,
    backend: MediaBackend | None = None,
) -> None:
    """Admit one participant (``admitted``: already authenticated, else by the socket's first
    message) and serve their messages until they go. ``backend``: the media of one whose
    peer connections another node hosts (a relay's viewer, piped here: ``cascade_origin``)."""
    if admitted is None:
        admitted = await _authenticate(node, ws, class_id)
        if admitted is None:
            return
    claims, join_claims, arrived, _first = admitted
    rejoin = bool(claims.participant_id)
    if not await _cleared(node, ws, class_id, claims, join_claims):
        return
    room = node.room(class_id, join_claims.mode if join_claims else None)
    p = Participant(
        id=claims.participant_id or str(uuid7()),
        user_id=claims.user_id,
        role=claims.role,
        name=claims.display_name,
        send_text=ws.send_str,
        close_ws=lambda code, reason: ws.close(code=code, message=reason.encode()),
        backend=backend,
    )
    if not await _enter(node, ws, room, p, rejoin=rejoin, join_claims=join_claims):
        return
    node.join_latency.observe(time.monotonic() - arrived)  # the join message → its welcome
    log.info(
        "%s class=%s user=%s role=%s",
        "rejoined" if rejoin else "joined",
        class_id,
        p.user_id,
        p.role.value,
    )
    await _attend(node, room, p, ws)


async def _cleared(
    node: MediaNode,
    ws: Socket,
    class_id: int,
    claims: ReconnectClaims,
    join_claims: JoinClaims | None,
) -> bool:
    """Whether the node lets this person in (the class is here, they are not taken out), and
    a join token admits for the first time (it is spent here); False after refusing."""
    refused = await node.refusal(class_id, new=not claims.participant_id, user_id=claims.user_id)
    if refused is not None:
        code = refused.code
        log.info("refused %s to class %s: %s", claims.user_id, class_id, code)
        close = REFUSAL_CLOSES.get(code, CLOSE_SERVER_STOPPING)
        await _refuse(ws, code, refused.message, close, reason=refused.reason)
        return False
    if join_claims is not None and not await node.spend(
        join_claims.token_id, join_claims.expires_at
    ):
        # A join token admits once; coming back after a drop is the reconnect token's.
        log.info("refused %s to class %s: join token used again", claims.user_id, class_id)
        await _refuse(ws, "token_used", USED_LINK_MESSAGE, CLOSE_UNAUTHORIZED)
        return False
    return True


async def _enter(
    node: MediaNode,
    ws: Socket,
    room: Room,
    p: Participant,
    *,
    rejoin: bool,
    join_claims: JoinClaims | None,
) -> bool:
    """Join the room, welcomed with a reconnect token; False after refusing one the room
    would not take."""
    grace = node.settings.reconnect_grace
    reconnect_token = node.signer.mint_reconnect(
        ReconnectClaims(p.user_id, room.class_id, p.id, p.role, p.name), ttl=grace
    )
    try:
        await room.join(
            p,
            rejoin=rejoin,
            welcome={"reconnect_token": reconnect_token, "reconnect_grace": grace},
        )
    except InvalidStateError:
        await _refuse(ws, "class_ended", "The class has ended", 4000)
        return False
    except Barred:
        code, message = node.barred_refusal(room.class_id, p.user_id)
        await _refuse(ws, code, message, CLOSE_REMOVED)
        return False
    except WaitingForTeacher:
        if join_claims is not None:
            await node.unspend(join_claims.token_id)  # it admitted nobody
        await _refuse(ws, "waiting_for_teacher", "The teacher has not started the class yet", 4009)
        return False
    except NotRecorded:
        # Not welcomed: nobody is told "you are in" unless the register has it.
        await _refuse(
            ws,
            "not_recorded",
            "Your joining could not be recorded right now; try again in a moment",
            CLOSE_SERVER_STOPPING,
        )
        return False
    except ReconnectExpired:
        # Too late to be the same participant: the client joins afresh (a new join token).
        await _refuse(ws, "reconnect_expired", "Join the class again", CLOSE_UNAUTHORIZED)
        return False
    return True


async def _attend(node: MediaNode, room: Room, p: Participant, ws: Socket) -> None:
    """The participant's messages until they go; then their departure (if the room still has
    them) and the socket closed."""
    class_id = room.class_id
    left_kind, reason = EventKind.DISCONNECTED, "connection lost"
    try:
        left_kind, reason = await _serve(node, room, p, ws)
    except asyncio.CancelledError:
        # The server is shutting down under this connection: a disconnect, not a departure.
        left_kind, reason = EventKind.DISCONNECTED, "server_stopping"
        raise
    except ConnectionError:
        # The connection went under a request (a relay's link, under its viewer's publish):
        # a drop, not the client's protocol error (the room's grace, the reconnect token).
        left_kind, reason = EventKind.DISCONNECTED, "connection lost"
    except ProtocolError as exc:
        if p.closed and room.participants.get(p.id) is not p:
            # Let go by the room (removed, taken over) while this message was on its way:
            # the room tells them why and closes the socket with its own code.
            left_kind, reason = await _until_closed(ws)
            return  # the room recorded their departure; the socket is closed below
        log.info("class=%s participant=%s protocol error: %s", class_id, p.id, exc.code)
        await p.send("error", code=exc.code, message=exc.message)
        left_kind, reason = EventKind.LEFT, f"protocol error: {exc.code}"
        with contextlib.suppress(Exception):
            await ws.close(code=CLOSE_PROTOCOL, message=exc.code.encode()[:120])
    finally:
        # Still in the room (a participant closed for not reading its messages is, too): the
        # departure is recorded. One taken over by a newer tab, or ended with the class, is not.
        if room.participants.get(p.id) is p:
            # Shielded: the handler is cancelled when the connection drops (aiohttp may), and a
            # leave cut short would skip telling the others and closing their views of them.
            leaving = asyncio.ensure_future(room.leave(p.id, left_kind, reason))
            _LEAVING.add(leaving)
            leaving.add_done_callback(_LEAVING.discard)
            leaving.add_done_callback(_log_failed_leave)
            try:
                await asyncio.shield(leaving)
            finally:
                if not ws.closed:
                    await ws.close()
        if not ws.closed:
            await ws.close()
    log.info("%s class=%s user=%s (%s)", left_kind.value, class_id, p.user_id, reason)


async def _until_closed(ws: Socket) -> tuple[EventKind, str]:
    """The messages of one the room let go are ignored until the room closes the socket
    (within a bound: the room tells them once their departure is in the register)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LET_GO_WAIT):
            while (await ws.receive()).type not in GONE:
                pass
    return EventKind.LEFT, "let go"


async def relay(request: web.Request) -> web.StreamResponse:
    """A relay node's link to this node, the class's origin (``cascade``); the sockets of the
    relay's viewers piped over it are admitted and served here as any."""
    return await relay_feed(request.config_dict[NODE_KEY], request, admit_and_serve)


def create_signaling_app() -> web.Application:
    """The sub-application; the parent sets ``NODE_KEY`` to the running ``MediaNode``."""
    app = web.Application()
    app.router.add_get("/classes/{class_id}/ws", websocket)
    app.router.add_get("/classes/{class_id}/relay", relay)
    return app
