"""A cluster of real processes for the tests: `sabaq control` and `sabaq media` started as a
system administrator would, on free loopback ports, with a real redis-server between them; and
participants that behave like the class page — when their connection drops they ask the control
node for a new join token and go wherever it says."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession

from access.sqlite_store import SqliteAccounts
from attendance.models import LedgerEvent
from attendance.sqlite_ledger import SqliteLedger
from control.database import connect as connect_db
from scheduler.sqlite_store import SqliteTimetable
from streaming.aiortc_media import advertise_host_addresses
from tests.conftest import Academy, free_port, seed_into
from tests.peers import Peer, connect, publish
from tests.redis_server import RedisServer
from web.core.http import CSRF_COOKIE, SESSION_COOKIE

SABAQ = [sys.executable, "-m", "web.cli"]


@contextlib.asynccontextmanager
async def seeded_cluster(folder: Path) -> AsyncIterator[tuple[Cluster, RedisServer, Academy]]:
    """A redis-server, and an academy in the control node's database; no process started yet.
    Everything started is stopped on the way out."""
    server = RedisServer(folder / "redis")
    server.start()
    c = Cluster(folder, server.url)
    c.control_dir.mkdir(parents=True)
    db = connect_db(c.control_dir / "sabaq.sqlite3")
    academy = seed_into(SqliteAccounts(db), SqliteTimetable(db), students=3)
    db.close()
    try:
        yield c, server, academy
    finally:
        for m in c.members:
            await m.leave()
        c.close()
        server.kill()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[Cluster, RedisServer, Academy]]:
    """A test's seeded cluster (``seeded_cluster``)."""
    async with seeded_cluster(tmp_path) as running:
        yield running


async def until(
    check: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 20.0
) -> None:
    """Wait for the check (plain or a coroutine function) to hold; fail saying what did not."""
    deadline = time.monotonic() + timeout
    while True:
        held = check()
        if await held if inspect.isawaitable(held) else held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.1)


class Proc:
    """One Sabaq process; its output goes to a file of the test's (shown when a test fails)."""

    def __init__(self, role: str, env: dict[str, str], log: Path) -> None:
        self.role = role
        self.env = env
        self.log = log
        self.port = int(env["SABAQ_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*SABAQ, self.role], env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()

    async def ready(self, timeout: float = 30.0) -> None:
        """Until /readyz answers 200 (or the process exits: that fails with its output)."""
        deadline = time.monotonic() + timeout
        async with ClientSession() as http:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.role} exited:\n{self.output()}")
                with contextlib.suppress(OSError):
                    async with http.get(f"{self.base}/readyz") as resp:
                        if resp.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.role} not ready:\n{self.output()}")
                await asyncio.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def kill(self) -> None:
        """As a crash: SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)


@dataclass
class Cluster:
    folder: Path
    redis_url: str
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    procs: list[Proc] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)

    def member(self, control: Proc, user_id: int, class_id: int, publishes: bool = False) -> Member:
        """A participant signed in as ``user_id``, not yet started."""
        cookies = session_cookies(self.control_dir / "sabaq.sqlite3", user_id)
        m = Member(control, cookies, class_id, publishes)
        self.members.append(m)
        return m

    @property
    def control_dir(self) -> Path:
        return self.folder / "control"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "SABAQ_SECRET_KEY": self.secret,
            "REDIS_URL": self.redis_url,
            "SABAQ_ICE_ADDRESSES": "127.0.0.1",
            "SABAQ_NODE_HEARTBEAT_SECONDS": "0.3",
            "SABAQ_NODE_DEAD_AFTER_SECONDS": "2",
            "SABAQ_CONTROL_LOCK_SECONDS": "2",
            "SABAQ_GUARANTEE_INTERVAL_SECONDS": "0",
            "SABAQ_WEBHOOK_INTERVAL_SECONDS": "0",
            "SABAQ_HELD_MIN_LIVE_SECONDS": "0",
            "SABAQ_JOIN_TOKENS_PER_MINUTE": "1000",  # participants here retry at once
        }
        env.update(extra)
        return env

    def control(self, **extra: str) -> Proc:
        port = free_port()
        n = sum(1 for p in self.procs if p.role == "control") + 1
        proc = Proc(
            "control",
            self.env(SABAQ_DATA_DIR=str(self.control_dir), SABAQ_PORT=str(port), **extra),
            self.folder / f"control-{n}.log",
        )
        self.procs.append(proc)
        return proc

    def media(self, name: str, **extra: str) -> Proc:
        port = free_port()
        proc = Proc(
            "media",
            self.env(
                SABAQ_DATA_DIR=str(self.folder / name),
                SABAQ_PORT=str(port),
                SABAQ_NODE_ID=name,
                SABAQ_MEDIA_URL=f"http://127.0.0.1:{port}/media",
                **extra,
            ),
            self.folder / f"{name}.log",
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()

    def ledger(self) -> list[LedgerEvent]:
        db = sqlite3.connect(self.control_dir / "sabaq.sqlite3", timeout=10)
        db.row_factory = sqlite3.Row
        try:
            ledger = SqliteLedger(db)
            return [le for cid in ledger.class_ids() for le in ledger.events(cid)]
        finally:
            db.close()


async def teacher_and_student(c: Cluster, control: Proc, academy: Academy) -> tuple[Member, Member]:
    """The class's teacher publishing and its first student watching, both welcomed."""
    teacher = c.member(control, academy.teacher_id, academy.class_id, publishes=True)
    student = c.member(control, academy.student_ids[0], academy.class_id)
    teacher.start()
    await teacher.welcomed()
    student.start()
    await student.welcomed()
    return teacher, student


