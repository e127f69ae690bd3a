"""Recording: the encoded video of whoever presents muxed into WebM files without decoding,
with the class's sound.

One file per recorded video track (the teacher's camera and screen, a presenting guest's, a
student's camera given with the floor: ``recording_control`` says which and how they are named).
The picture's frames come from the same hubs that feed the viewers (a recorder is one more
viewer) and are written as they are. The sound is the class's: the teacher's microphone, a
presenting guest's and, while a student has the floor, theirs.
Voices in one track have to be mixed, so sound alone is decoded, mixed and encoded once per
recording (Opus, 20 ms frames), which costs little next to video. Packets are stamped with
their arrival time, so sound and picture stay together.

A presenter's camera is recorded as a file of its own beside the shared screen's (not
picture-in-picture over it): the frames are muxed as they arrive, and putting one picture over
another would mean decoding, compositing and encoding a video once more per recording. Each
file carries the class's sound, so either plays on its own; a player shows the two side by side.

The class's public chat, said while it records, goes into a sidecar beside the files,
``<stamp>-chat.jsonl``: one JSON object a line, ``{"at": UTC ISO 8601, "name", "text"}``. JSON
lines rather than WebVTT because a message's time is a moment of the day (a WebVTT cue has
only an offset into one video, and a recording is cut into several files when the screen comes
and goes) and its text may hold anything (a WebVTT cue may hold neither "-->" nor a blank
line). Private messages never reach it: the room hands over only what everyone read.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fractions
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError

from .aiortc_forward import Hub
from .forward_hub import ForwardedTrack

log = logging.getLogger("sabaq.streaming.recorder")
MS = fractions.Fraction(1, 1000)
CODECS = {"video/VP8": "libvpx", "audio/opus": "libopus"}
SAMPLE_RATE = 48000
FRAME_SAMPLES = 960  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2 * 2  # stereo, 16-bit
PREFILL = 3  # frames of a voice buffered before it is heard: absorbs arrival jitter
MAX_BUFFERED = 15  # frames (300 ms) of a voice; a voice further behind loses its oldest sound


HELD_SIZE = (640, 480)  # declared by a file opened while its camera is off


def vp8_size(keyframe: bytes) -> tuple[int, int]:
    """Width and height from a VP8 key frame's header (RFC 6386, 9.1)."""
    if len(keyframe) < 10 or keyframe[3:6] != b"\x9d\x01\x2a":
        raise ValueError("not a VP8 key frame")
    return (
        int.from_bytes(keyframe[6:8], "little") & 0x3FFF,
        int.from_bytes(keyframe[8:10], "little") & 0x3FFF,
    )


class _Voice:
    """One microphone: its Opus frames decoded into a buffer of 48 kHz stereo PCM."""

    def __init__(self, track: ForwardedTrack) -> None:
        self.track = track
        self._decoder: Any = av.CodecContext.create("libopus", "r")
        self._decoder.format = "s16"
        self._decoder.layout = "stereo"
        self._decoder.sample_rate = SAMPLE_RATE
        self._pcm = bytearray()
        self._playing = False

    async def pump(self) -> None:
        while True:
            try:
                packet = await self.track.recv()
            except MediaStreamError:
                return
            try:
                frames = self._decoder.decode(packet)
            except av.FFmpegError:
                continue  # a damaged frame: a moment of silence
            for frame in frames:
                self._pcm += bytes(frame.planes[0])[: frame.samples * 4]
            if len(self._pcm) > MAX_BUFFERED * FRAME_BYTES:
                del self._pcm[: len(self._pcm) - MAX_BUFFERED * FRAME_BYTES]

    def take(self) -> bytes | None:
        """The next 20 ms of this voice, or None while it has nothing (or is refilling)."""
        if not self._playing and len(self._pcm) < PREFILL * FRAME_BYTES:
            return None
        if len(self._pcm) < FRAME_BYTES:
            self._playing = False
            return None
        self._playing = True
        if len(self._pcm) > (PREFILL + 2) * FRAME_BYTES:
            # Behind after a stall and a burst: catch up rather than stay late for good.
            del self._pcm[: len(self._pcm) - PREFILL * FRAME_BYTES]
        chunk = bytes(self._pcm[:FRAME_BYTES])
        del self._pcm[:FRAME_BYTES]
        return chunk


