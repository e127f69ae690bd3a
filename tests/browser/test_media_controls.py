"""Microphone and camera controls in real Chromium, asserted on packets: the teacher's mute and
camera off stop what a student's page receives (and on again, it comes back), by button and by
keyboard (not while typing); the teacher mutes a student who has the floor and asks them to
unmute; self-view; the device chooser with its level meter, before joining and in the class."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Locator, Page, expect

from tests.browser.test_browser import (
    VIEWPORT,
    chromium,
    enter_class,
    room_strings,
    sign_in_and_open,
    wait_decoded,
    watch_errors,
)
from tests.conftest import Academy

# Packets received of one kind: from the teacher (``teacher`` true: the page's teacher
# connection), or from everyone else (the other views).
PACKETS_JS = """async ([kind, teacher]) => {
  let packets = 0;
  for (const view of window.sabaqRoom.views.values()) {
    if ((view.pc === window.sabaqRoom.pc) !== teacher) continue;
    try {
      (await view.pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === kind) packets += r.packetsReceived || 0;
      });
    } catch (e) {}
  }
  return packets;
}"""


async def packets(page: Page, kind: str, teacher: bool = True) -> int:
    n: Any = await page.evaluate(PACKETS_JS, [kind, teacher])
    return int(n)


async def flowing(page: Page, kind: str, teacher: bool = True, more: int = 20) -> None:
    """Packets of that kind keep arriving: ``more`` beyond now, within a few seconds."""
    start = await packets(page, kind, teacher)
    try:
        async with asyncio.timeout(8):
            while await packets(page, kind, teacher) < start + more:
                await asyncio.sleep(0.1)
    except TimeoutError:
        pytest.fail(f"{kind} packets did not flow: {start} → {await packets(page, kind, teacher)}")


async def stopped(page: Page, kind: str, teacher: bool = True) -> None:
    """No packet of that kind arrives over a whole second (within a few seconds of asking)."""
    try:
        async with asyncio.timeout(8):
            before = await packets(page, kind, teacher)
            while True:
                await asyncio.sleep(1.0)
                now = await packets(page, kind, teacher)
                if now == before:
                    return
                before = now
    except TimeoutError:
        pytest.fail(f"{kind} packets did not stop")


@pytest.mark.browser
@pytest.mark.timeout(150)
async def test_mute_and_camera_off_stop_packets_and_the_teacher_mutes_a_speaker(
    served: TestServer, academy: Academy
) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        teacher, a, b = await enter_class(
            browser,
            served,
            [academy.teacher_id, *academy.student_ids[:2]],
            academy.class_id,
            errors,
        )
        await wait_decoded(a, 5)
        t, sa = await room_strings(teacher), await room_strings(a)
        mic, cam = teacher.locator("#mic-toggle"), teacher.locator("#cam-toggle")
        await expect(mic).to_be_visible()
        assert "(M)" in (await mic.get_attribute("title") or "")
        assert "(V)" in (await cam.get_attribute("title") or "")
        await expect(teacher.locator("#self-view")).to_be_visible()
        mirror = "e => getComputedStyle(e).transform"
        transform = await teacher.locator("#self-view").evaluate(mirror)
        assert transform.startswith("matrix(-1"), transform  # mirrored
        await expect(a.locator("#media-controls")).to_be_hidden()  # nothing to mute yet
        await flowing(a, "audio")

        # -- the teacher's microphone off by button: the student's page receives no sound --
        await mic.click()
        await expect(mic).to_have_attribute("aria-pressed", "true")
        await expect(teacher.locator("#media-note")).to_have_text(t["yourMicOff"])
        teacher_row = a.locator("#roster li").first
        await expect(teacher_row.locator(".muted-note")).to_contain_text(sa["micOff"])
        await stopped(a, "audio")
        await flowing(a, "video")  # the picture goes on

        # -- M while typing in the chat is a letter, not a toggle; M outside it unmutes ----
        await teacher.locator("#chat-text").press("m")
        await expect(teacher.locator("#chat-text")).to_have_value("m")
        await expect(mic).to_have_attribute("aria-pressed", "true")
        await teacher.locator("#chat-text").fill("")
        await teacher.locator("h1").click()
        await teacher.keyboard.press("m")
        await expect(mic).to_have_attribute("aria-pressed", "false")
        await flowing(a, "audio")
        await expect(teacher_row.locator(".muted-note")).to_have_count(0)

        # -- camera off by V: no video packets; on by the button: they come back ----------
        await teacher.keyboard.press("v")
        await expect(cam).to_have_attribute("aria-pressed", "true")
        await expect(teacher.locator("#self-view")).to_be_hidden()
        await stopped(a, "video")
        await flowing(a, "audio")
        await cam.click()
        await expect(cam).to_have_attribute("aria-pressed", "false")
        await flowing(a, "video")

        # -- the teacher mutes a student who has the floor ----------------------------------
        row = teacher.locator("#roster li").filter(has_text="Студент 01")
        await row.get_by_role("button", name=t["giveFloorCamera"]).click()
        await expect(a.locator("#status")).to_have_text(sa["youHaveTheFloor"], timeout=10_000)
        await expect(a.locator("#mic-toggle")).to_be_visible()
        await expect(a.locator("#self-view")).to_be_visible()
        await flowing(teacher, "audio", teacher=False)
        assert await b.locator("#roster button").count() == 0  # students mute nobody
        await row.get_by_role("button", name=t["muteWho"].replace("{name}", "Студент 01")).click()
        await expect(a.locator("#mic-toggle")).to_have_attribute("aria-pressed", "true")
        await expect(a.locator("#status")).to_have_text(sa["mutedByTeacher"])
        await stopped(teacher, "audio", teacher=False)
        await stopped(b, "audio", teacher=False)

        # -- asked to unmute: the student accepts; the sound comes back ---------------------
        ask = t["askUnmuteWho"].replace("{name}", "Студент 01")
        await row.get_by_role("button", name=ask).click()
        await expect(a.locator("#unmute-prompt")).to_be_visible()
        await a.locator("#unmute-accept").click()
        await expect(a.locator("#mic-toggle")).to_have_attribute("aria-pressed", "false")
        await flowing(teacher, "audio", teacher=False)
    assert errors == []


LEVELS_JS = """async () => {
  const seen = [];
  for (let i = 0; i < 30; i++) {
    seen.push(document.getElementById("mic-level").value);
    await new Promise((r) => setTimeout(r, 100));
  }
  return seen;
}"""

SENDING_JS = """() => window.sabaqRoom.pc.getSenders()
  .filter((s) => s.track && s.track.kind === "audio").map((s) => s.track.label)"""


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_the_device_chooser_lists_devices_meters_the_microphone_and_switches_live(
    served: TestServer, academy: Academy
) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        teacher = await (await browser.new_context(viewport=VIEWPORT)).new_page()
        watch_errors(teacher, errors)
        await sign_in_and_open(served, teacher, academy.teacher_id, academy.class_id)
        await expect(teacher.locator("#join")).to_be_enabled(timeout=10_000)
        # Before joining: the fake camera and microphones are listed, the preview plays, the
        # meter follows the fake microphone's beeps.
        cameras = teacher.locator("#camera-select option")
        microphones = teacher.locator("#microphone-select option")
        await expect(cameras.first).to_be_attached()
        await expect(microphones.first).to_be_attached()
        await expect(teacher.locator("#camera-select")).to_be_visible()
        await expect(teacher.locator("#preview")).to_be_visible()
        await expect(teacher.locator("#mic-level")).to_be_visible()
        levels = await teacher.evaluate(LEVELS_JS)
        assert max(levels) > 0.01 and len(set(levels)) > 3, levels

        (student,) = await enter_class(
            browser, served, [academy.student_ids[0]], academy.class_id, errors
        )
        await teacher.locator("#join").click()
        await wait_decoded(student, 5)
        await flowing(student, "audio")

        # In the class: the settings dialog holds the same chooser; another microphone is
        # sent at once, on the same connection (no renegotiation).
        await teacher.evaluate("window.sabaqRoom.pc.marked = true")
        await teacher.locator("#settings-open").click()
        dialog = teacher.locator("#settings")
        await expect(dialog.locator("#microphone-select")).to_be_visible()
        labels = await microphones.all_text_contents()
        assert len(labels) >= 2, labels
        (before,) = await teacher.evaluate(SENDING_JS)
        other = next(label for label in labels if label != before)
        await dialog.locator("#microphone-select").select_option(label=other)
        async with asyncio.timeout(5):
            while (await teacher.evaluate(SENDING_JS)) != [other]:
                await asyncio.sleep(0.1)
        assert await teacher.evaluate("window.sabaqRoom.pc.marked === true")
        await flowing(student, "audio")
        levels = await teacher.evaluate(LEVELS_JS)
        assert max(levels) > 0.01, levels
        await dialog.locator("#settings-close").click()
        await expect(dialog).to_be_hidden()
    assert errors == []


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_the_teachers_camera_off_is_shown_not_frozen_and_the_status_says_the_truth(
    served: TestServer, academy: Academy
) -> None:
    """Camera off, students see a camera-off note over the teacher's (hidden) picture, not its
    last frame; the teacher's own picture is blanked too, and their status says what students
    get. On again, all of it goes."""
    errors: list[str] = []
    hidden_js = "e => getComputedStyle(e).visibility"
    async with chromium() as browser:
        teacher, a = await enter_class(
            browser, served, [academy.teacher_id, academy.student_ids[0]], academy.class_id, errors
        )
        await wait_decoded(a, 5)
        t, sa = await room_strings(teacher), await room_strings(a)
        cam, mic = teacher.locator("#cam-toggle"), teacher.locator("#mic-toggle")
        await expect(teacher.locator("#status")).to_have_text(t["youAreLive"], timeout=10_000)
        await expect(a.locator("#camera-off")).to_be_hidden()

        await cam.click()
        await expect(a.locator("#camera-off")).to_be_visible()
        await expect(a.locator("#camera-off")).to_have_text(sa["teacherCamOff"])
        assert await a.locator("#video").evaluate(hidden_js) == "hidden"
        await expect(teacher.locator("#camera-off")).to_be_visible()
        assert await teacher.locator("#video").evaluate(hidden_js) == "hidden"
        await expect(teacher.locator("#status")).to_have_text(t["youAreLiveCamOff"])
        # Pressed (off), each button says what it does next.
        await expect(cam).to_have_text(t["camOnButton"])
        await expect(cam).to_have_attribute("aria-pressed", "true")
        await expect(mic).to_have_text(t["micOffButton"])
        await mic.click()
        await expect(mic).to_have_text(t["micOnButton"])
        await expect(mic).to_have_attribute("aria-pressed", "true")
        await expect(teacher.locator("#status")).to_have_text(t["youAreLiveAllOff"])

        await cam.click()
        await expect(a.locator("#camera-off")).to_be_hidden()
        assert await a.locator("#video").evaluate(hidden_js) == "visible"
        await expect(teacher.locator("#camera-off")).to_be_hidden()
        assert await teacher.locator("#video").evaluate(hidden_js) == "visible"
        await expect(teacher.locator("#status")).to_have_text(t["youAreLiveMicOff"])
        await expect(cam).to_have_text(t["camOffButton"])
        assert "(V)" in (await cam.get_attribute("title") or "")
        await mic.click()
        await expect(teacher.locator("#status")).to_have_text(t["youAreLive"])
        await flowing(a, "video")
    assert errors == []


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_a_floor_for_sound_keeps_the_camera_off_in_a_lecture_not_in_a_seminar(
    served: TestServer, academy: Academy
) -> None:
    """In a lecture the teacher gives a student the floor for sound only: the student has no
    camera button (the teacher chose). The class becomes a seminar: the student, still holding
    that floor, turns the camera on themselves and another student receives and decodes the
    picture. Back to a lecture: the camera goes off again, the sound stays."""
    errors: list[str] = []
    async with chromium() as browser:
        teacher, a, b = await enter_class(
            browser,
            served,
            [academy.teacher_id, *academy.student_ids[:2]],
            academy.class_id,
            errors,
        )
        await wait_decoded(b, 5)
        t, sa = await room_strings(teacher), await room_strings(a)
        row = teacher.locator("#roster li").filter(has_text="Студент 01")
        await row.get_by_role("button", name=t["giveFloor"], exact=True).click()
        await expect(a.locator("#status")).to_have_text(sa["youHaveTheFloor"], timeout=10_000)
        await flowing(b, "audio", teacher=False)
        camera_on = a.locator("#camera-on")
        await expect(camera_on).to_be_hidden()
        await expect(a.locator("#cam-toggle")).to_be_hidden()
        assert await packets(b, "video", teacher=False) == 0
        # Heard, not seen: the speaker's box shows the initials in a ringed circle, no dark video.
        box = b.locator("#speakers figure").filter(has_text="Студент 01")
        await heard_not_seen(box)
        ring = await box.locator(".initials").evaluate("e => getComputedStyle(e).boxShadow")
        assert "rgb(240, 162, 2)" in ring, ring

        # -- a seminar: the student with the floor turns the camera on ----------------------
        await teacher.locator("#mode").click()
        await expect(teacher.locator("#mode")).to_have_text(t["toLecture"])
        await expect(camera_on).to_be_visible(timeout=10_000)
        await expect(row.locator(".role")).to_contain_text(t["hasFloor"])  # the floor held
        await camera_on.click()
        await expect(camera_on).to_be_hidden()
        await expect(a.locator("#cam-toggle")).to_be_visible()
        await flowing(b, "video", teacher=False)
        await flowing(b, "audio", teacher=False)
        await b.wait_for_function(
            "() => [...document.querySelectorAll('#gallery .tile')].some((t) =>"
            " t.textContent.includes('Студент 01') && t.querySelector('video').videoWidth > 0)",
            timeout=15_000,
        )
        tile = b.locator("#gallery .tile").filter(has_text="Студент 01")
        await expect(tile.locator("video")).to_be_visible()
        await expect(tile.locator(".avatar")).to_be_hidden()
        # The camera turned off, the microphone on: the tile shows the initials again.
        await a.locator("#cam-toggle").click()
        await heard_not_seen(tile)
        await a.locator("#cam-toggle").click()
        await expect(tile.locator("video")).to_be_visible(timeout=10_000)

        # -- a lecture again: the floor is for sound only, as the teacher gave it ----------
        await teacher.locator("#mode").click()
        await expect(teacher.locator("#mode")).to_have_text(t["toSeminar"])
        await expect(camera_on).to_be_hidden()
        await stopped(b, "video", teacher=False)
        await flowing(b, "audio", teacher=False)
        await expect(row.locator(".role")).to_contain_text(t["hasFloor"])
        await heard_not_seen(b.locator("#speakers figure").filter(has_text="Студент 01"))
    assert errors == []


async def heard_not_seen(box: Locator) -> None:
    """A speaker's box or tile of one heard but not seen: the initials ("С0" of "Студент 01")
    in their circle, and no video element to be seen (a black box)."""
    await expect(box.locator(".avatar .initials")).to_be_visible(timeout=10_000)
    await expect(box.locator(".avatar .initials")).to_have_text("С0")
    await expect(box.locator("video")).to_be_hidden()
