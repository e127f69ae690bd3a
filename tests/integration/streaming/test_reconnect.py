"""Coming back after a drop: the same participant, recorded as a disconnect and a reconnect."""

from __future__ import annotations

import asyncio
import dataclasses

from aiohttp.test_utils import TestServer

from access.events import EventKind
from tests.conftest import Academy, SignIn
from tests.peers import drop, join, publish, rejoin, wait_gone
from web.core import keys


async def _gone(served: TestServer, academy: Academy, user_id: int) -> None:
    await wait_gone(served.app[keys.MEDIA_NODE], academy.class_id, user_id)


async def test_rejoin_within_grace_is_the_same_person_and_media_resumes(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    client = sign_in(academy.student_ids[0])
    student = await join(client, academy.class_id)
    welcome = await student.wait_for("welcome")
    await student.wait_frames(5)
    drop(student)
    await _gone(served, academy, academy.student_ids[0])
    back = await rejoin(client, academy.class_id, welcome["reconnect_token"])
    again = await back.wait_for("welcome")
    assert again["participant_id"] == welcome["participant_id"]
    await back.wait_frames(5)
    # A reconnect token never opens another class.
    other = await rejoin(client, academy.other_class_id, again["reconnect_token"])
    assert (await other.wait_for("error"))["code"] == "token_wrong_class"
    await other.close()
    await back.send("leave")
    await back.close()
    await student.close()
    await teacher.close()
    await served.app[keys.MEDIA_NODE].outbox.flush()
    mine = [
        e.event
        for e in served.app[keys.LEDGER].events(academy.class_id)
        if e.event.user_id == academy.student_ids[0]
    ]
    assert [e.kind for e in mine] == [
        EventKind.JOINED,
        EventKind.DISCONNECTED,
        EventKind.RECONNECTED,
        EventKind.LEFT,
    ]
    assert len({e.participant_id for e in mine}) == 1


async def test_rejoin_after_grace_is_refused_so_the_client_joins_afresh(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    node = served.app[keys.MEDIA_NODE]
    node.settings = dataclasses.replace(node.settings, reconnect_grace=0.3)
    node.rooms.clear()
    client = sign_in(academy.student_ids[0])
    student = await join(client, academy.class_id)
    welcome = await student.wait_for("welcome")
    drop(student)
    await _gone(served, academy, academy.student_ids[0])
    await asyncio.sleep(0.5)
    late = await rejoin(client, academy.class_id, welcome["reconnect_token"])
    err = await late.wait_for("error")
    assert err["code"] in ("reconnect_expired", "token_expired")
    for p in (student, late):
        await p.close()


async def test_a_left_participant_cannot_rejoin_with_the_old_token(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    client = sign_in(academy.student_ids[0])
    student = await join(client, academy.class_id)
    welcome = await student.wait_for("welcome")
    await student.send("leave")
    await _gone(served, academy, academy.student_ids[0])
    back = await rejoin(client, academy.class_id, welcome["reconnect_token"])
    assert (await back.wait_for("error"))["code"] == "reconnect_expired"
    await back.close()
    await student.close()


async def test_an_old_dropped_tab_cannot_come_back_over_the_newer_one(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    client = sign_in(academy.student_ids[0])
    laptop = await join(client, academy.class_id)
    welcome = await laptop.wait_for("welcome")
    drop(laptop)
    await _gone(served, academy, academy.student_ids[0])
    phone = await join(client, academy.class_id)  # the person moved to another device
    back = await rejoin(client, academy.class_id, welcome["reconnect_token"])
    assert (await back.wait_for("error"))["code"] == "reconnect_expired"
    await phone.send("ping")
    await phone.wait_for("pong")
    assert phone.closed_code is None
    for p in (laptop, phone, back):
        await p.close()
