"""A quick question in real Chromium: the teacher asks it from the dialog, two students answer
through the page (one with the mouse, one by keyboard only), the teacher sees the tally as they
come, a second answer is not offered, and the results shown reach the students; the page holds
at 360 px. In firefox-esr a student answers a named and an anonymous question by keyboard: the
named answer is in the ledger, a second one is refused, the anonymous one leaves no name."""

from __future__ import annotations

import asyncio
from typing import Any

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
from tests.browser.test_firefox import FirefoxRun, firefox, teacher_live
from tests.conftest import Academy, SignIn
from tests.peers import Peer
from web.core import keys


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
        # The panel rebuilt under the keyboard keeps it: on the note that says it is counted.
        await expect(b.locator("#question-note")).to_be_focused()
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


async def answered(teacher: Peer, question_id: str, n: int, run: FirefoxRun) -> dict[str, Any]:
    """The teacher's results of the question once ``n`` students have answered it (failing
    with the driver's reason if it ends first)."""
    async with asyncio.timeout(20):
        while True:
            if run.final is not None:
                pytest.fail(f"the driver ended: {run.final.get('error')}")
            got = [
                m
                for m in teacher.messages
                if m["type"] == "question_results" and m["id"] == question_id
            ]
            if got and got[-1]["answered"] == n:
                return got[-1]
            await asyncio.sleep(0.05)


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_a_student_in_firefox_answers_by_keyboard(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """firefox-esr, one launch: the teacher (an aiortc peer, live) asks a named question; the page
    shows it with its first option focused, the student chooses the second option by keyboard
    and sends it; the ledger holds that answer under the student's id; the same student's second
    answer (from a page edited to offer it again) is refused and not counted; the results the
    teacher shows reach the page. Then an anonymous yes/no question, answered by keyboard, is
    counted and nothing with the student's id is stored for it."""
    cid, ff_id = academy.class_id, academy.student_ids[0]
    ledger = served.app[keys.LEDGER]
    teacher = await teacher_live(sign_in, cid, academy.teacher_id)  # the page goes live
    try:
        token = served.app[keys.SIGNER].mint_signin(user_id=ff_id, ttl=600)
        url = str(served.make_url(f"/signin/link?token={token}&next=/classes/{cid}"))
        job = {
            "url": url,
            "steps": ["open", "check", "join", "live", "question", "question", "leave"],
            "questions": [{"choice": 1, "again": True, "results": True}, {"choice": 0}],
            "timeout_ms": 90_000,
        }
        async with firefox(job) as run:
            await run.wait_event("live", limit=40)
            mark = len(teacher.messages)
            await teacher.send(
                "ask",
                text="Which planet is largest?",
                format="single",
                options=["Mars", "Jupiter", "Venus"],
                anonymous=False,
                seconds=60,
            )
            named = (await teacher.wait_for("question", after=mark))["question"]
            assert (await answered(teacher, named["id"], 1, run))["tally"] == [0, 1, 0]
            await teacher.send("show_results", question_id=named["id"], on=True)
            await run.wait_event("question", limit=20)
            # The second answer was refused: one answer, the first, counted and recorded.
            mark = len(teacher.messages)
            await teacher.send("close_question", question_id=named["id"])
            closed = await teacher.wait_for("question_results", after=mark)
            assert closed["tally"] == [0, 1, 0] and closed["answered"] == 1, closed
            await ledger_until(
                served, cid, lambda kinds: (EventKind.QUESTION_CLOSED, None) in kinds
            )
            events = [le.event for le in ledger.events(cid)]
            given = [e for e in events if e.kind is EventKind.QUESTION_ANSWERED]
            assert [(e.user_id, e.data) for e in given] == [
                (ff_id, {"question": named["id"], "choices": [1]})
            ], given

            mark = len(teacher.messages)
            await teacher.send(
                "ask", text="Was it clear?", format="yes_no", options=[], anonymous=True, seconds=60
            )
            anon = (await teacher.wait_for("question", after=mark))["question"]
            await answered(teacher, anon["id"], 1, run)
            mark = len(teacher.messages)
            await teacher.send("close_question", question_id=anon["id"])
            closed = await teacher.wait_for("question_results", after=mark)
            assert closed["tally"] == [1, 0] and closed["answered"] == 1, closed
            got = await run.result(limit=40)
    finally:
        await teacher.close()

    strings: dict[str, str] = got["strings"]
    first, second = got["questions"]
    assert first["text"] == "Which planet is largest?" and first["kind"] == strings["qNamed"]
    assert first["answered"]["note"] == strings["qCounted"], first
    assert [c["checked"] for c in first["answered"]["choices"]] == [False, True, False], first
    assert all(c["disabled"] for c in first["answered"]["choices"]), first
    assert first["again"]["note"] == got["error_strings"]["already_answered"], first
    assert first["results"] == {"answered": "1", "counts": [0, 1, 0]}, first
    assert second["text"] == "Was it clear?" and second["kind"] == strings["qAnonymous"]
    assert second["answered"]["note"] == strings["qCounted"], second
    assert second["answered"]["submit_disabled"] is True
    assert got["errors"] == [], got["errors"]
    print(f"firefox {got['browser']}: two questions answered, whole run {got['total_ms']} ms")

    await ledger_until(served, cid, lambda kinds: (EventKind.LEFT, ff_id) in kinds)
    events = [le.event for le in ledger.events(cid)]
    about_anon = [e for e in events if (e.data or {}).get("question") == anon["id"]]
    assert [e.kind for e in about_anon] == [EventKind.QUESTION_ASKED, EventKind.QUESTION_CLOSED]
    assert {e.user_id for e in about_anon} <= {academy.teacher_id, None}, about_anon
    assert [e.kind for e in events if e.user_id == ff_id] == [
        EventKind.JOINED,
        EventKind.QUESTION_ANSWERED,  # the named question's, the one above
        EventKind.LEFT,
    ]
    assert ledger.verify(cid) is None
