"""Low bandwidth, a viewer's choice: while it is on, the server sends that viewer no camera
video (sound and the shared screen still come); switched off, the camera picture comes back.
Other viewers are not touched, and a malformed choice disturbs nobody but its sender."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription
from playwright.async_api import Page, expect

from streaming.aiortc_forward import Hub, lean_sender
from streaming.protocol import ProtocolError, parse_client_message
from tests.browser.test_browser import chromium, enter_class, frames_decoded, wait_decoded
from tests.conftest import Academy, SignIn
from tests.integration.streaming.test_forwarding import (
    VP8_DELTA,
    VP8_KEY,
    Pair,
    Protocol,
    PublisherReceiver,
    ViewerSocket,
    rtp,
    srtp_pair,
)
from tests.peers import (
    MovingVideo,
    Peer,
    connect,
    drop,
    join,
    join_token,
    publish,
    rejoin,
    ws_url,
)
from tests.peers import pc as new_pc

SETTLE = 0.5  # for frames already on their way when the choice takes effect
WINDOW = 1.5


def test_the_choice_is_validated() -> None:
    assert parse_client_message('{"v": 1, "type": "low_bandwidth", "on": true}').on is True
    assert parse_client_message('{"v": 1, "type": "low_bandwidth", "on": false}').on is False
    for bad in ('"on": "yes"', '"on": 1', '"on": null', '"mode": "low"'):
        with pytest.raises(ProtocolError) as caught:
            parse_client_message(f'{{"v": 1, "type": "low_bandwidth", {bad}}}')
        assert caught.value.code == "bad_message"


async def test_a_held_sender_sends_nothing_and_comes_back_from_a_keyframe() -> None:
    publisher = PublisherReceiver()
    hub = Hub("video", "video/VP8", 90000, publisher)  # type: ignore[arg-type]
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="sendonly")
    lean = lean_sender(transceiver, hub)
    tx, rx = srtp_pair()
    socket = ViewerSocket()
    lean.connect(tx.protect, {1: Pair(Protocol(socket))}, 96)
    hub.on_frame(VP8_KEY, 90_000)
    hub.on_frame(VP8_DELTA, 93_000)
    assert len(socket.sent) == 2
    seq = rtp(rx.unprotect(socket.sent[-1]))[2]

    lean.hold(True)
    assert lean not in hub.senders  # no cost per frame while held
    hub.on_frame(VP8_DELTA, 96_000)
    hub.on_frame(VP8_KEY, 99_000)
    await asyncio.sleep(0)  # the keyframe asked for when it connected has gone
    hub._last_request = 0.0
    plis = len(publisher.plis)
    transceiver.sender._send_keyframe()  # the held viewer's PLI does not reach the publisher
    await asyncio.sleep(0)
    assert len(publisher.plis) == plis and len(socket.sent) == 2

    # Released: the recent keyframe is replayed at once; sequence numbers carry on, no gap.
    lean.hold(False)
    assert lean in hub.senders and len(socket.sent) == 3
    _, _, seq_after, ts_after, _, payload = rtp(rx.unprotect(socket.sent[-1]))
    assert seq_after == (seq + 1) & 0xFFFF and payload[4:] == VP8_KEY
    hub.on_frame(VP8_DELTA, 102_000)
    assert len(socket.sent) == 4

    # Held and released again with nothing newer than what it had: nothing is sent twice; a
    # keyframe is asked for, and deltas wait for it.
    lean.hold(True)
    hub._last_request = 0.0
    lean.hold(False)
    await asyncio.sleep(0)
    assert len(publisher.plis) == plis + 1
    hub.on_frame(VP8_DELTA, 105_000)
    assert len(socket.sent) == 4
    hub.on_frame(VP8_KEY, 108_000)
    assert len(socket.sent) == 5
    assert rtp(rx.unprotect(socket.sent[-1]))[3] - ts_after == 108_000 - 99_000
    hub.close()
    await pc.close()


async def _share_screen(teacher: Peer) -> RTCPeerConnection:
    screen = new_pc()
    screen.addTrack(MovingVideo())
    await screen.setLocalDescription(await screen.createOffer())
    seen = len(teacher.messages)
    await teacher.send("publish", sdp=screen.localDescription.sdp, tracks=["screen"])
    answer = await teacher.wait_for("answer", after=seen)
    await screen.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    return screen


async def _until(peer: Peer, label: str, n: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while peer.frames_by_label.get(label, 0) < n:
            await asyncio.sleep(0.02)


async def _switch(peer: Peer, on: bool) -> None:
    seen = len(peer.messages)
    await peer.send("low_bandwidth", on=on)
    assert (await peer.wait_for("low_bandwidth", after=seen))["on"] is on


async def _window(*peers: Peer) -> list[dict[str, int]]:
    """Frames each peer got per label over a window, after frames in flight have landed."""
    await asyncio.sleep(SETTLE)
    before = [dict(p.frames_by_label) for p in peers]
    await asyncio.sleep(WINDOW)
    return [
        {label: n - b.get(label, 0) for label, n in p.frames_by_label.items()}
        for p, b in zip(peers, before, strict=True)
    ]


@pytest.mark.timeout(40)
async def test_low_bandwidth_keeps_sound_and_screen_and_holds_the_camera(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    screen = await _share_screen(teacher)
    a = await join(sign_in(academy.student_ids[0]), academy.class_id)
    b = await join(sign_in(academy.student_ids[1]), academy.class_id)
    for peer in (a, b):
        for label in ("camera", "microphone", "screen"):
            await _until(peer, label, 5)

    await _switch(a, True)
    got_a, got_b = await _window(a, b)
    assert got_a.get("camera", 0) == 0, got_a
    assert got_a["microphone"] >= 25 and got_a["screen"] >= 10, got_a  # 50/s and ~30/s
    assert got_b["camera"] >= 10 and got_b["microphone"] >= 25, got_b

    # Switched off: the camera picture comes back at once (from a keyframe).
    await _switch(a, False)
    await _until(a, "camera", a.frames_by_label["camera"] + 10, timeout=3)

    # A malformed choice: its sender is told (and disconnected, as for any bad message); the
    # class goes on for everyone else.
    await a.send("low_bandwidth", on="please")
    error = await a.wait_for("error")
    assert error["code"] == "bad_message" and "'on'" in error["message"]
    assert await a.wait_closed() == 4400
    await _until(b, "camera", b.frames_by_label["camera"] + 10)
    assert teacher.closed_code is None and b.closed_code is None

    await screen.close()
    for peer in (a, b, teacher):
        await peer.close()


@pytest.mark.timeout(40)
async def test_the_choice_survives_a_rejoin_and_applies_to_sources_that_come_later(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    client = sign_in(academy.student_ids[0])
    # As the page does with a remembered choice: said at once, before any offer is answered.
    a = await connect(
        ws_url(client, academy.class_id), (await join_token(client, academy.class_id))["token"]
    )
    await a.send("low_bandwidth", on=True)
    welcome = await a.wait_for("welcome")
    assert welcome["low_bandwidth"] is False
    assert (await a.wait_for("low_bandwidth"))["on"] is True
    await _until(a, "microphone", 25)
    assert a.frames_by_label.get("camera", 0) == 0  # not a single camera frame was sent

    # The network drops; the same participant comes back, still on low bandwidth.
    drop(a)
    back = await rejoin(client, academy.class_id, welcome["reconnect_token"])
    assert (await back.wait_for("welcome"))["low_bandwidth"] is True
    screen = await _share_screen(teacher)  # a source that starts after the choice
    await _until(back, "screen", 10)
    await _until(back, "microphone", 25)
    (got,) = await _window(back)
    assert got.get("camera", 0) == 0 and got["screen"] > 0, got

    await screen.close()
    for peer in (back, a, teacher):
        await peer.close()


TEACHER_AUDIO_JS = """async () => {
  const pc = window.sabaqRoom && window.sabaqRoom.pc;
  if (!pc) return 0;
  let packets = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") packets += r.packetsReceived || 0;
  });
  return packets;
}"""


async def _audio_packets(page: Page, more_than: int) -> int:
    async with asyncio.timeout(10):
        while (n := int(await page.evaluate(TEACHER_AUDIO_JS))) <= more_than:
            await asyncio.sleep(0.05)
    return n


PLAYING_JS = """() => Array.from(document.querySelectorAll("audio"))
    .filter(a => a.srcObject && !a.paused).map(a => a.currentTime)"""


async def expect_sound_playing(page: Page) -> None:
    first = await page.evaluate(PLAYING_JS)
    assert first, "no sound element is playing"
    async with asyncio.timeout(5):
        while max(await page.evaluate(PLAYING_JS)) <= max(first):
            await asyncio.sleep(0.1)


@pytest.mark.browser
@pytest.mark.timeout(60)
async def test_the_toggle_in_chromium_is_kept_for_the_next_join(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """The viewer presses the toggle from the keyboard: the teacher's picture stops, the sound
    goes on; after a reload the choice applies from the start, and a speaker's box shows their
    initials (no dark box); pressed again, the pictures are back."""
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    errors: list[str] = []
    async with chromium() as browser:
        (page,) = await enter_class(
            browser, served, [academy.student_ids[0]], academy.class_id, errors
        )
        await wait_decoded(page, 5)
        toggle = page.locator("#low-bandwidth")
        await expect(toggle).to_have_attribute("aria-pressed", "false")
        await expect(page.locator("#low-bandwidth-note")).to_be_hidden()
        await toggle.focus()
        await page.keyboard.press("Space")
        await expect(toggle).to_have_attribute("aria-pressed", "true")
        await expect(page.locator("#low-bandwidth-note")).to_be_visible()
        await asyncio.sleep(SETTLE)
        decoded, heard = await frames_decoded(page), await _audio_packets(page, 0)
        await asyncio.sleep(WINDOW)
        assert await frames_decoded(page) == decoded
        await _audio_packets(page, heard + 25)

        # The next join (a reload: straight in, the devices passed today) starts on low
        # bandwidth: sound, and not one camera frame.
        await page.reload()
        await expect(page.locator("#joined-directly")).to_be_visible()
        await expect(toggle).to_have_attribute("aria-pressed", "true")
        await _audio_packets(page, 50)
        assert await frames_decoded(page) == 0
        # And the sound is played, not only received: its element's clock moves (a video
        # element waiting for its first picture would hold it still).
        await expect_sound_playing(page)

        # A student speaks with camera: no picture comes to this viewer, so the speaker's box
        # and gallery tile show the initials, not a dark box.
        speaker = await join(sign_in(academy.student_ids[1]), academy.class_id)
        speaker_id = (await speaker.wait_for("welcome"))["participant_id"]
        await teacher.send("grant_floor", participant_id=speaker_id, camera=True)
        await speaker.wait_for("floor_granted")
        await publish(speaker)
        box = page.locator("#speakers figure")
        tile = page.locator(f'#gallery .tile[data-source="{speaker_id}"]')
        await expect(box.locator(".avatar")).to_be_visible(timeout=10_000)
        await expect(box.locator(".avatar .initials")).to_have_text("С0")
        await expect(box.locator("video")).to_be_hidden()
        await expect(tile).to_have_class(re.compile(r"\bno-video\b"))

        await toggle.click()
        await expect(toggle).to_have_attribute("aria-pressed", "false")
        await wait_decoded(page, 5, limit=5)
        # Back to full video: the speaker's picture in place of the initials.
        await expect(box.locator(".avatar")).to_be_hidden()
        await expect(box.locator("video")).to_be_visible()
        await expect(tile).not_to_have_class(re.compile(r"\bno-video\b"))
        await speaker.close()
    await teacher.close()
    assert not errors, errors
