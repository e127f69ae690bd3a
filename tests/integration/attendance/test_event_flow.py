"""The register never stops: text no page or database can take is refused at the WebSocket, an
event the ledger cannot store goes aside (dead letters) while the rest flows on, and what was
not delivered at a stop is delivered at the next start."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from typing import Any

import pytest
from aiohttp import ClientSession, WSMsgType
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.events import EventKind
from access.models import ClassRole
from attendance.sqlite_dead_events import SqliteDeadEvents
from attendance.sqlite_heartbeats import SqliteHeartbeats
from attendance.sqlite_ledger import SqliteLedger
from control.database import connect as connect_db
from control.evidence import LedgerHeldEvidence
from control.ingest import LedgerSink
from streaming.events import EventOutbox
from tests.conftest import Academy, SignIn, free_port, seed_academy
from tests.locks import database_held
from tests.peers import connect, join
from web.core import keys
from web.core.app import create_app
from web.core.settings import Settings

SURROGATE_CHAT = '{"v":1,"type":"chat","text":"\\ud800"}'


async def _joined_within(
    served: TestServer, class_id: int, user_id: int, seconds: float = 1.0
) -> None:
    """The user's join is in the ledger within ``seconds`` (the outbox is not flushed: it must
    flow by itself)."""
    ledger = served.app[keys.LEDGER]
    deadline = time.monotonic() + seconds
    while True:
        if any(
            e.event.kind is EventKind.JOINED and e.event.user_id == user_id
            for e in ledger.events(class_id)
        ):
            return
        assert time.monotonic() < deadline, f"user {user_id}'s join is not in the ledger"
        await asyncio.sleep(0.02)


async def test_a_lone_surrogate_is_refused_to_its_sender_and_the_register_flows_on(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    sender = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await sender.ws.send_str(SURROGATE_CHAT)
    err = await sender.wait_for("error")
    assert err["code"] == "bad_text"
    other = await join(sign_in(academy.student_ids[1]), academy.class_id)
    elsewhere = await join(sign_in(academy.outsider_id), academy.other_class_id)
    await _joined_within(served, academy.class_id, academy.student_ids[1])
    await _joined_within(served, academy.other_class_id, academy.outsider_id)
    # Nobody else was told anything of it, and the class goes on.
    assert all(m["type"] != "chat" for m in teacher.messages + other.messages)
    welcome = await other.wait_for("welcome")
    assert welcome["chat"] == []
    assert served.app[keys.MEDIA_NODE].outbox.pending == 0
    ready = await sign_in(academy.staff_id).get("/readyz")
    assert ready.status == 200
    for p in (teacher, sender, other, elsewhere):
        await p.close()


def _strings() -> st.SearchStrategy[str]:
    """Any code point, lone surrogates included (what JSON's \\uXXXX can carry), and often."""
    anything = st.characters(exclude_categories=[])
    surrogate = st.integers(0xD800, 0xDFFF).map(chr)
    return st.text(st.one_of(anything, surrogate), min_size=1, max_size=12)


def _message(kind: str, text: str) -> dict[str, Any]:
    """A message of ``kind`` with ``text`` in every string field it has (and one it has not)."""
    doc: dict[str, Any] = {"v": 1, "type": kind, "extra": text, text: 1}
    if kind in ("join", "rejoin"):
        doc["token"] = text
    elif kind in ("publish", "answer"):
        doc.update(sdp="v=0\r\n" + text, tracks=["camera", text], offer_id=1)
    elif kind == "chat":
        doc["text"] = "x" + text
    elif kind == "unpublish":
        doc["publication"] = text
    elif kind in ("grant_floor", "revoke_floor", "remove"):
        doc["participant_id"] = text or "x"
    return doc


KINDS = [
    "join", "rejoin", "publish", "answer", "chat", "raise_hand", "lower_hand", "grant_floor",
    "revoke_floor", "unpublish", "start_recording", "stop_recording", "remove", "low_bandwidth",
    "leave", "ping",
]  # fmt: skip


def _token(served: TestServer, user_id: int, class_id: int) -> str:
    """A join token as the control plane mints it (many examples: no HTTP rate limit)."""
    return served.app[keys.SIGNER].mint_join(
        user_id=user_id,
        class_id=class_id,
        role=ClassRole.LEARNER,
        display_name=f"Студент {user_id}",
        media_url="/media",
    )


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_strings())
async def test_any_unicode_in_any_field_is_answered_and_the_register_flows_on(
    served: TestServer, academy: Academy, kind: str, text: str
) -> None:
    url = str(served.make_url(f"/media/classes/{academy.class_id}/ws")).replace("http", "ws", 1)
    payload = json.dumps(_message(kind, text))  # ensure_ascii: a surrogate travels as \\udXXX
    got: list[dict[str, Any]] = []
    async with ClientSession() as session, session.ws_connect(url) as ws:
        token = _token(served, academy.student_ids[2], academy.class_id)
        await ws.send_str(json.dumps({"v": 1, "type": "join", "token": token}))
        await ws.send_str(payload)
        await ws.send_str(json.dumps({"v": 1, "type": "ping"}))
        await ws.send_str(json.dumps({"v": 1, "type": "leave"}))
        async with asyncio.timeout(10):
            async for msg in ws:
                assert msg.type is WSMsgType.TEXT
                got.append(json.loads(msg.data))
    assert got and got[0]["type"] == "welcome"
    assert len(got) > 1 or kind == "leave", "the message was not answered"
    # The register keeps flowing: someone else's join is in the ledger within a second.
    other = await connect(url, _token(served, academy.student_ids[3], academy.class_id))
    pid = (await other.wait_for("welcome"))["participant_id"]
    ledger = served.app[keys.LEDGER]
    deadline = time.monotonic() + 1.0
    while not any(e.event.participant_id == pid for e in ledger.events(academy.class_id)):
        assert time.monotonic() < deadline, "the register stopped"
        await asyncio.sleep(0.02)
    await other.close()


