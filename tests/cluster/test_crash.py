"""The server killed mid-class (kill -9) and started again: the register stays right."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from access.events import EventKind
from access.models import ClassRole, Role
from access.sqlite_store import SqliteAccounts
from access.tokens import TokenSigner
from attendance.presence import intervals_by_user
from attendance.recovery import SERVER_STOPPED
from attendance.sqlite_ledger import SqliteLedger
from control.database import connect as connect_db
from scheduler.sqlite_store import SqliteTimetable
from streaming.aiortc_media import advertise_host_addresses
from tests.conftest import Academy, free_port, seed_into
from tests.peers import Peer, connect, publish

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT = 0.5


class Server:
    """``sabaq serve`` as a process of its own, which the test can kill outright."""

    def __init__(self, data: Path, secret: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SABAQ_")}
        self.env.update(
            SABAQ_SECRET_KEY=secret,
            SABAQ_DATA_DIR=str(data),
            SABAQ_PORT=str(self.port),
            SABAQ_ICE_ADDRESSES="127.0.0.1",
            SABAQ_NODE_HEARTBEAT_SECONDS=str(HEARTBEAT),
        )
        self.log = data.parent / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve"],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except OSError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "sabaq serve did not become ready"
            time.sleep(0.1)

    def kill(self) -> float:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        killed = time.time()
        self.proc.wait(timeout=10)
        return killed

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def seeded(data: Path) -> Academy:
    data.mkdir()
    db = connect_db(data / "sabaq.sqlite3")
    try:
        return seed_into(SqliteAccounts(db), SqliteTimetable(db), students=3)
    finally:
        db.close()


@pytest.fixture
def server(data: Path, seeded: Academy) -> Iterator[Server]:
    srv = Server(data, secrets.token_urlsafe(40))
    yield srv
    srv.stop()
    print(srv.log.read_text(errors="replace")[-5000:])  # shown when the test fails


def committed(data: Path, class_id: int) -> list[sqlite3.Row]:
    """The ledger as another process sees it: what is committed, nothing else."""
    db = sqlite3.connect(f"file:{data / 'sabaq.sqlite3'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(
            "SELECT * FROM ledger_events WHERE class_id = ? ORDER BY seq", (class_id,)
        ).fetchall()
    finally:
        db.close()


async def enter(
    server: Server, signer: TokenSigner, user_id: int, class_id: int, role: ClassRole
) -> Peer:
    token = signer.mint_join(
        user_id=user_id,
        class_id=class_id,
        role=role,
        display_name=f"user {user_id}",
        media_url=f"{server.base}/media",
    )
    peer = await connect(f"ws://127.0.0.1:{server.port}/media/classes/{class_id}/ws", token)
    await peer.wait_for("welcome")
    return peer


async def test_kill_9_mid_class_closes_presence_at_the_last_heartbeat(
    server: Server, seeded: Academy, data: Path
) -> None:
    advertise_host_addresses(("127.0.0.1",))  # this process's peers: loopback candidates
    server.start()
    signer = TokenSigner(server.env["SABAQ_SECRET_KEY"].encode())
    cid = seeded.class_id
    teacher = await enter(server, signer, seeded.teacher_id, cid, ClassRole.HOST)
    await publish(teacher)
    students = [await enter(server, signer, u, cid, ClassRole.LEARNER) for u in seeded.student_ids]
    peers = [teacher, *students]
    try:
        for s in students:
            await s.wait_frames(5)
        async with asyncio.timeout(10):
            while sum(r["kind"] == "joined" for r in committed(data, cid)) < len(peers):
                await asyncio.sleep(0.05)
        await asyncio.sleep(4 * HEARTBEAT)  # the class goes on for a few heartbeats
        before = {r["id"]: r["hash"] for r in committed(data, cid)}
        killed = server.kill()
    finally:
        for p in peers:
            await p.close()

    server.start()
    server.stop()  # and once more, cleanly: recovery must not run twice
    server.start()

    rows = committed(data, cid)
    after = {r["id"]: r["hash"] for r in rows}
    # Every event acknowledged before the kill is there, unchanged, exactly once.
    assert {k: after[k] for k in before} == before
    assert len(after) == len(rows)

    db = connect_db(data / "sabaq.sqlite3")
    try:
        ledger = SqliteLedger(db)
        events = ledger.events(cid)
        assert ledger.verify_all() == []
    finally:
        db.close()
    stopped = [le for le in events if le.event.data.get("reason") == SERVER_STOPPED]
    everyone = {seeded.teacher_id, *seeded.student_ids}
    assert sorted(le.event.user_id for le in stopped if le.event.user_id) == sorted(everyone)
    for le in stopped:
        assert le.event.kind is EventKind.DISCONNECTED
        # Closed within one heartbeat of the kill — never at the restart.
        assert killed - HEARTBEAT - 0.25 <= le.event.origin_time <= killed, (
            le.event.origin_time - killed
        )
        assert le.received_time > killed  # recorded after the restart, dated before it
    by_user = intervals_by_user(events)
    assert set(by_user) == everyone
    for spans in by_user.values():
        assert len(spans) == 1 and spans[0].end is not None
        assert spans[0].end <= killed


async def test_a_second_server_on_the_same_data_leaves_the_running_class_alone(
    server: Server, seeded: Academy, data: Path
) -> None:
    advertise_host_addresses(("127.0.0.1",))
    server.start()
    signer = TokenSigner(server.env["SABAQ_SECRET_KEY"].encode())
    cid = seeded.class_id
    student = await enter(server, signer, seeded.student_ids[0], cid, ClassRole.LEARNER)
    try:
        async with asyncio.timeout(10):
            while not any(r["kind"] == "joined" for r in committed(data, cid)):
                await asyncio.sleep(0.05)
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "web.cli", "serve"],
            env={**server.env, "SABAQ_PORT": str(free_port())},
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 2, second.stderr
        assert "already running" in second.stderr
        # The running node's learner is still in the class, as the ledger says.
        assert [r["kind"] for r in committed(data, cid)] == ["joined"]
        assert server.proc is not None and server.proc.poll() is None
    finally:
        await student.close()


async def test_kill_9_in_a_join_burst_keeps_every_welcomed_join(
    server: Server, seeded: Academy, data: Path
) -> None:
    """A welcome is an acknowledgement: whoever was told "you are in" is in the register after
    a kill -9 in the middle of a burst of 20 joins, their stay closed at the last heartbeat."""
    db = connect_db(data / "sabaq.sqlite3")
    try:
        accounts, tt = SqliteAccounts(db), SqliteTimetable(db)
        more = [
            accounts.create_user(login=f"burst{i:02d}", full_name=f"B {i}", role=Role.STUDENT).id
            for i in range(20 - len(seeded.student_ids))
        ]
        tt.add_members(seeded.group_id, more)
    finally:
        db.close()
    learners = [*seeded.student_ids, *more]
    server.start()
    signer = TokenSigner(server.env["SABAQ_SECRET_KEY"].encode())
    cid = seeded.class_id
    url = f"ws://127.0.0.1:{server.port}/media/classes/{cid}/ws"

    def token(user_id: int) -> str:
        return signer.mint_join(
            user_id=user_id,
            class_id=cid,
            role=ClassRole.LEARNER,
            display_name=f"user {user_id}",
            media_url=f"{server.base}/media",
        )

    peers = await asyncio.gather(*(connect(url, None) for _ in learners))

    def welcomed() -> dict[int, str]:
        return {
            u: m["participant_id"]
            for u, p in zip(learners, peers, strict=True)
            for m in p.messages
            if m["type"] == "welcome"
        }

    try:
        joins = [p.send("join", token=token(u)) for u, p in zip(learners, peers, strict=True)]
        await asyncio.gather(*joins)
        async with asyncio.timeout(20):
            while len(welcomed()) < 4:
                await asyncio.sleep(0.002)
        killed = server.kill()  # mid-burst: some are welcomed, some not yet
        await asyncio.sleep(0.5)  # welcomes already on the wire are read
        told = welcomed()
    finally:
        for p in peers:
            await p.close()
    server.start()
    server.stop()

    db = connect_db(data / "sabaq.sqlite3")
    try:
        ledger = SqliteLedger(db)
        events = ledger.events(cid)
        assert ledger.verify_all() == []
    finally:
        db.close()
    joined = {le.event.participant_id for le in events if le.event.kind is EventKind.JOINED}
    lost = {u: pid for u, pid in told.items() if pid not in joined}
    assert not lost, f"{len(lost)} of {len(told)} welcomed joins are not in the register"
    by_user = intervals_by_user(events)
    for user in told:
        spans = by_user[user]
        assert len(spans) == 1 and spans[0].end is not None
        assert killed - HEARTBEAT - 0.25 <= spans[0].end <= killed, spans[0].end - killed