def mix(chunks: list[bytes]) -> bytes:
    """Sum 16-bit PCM, clipped; digital silence is left out of the sum."""
    voiced = [c for c in chunks if c.count(0) != len(c)]
    if not voiced:
        return chunks[0] if chunks else bytes(FRAME_BYTES)
    if len(voiced) == 1:
        return voiced[0]
    total = array.array("h", voiced[0])
    for c in voiced[1:]:
        other = array.array("h", c)
        total = array.array(
            "h", (max(-32768, min(32767, a + b)) for a, b in zip(total, other, strict=True))
        )
    return total.tobytes()


class AudioMix:
    """The class's sound: every voice decoded, mixed every 20 ms, encoded once as Opus."""

    def __init__(self, on_packet: Callable[[bytes, float], None]) -> None:
        """``on_packet(data, at)``: an Opus packet and the moment (``time.monotonic()``) its
        sound was heard in the class."""
        self._on_packet = on_packet
        self._clock0 = time.monotonic()
        self._voices: dict[str, _Voice] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._encoder: Any = av.CodecContext.create("libopus", "w")
        self._encoder.bit_rate = 64000
        self._encoder.format = "s16"
        self._encoder.layout = "stereo"
        self._encoder.sample_rate = SAMPLE_RATE
        self._encoder.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._task = asyncio.create_task(self._run())

    def has(self, key: str, hub: Hub) -> bool:
        """Whether ``key``'s voice is that microphone already."""
        voice = self._voices.get(key)
        return voice is not None and voice.track.hub is hub

    def add(self, key: str, track: ForwardedTrack) -> None:
        self.remove(key)
        voice = self._voices[key] = _Voice(track)
        self._pumps[key] = asyncio.create_task(voice.pump())

    def remove(self, key: str) -> None:
        voice = self._voices.pop(key, None)
        if voice is not None:
            voice.track.stop()
            self._pumps.pop(key).cancel()

    async def _run(self) -> None:
        n = 0
        while True:
            n += 1
            wait = self._clock0 + n * FRAME_SAMPLES / SAMPLE_RATE - time.monotonic()
            if wait < -0.2:  # the loop was held up: skip the lost time rather than rush
                n = int((time.monotonic() - self._clock0) * SAMPLE_RATE) // FRAME_SAMPLES
                wait = 0.0
            await asyncio.sleep(max(0.0, wait))
            chunks = [c for v in self._voices.values() if (c := v.take()) is not None]
            frame = av.AudioFrame(format="s16", layout="stereo", samples=FRAME_SAMPLES)
            frame.planes[0].update(mix(chunks))
            frame.sample_rate = SAMPLE_RATE
            frame.pts = n * FRAME_SAMPLES
            frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
            try:
                packets = self._encoder.encode(frame)
            except av.FFmpegError:
                log.exception("recording: the class's sound cannot be encoded; it is left out")
                return
            self._emit(packets)

    def _emit(self, packets: list[Any]) -> None:
        for packet in packets:
            # The sample clock, less the buffering a voice goes through before it is mixed.
            at = self._clock0 + (packet.pts or 0) / SAMPLE_RATE - PREFILL * 0.02
            self._on_packet(bytes(packet), at)

    async def stop(self) -> None:
        for key in list(self._voices):
            self.remove(key)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(av.FFmpegError):
            self._emit(self._encoder.encode(None))  # what the encoder still holds


@dataclass
class _File:
    path: Path
    label: str
    video: ForwardedTrack
    container: Any = None
    streams: dict[str, Any] = field(default_factory=dict)
    last_pts: dict[str, int] = field(default_factory=dict)
    frames: int = 0


