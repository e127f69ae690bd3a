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

from aiortc import RTCConfiguration, RTCIceServer, RTCSessionDescription
from aiortc.rtcdatachannel import RTCDataChannel

from .aiortc_media import Negotiated

log = logging.getLogger("sabaq.streaming.practice")

MAX_MESSAGE = 1024  # bytes: an echo is for pings, not for data
MAX_ECHOES = 100  # messages one echo answers
MAX_BUFFERED = 16 * 1024  # bytes waiting to go out before an echo stops answering


class TooManyEchoes(Exception):
    """The node is holding as many practice connections as it allows."""


class Echo(Negotiated):
    """One check's peer connection: closed only once its answer is made (``Negotiated``: one
    closed while it gathers its ICE candidates would keep a UDP socket open)."""

    async def answer(self, offer_sdp: str) -> str:
        return await self._negotiate(self._answer(offer_sdp))

    async def _answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if self.pc.getTransceivers():  # sound or video would be received and decoded: refused
            raise ValueError("the offer carries media")
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        await self._close_pc()


class Echoes:
    def __init__(
        self, ice_servers: Sequence[str] = (), limit: int = 20, lifetime: float = 60.0
    ) -> None:
        self._config = RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in ice_servers])
        self._limit = limit
        self._lifetime = lifetime
        self._open: dict[Echo, str] = {}  # → whose it is
        self._timers: dict[Echo, asyncio.Task[None]] = {}

    @property
    def open(self) -> int:
        return len(self._open)

    async def answer(self, offer_sdp: str, owner: str) -> str:
        """The answer to a browser's offer (a data channel, nothing else); ``ValueError`` for
        an offer that is not one, ``TooManyEchoes`` when the node is full. A person has one
        echo at a time: a new one replaces their previous one."""
        for echo, whose in list(self._open.items()):
            if whose == owner:
                await self._close(echo)
        if len(self._open) >= self._limit:
            raise TooManyEchoes(f"{len(self._open)} practice connections are open")
        if "m=application" not in offer_sdp:
            raise ValueError("the offer has no data channel")
        echo = Echo(self._config)
        pc = echo.pc
        self._open[echo] = owner
        echoed = 0

        @pc.on("datachannel")
        def opened(channel: RTCDataChannel) -> None:
            @channel.on("message")
            def echo(message: str | bytes) -> None:
                nonlocal echoed
                size = len(message.encode() if isinstance(message, str) else message)
                # Pings only: small, few, and never piling up behind a reader that stalls.
                if (
                    size <= MAX_MESSAGE
                    and echoed < MAX_ECHOES
                    and channel.readyState == "open"
                    and channel.bufferedAmount <= MAX_BUFFERED
                ):
                    echoed += 1
                    channel.send(message)

        @pc.on("connectionstatechange")
        async def changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close(echo)

        try:
            answer = await echo.answer(offer_sdp)
        except BaseException as exc:  # aiortc raises several kinds for a malformed offer
            await self._close(echo)
            if isinstance(exc, Exception):
                raise ValueError(f"the offer cannot be answered: {exc}") from exc
            raise
        if echo not in self._open:  # closed meanwhile (replaced, the node stops)
            raise ValueError("the check was closed before it was answered")
        self._timers[echo] = asyncio.create_task(self._expire(echo), name="sabaq-practice-echo")
        return answer

    async def _expire(self, echo: Echo) -> None:
        await asyncio.sleep(self._lifetime)
        await self._close(echo)

    async def _close(self, echo: Echo) -> None:
        timer = self._timers.pop(echo, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        if self._open.pop(echo, None) is not None:
            with contextlib.suppress(Exception):
                await echo.close()

    async def close_all(self) -> None:
        for echo in list(self._open):
            await self._close(echo)
