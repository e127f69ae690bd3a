"""What the media node must not forget across a restart (issue 18, item 5): a person taken out
stays out, an ended class stays ended (it never starts again), and a join token admits once —
also when the token was minted before the restart and is still within its lifetime."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestServer

from access.events import EventKind
from access.models import ClassRole
from tests.conftest import Academy, SignInTo, free_port, seed_academy
from tests.peers import Peer, connect, join_token, publish
from tests.redis_server import RedisServer
from web.core import keys
from web.core.app import create_app, create_media_app
from web.core.settings import Settings


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(settings), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


class Mint:
    """Join tokens as the control plane mints them (for the seeded class unless named)."""

    def __init__(self, server: TestServer, academy: Academy) -> None:
        self._signer = server.app[keys.SIGNER]
        self._class_id = academy.class_id

    def __call__(self, user_id: int, role: ClassRole, class_id: int | None = None) -> str:
        return self._signer.mint_join(
            user_id=user_id,
            class_id=class_id or self._class_id,
            role=role,
            display_name="Кто-то",
            media_url="",
        )


async def enter(server: TestServer, class_id: int, token: str) -> Peer:
    url = str(server.make_url(f"/media/classes/{class_id}/ws")).replace("http://", "ws://")
    return await connect(url, token)


async def outcome(peer: Peer) -> tuple[str, str, int | None]:
    """The first answer to a join: welcome, or an error's code and message with the close."""
    async with asyncio.timeout(10):
        while not any(m["type"] in ("welcome", "error") for m in peer.messages):
            await asyncio.sleep(0.02)
    first = next(m for m in peer.messages if m["type"] in ("welcome", "error"))
    if first["type"] == "welcome":
        return "welcome", "", None
    return first["code"], first["message"], await peer.wait_closed()


async def test_revoked_removed_and_ended_stay_so_after_a_restart_and_a_join_token_admits_once(
    settings: Settings,
) -> None:
    learner = ClassRole.LEARNER
    async with running(settings) as server:
        academy = seed_academy(server.app)
        mint = Mint(server, academy)
        cid, other = academy.class_id, academy.other_class_id
        s = academy.student_ids
        # Tokens minted before the restart, still within their lifetime after it.
        host_again = mint(academy.teacher_id, ClassRole.HOST)
        learner_again = mint(s[1], learner)
        taken_out = mint(s[2], learner)
        guest = mint(s[3], ClassRole.GUEST, other)
        teacher = await enter(server, cid, mint(academy.teacher_id, ClassRole.HOST))
        assert (await outcome(teacher))[0] == "welcome"
        await publish(teacher)
        used = mint(s[0], learner)
        student = await enter(server, cid, used)
        assert (await outcome(student))[0] == "welcome"
        # The same join token a second time: refused, the first stays.
        twice = await enter(server, cid, used)
        code, message, close = await outcome(twice)
        assert (code, close) == ("token_used", 4401)
        assert "used already" in message
        assert student.closed_code is None
        # A learner taken out by the control plane (not admitted), before they came.
        control = server.app[keys.MEDIA_CONTROL]
        await control.remove_user(cid, s[2], "not_admitted", "Вы не допущены")
        # A guest of the other class whose invitation was revoked (the teacher there is in).
        other_teacher = await enter(
            server, other, mint(academy.other_teacher_id, ClassRole.HOST, other)
        )
        assert (await outcome(other_teacher))[0] == "welcome"
        await control.remove_user(other, s[3], "revoked", "Приглашение отозвано")
        await teacher.send("end_class")
        await teacher.wait_for("ended")
        for p in (teacher, student, twice, other_teacher):
            await p.close()

    async with running(settings) as server:
        # The class ended: neither its learners nor its teacher come back into it.
        for token in (learner_again, host_again):
            peer = await enter(server, cid, token)
            code, message, close = await outcome(peer)
            assert (code, message, close) == ("class_ended", "The class has ended", 4000)
            await peer.close()
        # The revoked guest stays out of the class that still runs; so does the learner taken
        # out (refused as the class ended, and as taken out: the ended class is said first).
        peer = await enter(server, other, guest)
        code, message, close = await outcome(peer)
        assert (code, close) == ("revoked", 4003), (code, message)
        await peer.close()
        peer = await enter(server, cid, taken_out)
        assert (await outcome(peer))[0] == "class_ended"
        await peer.close()
        assert server.app[keys.MEDIA_CONTROL] is not None
        node = server.app[keys.MEDIA_NODE]
        room = node.rooms.get(other)
        assert room is None or all(p.user_id != s[3] for p in room.participants.values())
        # A join token spent before the restart stays spent (the other class still runs).
        teacher2 = await enter(server, other, mint(academy.other_teacher_id, ClassRole.HOST, other))
        assert (await outcome(teacher2))[0] == "welcome"
        await teacher2.close()
        async with asyncio.timeout(5):
            await node.outbox.flush()
        kinds = [e.event.kind for e in server.app[keys.LEDGER].events(cid)]
        assert kinds.count(EventKind.CLASS_STARTED) == 1
        assert kinds[-1] is EventKind.CLASS_ENDED


