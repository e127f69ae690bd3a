"""Joining again on the same page (issue 20): after Leave the class the page offers Join, which
takes the person back in place — the page is not loaded again, so the chat read so far stays
(each line once), the devices chosen are the ones sent again, and video flows again. Left, the
page shows only that and Join; after a reload the chosen microphone is asked for exactly. Opened
in another tab, the first tab says so plainly (no error) and its Join takes the class back."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from tests.browser.test_browser import (
    TEACHER_NAME,
    chromium,
    enter_class,
    room_strings,
    wait_decoded,
    watch_errors,
)
from tests.browser.test_media_controls import SENDING_JS, flowing
from tests.browser.test_removal import say
from tests.conftest import Academy

# What a participant in the class has on the page, and one who left has not.
IN_CLASS = (
    "#leave",
    "#end",
    "#record",
    "#settings-open",
    "#roster",
    "#count",
    "#chat-text",
    "#video",
)

# Every getUserMedia request of the page, as asked (wrapped before the page's scripts run).
ASKED_JS = """(() => {
  const media = navigator.mediaDevices;
  const ask = media.getUserMedia.bind(media);
  window.sabaqAsked = [];
  media.getUserMedia = (c) => {
    window.sabaqAsked.push(JSON.parse(JSON.stringify(c)));
    return ask(c);
  };
})()"""

# The status line's colour and the danger colour (of errors, a removal), both as computed.
COLOURS_JS = """() => {
  const probe = document.createElement("span");
  probe.style.color = "var(--danger)";
  document.body.append(probe);
  const danger = getComputedStyle(probe).color;
  probe.remove();
  return { status: getComputedStyle(document.getElementById("status")).color, danger: danger };
}"""


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_the_teacher_leaves_and_joins_again_in_place_with_the_devices_chosen(
    served: TestServer, academy: Academy
) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        teacher, student = await enter_class(
            browser, served, [academy.teacher_id, academy.student_ids[0]], academy.class_id, errors
        )
        await wait_decoded(student, 5)
        t = await room_strings(teacher)
        await teacher.evaluate("window.sabaqNotReloaded = true")
        # Another microphone than the first, chosen in the class.
        await teacher.locator("#settings-open").click()
        dialog = teacher.locator("#settings")
        labels = await teacher.locator("#microphone-select option").all_text_contents()
        (first,) = await teacher.evaluate(SENDING_JS)
        other = next(label for label in labels if label != first)
        await dialog.locator("#microphone-select").select_option(label=other)
        async with asyncio.timeout(5):
            while (await teacher.evaluate(SENDING_JS)) != [other]:
                await asyncio.sleep(0.1)
        await dialog.locator("#settings-close").click()
        await say(student, "A question before the break")
        await expect(teacher.locator("#chat-log li")).to_have_count(1)

        # -- the teacher leaves: the page offers Join; the student's page loses the teacher -----
        await teacher.locator("#leave").click()
        await expect(teacher.locator("#status")).to_have_text(t["left"])
        # Leaving on purpose is no error: a state of its own, not in the danger colour.
        await expect(teacher.locator("#room")).to_have_attribute("data-state", "left")
        colours = await teacher.evaluate(COLOURS_JS)
        assert colours["status"] != colours["danger"], colours
        rejoin = teacher.locator("#rejoin")
        await expect(rejoin).to_be_visible()
        # Out of the class, the page says so and offers Join — nothing of the class is left
        # to press or read: no roster, chat, picture, nor any of the class's controls.
        for gone in IN_CLASS:
            await expect(teacher.locator(gone)).to_be_hidden()
        teacher_row = student.locator("#roster li").filter(has_text=TEACHER_NAME)
        await expect(teacher_row).to_have_count(0)

        # -- Join: back in place, as the teacher left ---------------------------------------------
        await rejoin.click()
        await expect(rejoin).to_be_hidden()
        await expect(teacher.locator("#status")).to_have_text(t["youAreLive"], timeout=15_000)
        await expect(teacher_row).to_have_count(1)
        assert await teacher.evaluate("window.sabaqNotReloaded === true")
        assert await teacher.evaluate(SENDING_JS) == [other]
        chosen = "s => s.selectedOptions[0].textContent"
        assert await teacher.locator("#microphone-select").evaluate(chosen) == other
        await expect(teacher.locator("#chat-log li")).to_have_count(1)  # kept, not twice
        await expect(teacher.locator("#mic-toggle")).to_be_visible()
        for back in IN_CLASS:
            await expect(teacher.locator(back)).to_be_visible()
        await wait_decoded(student, 5)  # the student's new connection to the teacher's video
        await flowing(student, "audio")

        # -- a reload: the device check and Join, with the microphone chosen, asked for
        # exactly (a preference alone, Chromium opens its default device) -----------------
        await teacher.context.add_init_script(ASKED_JS)
        await teacher.reload()
        await expect(teacher.locator("#join")).to_be_enabled(timeout=10_000)
        await teacher.locator("#join").click()
        await expect(teacher.locator("#status")).to_have_text(t["youAreLive"], timeout=15_000)
        assert await teacher.evaluate(SENDING_JS) == [other]
        asked = await teacher.evaluate("window.sabaqAsked")
        chosen_id = await teacher.evaluate("localStorage.getItem('sabaq.microphone')")
        assert asked and asked[0]["audio"]["deviceId"] == {"exact": chosen_id}, asked

        # -- the camera chosen is gone (unplugged since): asked for exactly, then without it,
        # and the teacher is live with another camera rather than none ----------------------
        await teacher.evaluate("localStorage.setItem('sabaq.camera', 'unplugged-camera')")
        await teacher.reload()
        await expect(teacher.locator("#join")).to_be_enabled(timeout=10_000)
        await teacher.locator("#join").click()
        await expect(teacher.locator("#status")).to_have_text(t["youAreLive"], timeout=15_000)
        asked = await teacher.evaluate("window.sabaqAsked")
        assert [a["video"]["deviceId"] for a in asked[:2]] == [
            {"exact": "unplugged-camera"},
            {"ideal": "unplugged-camera"},
        ], asked
        await flowing(student, "video")  # the other camera's picture reaches the student

        # -- the student opens the class in another tab: the first says so plainly (no error,
        # not the danger colour of a refusal) and offers Join, which takes the class back -----
        s = await room_strings(student)
        second = await student.context.new_page()
        watch_errors(second, errors)
        await second.goto(student.url)  # in at once: the devices passed the check today
        await expect(student.locator("#status")).to_have_text(s["openedElsewhere"], timeout=10_000)
        await expect(student.locator("#room")).to_have_attribute("data-state", "elsewhere")
        colours = await student.evaluate(COLOURS_JS)
        assert colours["status"] != colours["danger"], colours
        for gone in ("#roster", "#chat-text", "#video", "#leave"):
            await expect(student.locator(gone)).to_be_hidden()
        await student.locator("#rejoin").click()
        await expect(second.locator("#status")).to_have_text(s["openedElsewhere"], timeout=10_000)
        await expect(second.locator("#rejoin")).to_be_visible()
        here = expect(student.locator("#room"))
        await here.to_have_attribute("data-state", "live", timeout=15_000)
    assert errors == []
