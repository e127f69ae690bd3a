"""Class chat through the media node (kept for late joiners and in the record), and the
teacher removing a participant."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer

from access.events import EventKind
from streaming import participant as participant_module
from tests.conftest import Academy, SignIn
from tests.peers import join, wait_gone
from web.core import keys


async def test_chat_reaches_everyone_is_recorded_and_shown_to_late_joiners(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await student.send("chat", text="  Сәлеметсіз бе! <b>?</b>  ")
    got = await teacher.wait_for("chat")
    assert got["text"] == "Сәлеметсіз бе! <b>?</b>"  # as typed; the page escapes it
    assert got["name"] == "Студент 01"
    assert (await student.wait_for("chat"))["id"] == got["id"]
    late = await join(sign_in(academy.student_ids[1]), academy.class_id)
    welcome = await late.wait_for("welcome")
    assert [m["text"] for m in welcome["chat"]] == ["Сәлеметсіз бе! <b>?</b>"]
    # Six messages in a row: the sixth is refused with a message, the sender stays.
    for i in range(6):
        await late.send("chat", text=f"m{i}")
    err = await late.wait_for("error")
    assert err["code"] == "chat_too_fast"
    await late.send("ping")
    await late.wait_for("pong")
    await served.app[keys.MEDIA_NODE].outbox.flush()
    chats = [
        e.event
        for e in served.app[keys.LEDGER].events(academy.class_id)
        if e.event.kind is EventKind.CHAT_MESSAGE
    ]
    assert len(chats) == 6
    assert chats[0].user_id == academy.student_ids[0]
    for p in (teacher, student, late):
        await p.close()


async def test_teacher_removes_a_participant_and_only_the_teacher_may(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    a = await join(sign_in(academy.student_ids[0]), academy.class_id)
    b = await join(sign_in(academy.student_ids[1]), academy.class_id)
    a_id = (await a.wait_for("welcome"))["participant_id"]
    b_id = (await b.wait_for("welcome"))["participant_id"]
    await teacher.send("remove", participant_id=a_id)
    err = await a.wait_for("error")
    assert err["code"] == "removed"
    assert await a.wait_closed() == 4003
    await b.send("remove", participant_id=b_id)  # a student may not remove anyone
    assert (await b.wait_for("error"))["code"] == "not_allowed"
    await served.app[keys.MEDIA_NODE].outbox.flush()
    removed = [
        e.event
        for e in served.app[keys.LEDGER].events(academy.class_id)
        if e.event.kind is EventKind.REMOVED
    ]
    assert [e.user_id for e in removed] == [academy.student_ids[0]]
    for p in (teacher, a, b):
        await p.close()


async def test_a_client_that_stops_reading_is_dropped_and_its_departure_recorded(
    served: TestServer, academy: Academy, sign_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(participant_module, "SEND_TIMEOUT", 1.0)
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    stalled = await join(sign_in(academy.student_ids[0]), academy.class_id)
    room = served.app[keys.MEDIA_NODE].rooms[academy.class_id]
    (p,) = [q for q in room.participants.values() if q.user_id == academy.student_ids[0]]

    async def never_drains(text: str) -> None:  # the socket's buffer is full and stays full
        await asyncio.Event().wait()

    p.send_text = never_drains
    started = asyncio.get_running_loop().time()
    for i in range(5):
        await teacher.send("chat", text=f"m{i}")
    assert (await teacher.wait_for("chat"))["text"] == "m0"
    assert await stalled.wait_closed() == 4504
    node = served.app[keys.MEDIA_NODE]
    await wait_gone(node, academy.class_id, academy.student_ids[0])
    # One stalled client cost the others one timeout (1 s), not one per message (5 s).
    assert asyncio.get_running_loop().time() - started < 3
    await node.outbox.flush()
    kinds = [
        e.event.kind
        for e in served.app[keys.LEDGER].events(academy.class_id)
        if e.event.user_id == academy.student_ids[0]
    ]
    assert kinds == [EventKind.JOINED, EventKind.DISCONNECTED]
    await stalled.close()
    await teacher.close()
