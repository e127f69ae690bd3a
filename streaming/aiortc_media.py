"""The media backend on aiortc: one RTCPeerConnection per publisher and per viewer.

Media is forwarded, never decoded or re-encoded per viewer: the publisher's encoded frames go
through a ``Hub`` per published track (``aiortc_forward``), packetized once, to each viewer's
``LeanSender``, which rewrites the RTP header, protects and sends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from . import ice_consent, udp_drain
from .aiortc_forward import Hub, LeanSender, lean_sender, tap_receiver
from .stats import ForwardTally
from .webm_recorder import WebmRecording

log = logging.getLogger("sabaq.streaming.media")

T = TypeVar("T")

# A consent check answered late on a busy node does not close a live peer's connection.
ice_consent.install()
udp_drain.install()

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


class Negotiated:
    """A peer connection whose offer/answer steps are never cut short by its close.

    aiortc's ``RTCPeerConnection.close()`` does not stop the gathering of ICE candidates that
    ``setLocalDescription()`` runs, and aioice's ``Connection.close()`` closes only the sockets
    gathered so far: one bound after it (``get_component_candidates``) would stay open. So
    each step runs in a task of its own, which a cancelled caller does not cancel half way
    (the sockets of the addresses gathered before would be lost), and the close waits for the
    step under way to end (quick: host candidates only, or a STUN server's answer within
    aioice's 5 s), in a task of its own too: a caller that stops waiting (cancelled, timed
    out) does not leave the connection open, nor aiortc's close() half done (it awaits a
    future that a cancelled caller would cancel, and aiortc's own close task, started when
    DTLS closes, then fails setting its result)."""

    def __init__(self, config: RTCConfiguration) -> None:
        self.pc = RTCPeerConnection(configuration=config)
        self._step: asyncio.Task[Any] | None = None
        self._closing: asyncio.Task[None] | None = None

    async def _negotiate(self, step: Coroutine[Any, Any, T]) -> T:
        task: asyncio.Task[T] = asyncio.create_task(step, name="sabaq-negotiation")
        self._step = task
        return await asyncio.shield(task)

    async def _close_pc(self) -> None:
        if self._closing is None:
            self._closing = asyncio.create_task(self._close_after_step(), name="sabaq-pc-close")
        await asyncio.shield(self._closing)

    async def _close_after_step(self) -> None:
        if self._step is not None:
            await asyncio.wait([self._step])
        self._release()  # after the step: what it made (hubs, a watch) is all there
        await self.pc.close()

    def _release(self) -> None:
        """What the connection holds besides itself, let go before it closes."""


def _configuration(ice_servers: Sequence[str]) -> RTCConfiguration:
    # An explicit list, possibly empty: with none, aiortc would fall back to a public STUN server.
    return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in ice_servers])


def _on_failure(pc: RTCPeerConnection, on_failed: Callable[[], None]) -> None:
    @pc.on("connectionstatechange")
    def changed() -> None:
        if pc.connectionState == "failed":
            on_failed()


class AiortcPublisher(Negotiated):
    def __init__(
        self,
        config: RTCConfiguration,
        on_failed: Callable[[], None],
        silence: float = 15.0,
        tally: ForwardTally | None = None,
    ) -> None:
        super().__init__(config)
        self.hubs: list[Hub] = []
        self._tally = tally
        self._on_failed = on_failed
        self._silence = silence
        self._watch: asyncio.Task[None] | None = None
        _on_failure(self.pc, on_failed)

    @property
    def track_kinds(self) -> tuple[str, ...]:
        return tuple(h.kind for h in self.hubs)

    def take_audio_level(self) -> int | None:
        """The microphone's mean level since the last call (``media_ports.HearsAudioLevel``)."""
        audio = next((h for h in self.hubs if h.kind == "audio"), None)
        return None if audio is None else audio.take_level()

    async def accept_offer(self, sdp: str) -> str:
        return await self._negotiate(self._accept_offer(sdp))

    async def _accept_offer(self, sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for transceiver in self.pc.getTransceivers():
            if transceiver.direction in ("recvonly", "sendrecv"):
                self.hubs.append(tap_receiver(transceiver, self._tally))
        if not self.hubs:
            raise ValueError("the offer carries no audio or video to publish")
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._watch = asyncio.create_task(self._watch_silence(), name="sabaq-publisher-silence")
        return str(self.pc.localDescription.sdp)

    async def _watch_silence(self) -> None:
        """A publisher from whom no frame arrives for ``silence`` seconds (its connection was
        closed or expired without a word, or never came up) has failed: once."""
        loop = asyncio.get_running_loop()
        frames, since = -1, loop.time()
        while True:
            await asyncio.sleep(self._silence / 4)
            now, seen = loop.time(), sum(h.frames for h in self.hubs)
            if seen != frames:
                frames, since = seen, now
            elif now - since >= self._silence:
                log.info("no media from a publisher for %.1f s: taken for dead", now - since)
                self._on_failed()
                return

    def _release(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for hub in self.hubs:
            hub.close()

    async def close(self) -> None:
        await self._close_pc()


class AiortcViewer(Negotiated):
    def __init__(
        self, config: RTCConfiguration, source: AiortcPublisher, on_failed: Callable[[], None]
    ) -> None:
        super().__init__(config)
        _on_failure(self.pc, on_failed)
        self.senders: list[LeanSender] = []
        for hub in source.hubs:
            transceiver = self.pc.addTransceiver(hub.kind, direction="sendonly")
            # The viewer gets the publisher's codec, frames being passed on as they are; no
            # RTX: a lost packet asked for again (NACK) is resent as it was.
            caps = RTCRtpSender.getCapabilities(hub.kind)
            transceiver.setCodecPreferences(
                [c for c in caps.codecs if c.mimeType.lower() == hub.mime.lower()]
            )
            self.senders.append(lean_sender(transceiver, hub, on_failed))

    def hold_tracks(self, held: Sequence[bool]) -> None:
        """Hold back the source's tracks flagged (in the source's order), release the others:
        a held track's frames are not forwarded to this viewer (low bandwidth)."""
        for sender, hold in zip(self.senders, held, strict=False):
            sender.hold(hold)

    async def make_offer(self) -> str:
        return await self._negotiate(self._make_offer())

    async def _make_offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, sdp: str) -> None:
        answer = RTCSessionDescription(sdp=sdp, type="answer")
        await self._negotiate(self.pc.setRemoteDescription(answer))

    async def close(self) -> None:
        for sender in self.senders:
            sender.close()
        await self._close_pc()


class AiortcBackend:
    """Implements ``room.MediaBackend``."""

    def __init__(
        self,
        ice_servers: Sequence[str] = (),
        recordings_dir: Path = Path("recordings"),
        silence: float = 15.0,
    ) -> None:
        self._config = _configuration(ice_servers)
        self._recordings = recordings_dir
        self._silence = silence  # no media from a publisher for this long: it failed
        self.tally = ForwardTally()  # what every viewer was sent, for /metrics

    def new_publisher(self, on_failed: Callable[[], None]) -> AiortcPublisher:
        return AiortcPublisher(self._config, on_failed, self._silence, self.tally)

    def new_viewer(self, source: object, on_failed: Callable[[], None]) -> AiortcViewer:
        if not isinstance(source, AiortcPublisher):
            raise TypeError(f"Cannot view a {type(source).__name__}")
        return AiortcViewer(self._config, source, on_failed)

    def new_recording(
        self, class_id: int, publications: Mapping[str, tuple[object, tuple[str, ...]]]
    ) -> AiortcRecording:
        video: dict[str, Hub] = {}
        audio: Hub | None = None
        for media, labels in publications.values():
            if not isinstance(media, AiortcPublisher):
                raise TypeError(f"Cannot record a {type(media).__name__}")
            for hub, label in zip(media.hubs, labels, strict=False):
                if hub.kind == "video":
                    video[label] = hub
                elif label == "microphone" and audio is None:  # the teacher's; others are voices
                    audio = hub
        return AiortcRecording(WebmRecording(self._recordings / str(class_id), video, audio))


class AiortcRecording:
    """Implements ``room.RecordingMedia`` over a ``WebmRecording``."""

    def __init__(self, recording: WebmRecording) -> None:
        self._recording = recording

    def set_voice(self, key: str, media: object | None) -> None:
        hubs = media.hubs if isinstance(media, AiortcPublisher) else []
        microphone = next((h for h in hubs if h.kind == "audio"), None)
        if microphone is None:
            self._recording.remove_voice(key)
        else:
            self._recording.add_voice(key, microphone)  # replaces the one before

    def note_chat(self, at: float, name: str, text: str) -> None:
        self._recording.note_chat(at, name, text)

    def hold(self, labels: frozenset[str]) -> None:
        self._recording.hold(labels)

    def pictures(self) -> dict[str, int]:
        """The video frames written so far, by file name (see ``WebmRecording.pictures``)."""
        return self._recording.pictures()

    async def stop(self) -> list[str]:
        return await self._recording.stop()