class WebmRecording:
    """Implements ``room.RecordingMedia``: records until ``stop()``."""

    def __init__(self, directory: Path, video: dict[str, Hub], audio: Hub | None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = unique_stamp(directory)
        self._t0 = time.monotonic()
        self._chat = directory / f"{stamp}-chat.jsonl"
        self._chat_lines = 0
        self._files = [
            _File(path=directory / f"{stamp}-{label}.webm", label=label, video=hub.subscribe())
            for label, hub in video.items()
            if hub.mime in CODECS
        ]
        self._held: frozenset[str] = frozenset()
        self._tasks = [asyncio.create_task(self._pump(f)) for f in self._files]
        self._mix = AudioMix(self._sound)
        if audio is not None:
            self.add_voice("host", audio)

    def add_voice(self, key: str, hub: Hub) -> None:
        """A microphone joins the class's sound (the teacher's, a presenting guest's, a student
        given the floor)."""
        if hub.mime in CODECS and not self._mix.has(key, hub):  # the same one: left as it is
            self._mix.add(key, hub.subscribe())

    def remove_voice(self, key: str) -> None:
        self._mix.remove(key)

    def note_chat(self, at: float, name: str, text: str) -> None:
        """A public chat message (``at``: seconds since the epoch) into the sidecar."""
        when = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
        line = json.dumps({"at": when.replace("+00:00", "Z"), "name": name, "text": text})
        try:
            with self._chat.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError:
            log.exception("recording %s: a chat message could not be written", self._chat.name)
            return
        self._chat_lines += 1

    def hold(self, labels: frozenset[str]) -> None:
        """Pictures not to write (by label) from now: a camera turned off. One released goes
        on from its next key frame, asked for now."""
        for f in self._files:
            if f.label in self._held and f.label not in labels:
                f.video.restart()
        self._held = labels

    def pictures(self) -> dict[str, int]:
        """The video frames written so far, by file name: 0 for a file still waiting for its
        picture's first key frame (a file starts with one)."""
        return {f.path.name: f.frames for f in self._files}

    def _sound(self, data: bytes, at: float) -> None:
        for f in self._files:
            if f.container is None and f.label in self._held:
                # A camera off from the start: the file opens with the sound (its picture
                # comes from the camera's first key frame once it is on).
                self._open(f, None)
            if f.container is not None:  # a file starts with its picture's first key frame
                self._write(f, "audio", data, at)

    def _pts(self, f: _File, kind: str, at: float | None = None) -> int:
        pts = int(((time.monotonic() if at is None else at) - self._t0) * 1000)
        pts = max(pts, f.last_pts.get(kind, -1) + 1)  # strictly increasing per stream
        f.last_pts[kind] = pts
        return pts

    def _open(self, f: _File, keyframe: bytes | None) -> None:
        """Open the file: its picture's size from its first key frame, or (a file opened by its
        sound, the camera off) a usual one; VP8 key frames carry their size, players follow."""
        width, height = vp8_size(keyframe) if keyframe is not None else HELD_SIZE
        f.container = av.open(str(f.path), "w", format="webm")
        v = f.container.add_stream("libvpx", rate=30)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        f.streams["video"] = v
        a = f.container.add_stream("libopus", rate=SAMPLE_RATE)
        a.layout = "stereo"
        f.streams["audio"] = a

    async def _pump(self, f: _File) -> None:
        while True:
            try:
                packet = await f.video.recv()
            except MediaStreamError:
                return
            if f.label in self._held:
                continue
            data = bytes(packet)
            if f.container is None:
                try:
                    self._open(f, data)
                except ValueError:
                    continue
            f.frames += 1
            self._write(f, "video", data)

    def _write(self, f: _File, kind: str, data: bytes, at: float | None = None) -> None:
        out = av.Packet(data)
        out.stream = f.streams[kind]
        out.pts = out.dts = self._pts(f, kind, at)
        out.time_base = MS
        if kind == "video":
            out.is_keyframe = not data[0] & 0x01
        try:
            f.container.mux(out)
        except av.FFmpegError:
            log.exception("recording %s: a packet could not be written", f.path.name)

    async def stop(self) -> list[str]:
        """Finish the files; returns the names of those that hold a picture, and the chat's
        sidecar if anything was said."""
        try:
            await self._mix.stop()
        finally:
            await self._finish()
        names = [f.path.name for f in self._files if f.container is not None]
        return names + ([self._chat.name] if self._chat_lines else [])

    async def _finish(self) -> None:
        for f in self._files:
            f.video.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for f in self._files:
            if f.container is not None:
                f.container.close()


def unique_stamp(directory: Path) -> str:
    """The UTC moment that names a recording's files, to the millisecond; never one that names
    files already there (the files of a recording cut short a moment ago are not written over)."""
    now = time.time()
    while True:
        ms = int(now * 1000)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
        if not any(directory.glob(f"{stamp}-*")):
            return stamp
        now += 0.001


def sweep_recordings(folder: Path, retention_days: float, now: float | None = None) -> int:
    """Delete recordings older than the retention period; returns how many went."""
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    removed = 0
    for path in [*folder.glob("*/*.webm"), *folder.glob("*/*-chat.jsonl")]:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    if removed:
        log.info("removed %d recordings past their retention", removed)
    return removed
