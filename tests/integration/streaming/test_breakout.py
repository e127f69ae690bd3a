"""Breakout groups with real aiortc peers: no packet crosses groups (a viewer in one group
receives nothing of a publisher in another, its own group's media flowing), the teacher visits
a group by moving into it, a student who drops comes back into their group, the timer closes
the groups and everyone is back in the main room with the media flowing again, and the ledger
has the opening, each move and the close, with presence unbroken across the moves."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription

from access.events import EventKind
from attendance.presence import intervals_by_user
from streaming.room import Room
from tests.conftest import Academy, SignIn
from tests.integration.streaming.test_questions import english
from tests.peers import MovingVideo, Peer, Tone, drop, join, pc, publish, rejoin, wait_gone
from web.core import keys
from web.core.settings import Settings

SETTLE = 0.6  # for packets already on their way when a move takes effect
HOLD = 0.4  # the active speaker's hold, short in tests
WINDOW = 1.5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, active_speaker_hold_seconds=HOLD)


async def _lesson(academy: Academy, sign_in: SignIn, students: int) -> tuple[Peer, list[Peer]]:
    """The teacher and the first ``students`` students in the academy's class."""
    cid = academy.class_id
    teacher = await join(sign_in(academy.teacher_id), cid)
    return teacher, [await join(sign_in(u), cid) for u in academy.student_ids[:students]]


async def _packets(peer: Peer, source: Peer) -> int:
    """RTP packets (sound and picture) the peer's connection to the source has received."""
    conn: RTCPeerConnection | None = peer.watching.get(source.participant_id)
    if conn is None:
        return 0
    stats = await conn.getStats()
    return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")


async def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def _flows(viewer: Peer, sources: list[Peer], quiet: list[Peer]) -> None:
    """Over a window: packets of each of ``sources`` reach the viewer, not one of ``quiet``'s."""
    await asyncio.sleep(SETTLE)
    before = {id(s): await _packets(viewer, s) for s in [*sources, *quiet]}
    await asyncio.sleep(WINDOW)
    for s in sources:
        assert await _packets(viewer, s) > before[id(s)] + 10, "its own group's media flow"
    for s in quiet:
        assert await _packets(viewer, s) == before[id(s)], "no packet crosses groups"


def _broadcast_to(peer: Peer) -> Callable[[], bool]:
    return lambda: any(m.get("broadcast") for m in peer.messages if m["type"] == "chat")


