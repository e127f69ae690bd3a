"""The practice room's network check (clause 5: before classes, learners check their devices):
a browser opens a peer connection with a data channel to this media node — the same ICE, the
same UDP path as a class — and the node echoes every message back, so the page can tell
whether media gets through and how long a round trip takes.

An echo lives at most ``lifetime`` seconds and a node holds at most ``limit`` at once, so a
practice room cannot take a class's resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdatachannel import RTCDataChannel

log = logging.getLogger("sabaq.streaming.practice")

MAX_MESSAGE = 1024  # an echo is for pings, not for data


class TooManyEchoes(Exception):
    """The node is holding as many practice connections as it allows."""


class Echoes:
    def __init__(
        self, ice_servers: Sequence[str] = (), limit: int = 20, lifetime: float = 60.0
    ) -> None:
        self._config = RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in ice_servers])
        self._limit = limit
        self._lifetime = lifetime
        self._open: set[RTCPeerConnection] = set()
        self._timers: set[asyncio.Task[None]] = set()

    @property
    def open(self) -> int:
        return len(self._open)

    async def answer(self, offer_sdp: str) -> str:
        """The answer to a browser's offer (a data channel); ``ValueError`` for an offer that
        is not one, ``TooManyEchoes`` when the node is full."""
        if len(self._open) >= self._limit:
            raise TooManyEchoes(f"{len(self._open)} practice connections are open")
        if "m=application" not in offer_sdp:
            raise ValueError("the offer has no data channel")
        pc = RTCPeerConnection(configuration=self._config)
        self._open.add(pc)

        @pc.on("datachannel")
        def opened(channel: RTCDataChannel) -> None:
            @channel.on("message")
            def echo(message: str | bytes) -> None:
                if len(message) <= MAX_MESSAGE and channel.readyState == "open":
                    channel.send(message)

        @pc.on("connectionstatechange")
        async def changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close(pc)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises several kinds for a malformed offer
            await self._close(pc)
            raise ValueError(f"the offer cannot be answered: {exc}") from exc
        timer = asyncio.create_task(self._expire(pc), name="sabaq-practice-echo")
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        return str(pc.localDescription.sdp)

    async def _expire(self, pc: RTCPeerConnection) -> None:
        await asyncio.sleep(self._lifetime)
        await self._close(pc)

    async def _close(self, pc: RTCPeerConnection) -> None:
        if pc in self._open:
            self._open.discard(pc)
            with contextlib.suppress(Exception):
                await asyncio.shield(pc.close())

    async def close_all(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
        for pc in list(self._open):
            await self._close(pc)
