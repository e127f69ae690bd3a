"""A quick question in real Chromium: the teacher asks it from the dialog, two students answer
through the page (one with the mouse, one by keyboard only), the teacher sees the tally as they
come, a second answer is not offered, and the results shown reach the students; the page holds
at 360 px."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from access.events import EventKind
from tests.browser.layout import check_layout
from tests.browser.test_browser import (
    accessibility_problems,
    chromium,
    enter_class,
    ledger_until,
    room_strings,
)
from tests.conftest import Academy


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_the_teacher_asks_students_answer_and_the_tally_shows(
    served: TestServer, academy: Academy
) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        people = [academy.teacher_id, *academy.student_ids[:2]]
        teacher, a, b = await enter_class(browser, served, people, academy.class_id, errors)
        for page in (teacher, a, b):
            await expect(page.locator("#leave")).to_be_visible(timeout=15_000)
        t = await room_strings(teacher)
        await expect(a.locator("#ask-open")).to_have_count(0)  # students do not ask

        # -- the teacher asks: one answer of three options, named, one minute -------------------
        await teacher.locator("#ask-open").click()
        dialog = teacher.locator("#ask")
        await expect(dialog).to_be_visible()
        await expect(teacher.locator("#ask-text")).to_be_focused()
        await teacher.keyboard.type("Which planet is largest?")
        options = dialog.locator(".ask-option")
        await expect(options).to_have_count(2)
        await options.nth(0).fill("Mars")
        await options.nth(1).fill("Jupiter")
        await teacher.locator("#ask-add").click()
        await expect(options).to_have_count(3)
        await expect(options.nth(2)).to_be_focused()
        await teacher.keyboard.type("Venus")
        assert await accessibility_problems(teacher) == []  # the dialog, as filled
        await dialog.locator('button[type="submit"]').click()
        await expect(dialog).to_be_hidden()

        # -- a student answers with the mouse ---------------------------------------------------
        sa = await room_strings(a)
        await expect(a.locator("#question-text")).to_have_text("Which planet is largest?")
        await expect(a.locator("#question-timer")).to_contain_text(
            sa["qTimeLeft"].split("{time}")[0].strip()
        )
        assert await accessibility_problems(a) == []  # the question and its choices
        await a.get_by_label("Jupiter").check()
        await a.locator("#question-submit").click()
        await expect(a.locator("#question-note")).to_have_text(sa["qCounted"])
        await expect(a.locator("#question-submit")).to_be_disabled()  # no second answer offered
        await expect(a.locator("#question-results")).to_be_hidden()  # not shown to students yet
        results = teacher.locator("#question-results")
        await expect(results).to_have_attribute("data-answered", "1")
        await expect(results.locator('li[data-option="1"]')).to_have_attribute("data-count", "1")

        # -- the other by keyboard only, on a phone-sized window ---------------------------------
        await b.set_viewport_size({"width": 360, "height": 740})
        await expect(b.locator("#question-choice-0")).to_be_focused()  # a new question: focused
        await b.keyboard.press("ArrowDown")
        await b.keyboard.press("ArrowDown")  # Venus
        await b.keyboard.press("Tab")
        await expect(b.locator("#question-submit")).to_be_focused()
        await b.keyboard.press("Enter")
        await expect(b.locator("#question-note")).to_have_text(sa["qCounted"])
        await expect(results).to_have_attribute("data-answered", "2")
        counts = [
            await results.locator(f'li[data-option="{i}"]').get_attribute("data-count")
            for i in range(3)
        ]
        assert counts == ["0", "1", "1"]
        await expect(results).to_contain_text(
            t["qAnsweredOf"].replace("{n}", "2").replace("{m}", "2")
        )
        assert await accessibility_problems(teacher) == []  # the results
        seen: list[str] = []
        await check_layout(b, "quick question answered, student", seen)
        await check_layout(teacher, "quick question results, teacher", seen)

        # -- the teacher shows the results to everyone, then closes the question ----------------
        await teacher.get_by_role("button", name=t["qShow"]).click()
        await expect(a.locator("#question-results")).to_be_visible()
        await expect(a.locator('#question-results li[data-option="2"]')).to_have_attribute(
            "data-count", "1"
        )
        await teacher.locator("#question-close").click()
        await expect(b.locator("#question-timer")).to_have_text(sa["qClosed"])
        await ledger_until(
            served,
            academy.class_id,
            lambda kinds: (
                (EventKind.QUESTION_CLOSED, None) in kinds
                and {u for k, u in kinds if k is EventKind.QUESTION_ANSWERED}
                == set(academy.student_ids[:2])
            ),
        )
    assert not errors, errors
