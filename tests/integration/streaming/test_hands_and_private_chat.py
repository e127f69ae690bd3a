"""Raised hands as a queue (ordered by when they were raised; "next" gives the floor to the
first) and a private word with the teacher that nobody else receives."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestServer

from access.events import EventKind
from tests.conftest import Academy, SignIn
from tests.peers import Peer, drop, join, rejoin
from web.core import keys


def _queue(roster: dict[str, Any]) -> list[tuple[str, int]]:
    """(participant, position) of each raised hand, in the roster's order of the queue."""
    hands = [(p["id"], p["hand_position"]) for p in roster["participants"] if p["hand_raised"]]
    return sorted(hands, key=lambda h: h[1])


async def _queue_is(peer: Peer, expected: list[str]) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            rosters = [m for m in peer.messages if m["type"] == "roster"]
            if rosters and [pid for pid, _ in _queue(rosters[-1])] == expected:
                return rosters[-1]
            await asyncio.sleep(0.02)


async def test_hands_queue_in_the_order_raised_and_next_gives_the_floor_to_the_first(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    students = [await join(sign_in(u), academy.class_id) for u in academy.student_ids[:3]]
    a, b, c = [(await s.wait_for("welcome"))["participant_id"] for s in students]
    # Raised c, a, b (not the order they joined), each after the last is seen.
    for peer, queue in ((students[2], [c]), (students[0], [c, a]), (students[1], [c, a, b])):
        await peer.send("raise_hand")
        await _queue_is(teacher, queue)
    roster = await _queue_is(students[1], [c, a, b])
    assert _queue(roster) == [(c, 1), (a, 2), (b, 3)]
    assert roster["hands"] == [c, a, b]
    # Raising again keeps one's place; lowering leaves the queue and those behind move up.
    await students[2].send("raise_hand")
    await students[0].send("lower_hand")
    await _queue_is(teacher, [c, b])
    await students[0].send("raise_hand")  # back at the end
    await _queue_is(teacher, [c, b, a])

    # A student may not call the next one (refused as any teacher's action is); the teacher's
    # "next" gives the floor to the first.
    intruder = await join(sign_in(academy.student_ids[3]), academy.class_id)
    await intruder.send("next_hand")
    assert (await intruder.wait_for("error"))["code"] == "not_allowed"
    await teacher.send("next_hand")
    granted = await students[2].wait_for("floor_granted")
    assert granted["camera"] is False
    roster = await _queue_is(teacher, [b, a])
    assert [p["floor"] for p in roster["participants"] if p["id"] == c] == ["audio"]
    # "Next" moves the floor: the one who had it loses it (two "next" never leave two speaking).
    await teacher.send("next_hand", camera=True)
    assert (await students[1].wait_for("floor_granted"))["camera"] is True
    await students[2].wait_for("floor_revoked")
    await _queue_is(teacher, [a])
    await teacher.send("next_hand")
    await students[0].wait_for("floor_granted")
    await students[1].wait_for("floor_revoked")
    roster = await _queue_is(teacher, [])
    assert {p["id"]: p["floor"] for p in roster["participants"] if p["floor"]} == {a: "audio"}
    # Nobody waiting: the teacher is told so, nothing else happens.
    await teacher.send("next_hand")
    assert (await teacher.wait_for("error"))["code"] == "no_hands"
    for p in (teacher, intruder, *students):
        await p.close()


async def test_a_raised_hand_keeps_its_place_over_a_rejoin_or_a_second_tab(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """Within the grace a dropped student coming back (or opening a second tab) is still in
    the queue where they were; one who left for good, or was given the floor, is not."""
    cid = academy.class_id
    teacher = await join(sign_in(academy.teacher_id), cid)
    clients = [sign_in(u) for u in academy.student_ids[:3]]
    students = [await join(c, cid) for c in clients]
    welcomes = [await s.wait_for("welcome") for s in students]
    a, b, c = [w["participant_id"] for w in welcomes]
    for peer, queue in ((students[0], [a]), (students[1], [a, b]), (students[2], [a, b, c])):
        await peer.send("raise_hand")
        await _queue_is(teacher, queue)
    drop(students[0])
    await _queue_is(teacher, [b, c])
    back = await rejoin(clients[0], cid, welcomes[0]["reconnect_token"])
    await back.wait_for("welcome")
    await _queue_is(teacher, [a, b, c])  # first again, not last nor gone
    second = await join(clients[1], cid)  # a second tab takes over, keeping the hand
    b2 = (await second.wait_for("welcome"))["participant_id"]
    await _queue_is(teacher, [a, b2, c])
    await students[2].close()  # left for good: the hand goes with them
    await _queue_is(teacher, [a, b2])
    again = await join(clients[2], cid)
    c2 = (await again.wait_for("welcome"))["participant_id"]
    await again.send("ping")
    await again.wait_for("pong")
    await _queue_is(teacher, [a, b2])
    await teacher.send("next_hand")  # the floor given: out of the queue, also over a rejoin
    await back.wait_for("floor_granted")
    await _queue_is(teacher, [b2])
    welcome = next(m for m in back.messages if m["type"] == "welcome")
    drop(back)
    await _queue_is(teacher, [b2])
    back2 = await rejoin(clients[0], cid, welcome["reconnect_token"])
    await back2.wait_for("welcome")
    await again.send("raise_hand")
    await _queue_is(teacher, [b2, c2])
    for p in (teacher, back2, second, again, back, *students):
        await p.close()


async def _chats(peer: Peer) -> list[dict[str, Any]]:
    seen = len(peer.messages)
    await peer.send("ping")  # every message sent before the pong has arrived
    await peer.wait_for("pong", after=seen)
    return [m for m in peer.messages if m["type"] == "chat"]


async def test_a_private_message_reaches_only_the_teacher_and_the_answer_only_its_sender(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    asker = await join(sign_in(academy.student_ids[0]), academy.class_id)
    other = await join(sign_in(academy.student_ids[1]), academy.class_id)
    asker_id = (await asker.wait_for("welcome"))["participant_id"]
    other_id = (await other.wait_for("welcome"))["participant_id"]
    teacher_id = (await teacher.wait_for("welcome"))["participant_id"]

    await asker.send("chat", text="May I leave early?", to="teacher")
    got = await teacher.wait_for("chat")
    assert (got["text"], got["private"], got["from"]) == ("May I leave early?", True, asker_id)
    assert got["to"] == teacher_id
    mine = await asker.wait_for("chat")  # the sender sees what they said, marked private
    assert mine["private"] is True and mine["id"] == got["id"]

    await teacher.send("chat", text="Yes, at 11.", to=asker_id)
    answer = await asker.wait_for("chat", after=asker.messages.index(mine) + 1)
    assert (answer["text"], answer["private"], answer["to"]) == ("Yes, at 11.", True, asker_id)

    await other.send("chat", text="Hello all")  # a message to everyone still reaches everyone
    await teacher.wait_for("chat", after=teacher.messages.index(got) + 1)
    assert [m["text"] for m in await _chats(other)] == ["Hello all"]
    # A student cannot write privately to another student; the teacher answers one present.
    await other.send("chat", text="psst", to=asker_id)
    assert (await other.wait_for("error"))["code"] == "not_allowed"
    await teacher.send("chat", text="?", to="nobody")
    assert (await teacher.wait_for("error"))["code"] == "no_such_participant"

    # A late joiner is shown the public chat only; the asker, back, their own private words.
    late = await join(sign_in(academy.student_ids[2]), academy.class_id)
    assert [m["text"] for m in (await late.wait_for("welcome"))["chat"]] == ["Hello all"]
    assert [m["text"] for m in await _chats(other)] == ["Hello all"]
    assert [m["text"] for m in await _chats(asker)] == [
        "May I leave early?",
        "Yes, at 11.",
        "Hello all",
    ]
    await asker.close()
    again = await join(sign_in(academy.student_ids[0]), academy.class_id)
    seen = (await again.wait_for("welcome"))["chat"]
    assert [m["text"] for m in seen] == ["May I leave early?", "Yes, at 11.", "Hello all"]
    assert other_id not in {m.get("to") for m in seen}

    await served.app[keys.MEDIA_NODE].outbox.flush()
    chats = [
        e.event
        for e in served.app[keys.LEDGER].events(academy.class_id)
        if e.event.kind is EventKind.CHAT_MESSAGE
    ]
    assert [(e.user_id, e.data.get("private", False)) for e in chats] == [
        (academy.student_ids[0], True),
        (academy.teacher_id, True),
        (academy.student_ids[1], False),
    ]
    assert chats[0].data["to_user_id"] == academy.teacher_id
    assert chats[1].data["to_user_id"] == academy.student_ids[0]
    for p in (teacher, other, late, again):
        await p.close()
