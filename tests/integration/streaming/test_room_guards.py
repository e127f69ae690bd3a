"""The room holds against a client that opens many sockets, floods messages, or whose media
dies without a word: one person is in a class once, a flood reaches nobody else, and a dead
publisher is shown as not publishing."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from aiohttp.test_utils import TestServer

from access.models import ClassRole
from tests.conftest import Academy, SignIn, SignInTo, free_port, seed_academy
from tests.peers import Peer, connect, join, publish, ws_url
from web.core import keys
from web.core.app import create_app
from web.core.settings import Settings


def _token(served: TestServer, academy: Academy, user_id: int) -> str:
    return served.app[keys.SIGNER].mint_join(
        user_id=user_id,
        class_id=academy.class_id,
        role=ClassRole.LEARNER,
        display_name="Студент",
        media_url="",
    )


async def test_fifty_sockets_of_one_person_leave_one_copy_with_one_peer_connection(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    client = sign_in(academy.student_ids[0])
    url = ws_url(client, academy.class_id)
    tokens = [_token(served, academy, academy.student_ids[0]) for _ in range(50)]
    peers: list[Peer] = list(await asyncio.gather(*(connect(url, t) for t in tokens)))
    room = served.app[keys.MEDIA_NODE].rooms[academy.class_id]
    try:
        # Every socket has its answer: welcomed (and maybe taken over since), or closed.
        async with asyncio.timeout(60):
            while any(
                p.closed_code is None and not any(m["type"] == "welcome" for m in p.messages)
                for p in peers
            ):
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # offers to the copies, if any, are made meanwhile
        copies = [p for p in room.participants.values() if p.user_id == academy.student_ids[0]]
        assert len(copies) == 1, f"{len(copies)} copies of the student in the room"
        open_peers = [p for p in peers if p.closed_code is None]
        assert len(open_peers) == 1
        # One server-side peer connection for the student: the view of the teacher.
        views = [v for q in room.participants.values() for v in q.views.values()]
        assert len(views) == 1
        assert len(copies[0].views) == 1
        for p in peers:
            if p is not open_peers[0]:
                assert p.closed_code == 4001
                assert any(m.get("code") == "opened_elsewhere" for m in p.messages)
        roster = [m for m in teacher.messages if m["type"] == "roster"][-1]
        assert [q["user_id"] for q in roster["participants"]].count(academy.student_ids[0]) == 1
    finally:
        for p in peers:
            await p.close()
        await teacher.close()


async def test_a_flood_of_hand_toggles_reaches_the_others_bounded_and_warns_its_sender_once(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    other = await join(sign_in(academy.student_ids[1]), academy.class_id)
    flooder = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await asyncio.sleep(0.3)  # the rosters of the joins themselves have arrived
    seen_teacher, seen_other = len(teacher.messages), len(other.messages)
    for i in range(3000):
        await flooder.send("raise_hand" if i % 2 == 0 else "lower_hand")
    await flooder.send("ping")
    await flooder.wait_for("pong", timeout=30)
    await asyncio.sleep(0.5)
    for peer, seen in ((teacher, seen_teacher), (other, seen_other)):
        rosters = [m for m in peer.messages[seen:] if m["type"] == "roster"]
        # The burst (10) and what refills while the flood is read (1 a second): far fewer
        # than the 3,000 toggles.
        assert 0 < len(rosters) <= 40, len(rosters)
    warnings = [m for m in flooder.messages if m["type"] == "error"]
    assert [w["code"] for w in warnings] == ["too_fast"]
    assert flooder.closed_code is None
    # Normal use goes on once the flood stops: a hand raised a moment later is seen.
    await asyncio.sleep(1.5)
    seen = len(teacher.messages)
    await flooder.send("lower_hand")
    await flooder.send("raise_hand")
    async with asyncio.timeout(5):
        while True:
            roster = await teacher.wait_for("roster", after=seen)
            seen = teacher.messages.index(roster) + 1
            me = next(q for q in roster["participants"] if q["user_id"] == academy.student_ids[0])
            if me["hand_raised"]:
                break
    for p in (flooder, other, teacher):
        await p.close()


async def test_a_publisher_whose_connection_dies_without_a_word_is_shown_not_publishing(
    settings: Settings, sign_in_to: SignInTo
) -> None:
    quick = dataclasses.replace(settings, publisher_silence_seconds=1.5)
    server = TestServer(create_app(quick), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        academy = seed_academy(server.app)
        teacher = await join(sign_in_to(server, academy.teacher_id), academy.class_id)
        await publish(teacher)
        viewer = await join(sign_in_to(server, academy.student_ids[0]), academy.class_id)
        await viewer.wait_frames(5)
        roster = [m for m in viewer.messages if m["type"] == "roster"][-1]
        assert roster["publisher"] == "Марат Искаков"
        seen = len(viewer.messages)
        # The teacher's peer connection goes away; the WebSocket says nothing.
        assert teacher.pc is not None
        await teacher.pc.close()
        started = time.monotonic()
        async with asyncio.timeout(10):
            while True:
                roster = await viewer.wait_for("roster", after=seen)
                seen = viewer.messages.index(roster) + 1
                mine = [q for q in roster["participants"] if q["user_id"] == academy.teacher_id]
                if roster["publisher"] is None and not any(q["publishing"] for q in mine):
                    break
        # Within the bound (1.5 s of silence, checked a few times a bound), not at a timeout.
        assert time.monotonic() - started < 5
        await viewer.wait_for("source_ended", timeout=2)  # its picture is taken down
        await viewer.close()
        await teacher.close()
    finally:
        await server.close()
