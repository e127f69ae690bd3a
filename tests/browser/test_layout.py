"""The class page's layout in real Chromium, in each state of a lecture, at 1280×800 and 360×740:
the side panel and every control stay in view, nothing is wider than the screen, and every video
box has its picture's shape."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from tests.browser.layout import WIDE, check_layout
from tests.browser.test_browser import (
    GUEST_NAME,
    approved_guest,
    chromium,
    enter_class,
    room_strings,
    wait_decoded,
    watch_errors,
)
from tests.conftest import Academy


@pytest.mark.browser
@pytest.mark.timeout(150)
async def test_the_lecture_layout_holds_in_every_state_at_both_widths(
    served: TestServer, academy: Academy
) -> None:
    """The teacher alone; a student given the floor with camera (as the teacher, the speaker and
    another student see it); a presenting guest beside the teacher; the teacher's screen share."""
    errors: list[str] = []
    seen: list[str] = []
    cid = academy.class_id
    try:
        async with chromium() as browser:
            (teacher,) = await enter_class(browser, served, [academy.teacher_id], cid, errors)
            t = await room_strings(teacher)
            await expect(teacher.locator("#status")).to_have_text(t["youAreLive"], timeout=10_000)
            await check_layout(teacher, "teacher alone", seen)

            speaker, listener = await enter_class(
                browser, served, academy.student_ids[:2], cid, errors
            )
            await wait_decoded(listener, 5)
            row = teacher.locator("#roster li").filter(has_text="Студент 01")
            await row.get_by_role("button", name=t["giveFloorCamera"]).click()
            s = await room_strings(speaker)
            await expect(speaker.locator("#status")).to_have_text(s["youHaveTheFloor"])
            for page in (teacher, listener):
                await page.wait_for_function(
                    "() => { const v = document.querySelector('#speakers video');"
                    " return v && v.videoWidth > 0; }",
                    timeout=15_000,
                )
            await check_layout(teacher, "floor with camera, teacher", seen)
            await check_layout(listener, "floor with camera, student", seen)
            await check_layout(speaker, "floor with camera, speaker", seen)
            await row.get_by_role("button", name=t["takeFloor"]).click()
            await expect(listener.locator("#speakers figure")).to_have_count(0)

            _filed, token = approved_guest(served.app, cid)
            guest = await (await browser.new_context(viewport=WIDE)).new_page()
            watch_errors(guest, errors)
            await guest.goto(str(served.make_url(f"/invite/{token}")))
            await expect(guest.locator("#join")).to_be_enabled(timeout=10_000)
            await guest.locator("#join").click()
            figure = listener.locator("#speakers figure")
            await expect(figure).to_contain_text(GUEST_NAME, timeout=10_000)
            await listener.wait_for_function(
                "() => { const v = document.querySelector('#speakers video');"
                " return v && v.videoWidth > 0; }",
                timeout=15_000,
            )
            await check_layout(listener, "presenting guest, student", seen)
            await check_layout(guest, "presenting guest, guest", seen)
            await guest.locator("#leave").click()
            await expect(figure).to_have_count(0, timeout=10_000)

            await teacher.locator("#share").click()
            await expect(teacher.locator("#share")).to_have_text(t["stopSharing"])
            await listener.wait_for_function(
                "() => document.getElementById('screen').videoWidth > 0", timeout=15_000
            )
            await check_layout(teacher, "screen share, teacher", seen)
            await check_layout(listener, "screen share, student", seen)
    finally:
        print("\n".join(seen))
    assert errors == []


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_the_layout_holds_while_a_quick_question_is_open(
    served: TestServer, academy: Academy
) -> None:
    """A quick question open (the teacher's results, the student's choices): the picture keeps
    its box at both widths, and on a phone the dock does not lie over it."""
    errors: list[str] = []
    seen: list[str] = []
    cid = academy.class_id
    try:
        async with chromium() as browser:
            teacher, student = await enter_class(
                browser, served, [academy.teacher_id, academy.student_ids[0]], cid, errors
            )
            await wait_decoded(student, 5)
            await teacher.locator("#ask-open").click()
            dialog = teacher.locator("#ask")
            await expect(dialog).to_be_visible()
            await teacher.locator("#ask-text").fill("Which planet is largest?")
            options = dialog.locator(".ask-option")
            await options.nth(0).fill("Mars")
            await options.nth(1).fill("Jupiter")
            await dialog.locator('button[type="submit"]').click()
            await expect(dialog).to_be_hidden()
            await expect(student.locator("#question-text")).to_have_text("Which planet is largest?")
            await check_layout(teacher, "quick question open, teacher", seen)
            await check_layout(student, "quick question open, student", seen)
    finally:
        print("\n".join(seen))
    assert errors == []
