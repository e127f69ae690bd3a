"""Dead letters of a media node are seen on the control node: a node counts the events in its
dead-letter file (an earlier run's too) and says so in its heartbeat; the control node's /readyz
and the staff home page add them up, naming the nodes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from access.events import EventKind
from tests.conftest import Academy, SignIn, free_port
from tests.redis_server import RedisServer
from web.core import keys
from web.core.app import create_app, create_media_app
from web.core.settings import Settings

pytestmark = pytest.mark.timeout(60)

EARLIER = 2  # events an earlier run of media-1 set aside


@pytest.fixture
async def media(settings: Settings, tmp_path: Path) -> AsyncIterator[list[TestServer]]:
    """Two media nodes on a real redis-server; media-1 set events aside in an earlier run."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    cluster = dataclasses.replace(
        settings,
        redis_url=server.url,
        node_heartbeat_seconds=0.2,
        node_dead_after_seconds=1.0,
        control_lock_seconds=2.0,
    )
    nodes = []
    try:
        for name in ("media-1", "media-2"):
            port = free_port()
            node = dataclasses.replace(
                cluster,
                data_dir=tmp_path / name,
                node_id=name,
                media_url=f"http://127.0.0.1:{port}/media",
            )
            if name == "media-1":
                node.data_dir.mkdir(parents=True, exist_ok=True)
                earlier = {"event": {"id": "x"}, "error": "UnicodeEncodeError", "at": 0}
                (node.data_dir / "events-media-1.dead.jsonl").write_text(
                    (json.dumps(earlier) + "\n") * EARLIER, encoding="utf-8"
                )
            m = TestServer(create_media_app(node), host="127.0.0.1", port=port)
            await m.start_server()
            nodes.append(m)
        yield nodes
    finally:
        for m in nodes:
            await m.close()
        server.kill()


@pytest.fixture
async def served(settings: Settings, media: list[TestServer]) -> AsyncIterator[TestServer]:
    """The control node (what the shared fixtures sign in to)."""
    cluster = dataclasses.replace(
        settings,
        redis_url=media[0].app[keys.SETTINGS].redis_url,
        node_heartbeat_seconds=0.2,
        node_dead_after_seconds=1.0,
        control_lock_seconds=2.0,
    )
    control = TestServer(create_app(cluster, role="control"), host="127.0.0.1", port=free_port())
    await control.start_server()
    try:
        yield control
    finally:
        await control.close()


async def test_a_media_nodes_dead_letters_are_counted_on_the_control_node(
    served: TestServer, media: list[TestServer], academy: Academy, sign_in: SignIn
) -> None:
    staff = sign_in(academy.staff_id)
    # The earlier run's letters, counted from the file at the node's start.
    async with asyncio.timeout(10):
        while (doc := await (await staff.get("/readyz")).json()).get("dead_events") != EARLIER:
            await asyncio.sleep(0.1)
    assert doc["status"] == "ready"
    assert doc["dead_events_on_nodes"] == {"media-1": EARLIER}

    # This run sets one more aside (text neither Redis nor the ledger can take).
    node = media[0].app[keys.MEDIA_NODE]
    node.outbox.emit(EventKind.CHAT_MESSAGE, academy.class_id, data={"text": "\ud800"})
    async with asyncio.timeout(10):
        while (doc := await (await staff.get("/readyz")).json())["dead_events"] != EARLIER + 1:
            await asyncio.sleep(0.1)
    assert doc["dead_events_on_nodes"] == {"media-1": EARLIER + 1}
    lines = (media[0].app[keys.SETTINGS].data_dir / "events-media-1.dead.jsonl").read_text()
    assert len(lines.splitlines()) == EARLIER + 1

    # The staff home page says so, with the total and the node, in the reader's language.
    home = await (await staff.get("/", headers={"Accept-Language": "ru"})).text()
    assert "отложенные медиаузлами" in home
    assert f": {EARLIER + 1} (media-1: {EARLIER + 1})" in home
    home = await (await staff.get("/", headers={"Accept-Language": "kk"})).text()
    assert f"оқиғалары: {EARLIER + 1} (media-1: {EARLIER + 1})" in home
    # A learner is told nothing of it.
    learner = await (await sign_in(academy.student_ids[0]).get("/")).text()
    assert "media-1" not in learner
