"""The media backend on aiortc: one RTCPeerConnection per publisher and per viewer.

This is the only module that touches aiortc and aioice. Fan-out here uses aiortc's
``MediaRelay`` (decode once, encode per viewer); the forwarding path that never re-encodes
replaces it behind the same ``MediaBackend`` port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aioice.ice
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay

log = logging.getLogger("sabaq.streaming.media")

_stock_get_host_addresses = aioice.ice.get_host_addresses


def advertise_host_addresses(addresses: Sequence[str]) -> None:
    """Make ICE offer exactly these host addresses (all interfaces when empty).

    aioice leaves 127.0.0.1 out of its host candidates and has no setting for which addresses
    to gather on; it looks ``get_host_addresses`` up in its module at gathering time, so the
    configured list is installed there, for the whole process (one media node per process).
    """
    wanted = tuple(addresses)
    if not wanted:
        aioice.ice.get_host_addresses = _stock_get_host_addresses
        return

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in wanted if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = configured


async def _close(pc: RTCPeerConnection) -> None:
    # Shielded: aiortc's close() awaits a future that a cancelled caller would cancel, and
    # aiortc's own close task (started when DTLS closes) then fails setting its result.
    await asyncio.shield(pc.close())


def _configuration(ice_servers: Sequence[str]) -> RTCConfiguration:
    # An explicit list, possibly empty: with none, aiortc would fall back to a public STUN server.
    return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in ice_servers])


class AiortcPublisher:
    def __init__(self, config: RTCConfiguration, relay: MediaRelay) -> None:
        self.pc = RTCPeerConnection(configuration=config)
        self.relay = relay
        self.tracks: list[MediaStreamTrack] = []

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tracks.append(track)

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            log.debug("publisher pc %s", self.pc.connectionState)

    @property
    def track_kinds(self) -> tuple[str, ...]:
        return tuple(t.kind for t in self.tracks)

    async def accept_offer(self, sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        if not self.tracks:
            raise ValueError("the offer carries no audio or video to publish")
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        await _close(self.pc)


class AiortcViewer:
    def __init__(self, config: RTCConfiguration, source: AiortcPublisher) -> None:
        self.pc = RTCPeerConnection(configuration=config)
        for track in source.tracks:
            self.pc.addTrack(source.relay.subscribe(track, buffered=False))

    async def make_offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def close(self) -> None:
        await _close(self.pc)


class AiortcBackend:
    """Implements ``room.MediaBackend``."""

    def __init__(self, ice_servers: Sequence[str] = ()) -> None:
        self._config = _configuration(ice_servers)
        self._relay = MediaRelay()

    def new_publisher(self) -> AiortcPublisher:
        return AiortcPublisher(self._config, self._relay)

    def new_viewer(self, source: object) -> AiortcViewer:
        if not isinstance(source, AiortcPublisher):
            raise TypeError(f"Cannot view a {type(source).__name__}")
        return AiortcViewer(self._config, source)
