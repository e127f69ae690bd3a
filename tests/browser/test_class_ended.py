"""The end is the end (issue 20, item 8): once the teacher ends the class, every page shows
only that it has ended — no roster, no controls, no video box, every peer connection closed and
every camera stopped — with the recordings for those who may see them and, for the teacher, the
register; a page opened afterwards shows the same at once. It says so once, under one heading,
with one link to each place (a new user's walk found "ended" twice and the register twice)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from scheduler.planning import Actor
from tests.browser.test_browser import (
    VIEWPORT,
    chromium,
    room_strings,
    sign_in_and_open,
    wait_decoded,
    watch_errors,
)
from tests.conftest import Academy, class_ahead
from web.core import keys

# Every peer connection and every camera/microphone track the page makes, kept for the test.
TRACK_MEDIA = """(() => {
  window.__pcs = [];
  window.__tracks = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => {
    const stream = await gum(c);
    window.__tracks.push(...stream.getTracks());
    return stream;
  };
})()"""

# Packets received over the page's peer connections that are still open (a closed one has none
# to give), and how many are not closed.
INBOUND_JS = """async () => {
  let packets = 0;
  let open = 0;
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed" || pc.signalingState === "closed") continue;
    open += 1;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp") packets += r.packetsReceived || 0;
    });
  }
  return [open, packets];
}"""

GONE = ["#roster", "#count", "#video", "#screen", "#leave", "#chat-text", "#chat-form", "#waiting"]


async def open_room(browser: Browser, served: TestServer, user_id: int, class_id: int,
                    errors: list[str]) -> Page:  # fmt: skip
    page = await (await browser.new_context(viewport=VIEWPORT)).new_page()
    await page.add_init_script(TRACK_MEDIA)
    watch_errors(page, errors)
    await sign_in_and_open(served, page, user_id, class_id)
    return page


async def said_once(page: Page, class_id: int, *, sees_register: bool) -> None:
    """The page says "ended" in one heading (the status line that announced it is for screen
    readers only: a box of 1 px), and links each place once: the recording, the register for
    the teacher (none for a student)."""
    said = (await room_strings(page))["ended"]
    await expect(page.locator("#ended-title")).to_have_text(said)
    box = await page.locator("#status").bounding_box()
    assert box is None or (box["width"] <= 1 and box["height"] <= 1), box
    shown = await page.evaluate(
        """(said) => [...document.querySelectorAll("main *")].filter((el) => {
             const r = el.getBoundingClientRect();
             return r.width > 1 && r.height > 1 && [...el.childNodes].some(
               (n) => n.nodeType === 3 && n.textContent.includes(said.replace(/[.]$/, "")));
           }).length""",
        said,
    )
    assert shown == 1, f"{shown} visible elements say {said!r}"
    register = page.locator(f'main a[href="/classes/{class_id}/attendance"]:visible')
    await expect(register).to_have_count(1 if sees_register else 0)
    camera = page.locator(
        'main a[href$="-camera.webm"]:visible, main video[src$="-camera.webm"]:visible'
    )
    await expect(camera).to_have_count(1, timeout=15_000)


async def inbound(page: Page) -> tuple[int, int]:
    open_, packets = await page.evaluate(INBOUND_JS)
    return int(open_), int(packets)


async def assert_ended(page: Page, extra_gone: list[str]) -> None:
    """The page shows the ended state and nothing of the live class."""
    await expect(page.locator("#ended")).to_be_visible()
    assert await page.locator("#room").get_attribute("data-state") == "ended"
    for selector in GONE + extra_gone:
        el = page.locator(selector)
        if await el.count():
            await expect(el).to_be_hidden()
            assert await el.bounding_box() is None, selector
    assert await page.locator("#join").count() == 0 or not await page.locator("#join").is_visible()
    assert await page.locator("audio").count() == 0  # no sound element left playing


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_the_class_ends_for_everyone_and_stays_ended(
    served: TestServer, academy: Academy
) -> None:
    class_id = academy.class_id
    errors: list[str] = []
    async with chromium() as browser:
        pages = []
        for uid in (academy.teacher_id, academy.student_ids[0]):
            page = await open_room(browser, served, uid, class_id, errors)
            await expect(page.locator("#join")).to_be_enabled(timeout=10_000)
            await page.locator("#join").click()
            pages.append(page)
        teacher, student = pages
        await wait_decoded(student, 5)
        await expect(teacher.locator("#ended")).to_be_hidden()
        await teacher.locator("#record").click()
        await expect(student.locator("#rec")).to_be_visible()
        open_, before = await inbound(student)
        assert open_ >= 1 and before > 0  # the student receives the teacher's media

        await teacher.locator("#end").click()
        await teacher.locator("#end-confirm").click()

        await assert_ended(student, ["#hand", "#low-bandwidth", "#rec"])
        await assert_ended(teacher, ["#record", "#end", "#end-confirm", "#share", "#next-hand"])
        said = (await room_strings(student))["ended"]
        assert await student.locator("#status").text_content() == said
        # No live peer connection is left: none open, nothing more arrives.
        assert await inbound(student) == (0, 0)
        assert await inbound(teacher) == (0, 0)
        tracks: Any = await teacher.evaluate("() => window.__tracks.map((t) => t.readyState)")
        assert tracks and set(tracks) == {"ended"}  # the teacher's camera and microphone off
        # The recording made in the class, for the student; the register, for the teacher only.
        camera = student.locator('#ended-links a[href$="-camera.webm"]')
        await expect(camera).to_be_visible(timeout=15_000)
        assert await student.locator("#ended-register").count() == 0
        register = teacher.locator("#ended-register")
        await expect(register).to_be_visible()
        assert await register.get_attribute("href") == f"/classes/{class_id}/attendance"
        await expect(teacher.locator('#ended-links a[href$="-camera.webm"]')).to_be_visible()
        await said_once(student, class_id, sees_register=False)
        await said_once(teacher, class_id, sees_register=True)

        # Opened after the end: the ended state at once, with the recording; no Join.
        later = await open_room(browser, served, academy.student_ids[1], class_id, errors)
        await assert_ended(later, ["#hand", "#check"])
        await expect(later.locator('#ended-links a[href$="-camera.webm"]')).to_be_visible()
        assert await later.evaluate("() => window.__pcs.length") == 0
        await said_once(later, class_id, sees_register=False)
        again = await open_room(browser, served, academy.teacher_id, class_id, errors)
        await assert_ended(again, ["#record", "#end", "#check"])
        await said_once(again, class_id, sees_register=True)
    assert not errors, errors


@pytest.mark.browser
@pytest.mark.timeout(60)
async def test_a_class_cancelled_while_its_page_is_open_is_said_cancelled_not_ended(
    served: TestServer, academy: Academy
) -> None:
    """A class cancelled after its page was opened (hours ahead: nothing readied) is not over:
    Join says it was cancelled, with the reason, in the page's card for it — not the ended
    state (recordings, register), nor a refusal. So does one cancelled after its page readied
    the way in (about to start: the join token fetched ahead), refused by the media node."""
    tt = served.app[keys.TIMETABLE]
    later = class_ahead(served.app, academy, timedelta(hours=3))
    errors: list[str] = []
    async with chromium() as browser:
        page = await open_room(browser, served, academy.student_ids[0], later.id, errors)
        await expect(page.locator("#join")).to_be_enabled(timeout=10_000)
        tt.cancel_class(later.id, by=Actor(academy.staff_id, "Жанна"), reason="болезнь")
        await page.locator("#join").click()
        await expect(page.locator("#room")).to_have_attribute("data-state", "cancelled")
        card = page.locator("#unavailable")
        await expect(card).to_be_visible()
        await expect(card.locator("h2")).to_have_text("Это занятие отменено. Причина: болезнь")
        for gone in ("#ended", "#check", "#stage", "#rejoin"):
            await expect(page.locator(gone)).to_be_hidden()
        box = await page.locator("#status").bounding_box()  # said once: by the card
        assert box is None or (box["width"] <= 1 and box["height"] <= 1), box

        soon = await (await browser.new_context(viewport=VIEWPORT)).new_page()
        watch_errors(soon, errors)
        token = f"/classes/{academy.class_id}/join-token"
        async with soon.expect_response(lambda r: r.url.endswith(token)) as readied:
            await sign_in_and_open(served, soon, academy.student_ids[1], academy.class_id)
        assert (await readied.value).ok
        tt.cancel_class(academy.class_id, by=Actor(academy.staff_id, "Жанна"), reason="буран")
        await expect(soon.locator("#join")).to_be_enabled(timeout=10_000)
        await soon.locator("#join").click()
        await expect(soon.locator("#room")).to_have_attribute("data-state", "cancelled")
        await expect(soon.locator("#unavailable h2")).to_have_text(
            "Это занятие отменено. Причина: буран"
        )
        for gone in ("#ended", "#check", "#stage", "#rejoin"):
            await expect(soon.locator(gone)).to_be_hidden()
    assert not errors, errors
