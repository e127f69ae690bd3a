"""Two media nodes in one process on loopback, the class's origin and a relay linked to it
(``streaming.cascade``): what the cascade's tests stand on."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from access.models import ClassRole, RoomMode
from access.tokens import TokenSigner
from streaming.aiortc_media import AiortcBackend, advertise_host_addresses
from streaming.cascade import Cascade
from streaming.events import MediaEvent
from streaming.node import MediaNode, MediaSettings
from streaming.signaling import NODE_KEY, create_signaling_app
from tests.peers import Peer, connect, publish

CLASS_ID = 7
TEACHER, STUDENT, VIEWER = 1, 2, 3


@dataclass
class Events:
    """An event sink that keeps what it is given."""

    got: list[MediaEvent] = field(default_factory=list)

    async def deliver(self, event: MediaEvent) -> None:
        self.got.append(event)

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None:
        self.got.extend(events)

    async def heartbeat(self, node: str, at: float) -> None:
        return None

    async def dead_letter(self, event: MediaEvent, error: str) -> None:
        return None


@dataclass
class Node:
    node: MediaNode
    server: TestServer
    events: Events
    signer: TokenSigner

    @property
    def url(self) -> str:
        return str(self.server.make_url("/"))

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + f"classes/{CLASS_ID}/ws"

    async def join(self, user_id: int, role: ClassRole, mode: RoomMode | None = None) -> Peer:
        token = self.signer.mint_join(
            user_id=user_id,
            class_id=CLASS_ID,
            role=role,
            display_name=f"user {user_id}",
            media_url=self.url,
            mode=mode,
        )
        peer = await connect(self.ws_url, token)
        await peer.wait_for("welcome")
        return peer


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    advertise_host_addresses(["127.0.0.1"])
    secret = secrets.token_bytes(32)
    made: list[Node] = []
    for name in ("origin", "relay"):
        signer, events = TokenSigner(secret), Events()
        settings = MediaSettings(node_id=name, reconnect_grace=10.0, active_speaker_hold=0.3)
        backend = AiortcBackend(recordings_dir=tmp_path / name)
        node = MediaNode(settings, signer, events, backend)
        await node.start()
        app = create_signaling_app()
        app[NODE_KEY] = node
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        made.append(Node(node, server, events, signer))
    yield made[0], made[1]
    for n in made:
        await n.node.close()
        await n.server.close()
    advertise_host_addresses([])


async def until(check: Callable[[], object], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def relayed(
    origin: Node, relay: Node, mode: RoomMode | None = None, video: bool = True
) -> tuple[Peer, Cascade]:
    """The teacher publishing on the origin; the relay linked to it for the class."""
    teacher = await origin.join(TEACHER, ClassRole.HOST, mode)
    await publish(teacher, video=video)
    cascade = Cascade(relay.node)
    link = cascade.relay(CLASS_ID, origin.url)
    async with asyncio.timeout(10):
        await link.connected.wait()
    return teacher, cascade