async def test_a_join_token_spent_before_a_restart_admits_nobody_after_it(
    settings: Settings,
) -> None:
    async with running(settings) as server:
        academy = seed_academy(server.app)
        mint = Mint(server, academy)
        token = mint(academy.teacher_id, ClassRole.HOST)
        teacher = await enter(server, academy.class_id, token)
        assert (await outcome(teacher))[0] == "welcome"
        await teacher.send("leave")
        await teacher.close()
    async with running(settings) as server:
        again = await enter(server, academy.class_id, token)
        code, message, close = await outcome(again)
        assert (code, close) == ("token_used", 4401), message
        await again.close()
        fresh = await enter(server, academy.class_id, mint(academy.teacher_id, ClassRole.HOST))
        assert (await outcome(fresh))[0] == "welcome"
        await fresh.close()


async def test_in_a_cluster_an_ended_class_and_a_spent_join_token_outlive_a_media_node_restart(
    settings: Settings, tmp_path: Path, sign_in_to: SignInTo
) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    cluster = dataclasses.replace(
        settings,
        redis_url=redis.url,
        node_heartbeat_seconds=0.2,
        node_dead_after_seconds=5.0,
        control_lock_seconds=2.0,
    )
    port = free_port()
    node_settings = dataclasses.replace(
        cluster,
        data_dir=tmp_path / "media-1",
        node_id="media-1",
        media_url=f"http://127.0.0.1:{port}/media",
    )
    control = TestServer(create_app(cluster, role="control"), host="127.0.0.1", port=free_port())
    media = TestServer(create_media_app(node_settings), host="127.0.0.1", port=port)
    await media.start_server()
    await control.start_server()
    try:
        academy = seed_academy(control.app)
        mint = Mint(control, academy)
        cid, other = academy.class_id, academy.other_class_id
        s = academy.student_ids
        url = f"http://127.0.0.1:{port}/media"

        async def at_node(class_id: int, token: str) -> Peer:
            return await connect(f"{url}/classes/{class_id}/ws".replace("http://", "ws://"), token)

        async def placed(user_id: int, class_id: int) -> str:
            """A join token from the control node (which places the class on the node)."""
            grant = await join_token(sign_in_to(control, user_id), class_id)
            return str(grant["token"])

        learner_again = mint(s[1], ClassRole.LEARNER)
        host_again = mint(academy.teacher_id, ClassRole.HOST)
        teacher = await at_node(cid, await placed(academy.teacher_id, cid))
        assert (await outcome(teacher))[0] == "welcome"
        other_teacher = await at_node(other, await placed(academy.other_teacher_id, other))
        assert (await outcome(other_teacher))[0] == "welcome"
        used = await placed(academy.outsider_id, other)
        student = await at_node(other, used)
        assert (await outcome(student))[0] == "welcome"
        twice = await at_node(other, used)
        assert (await outcome(twice))[:1] == ("token_used",)
        await teacher.send("end_class")
        await teacher.wait_for("ended")
        await asyncio.sleep(0.5)  # the node keeps that the class ended
        for p in (teacher, student, twice, other_teacher):
            await p.close()

        await media.close()  # the node restarts on the same data folder
        media = TestServer(create_media_app(node_settings), host="127.0.0.1", port=port)
        await media.start_server()

        for token in (learner_again, host_again):
            peer = await at_node(cid, token)
            code, message, close = await outcome(peer)
            assert (code, message, close) == ("class_ended", "The class has ended", 4000)
            await peer.close()
        # The other class is placed on the restarted node again; the spent token stays spent.
        other_teacher = await at_node(other, await placed(academy.other_teacher_id, other))
        assert (await outcome(other_teacher))[0] == "welcome"
        again = await at_node(other, used)
        code, message, close = await outcome(again)
        assert (code, close) == ("token_used", 4401), message
        for p in (again, other_teacher):
            await p.close()
    finally:
        await control.close()
        await media.close()
        redis.kill()


async def test_spending_a_join_token_never_holds_the_event_loop_while_the_database_is_busy(
    settings: Settings,
) -> None:
    """Spending a token is kept on disk off the event loop: while another writer holds the
    database (the events' committer, a backup) the media goes on; the token is spent once the
    write passes, and stays spent after a restart."""
    async with running(settings) as server:
        gate = server.app[keys.MEDIA_NODE].gate
        assert gate is not None
        locked = threading.Event()

        def hold_the_lock(seconds: float) -> None:
            blocker = sqlite3.connect(settings.database_path, isolation_level=None)
            try:
                blocker.execute("BEGIN IMMEDIATE")
                locked.set()
                time.sleep(seconds)
                blocker.execute("ROLLBACK")
            finally:
                blocker.close()

        holding = asyncio.create_task(asyncio.to_thread(hold_the_lock, 1.0))
        await asyncio.to_thread(locked.wait, 5)
        until = settings.clock() + 600
        spending = asyncio.create_task(gate.spend("t-busy", until))
        gaps, last = [], time.monotonic()
        while not spending.done():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
        await holding
        assert await spending
        assert max(gaps) < 0.3, f"the event loop stood still for {max(gaps):.2f} s"
        assert not await gate.spend("t-busy", until)
    async with running(settings) as again:
        gate = again.app[keys.MEDIA_NODE].gate
        assert gate is not None and not await gate.spend("t-busy", until)
