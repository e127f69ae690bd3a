"""The fan-out path: encoded frames forwarded as they are, bounded per-viewer queues, keyframe
requests coalesced and passed to the publisher — and a loud failure if aiortc changes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiortc
import pytest
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection

from streaming import aiortc_forward
from streaming.aiortc_forward import VIDEO_QUEUE, Hub, is_keyframe
from streaming.aiortc_media import AiortcPublisher
from tests.conftest import Academy, SignIn
from tests.peers import join, publish
from web import keys

VP8_KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A])  # P bit 0: a key frame
VP8_DELTA = bytes([0x31, 0x02, 0x00])  # P bit 1


async def test_aiortc_internals_are_the_ones_we_rely_on() -> None:
    """If this fails, aiortc was upgraded: re-read streaming/aiortc_forward.py before pinning."""
    assert aiortc.__version__ == aiortc_forward.AIORTC_VERSION
    aiortc_forward.check_internals()
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="recvonly")
    assert hasattr(transceiver.receiver, "_RTCRtpReceiver__decoder_queue")
    assert hasattr(transceiver, "_codecs")
    await pc.close()


def test_internals_check_fails_loudly_on_another_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "9.9.9")
    with pytest.raises(aiortc_forward.AiortcInternalsChanged, match="re-check"):
        aiortc_forward.check_internals()


def test_keyframe_detection() -> None:
    assert is_keyframe("video/VP8", VP8_KEY)
    assert not is_keyframe("video/VP8", VP8_DELTA)
    assert is_keyframe("video/H264", b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x65\x88")
    assert not is_keyframe("video/H264", b"\x00\x00\x00\x01\x41\x9a")
    assert not is_keyframe("video/VP8", b"")


@dataclass
class Source:
    source: int


@dataclass
class PublisherReceiver:
    """Stands in for aiortc's receiver (below the code under test): records PLIs sent."""

    plis: list[int] = field(default_factory=list)

    def getSynchronizationSources(self) -> list[Source]:
        return [Source(1234)]

    async def _send_rtcp_pli(self, ssrc: int) -> None:
        self.plis.append(ssrc)


async def test_viewer_waits_for_a_keyframe_and_a_stalled_viewer_skips_to_the_next() -> None:
    receiver = PublisherReceiver()
    hub = Hub("video", "video/VP8", 90000, receiver)  # type: ignore[arg-type]
    fast, stalled = hub.subscribe(), hub.subscribe()
    await asyncio.sleep(0)
    assert receiver.plis == [1234]  # two joins at once: one keyframe request now
    hub.on_frame(VP8_DELTA, 0)  # nobody can start from a delta frame
    hub.on_frame(VP8_KEY, 3000)
    assert (await fast.recv()).pts == 3000
    for i in range(VIDEO_QUEUE + 5):  # the fast viewer keeps up, the stalled one never reads
        hub.on_frame(VP8_DELTA, 6000 + i * 3000)
        assert (await fast.recv()).pts == 6000 + i * 3000
    # The stalled viewer overflowed: its queue was dropped, it waits for a keyframe.
    assert stalled.dropped > VIDEO_QUEUE
    hub.on_frame(VP8_DELTA, 999_000)
    hub.on_frame(VP8_KEY, 1_002_000)
    got = await asyncio.wait_for(stalled.recv(), 1)
    assert got.pts == 1_002_000 and bytes(got) == VP8_KEY
    assert float(got.time_base) == 1 / 90000
    # A flood of keyframe requests from viewers becomes one PLI per interval.
    hub._last_request = 0.0
    for _ in range(50):
        hub.request_keyframe()
    await asyncio.sleep(0)
    assert len(receiver.plis) == 2
    # ...and those that came too soon are not lost: one more goes at the end of the interval.
    await asyncio.sleep(aiortc_forward.KEYFRAME_REQUEST_INTERVAL + 0.1)
    assert len(receiver.plis) == 3
    hub.close()
    fast.stop()
    with pytest.raises(aiortc.mediastreams.MediaStreamError):
        await fast.recv()
    assert fast not in hub.viewers


async def test_server_forwards_without_decoding(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    viewers = [await join(sign_in(u), academy.class_id) for u in academy.student_ids[:3]]
    for v in viewers:
        await v.wait_frames(15)
        assert v.audio_frames > 0
    room = served.app[keys.MEDIA_NODE].rooms[academy.class_id]
    host = room.host
    assert host is not None and isinstance(host.publisher, AiortcPublisher)
    hubs = host.publisher.hubs
    assert {h.kind for h in hubs} == {"video", "audio"}
    assert all(h.frames > 0 for h in hubs)
    assert all(len(h.viewers) == 3 for h in hubs)
    # Nothing was decoded on the server: the publisher's remote tracks never got a frame.
    for receiver in host.publisher.pc.getReceivers():
        assert receiver.track._queue.qsize() == 0  # type: ignore[attr-defined]
    for p in (*viewers, teacher):
        await p.close()