@pytest.fixture(name="settings")
def quick_delay_bound(settings: Settings) -> Settings:
    return dataclasses.replace(settings, event_delay_bound_seconds=1.0)


async def test_an_event_the_ledger_refuses_is_set_aside_and_the_rest_flows_on(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    node = served.app[keys.MEDIA_NODE]
    staff = sign_in(academy.staff_id)
    # Another writer holds the database for a while: events wait (not set aside), and
    # /readyz says the register is behind once the oldest is older than the bound.
    async with database_held(served.app[keys.SETTINGS].database_path, at_least=2.0):
        waited = node.outbox.emit(EventKind.CHAT_MESSAGE, academy.class_id, data={"text": "ok"})
        await asyncio.sleep(1.2)
        stuck = await staff.get("/readyz")
        assert stuck.status == 503
        assert (await stuck.json())["media"] == "events_delayed"
    async with asyncio.timeout(10):
        await node.outbox.durable(waited)
    # Text the ledger cannot take, as a defect elsewhere could let in past the protocol.
    node.outbox.emit(EventKind.CHAT_MESSAGE, academy.class_id, data={"text": "\ud800"})
    # The join behind it waits to be welcomed until it is in the ledger.
    joining = asyncio.create_task(join(sign_in(academy.outsider_id), academy.other_class_id))
    # Set aside at once (it can never be stored); the join behind it reaches the ledger.
    await _joined_within(served, academy.other_class_id, academy.outsider_id, seconds=5)
    elsewhere = await joining
    assert node.outbox.pending == 0
    dead = SqliteDeadEvents(served.app[keys.DB]).latest()
    assert len(dead) == 1 and "UnicodeEncodeError" in dead[0].error
    assert json.loads(dead[0].event)["data"] == {"text": "\ud800"}
    ready = await staff.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["dead_events"] == 1
    home = await staff.get("/")
    assert "dead_events" in await home.text()  # the notice names where they are kept
    await elsewhere.close()


async def test_events_undelivered_at_a_stop_are_kept_on_disk_and_delivered_at_the_next_start(
    settings: Settings,
) -> None:
    server = TestServer(create_app(settings), host="127.0.0.1", port=free_port())
    await server.start_server()
    academy = seed_academy(server.app)
    url = str(server.make_url(f"/media/classes/{academy.class_id}/ws")).replace("http", "ws", 1)
    student = await connect(url, _token(server, academy.student_ids[0], academy.class_id))
    await student.wait_for("welcome")
    # The database refuses every write (another process holds it) while the student leaves
    # and the server stops: the departure cannot reach the ledger.
    blocker = sqlite3.connect(settings.database_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        await student.send("leave")
        await student.wait_closed()
        await server.close()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await student.close()
    spool = settings.data_dir / f"outbox-{settings.node_id}.jsonl"
    assert spool.exists()
    db = connect_db(settings.database_path)
    try:
        kinds = [e.event.kind for e in SqliteLedger(db).events(academy.class_id)]
        assert kinds == [EventKind.JOINED]
    finally:
        db.close()
    # The next start delivers it first; the file is gone.
    again = TestServer(create_app(settings), host="127.0.0.1", port=free_port())
    await again.start_server()
    try:
        kinds = [e.event.kind for e in again.app[keys.LEDGER].events(academy.class_id)]
        assert kinds == [EventKind.JOINED, EventKind.LEFT]
        assert not spool.exists()
    finally:
        await again.close()


async def test_a_database_locked_for_long_delays_events_and_sets_none_aside(
    served: TestServer, academy: Academy
) -> None:
    """ "database is locked", however many times in a row, is transient: the join waits in the
    outbox and is committed once the lock is gone, never set aside as an event that can never
    be stored."""
    app = served.app
    commits = connect_db(app[keys.SETTINGS].database_path)
    commits.execute("PRAGMA busy_timeout = 0")  # every try meets the lock at once
    evidence = LedgerHeldEvidence(app[keys.LEDGER], app[keys.TIMETABLE], 0.05, app[keys.GUESTS])
    sink = LedgerSink(
        app[keys.LEDGER], app[keys.TIMETABLE], evidence, SqliteHeartbeats(app[keys.DB]),
        app[keys.HEADS], app[keys.CHANGES], SqliteDeadEvents(app[keys.DB]),
        SqliteLedger(commits),
    )  # fmt: skip
    outbox = EventOutbox(sink, "n-locked", retry_initial=0.01, retry_max=0.05)
    outbox.durable_within = 30
    try:
        async with database_held(app[keys.SETTINGS].database_path, at_least=1.5):
            outbox.start()
            event = outbox.emit(
                EventKind.JOINED, academy.class_id, user_id=academy.student_ids[0], role="learner"
            )
        async with asyncio.timeout(10):
            await outbox.durable(event)  # committed once the lock is gone, not set aside
        await outbox.stop()
        assert outbox.dead_letters == 0
        assert SqliteDeadEvents(app[keys.DB]).count() == 0
        assert [e.event.id for e in app[keys.LEDGER].events(academy.class_id)] == [event.id]
    finally:
        await sink.close()
        commits.close()


async def test_closing_the_sink_waits_for_the_heartbeat_under_way(
    served: TestServer, academy: Academy
) -> None:
    """A heartbeat cancelled while its thread waits for the database still runs on that thread:
    the sink's close waits for it, so the connections closed after it close under no statement
    (closed under one, SQLite crashed the process)."""
    app = served.app
    commits = connect_db(app[keys.SETTINGS].database_path)
    evidence = LedgerHeldEvidence(app[keys.LEDGER], app[keys.TIMETABLE], 0.05, app[keys.GUESTS])
    heartbeats = SqliteHeartbeats(app[keys.DB])
    sink = LedgerSink(
        app[keys.LEDGER], app[keys.TIMETABLE], evidence, heartbeats, app[keys.HEADS],
        app[keys.CHANGES], SqliteDeadEvents(app[keys.DB]), SqliteLedger(commits),
    )  # fmt: skip
    try:
        async with database_held(app[keys.SETTINGS].database_path):
            beat = asyncio.create_task(sink.heartbeat("n-closing", 1234.5))
            await asyncio.sleep(0.2)  # its thread waits for the lock
            beat.cancel()
            closing = asyncio.create_task(sink.close())
            await asyncio.sleep(0.3)
            assert not closing.done()  # the heartbeat under way is not over
        async with asyncio.timeout(10):
            await closing
        assert heartbeats.last_seen("n-closing") == 1234.5  # it ran to its end before close
    finally:
        commits.close()
