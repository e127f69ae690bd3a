"""Recording without decoding: the teacher's encoded frames muxed into WebM files.

One file per published video track (camera, screen), each with the teacher's microphone. The
frames come from the same hubs that feed the viewers (a recorder is one more viewer); packets
are stamped with their arrival time, so sound and picture stay together.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError

from .aiortc_forward import ForwardedTrack, Hub

log = logging.getLogger("sabaq.streaming.recorder")
MS = fractions.Fraction(1, 1000)
CODECS = {"video/VP8": "libvpx", "audio/opus": "libopus"}


def vp8_size(keyframe: bytes) -> tuple[int, int]:
    """Width and height from a VP8 key frame's header (RFC 6386, 9.1)."""
    if len(keyframe) < 10 or keyframe[3:6] != b"\x9d\x01\x2a":
        raise ValueError("not a VP8 key frame")
    return (
        int.from_bytes(keyframe[6:8], "little") & 0x3FFF,
        int.from_bytes(keyframe[8:10], "little") & 0x3FFF,
    )


@dataclass
class _File:
    path: Path
    video: ForwardedTrack
    audio: ForwardedTrack | None
    container: Any = None
    streams: dict[str, Any] = field(default_factory=dict)
    last_pts: dict[str, int] = field(default_factory=dict)
    frames: int = 0


class WebmRecording:
    """Implements ``room.RecordingMedia``: records until ``stop()``."""

    def __init__(self, directory: Path, video: dict[str, Hub], audio: Hub | None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self._t0 = time.monotonic()
        self._files = [
            _File(
                path=directory / f"{stamp}-{label}.webm",
                video=hub.subscribe(),
                audio=audio.subscribe() if audio is not None else None,
            )
            for label, hub in video.items()
            if hub.mime in CODECS
        ]
        self._tasks = [
            asyncio.create_task(self._pump(f, track, kind))
            for f in self._files
            for track, kind in ((f.video, "video"), (f.audio, "audio"))
            if track is not None
        ]

    def _pts(self, f: _File, kind: str) -> int:
        pts = int((time.monotonic() - self._t0) * 1000)
        pts = max(pts, f.last_pts.get(kind, -1) + 1)  # strictly increasing per stream
        f.last_pts[kind] = pts
        return pts

    def _open(self, f: _File, keyframe: bytes) -> None:
        width, height = vp8_size(keyframe)
        f.container = av.open(str(f.path), "w", format="webm")
        v = f.container.add_stream("libvpx", rate=30)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        f.streams["video"] = v
        if f.audio is not None:
            a = f.container.add_stream("libopus", rate=48000)
            a.layout = "stereo"
            f.streams["audio"] = a

    async def _pump(self, f: _File, track: ForwardedTrack, kind: str) -> None:
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            data = bytes(packet)
            if f.container is None:
                if kind != "video":
                    continue  # the file starts with the picture's first key frame
                try:
                    self._open(f, data)
                except ValueError:
                    continue
            out = av.Packet(data)
            out.stream = f.streams[kind]
            out.pts = out.dts = self._pts(f, kind)
            out.time_base = MS
            if kind == "video":
                out.is_keyframe = not data[0] & 0x01
                f.frames += 1
            try:
                f.container.mux(out)
            except av.FFmpegError:
                log.exception("recording %s: a packet could not be written", f.path.name)

    async def stop(self) -> list[str]:
        """Finish the files; returns the names of those that hold a picture."""
        for f in self._files:
            f.video.stop()
            if f.audio is not None:
                f.audio.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        names = []
        for f in self._files:
            if f.container is not None:
                f.container.close()
                names.append(f.path.name)
        return names
