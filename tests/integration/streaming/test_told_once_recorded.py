"""Telling is acknowledging: nobody in a class is told of a leave, a removal or a recording's
start or stop before its event is committed to the ledger, and a slow commit holds up only the
one whose action waits for it."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestServer

from access.events import EventKind
from streaming.room import CLOSE_REMOVED
from tests.conftest import Academy, SignIn
from tests.locks import database_held
from tests.peers import Peer, join, publish
from web.core import keys

HELD = 1.5  # seconds another writer holds the database


def _rosters(peer: Peer, after: int) -> list[dict[str, Any]]:
    return [m for m in peer.messages[after:] if m["type"] == "roster"]


def _ids(roster: dict[str, Any]) -> set[str]:
    return {p["id"] for p in roster["participants"]}


def _kinds(served: TestServer, class_id: int) -> list[EventKind]:
    return [e.event.kind for e in served.app[keys.LEDGER].events(class_id)]


async def _until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_leave_a_removal_and_a_recording_are_told_once_they_are_in_the_ledger(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    class_id = academy.class_id
    teacher = await join(sign_in(academy.teacher_id), class_id)
    await publish(teacher)
    leaver, removed, watcher = [
        await join(sign_in(academy.student_ids[i]), class_id) for i in range(3)
    ]
    leaver_id, removed_id, watcher_id = [
        (await p.wait_for("welcome"))["participant_id"] for p in (leaver, removed, watcher)
    ]
    everyone = (teacher, leaver, removed, watcher)
    await _until(lambda: len(_ids(_rosters(teacher, 0)[-1])) == 4)

    # 1. A student leaves and the teacher starts recording while the ledger cannot commit.
    seen = {id(p): len(p.messages) for p in everyone}
    async with database_held(served.app[keys.SETTINGS].database_path, HELD):
        await leaver.send("leave")
        await teacher.send("start_recording")
        await watcher.send("raise_hand")  # another participant is not held up meanwhile
        await _until(lambda: any(r["participants"] for r in _rosters(watcher, seen[id(watcher)])))
        raised = _rosters(watcher, seen[id(watcher)])[-1]
        assert any(p["hand_raised"] for p in raised["participants"] if p["id"] == watcher_id)
        await asyncio.sleep(HELD / 2)
        assert EventKind.LEFT not in _kinds(served, class_id)
        for p in (teacher, removed, watcher):
            for roster in _rosters(p, seen[id(p)]):
                assert leaver_id in _ids(roster), "told of a leave not in the ledger"
                assert roster["recording"] is False, "told of a recording not in the ledger"
    # Once the lock is gone, the events are committed and everyone is told.
    for p in (teacher, removed, watcher):
        await _until(
            lambda p=p: any(
                leaver_id not in _ids(r) and r["recording"] for r in _rosters(p, seen[id(p)])
            )
        )
    kinds = _kinds(served, class_id)
    assert EventKind.LEFT in kinds and EventKind.RECORDING_STARTED in kinds

    # 2. The teacher removes a student and stops the recording while the ledger cannot commit.
    seen = {id(p): len(p.messages) for p in everyone}
    async with database_held(served.app[keys.SETTINGS].database_path, HELD):
        await teacher.send("remove", participant_id=removed_id)
        await asyncio.sleep(HELD / 2)
        assert EventKind.REMOVED not in _kinds(served, class_id)
        assert all(m["type"] != "error" for m in removed.messages[seen[id(removed)] :])
        assert removed.closed_code is None
        for p in (teacher, watcher):
            assert all(removed_id in _ids(r) for r in _rosters(p, seen[id(p)]))
    told = await removed.wait_for("error", after=seen[id(removed)])
    assert told["code"] == "removed"
    assert await removed.wait_closed() == CLOSE_REMOVED
    assert EventKind.REMOVED in _kinds(served, class_id)
    await _until(
        lambda: any(removed_id not in _ids(r) for r in _rosters(watcher, seen[id(watcher)]))
    )

    seen = {id(p): len(p.messages) for p in everyone}
    async with database_held(served.app[keys.SETTINGS].database_path, HELD):
        await teacher.send("stop_recording")
        await asyncio.sleep(HELD / 2)
        assert EventKind.RECORDING_STOPPED not in _kinds(served, class_id)
        for p in (teacher, watcher):
            assert all(r["recording"] for r in _rosters(p, seen[id(p)]))
    await _until(lambda: any(r["recording"] is False for r in _rosters(watcher, seen[id(watcher)])))
    assert EventKind.RECORDING_STOPPED in _kinds(served, class_id)
    for p in everyone:
        await p.close()
