"""The baseline: aiortc's stock ``MediaRelay`` behind Sabaq's ``MediaBackend`` port.

It decodes the publisher's tracks once and encodes them again for every viewer — what an
aiortc SFU does out of the box. Only benchmarks use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay


class StockPublisher:
    def __init__(self, config: RTCConfiguration, relay: MediaRelay) -> None:
        self.pc = RTCPeerConnection(configuration=config)
        self.relay = relay
        self.tracks: list[MediaStreamTrack] = []
        self.pc.on("track", self.tracks.append)

    @property
    def track_kinds(self) -> tuple[str, ...]:
        return tuple(t.kind for t in self.tracks)

    async def accept_offer(self, sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        await self.pc.close()


class StockViewer:
    def __init__(self, config: RTCConfiguration, source: StockPublisher) -> None:
        self.pc = RTCPeerConnection(configuration=config)
        for track in source.tracks:
            self.pc.addTrack(source.relay.subscribe(track, buffered=False))

    async def make_offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def close(self) -> None:
        await self.pc.close()


class StockRelayBackend:
    def __init__(self, ice_servers: Sequence[str] = ()) -> None:
        self._config = RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in ice_servers])
        self._relay = MediaRelay()

    def new_publisher(self, on_failed: Callable[[], None]) -> StockPublisher:
        return StockPublisher(self._config, self._relay)

    def new_recording(
        self, class_id: int, publications: Mapping[str, tuple[object, tuple[str, ...]]]
    ) -> Any:
        raise RuntimeError("The stock relay is a fan-out baseline for benchmarks; it never records")

    def new_viewer(self, source: object, on_failed: Callable[[], None]) -> StockViewer:
        assert isinstance(source, StockPublisher)
        return StockViewer(self._config, source)