def session_cookies(db_path: Path, user_id: int) -> dict[str, str]:
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    try:
        token, _ = SqliteAccounts(db).open_session(user_id)
    finally:
        db.close()
    return {SESSION_COOKIE: token, CSRF_COOKIE: secrets.token_urlsafe(16)}


class Member:
    """A participant who keeps coming back, as the class page does: on a drop it asks the
    control node for a join token and connects to the media node the token names."""

    def __init__(
        self, control: Proc, cookies: dict[str, str], class_id: int, publishes: bool = False
    ) -> None:
        self.control = control
        self.cookies = cookies
        self.class_id = class_id
        self.publishes = publishes
        self.peer: Peer | None = None
        self.joined_at: list[str] = []  # the media URL of every welcome
        self.refusals: list[str] = []
        self.staying = True
        self._task: asyncio.Task[None] | None = None
        self._welcomed = asyncio.Event()

    def start(self) -> None:
        advertise_host_addresses(("127.0.0.1",))  # this process's peers: loopback candidates
        self._task = asyncio.create_task(self._run())

    async def welcomed(self, timeout: float = 20.0) -> str:
        async with asyncio.timeout(timeout):
            await self._welcomed.wait()
        return self.joined_at[-1]

    async def _token(self) -> dict[str, Any] | None:
        headers = {"X-CSRF-Token": self.cookies[CSRF_COOKIE], "Accept": "application/json"}
        async with ClientSession(cookies=self.cookies) as http:
            url = f"{self.control.base}/classes/{self.class_id}/join-token"
            async with http.post(url, headers=headers) as resp:
                body: dict[str, Any] = await resp.json()
                if resp.status != 200:
                    self.refusals.append(body["error"]["code"])
                    return None
                return body

    async def _run(self) -> None:
        while self.staying:
            try:  # a node gone, a refusal: come back as the page does
                grant = await self._token()
                if grant is not None:
                    url = f"{grant['media_url']}/classes/{self.class_id}/ws"
                    peer = self.peer = await connect(
                        url.replace("http://", "ws://"), grant["token"]
                    )
                    try:
                        await self._stay(peer, grant["media_url"])
                    finally:
                        self._welcomed.clear()
                        await peer.close()
            except Exception as exc:
                self.refusals.append(repr(exc))
            await asyncio.sleep(0.2)

    async def _stay(self, peer: Peer, media_url: str) -> None:
        def welcomed() -> bool:
            return any(m["type"] == "welcome" for m in peer.messages)

        while peer.closed_code is None and not welcomed():
            await asyncio.sleep(0.02)
        if not welcomed():
            errors = [str(m["code"]) for m in peer.messages if m["type"] == "error"]
            self.refusals.extend(errors or [f"closed {peer.closed_code}"])
            return
        self.joined_at.append(media_url)
        self._welcomed.set()
        if self.publishes:
            await publish(peer)
        await peer.wait_closed(timeout=3600)

    async def leave(self) -> None:
        """Leave the class for good (the page's Leave button)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def say_goodbye(self) -> None:
        """Leave with the Leave button: the node records it as left."""
        peer = self.peer
        assert peer is not None and self._task is not None
        self.staying = False
        await peer.send("leave")
        await peer.wait_closed()
        async with asyncio.timeout(10):
            await self._task


class RedisCut:
    """A TCP relay in front of Redis that can be cut and healed: one node's network partition
    (the others reach Redis directly)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.cut = False
        self._conns: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._conns |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def sever(self) -> None:
        self.cut = True
        for w in list(self._conns):
            w.close()
        self._conns.clear()

    def heal(self) -> None:
        self.cut = False

    async def close(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
