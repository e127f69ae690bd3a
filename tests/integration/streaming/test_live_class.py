"""A live class end to end with real aiortc peers: the teacher publishes, students watch,
the ledger records every join and leave, and the class ends cleanly."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer

from access.events import EventKind
from attendance.export import read_heads
from attendance.sqlite_ledger import SqliteLedger
from control.database import connect
from scheduler.models import ClassStatus
from tests.conftest import Academy, Clock, SignIn
from tests.peers import drop, join, publish, wait_gone
from web.core import keys
from web.core.settings import Settings


# On New Year's Eve an hour before midnight (the other live-class tests run by the wall clock):
# the media plane's events carry the server's time, whatever day it is.
@pytest.mark.parametrize("clock", ["31-december"], indirect=True)
async def test_teacher_publishes_students_receive_frames_and_ledger_records(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    students = [await join(sign_in(u), academy.class_id) for u in academy.student_ids[:2]]
    for s in students:
        await s.wait_frames(10)
        assert s.audio_frames > 0
    roster = teacher.messages[-1]
    assert roster["type"] == "roster"
    assert {p["name"] for p in roster["participants"]} >= {"Марат Искаков", "Студент 01"}

    tt = served.app[keys.TIMETABLE]
    assert tt.get_class(academy.class_id).status is ClassStatus.LIVE

    for s in students:
        await s.send("leave")
        await s.close()
    await teacher.send("end_class")
    ended = await teacher.wait_for("ended")
    assert ended["reason"] == "ended_by_teacher"
    await teacher.close()
    node = served.app[keys.MEDIA_NODE]
    async with asyncio.timeout(5):
        await node.outbox.flush()

    ledger = served.app[keys.LEDGER]
    kinds = [(e.event.kind, e.event.user_id) for e in ledger.events(academy.class_id)]
    assert kinds[0] == (EventKind.JOINED, academy.teacher_id)
    assert kinds[1] == (EventKind.CLASS_STARTED, academy.teacher_id)
    for u in academy.student_ids[:2]:
        assert kinds.count((EventKind.JOINED, u)) == 1
        assert kinds.count((EventKind.LEFT, u)) == 1
    assert kinds[-1] == (EventKind.CLASS_ENDED, None)
    assert ledger.verify(academy.class_id) is None
    for e in ledger.events(academy.class_id):  # taken, and received, by the server's clock
        assert 0 <= clock() - e.event.origin_time < 120
        assert 0 <= e.received_time - e.event.origin_time < 10
    # The class's chain head was published as it ended, for a copy kept elsewhere.
    published = list((served.app[keys.SETTINGS].heads_dir).glob("class-ended-*.csv"))
    assert [(h.class_id, h.count, h.hash) for h in read_heads(published[0])] == [
        (academy.class_id, *ledger.chain_head(academy.class_id))
    ]
    # The teacher was live for more than the (test) minimum and learners joined: held.
    assert tt.get_class(academy.class_id).status is ClassStatus.HELD


async def test_student_who_joins_first_waits_and_then_receives(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    welcome = await student.wait_for("welcome")
    assert welcome["state"] == "waiting"
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    await student.wait_frames(5)
    await student.close()
    await teacher.close()


async def test_second_tab_takes_over_and_old_tab_is_told(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    client = sign_in(academy.student_ids[0])
    first = await join(client, academy.class_id)
    second = await join(client, academy.class_id)
    err = await first.wait_for("error")
    assert err["code"] == "opened_elsewhere"
    assert await first.wait_closed() == 4001
    await second.send("leave")
    await second.close()
    await first.close()
    await served.app[keys.MEDIA_NODE].outbox.flush()
    ledger = served.app[keys.LEDGER]
    kinds = [e.event.kind for e in ledger.events(academy.class_id)]
    assert kinds == [EventKind.JOINED, EventKind.JOINED, EventKind.LEFT]


async def test_stopping_the_server_records_everyone_as_disconnected(
    served: TestServer, academy: Academy, sign_in: SignIn, settings: Settings
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await student.wait_frames(3)
    await served.close()
    # Every event reached the file before the server let go of it.
    ledger = SqliteLedger(connect(settings.database_path))
    tail = [(e.event.kind, e.event.user_id, e.event.data) for e in ledger.events(academy.class_id)]
    for uid in (academy.teacher_id, academy.student_ids[0]):
        assert (EventKind.DISCONNECTED, uid, {"reason": "server_stopping"}) in tail
    assert student.closed_code is not None and teacher.closed_code is not None
    await student.close()
    await teacher.close()


async def test_ending_with_students_present_tells_and_records_everyone(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    students = [await join(sign_in(u), academy.class_id) for u in academy.student_ids[:3]]
    for s in students:
        await s.wait_frames(3)
    await teacher.send("end_class")
    for s in (*students, teacher):
        assert (await s.wait_for("ended"))["reason"] == "ended_by_teacher"
        assert await s.wait_closed() == 4000
    await served.app[keys.MEDIA_NODE].outbox.flush()
    events = served.app[keys.LEDGER].events(academy.class_id)
    left = {e.event.user_id for e in events if e.event.kind is EventKind.LEFT}
    assert left == {academy.teacher_id, *academy.student_ids[:3]}
    assert events[-1].event.kind is EventKind.CLASS_ENDED
    assert served.app[keys.TIMETABLE].get_class(academy.class_id).status is ClassStatus.HELD
    for s in (*students, teacher):
        await s.close()


async def test_a_lost_connection_is_a_disconnect_not_a_departure(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    drop(student)
    node = served.app[keys.MEDIA_NODE]
    await wait_gone(node, academy.class_id, academy.student_ids[0])
    await node.outbox.flush()
    kinds = [e.event.kind for e in served.app[keys.LEDGER].events(academy.class_id)]
    assert kinds == [EventKind.JOINED, EventKind.DISCONNECTED]
    await student.close()


async def test_publishing_again_reoffers_and_viewers_keep_watching(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    student = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await student.wait_frames(5)
    first_pc = teacher.pc
    await publish(teacher)  # e.g. the teacher switched camera: a new offer
    assert first_pc is not None
    await first_pc.close()
    before = student.frames
    await student.wait_frames(before + 10)
    offers = [m["offer_id"] for m in student.messages if m["type"] == "offer"]
    assert offers == sorted(offers) and len(offers) >= 2
    assert student.closed_code is None
    await student.close()
    await teacher.close()
