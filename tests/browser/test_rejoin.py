"""Joining again on the same page (issue 20): after Leave the class the page offers Join, which
takes the person back in place — the page is not loaded again, so the chat read so far stays
(each line once), the devices chosen are the ones sent again, and video flows again."""

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
)
from tests.browser.test_media_controls import SENDING_JS, flowing
from tests.browser.test_removal import say
from tests.conftest import Academy


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
        rejoin = teacher.locator("#rejoin")
        await expect(rejoin).to_be_visible()
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
        await wait_decoded(student, 5)  # the student's new connection to the teacher's video
        await flowing(student, "audio")
    assert errors == []
