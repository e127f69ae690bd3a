"""Joining quickly, in real Chromium: the device check and the way into the class overlap (the
join token is fetched and the WebSocket open before the check has finished, and nothing joins
before the person does); a browser whose devices passed today goes straight in and sees the
teacher, while one whose last check failed, or passed only yesterday, is checked again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, Route, expect

from access.events import EventKind
from tests.browser.test_browser import (
    VIEWPORT,
    chromium,
    enter_class,
    ledger_until,
    wait_decoded,
    watch_errors,
)
from tests.conftest import Academy
from web.core import keys

# The pass join.js keeps, for a day ``ago`` days back in the class's zone (as the page counts).
# The pass is the signed-in person's own (``user``), as join.js keeps it.
REMEMBER_JS = """([ago, ok, camera]) => {
  const cfg = JSON.parse(document.getElementById("room-config").textContent);
  const day = new Intl.DateTimeFormat("en-CA", { timeZone: cfg.zone })
    .format(new Date(Date.now() - ago * 86400000));
  localStorage.setItem(
    "sabaq.devicesPassed", JSON.stringify({ day: day, ok: ok, camera: camera, user: cfg.userId }));
  return day;
}"""


async def student_page(browser: Browser, served: TestServer, uid: int, cid: int) -> Page:
    """A signed-in student's page on the class page (opened once, so its storage is there)."""
    page = await (await browser.new_context(viewport=VIEWPORT)).new_page()
    token = served.app[keys.SIGNER].mint_signin(user_id=uid, ttl=600)
    await page.goto(str(served.make_url(f"/signin/link?token={token}&next=/classes/{cid}")))
    return page


async def joined(served: TestServer, class_id: int, uid: int) -> bool:
    """Whether the register holds a join of that person."""
    await served.app[keys.MEDIA_NODE].outbox.flush()
    events = served.app[keys.LEDGER].events(class_id)
    return any(e.event.kind is EventKind.JOINED and e.event.user_id == uid for e in events)


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_a_returning_student_goes_straight_in_and_a_failed_check_is_not_skipped(
    served: TestServer, academy: Academy
) -> None:
    cid = academy.class_id
    returning, checked = academy.student_ids[:2]
    errors: list[str] = []
    async with chromium() as browser:
        (teacher,) = await enter_class(browser, served, [academy.teacher_id], cid, errors)
        await expect(teacher.locator("#room")).to_have_attribute("data-state", "live")

        # Devices passed today in this browser: in the class without pressing Join.
        page = await student_page(browser, served, returning, cid)
        watch_errors(page, errors)
        await page.evaluate(REMEMBER_JS, [0, True, False])
        await page.reload()
        await expect(page.locator("#joined-directly")).to_be_visible()
        await expect(page.locator("#check")).to_be_hidden()
        await wait_decoded(page, 5)  # the teacher's frames, decoded
        await ledger_until(served, cid, lambda k: (EventKind.JOINED, returning) in k)
        # Another student at the same browser is not let in on the first one's pass.
        shared = await student_page(browser, served, academy.student_ids[3], cid)
        watch_errors(shared, errors)
        # Its first check done first, as below: one still running would remember its own pass
        # over the state set here (seen once the class page's check stopped waiting for an echo).
        await expect(shared.locator("#join")).to_be_enabled(timeout=30_000)
        await shared.evaluate(
            "(uid) => localStorage.setItem('sabaq.devicesPassed', JSON.stringify({day:"
            " new Intl.DateTimeFormat('en-CA', {timeZone: JSON.parse(document.getElementById("
            "'room-config').textContent).zone}).format(new Date()), ok: true, camera: true,"
            " user: uid}))",
            returning,
        )
        await shared.reload()
        await expect(shared.locator("#join")).to_be_visible()
        await expect(shared.locator("#joined-directly")).to_be_hidden()
        await shared.context.close()
        # The check can still be opened; it runs again in the class.
        await page.locator("#check-again").click()
        await expect(page.locator("#check")).to_be_visible()
        await expect(page.locator("#join")).to_be_hidden()
        await expect(page.locator('[data-check="network"]')).to_have_attribute("data-ok", "yes")

        # The last check failed today, or the pass is yesterday's: checked again, not joined.
        other = await student_page(browser, served, checked, cid)
        watch_errors(other, errors)
        # Its first check done first: one still running would remember its pass over the
        # state set below.
        await expect(other.locator("#join")).to_be_enabled(timeout=30_000)
        today = ""
        for ago, ok in ((0, False), (1, True)):
            day = await other.evaluate(REMEMBER_JS, [ago, ok, False])
            today = today or day
            await other.reload()
            # The check's own bounds allow it this long on a loaded box.
            await expect(other.locator("#join")).to_be_enabled(timeout=30_000)
            await expect(other.locator("#check")).to_be_visible()
            await expect(other.locator("#stage")).to_be_hidden()
            await expect(other.locator("#joined-directly")).to_be_hidden()
            assert not await joined(served, cid, checked), (day, ok)
            # The check it passed now is remembered for today (and would let it in next time).
            kept: Any = await other.evaluate("JSON.parse(localStorage['sabaq.devicesPassed'])")
            assert kept == {"day": today, "ok": True, "camera": False, "user": checked}, kept
    assert errors == []


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_the_check_and_the_way_in_overlap_and_nothing_joins_before_join(
    served: TestServer, academy: Academy
) -> None:
    cid = academy.class_id
    uid = academy.student_ids[2]
    errors: list[str] = []
    async with chromium() as browser:
        (teacher,) = await enter_class(browser, served, [academy.teacher_id], cid, errors)
        await expect(teacher.locator("#room")).to_have_attribute("data-state", "live")
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        watch_errors(page, errors)

        # The network check's media path answers only once the page's WebSocket is open (or
        # after 10 s): a page that prepares nothing before the check ends would wait here.
        async def held(route: Route) -> None:
            for _ in range(200):
                if await page.evaluate("() => Boolean((window.sabaqJoinTimes || {}).wsOpen)"):
                    break
                await asyncio.sleep(0.05)
            await route.continue_()

        await page.route("**/practice/echo", held)
        token = served.app[keys.SIGNER].mint_signin(user_id=uid, ttl=600)
        await page.goto(str(served.make_url(f"/signin/link?token={token}&next=/classes/{cid}")))
        await expect(page.locator("#join")).to_be_enabled(timeout=15_000)
        times: Any = await page.evaluate("() => window.sabaqJoinTimes")
        assert times["checkStart"] <= times["tokenFetched"] < times["checkDone"], times
        assert times["wsOpen"] < times["checkDone"], times
        # The socket is open, but the register has nobody new: `join` waits for the person.
        assert "joinSent" not in times, times
        assert not await joined(served, cid, uid)

        await page.locator("#join").click()
        await wait_decoded(page, 5)
        times = await page.evaluate("() => window.sabaqJoinTimes")
        assert times["joinClicked"] <= times["joinSent"], times
        await ledger_until(served, cid, lambda k: (EventKind.JOINED, uid) in k)
    assert errors == []
