"""The media a room drives, as ports: ``aiortc_media`` implements them (tests may use others)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from .stats import ForwardTally

log = logging.getLogger("sabaq.streaming.room")


class PublisherMedia(Protocol):
    async def accept_offer(self, sdp: str) -> str: ...
    async def close(self) -> None: ...
    @property
    def track_kinds(self) -> tuple[str, ...]: ...


class ViewerMedia(Protocol):
    async def make_offer(self) -> str: ...
    async def accept_answer(self, sdp: str) -> None: ...
    async def close(self) -> None: ...


@runtime_checkable
class HoldsTracks(Protocol):
    """A viewer's media that can hold back some of its source's tracks without renegotiating:
    ``held`` has one flag per track, in the order of the publication's labels; a held track's
    frames are not sent, a released one starts again from a keyframe. Viewers of a backend
    without it (the stock-relay benchmark baseline) are sent everything."""

    def hold_tracks(self, held: Sequence[bool]) -> None: ...


@runtime_checkable
class HearsAudioLevel(Protocol):
    """A publisher's media that measures its sound without decoding it (the RTP
    ssrc-audio-level header extension the sender fills): the active speaker is chosen from it."""

    def take_audio_level(self) -> int | None:
        """The mean level of the packets heard since the last call, in -dBov (0 loudest, 127
        silence); None if no packet with a level arrived meanwhile."""
        ...


@runtime_checkable
class CountsForwarding(Protocol):
    """A backend that counts what it forwards (packets, bytes, skips, NACKs...), read by
    ``/metrics``; one without it (the stock-relay baseline) reports no forwarding counts."""

    tally: ForwardTally


class RecordingMedia(Protocol):
    # A microphone in the class's sound (a student with the floor), or out of it (None).
    def set_voice(self, key: str, media: PublisherMedia | None) -> None: ...
    # The pictures (by file label) held back now: a camera its owner turned off is not
    # written even if the browser goes on sending it; released, it goes on from a key frame.
    def hold(self, labels: frozenset[str]) -> None: ...
    # A public chat message said while it records (``at``: seconds since the epoch), into the
    # recording's chat sidecar. Never a private one.
    def note_chat(self, at: float, name: str, text: str) -> None: ...
    async def stop(self) -> list[str]: ...


class MediaBackend(Protocol):
    # ``on_failed`` is called once if the peer connection fails (ICE, or a DTLS handshake that
    # does not verify, as with a tampered fingerprint).
    def new_publisher(self, on_failed: Callable[[], None]) -> PublisherMedia: ...
    def new_viewer(self, source: PublisherMedia, on_failed: Callable[[], None]) -> ViewerMedia: ...
    # One file per video track of the publications (the camera's beside the screen's), named
    # by the track's label (``camera``, ``presenter-screen``: see ``recording_control``), each
    # with the class's sound, whose first voice is the track labelled ``microphone`` (the
    # teacher's; others come through ``set_voice``); the chat in a sidecar beside them (see
    # ``webm_recorder``).
    def new_recording(
        self, class_id: int, publications: Mapping[str, tuple[PublisherMedia, tuple[str, ...]]]
    ) -> RecordingMedia: ...


MEDIA_CLOSE_TIMEOUT = 5.0


async def close_quietly(media: PublisherMedia | ViewerMedia) -> None:
    """Close a peer connection; one that will not close in time is logged and left behind."""
    try:
        async with asyncio.timeout(MEDIA_CLOSE_TIMEOUT):
            await media.close()
    except TimeoutError:
        log.warning("a peer connection did not close within %.0f s", MEDIA_CLOSE_TIMEOUT)
    except Exception:
        log.exception("closing a peer connection failed")
