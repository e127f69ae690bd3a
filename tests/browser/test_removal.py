"""The teacher's Remove in Chromium (issue 20, item 7): it asks first, naming the person; the
removed student's page says why, and neither a reload nor Join brings them back until the
teacher lets them back in."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Dialog, Locator, Page, expect

from tests.browser.test_browser import (
    chromium,
    enter_class,
    room_strings,
    wait_decoded,
)
from tests.conftest import Academy


async def teacher_and_student(
    browser: Browser, served: TestServer, academy: Academy, errors: list[str]
) -> tuple[Page, Page, dict[str, str], dict[str, str], Locator]:
    """The teacher and Студент 01 in the class (the student seeing the teacher), their pages'
    strings, and the student's row in the teacher's roster."""
    teacher, student = await enter_class(
        browser, served, [academy.teacher_id, academy.student_ids[0]], academy.class_id, errors
    )
    await wait_decoded(student, 5)
    t, s = await room_strings(teacher), await room_strings(student)
    return teacher, student, t, s, teacher.locator("#roster li").filter(has_text="Студент 01")


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_the_teacher_removes_a_student_after_confirming_and_lets_them_back(
    served: TestServer, academy: Academy
) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        teacher, student, t, s, row = await teacher_and_student(browser, served, academy, errors)
        remove = row.get_by_role("button", name=t["removeWho"].replace("{name}", "Студент 01"))
        asked: list[str] = []

        async def answer(dialog: Dialog, accept: bool) -> None:
            asked.append(dialog.message)
            await (dialog.accept() if accept else dialog.dismiss())

        # Cancelled: nothing happens.
        teacher.once("dialog", lambda d: answer(d, False))
        await remove.click()
        await teacher.wait_for_timeout(500)
        assert asked == [t["removeConfirm"].replace("{name}", "Студент 01")]
        await expect(row).to_have_count(1)
        await expect(student.locator("#status")).not_to_have_text(s["removed"])
        # Confirmed: out, told why; the teacher sees them among the removed.
        teacher.once("dialog", lambda d: answer(d, True))
        await remove.click()
        await expect(student.locator("#status")).to_have_text(s["removed"])
        await expect(row).to_have_count(0)
        removed = teacher.locator("#removed-list li")
        await expect(removed).to_contain_text("Студент 01")
        # A reload says why and offers no Join.
        await student.reload()
        await expect(student.locator("#status")).to_have_text(s["removed"])
        assert await student.locator("#join").count() == 0
        # Let back in: the page made while they were out (no device check on it) offers Join,
        # which takes them in on that page; a new user's page offers Join.
        await student.evaluate("window.sabaqNotReloaded = true")
        await removed.get_by_role(
            "button", name=t["letBackInWho"].replace("{name}", "Студент 01")
        ).click()
        await expect(removed).to_have_count(0)
        await expect(student.locator("#rejoin")).to_be_visible(timeout=10_000)
        await student.locator("#rejoin").click()
        await expect(teacher.locator("#roster li").filter(has_text="Студент 01")).to_have_count(1)
        await wait_decoded(student, 5)
        assert await student.evaluate("window.sabaqNotReloaded === true")
        await student.locator("#leave").click()
        await expect(teacher.locator("#roster li").filter(has_text="Студент 01")).to_have_count(0)
        await student.evaluate("localStorage.clear()")
        await student.reload()
        await expect(student.locator("#join")).to_be_enabled(timeout=10_000)
        await student.locator("#join").click()
        await expect(teacher.locator("#roster li").filter(has_text="Студент 01")).to_have_count(1)
    assert not errors, errors


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_a_removed_students_page_offers_join_once_let_back_in_without_a_reload(
    served: TestServer, academy: Academy
) -> None:
    """Removed while in the class, the student's page learns of "Let back in" by itself: it
    says so and offers Join, which takes them in again on the same page (not loaded again):
    the chat read so far stays, what was said meanwhile comes, the teacher's video plays."""
    errors: list[str] = []
    async with chromium() as browser:
        teacher, student, t, s, row = await teacher_and_student(browser, served, academy, errors)
        await student.evaluate("window.sabaqNotReloaded = true")
        await say(teacher, "Before the break")
        await expect(student.locator("#chat-log li")).to_contain_text(["Before the break"])
        teacher.once("dialog", lambda d: d.accept())
        await row.get_by_role("button", name=t["removeWho"].replace("{name}", "Студент 01")).click()
        await expect(student.locator("#status")).to_have_text(s["removed"])
        rejoin = student.locator("#rejoin")
        await expect(rejoin).to_be_hidden()
        await say(teacher, "While you were out")
        removed = teacher.locator("#removed-list li")
        await removed.get_by_role(
            "button", name=t["letBackInWho"].replace("{name}", "Студент 01")
        ).click()
        await expect(removed).to_have_count(0)
        await expect(student.locator("#status")).to_have_text(s["letBack"], timeout=10_000)
        await expect(rejoin).to_be_visible()
        await rejoin.click()
        await expect(rejoin).to_be_hidden()
        await expect(teacher.locator("#roster li").filter(has_text="Студент 01")).to_have_count(1)
        await wait_decoded(student, 5)  # a new connection to the teacher's video
        await expect(student.locator("#video")).to_have_js_property("paused", False)
        assert await student.evaluate("window.sabaqNotReloaded === true")
        await expect(student.locator("#chat-log li")).to_contain_text(
            ["Before the break", "While you were out"]
        )
        await expect(student.locator("#chat-log li")).to_have_count(2)  # none twice
    assert not errors, errors


async def say(page: Page, text: str) -> None:
    """A chat message to everyone."""
    await page.locator("#chat-text").fill(text)
    await page.locator("#chat-text").press("Enter")