@pytest.mark.timeout(120)
async def test_groups_are_isolated_visited_rejoined_and_closed_by_the_timer(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    node = served.app[keys.MEDIA_NODE]
    cid = academy.class_id  # a lecture: each group is a seminar all the same
    teacher = await join(sign_in(academy.teacher_id), cid)
    await publish(teacher)
    s = [await join(sign_in(u), cid) for u in academy.student_ids[:4]]
    room: Room = node.rooms[cid]
    a, b = [academy.student_ids[0], academy.student_ids[1]], academy.student_ids[2:4]

    # A student may not open groups (a breach of the protocol: they are told, and let go);
    # the teacher's bad split is refused with a reason, and the teacher stays.
    intruder = await join(sign_in(academy.student_ids[5]), cid)
    await intruder.send("open_breakout", count=2, seconds=600)
    assert (await intruder.wait_for("error"))["code"] == "not_allowed"
    assert await intruder.wait_closed() == 4400
    await intruder.close()
    mark = len(teacher.messages)
    await teacher.send("open_breakout", count=9, seconds=600)
    assert (await teacher.wait_for("error", after=mark))["code"] == "too_few_learners"
    mark = len(teacher.messages)
    await teacher.send("move_to_group", group=0)
    assert (await teacher.wait_for("error", after=mark))["code"] == "no_breakout"

    await teacher.send("open_breakout", groups=[a, b], seconds=600, late="place")
    told = [await p.wait_for("breakout") for p in s]
    assert [t["group"] for t in told] == [0, 0, 1, 1] and told[0]["groups"] == [a, b]
    # In a group everyone publishes, the lecture's floor or not: told it is a seminar.
    for p in s:
        assert (await p.wait_for("mode"))["mode"] == "seminar"
    for p in s:
        await publish(p)
    # Each student hears and sees their own group, not one packet of the other, nor of the
    # teacher in the main room.
    await _until(lambda: all(len(p.watching) == 4 for p in s))
    await _flows(s[0], [s[1]], [s[2], s[3], teacher])
    await _flows(s[3], [s[2]], [s[0], s[1], teacher])
    # The teacher in the main room: nothing of the groups.
    await _flows(teacher, [], s)

    # An unknown group is refused; the teacher visits group 1, then group 2.
    mark = len(teacher.messages)
    await teacher.send("move_to_group", group=5)
    error = await teacher.wait_for("error", after=mark)
    assert error["code"] == "no_such_group" and "group 6" in error["message"]
    await teacher.send("move_to_group", group=0)
    await _flows(teacher, [s[0], s[1]], [s[2], s[3]])
    await _flows(s[1], [teacher, s[0]], [s[2]])
    await teacher.send("move_to_group", group=1)
    await _flows(teacher, [s[2], s[3]], [s[0], s[1]])
    await _flows(s[0], [s[1]], [teacher])

    # A group's chat is its own; the teacher's broadcast reaches everyone.
    await s[2].send("chat", text="our answer is 42")
    said = await s[3].wait_for("chat")
    assert said["text"] == "our answer is 42" and said["group"] == 1
    await teacher.send("broadcast", text="Two minutes left")
    for p in s:
        await _until(_broadcast_to(p))
    assert not [m for m in s[0].messages if m["type"] == "chat" and not m.get("broadcast")]

    # A student of group 2 drops and comes back within the grace: into group 2 again.
    reconnect = str(s[2].messages[0]["reconnect_token"])
    drop(s[2])
    await wait_gone(node, cid, b[0])
    await s[2].close()
    s[2] = await rejoin(sign_in(b[0]), cid, reconnect)
    await s[2].wait_for("welcome")
    assert (await s[2].wait_for("breakout"))["group"] == 1
    assert s[2].messages[0]["mode"] == "seminar"
    await publish(s[2])
    await _until(lambda: len(s[2].watching) == 4)  # the teacher and the three others
    await _flows(s[2], [s[3], teacher], [s[0], s[1]])

    # A student arriving late is placed in the smaller group (both have two: the first).
    late = await join(sign_in(academy.student_ids[4]), cid)
    assert (await late.wait_for("breakout"))["group"] == 0

    # The time runs out (the room's clock moved on): everyone is back in the main room, told,
    # and the teacher's picture flows to everyone again; the lecture's rule is back.
    real = room.breakout_clock
    room.breakout_clock = lambda: real() + 601.0
    closed = [await p.wait_for("breakout_closed", timeout=5) for p in [*s, teacher]]
    assert {c["reason"] for c in closed} == {"timer"}
    assert all(p.group is None for p in room.participants.values())
    await _until(lambda: all(not room.participants[p.participant_id].publications for p in s))
    await _flows(s[0], [teacher], [])
    await _flows(s[3], [teacher], [])

    await node.outbox.flush()
    events = [le.event for le in served.app[keys.LEDGER].events(cid)]
    [opened] = [e for e in events if e.kind is EventKind.BREAKOUT_OPENED]
    assert opened.user_id == academy.teacher_id and opened.data["groups"][0] == a
    [shut] = [e for e in events if e.kind is EventKind.BREAKOUT_CLOSED]
    assert shut.data == {"breakout": opened.data["breakout"], "reason": "timer"}
    moves = [(e.user_id, e.data["group"]) for e in events if e.kind is EventKind.BREAKOUT_MOVED]
    assert moves[:4] == [(a[0], 0), (a[1], 0), (b[0], 1), (b[1], 1)]
    assert (academy.teacher_id, 0) in moves and (academy.teacher_id, 1) in moves
    assert moves.count((b[0], 1)) == 2  # split, then back after the drop
    assert (academy.student_ids[4], 0) in moves
    assert moves[-6:].count((b[0], None)) == 1  # everyone back at the close
    # Presence: one unbroken interval for each student, the moves and the drop included.
    intervals = intervals_by_user([le for le in served.app[keys.LEDGER].events(cid)], grace=60)
    for u in [*a, *b]:
        assert len(intervals[u]) == 1

    # The register shows the moves beside presence, and its export too.
    staff = english(sign_in(academy.staff_id), served)
    page = await (await staff.get(f"/classes/{cid}/attendance")).text()
    assert "Breakout groups 1: 2 groups" in page and "closed when the time was over" in page
    resp = await staff.get(f"/classes/{cid}/attendance.csv")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    header = next(r for r in rows if r and r[0] == "Student")
    col = header.index("Breakout groups")
    name = served.app[keys.ACCOUNTS].get(b[0]).full_name
    [row] = [r for r in rows if r and r[0] == name]
    cell = row[col].split("; ")
    assert [c.split(" ", 1)[1] for c in cell] == ["group 2", "group 2", "main room"]
    assert row[header.index("Mark")] != "Absent"
    # The student's own history shows their moves in the class.
    resp = await english(sign_in(b[0]), served).get(f"/reports/learners/{b[0]}.csv")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    header = next(r for r in rows if r and r[0] == "Class start")
    [listed] = [r for r in rows[rows.index(header) + 1 :] if len(r) == len(header)]
    assert listed[header.index("Breakout groups")].endswith("main room")
    for p in [late, *s, teacher]:
        await p.close()


@pytest.mark.timeout(60)
async def test_the_teacher_closes_the_groups_and_the_end_of_the_class_records_their_close(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    node, cid = served.app[keys.MEDIA_NODE], academy.class_id
    teacher, s = await _lesson(academy, sign_in, 3)
    await teacher.send("open_breakout", count=2, seconds=120, late="wait")
    groups = [(await p.wait_for("breakout"))["group"] for p in s]
    assert sorted(groups) == [0, 0, 1] or sorted(groups) == [0, 1, 1]
    # A late student waits in the main room as the teacher chose.
    late = await join(sign_in(academy.student_ids[3]), cid)
    assert (await late.wait_for("breakout"))["group"] is None
    # A student may not close the groups (told, and let go); the teacher adds time.
    await late.send("close_breakout")
    assert (await late.wait_for("error"))["code"] == "not_allowed"
    assert await late.wait_closed() == 4400
    await late.close()
    late = await join(sign_in(academy.student_ids[3]), cid)
    assert (await late.wait_for("breakout"))["group"] is None
    mark = len(s[1].messages)
    await teacher.send("add_time", seconds=300)
    assert (await s[1].wait_for("breakout", after=mark))["remaining"] > 400
    mark = len(teacher.messages)
    await teacher.send("open_breakout", count=2, seconds=120)
    assert (await teacher.wait_for("error", after=mark))["code"] == "breakout_open"
    # The teacher moves the late student into group 2, then closes the groups.
    mark = len(late.messages)
    await teacher.send("move_to_group", group=1, participant_id=late.participant_id)
    assert (await late.wait_for("breakout", after=mark))["group"] == 1
    await teacher.send("close_breakout")
    assert (await late.wait_for("breakout_closed"))["reason"] == "teacher"

    # Opened again at random, the split saved: the teacher's class page offers it (from the
    # record) for the group's classes; and the class ends with them open: their close is in
    # the record first.
    mark = len(s[0].messages)
    await teacher.send("open_breakout", count=2, seconds=120, save=True)
    told = await s[0].wait_for("breakout", after=mark)
    assert told["saved"] is True
    await node.outbox.flush()
    page = await (await sign_in(academy.teacher_id).get(f"/classes/{cid}")).text()
    config = json.loads(page.split('id="room-config">', 1)[1].split("</script>", 1)[0])
    assert config["savedSplit"] == told["groups"]
    assert sorted(u for g in config["savedSplit"] for u in g) == academy.student_ids[:4]
    await teacher.send("end_class")
    await s[0].wait_for("ended")
    await node.outbox.flush()
    kinds = [le.event.kind for le in served.app[keys.LEDGER].events(cid)]
    closes = [i for i, k in enumerate(kinds) if k is EventKind.BREAKOUT_CLOSED]
    assert len(closes) == 2 and closes[-1] < kinds.index(EventKind.CLASS_ENDED)
    reasons = [
        le.event.data["reason"]
        for le in served.app[keys.LEDGER].events(cid)
        if le.event.kind is EventKind.BREAKOUT_CLOSED
    ]
    assert reasons == ["teacher", "class_ended"]
    for p in [late, *s, teacher]:
        await p.close()


def _speakers(peer: Peer) -> list[str | None]:
    return [m["source"] for m in peer.messages if m["type"] == "active_speaker"]


@pytest.mark.timeout(90)
async def test_each_group_has_its_own_active_speaker(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher, s = await _lesson(academy, sign_in, 4)
    groups = [academy.student_ids[:2], academy.student_ids[2:4]]
    await teacher.send("open_breakout", groups=groups, seconds=600)
    for p in s:
        await p.wait_for("breakout")
    # In each group one speaks (a tone) and one is silent: both groups talk at once.
    await publish(s[0], sound=Tone())
    await publish(s[1])
    await publish(s[2], sound=Tone())
    await publish(s[3])
    await _until(lambda: _speakers(s[1])[-1:] == [s[0].participant_id])
    await _until(lambda: _speakers(s[3])[-1:] == [s[2].participant_id])
    # Nobody is told of the other group's speaker, nor the teacher in the main room.
    assert s[2].participant_id not in _speakers(s[0]) + _speakers(s[1])
    assert s[0].participant_id not in _speakers(s[2]) + _speakers(s[3])
    assert not {s[0].participant_id, s[2].participant_id} & set(_speakers(teacher))
    # Closed: everyone is back in the main room of the lecture (the students' publications
    # stop), whose speaker is nobody: each page is told so.
    await teacher.send("close_breakout")
    await s[1].wait_for("breakout_closed")
    await _until(lambda: all(_speakers(p)[-1:] == [None] for p in s))
    for p in [*s, teacher]:
        await p.close()


@pytest.mark.timeout(60)
async def test_a_student_shares_a_screen_with_their_group_only(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    node, cid = served.app[keys.MEDIA_NODE], academy.class_id
    teacher, s = await _lesson(academy, sign_in, 3)
    screen = pc()
    screen.addTrack(MovingVideo())
    await screen.setLocalDescription(await screen.createOffer())
    offer = screen.localDescription.sdp
    groups = [academy.student_ids[:2], academy.student_ids[2:3]]
    await teacher.send("open_breakout", groups=groups, seconds=600)
    for p in s:
        await p.wait_for("breakout")
    await s[0].send("publish", sdp=offer, tracks=["screen"])
    answer = await s[0].wait_for("answer")
    assert answer["publication"] == "screen"
    await screen.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    source = f"{s[0].participant_id}/screen"
    await _until(lambda: s[1].frames_by_label.get("screen", 0) >= 10)  # the group's mate
    await asyncio.sleep(SETTLE)
    conn = s[2].watching.get(source)
    got = 0
    if conn is not None:
        stats = await conn.getStats()
        got = sum(x.packetsReceived for x in stats.values() if x.type == "inbound-rtp")
    assert got == 0 and s[2].frames_by_label.get("screen", 0) == 0  # the other group's: nothing
    # Back in the main room the student's screen stops for everyone.
    await teacher.send("close_breakout")
    ended = await s[1].wait_for("source_ended")
    assert ended["source"] == source
    room: Room = node.rooms[cid]
    assert "screen" not in room.participants[s[0].participant_id].publications
    # A screen offered then is not an offence; one offered by a student never in a group is.
    await s[0].send("publish", sdp=offer, tracks=["screen"])
    late = await join(sign_in(academy.student_ids[3]), cid)
    await late.send("publish", sdp=offer, tracks=["screen"])
    assert (await late.wait_for("error"))["code"] == "not_allowed"
    assert s[0].closed_code is None
    await screen.close()
    for p in [late, *s, teacher]:
        await p.close()
