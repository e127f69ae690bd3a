"""The classroom in real Chromium: the raised hands' queue as the student and the teacher see
it, and pages that log no failed request while a guest waits in the lobby or a page first loads."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, Response, ViewportSize, expect

from tests.browser.test_browser import (
    VIEWPORT,
    approved_guest,
    chromium,
    room_strings,
    watch_errors,
)
from tests.conftest import Academy, SignIn
from web.core import keys
from web.core.http import LANG_COOKIE


def watch_failures(page: Page, failures: list[str]) -> None:
    """Collect every response of 400 or more and the console's reports of a failed load."""

    def response(r: Response) -> None:
        if r.status >= 400:
            failures.append(f"{r.status} {r.url}")

    page.on("response", response)
    page.on(
        "console",
        lambda msg: failures.append(msg.text) if "Failed to load resource" in msg.text else None,
    )


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_a_guest_waiting_in_the_lobby_and_a_first_page_load_log_no_failed_request(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    failures: list[str] = []
    errors: list[str] = []
    _filed, token = approved_guest(served.app, academy.class_id)
    async with chromium() as browser:
        # A first page load: the favicon is the page's, not a 404.
        page = await (await browser.new_context(viewport=VIEWPORT)).new_page()
        watch_failures(page, failures)
        await page.goto(str(served.make_url("/signin")))
        await page.wait_for_load_state("networkidle")
        assert failures == []
        icon = await page.locator('link[rel="icon"]').get_attribute("href", timeout=1000)
        assert icon is not None
        fetched = await page.request.get(str(served.make_url(icon)))
        assert fetched.status == 200
        assert fetched.headers["content-type"].startswith("image/svg+xml")
        favicon = await page.request.get(str(served.make_url("/favicon.ico")))
        assert favicon.status in (200, 301, 302, 308)  # an old browser's guess finds it too

        # A guest waits in the lobby through several of its asks: waiting is not an error.
        guest = await (await browser.new_context(viewport=VIEWPORT)).new_page()
        watch_failures(guest, failures)
        watch_errors(guest, errors)
        await guest.goto(str(served.make_url(f"/invite/{token}")))
        g = await room_strings(guest)
        await expect(guest.locator("#join")).to_be_enabled(timeout=10_000)
        asks: list[int] = []
        guest.on("response", lambda r: asks.append(r.status) if "join-token" in r.url else None)
        await guest.locator("#join").click()
        await expect(guest.locator("#status")).to_have_text(g["waitingTeacher"])
        async with asyncio.timeout(15):
            while len(asks) < 3:
                await asyncio.sleep(0.1)
        await expect(guest.locator("#room")).to_have_attribute("data-state", "waiting")
        assert asks[:3] == [200, 200, 200]
    assert failures == []  # no 409 while waiting
    assert errors == []


async def _in_class(
    browser: Browser, served: TestServer, user_id: int, class_id: int, lang: str, width: int
) -> Page:
    """A signed-in page of the class in ``lang``, in a browser whose own zone is not the
    group's (times shown must be the group's), joined."""
    viewport: ViewportSize = {"width": width, "height": 800 if width > 600 else 740}
    ctx = await browser.new_context(viewport=viewport, timezone_id="America/Sao_Paulo")
    cookie = {"name": LANG_COOKIE, "value": lang, "url": str(served.make_url("/"))}
    await ctx.add_cookies([cookie])  # type: ignore[list-item]
    page = await ctx.new_page()
    token = served.app[keys.SIGNER].mint_signin(user_id=user_id, ttl=600)
    await page.goto(str(served.make_url(f"/signin/link?token={token}&next=/classes/{class_id}")))
    await expect(page.locator("#join")).to_be_enabled(timeout=10_000)
    await page.locator("#join").click()
    await expect(page.locator("#room")).to_have_attribute("data-state", "live", timeout=10_000)
    return page


# Whether the chat input's placeholder fits in the box (measured in the input's own font).
PLACEHOLDER_FITS_JS = """() => {
  const input = document.getElementById("chat-text");
  const style = getComputedStyle(input);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const text = ctx.measureText(input.placeholder).width;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return [text, room];
}"""


@pytest.mark.browser
@pytest.mark.timeout(150)
async def test_hands_queue_title_badge_and_private_chat_in_chromium(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """Two students raise their hands: the teacher sees them numbered in order, a count in the
    page's title and hears a chime; each student sees their place, the one behind moves up when
    the first lowers; "next" gives the floor to the first. A private question reaches the
    teacher only, the teacher answers only that student; text is shown as typed, never as a
    link; times are the group's; on a phone the folded chat counts unread messages."""
    errors: list[str] = []
    cid = academy.class_id
    zone = ZoneInfo(served.app[keys.TIMETABLE].group(academy.group_id).timezone)
    async with chromium() as browser:
        teacher = await _in_class(browser, served, academy.teacher_id, cid, "en", 1280)
        a = await _in_class(browser, served, academy.student_ids[0], cid, "ru", 1280)
        b = await _in_class(browser, served, academy.student_ids[1], cid, "kk", 360)
        for page in (teacher, a, b):
            watch_errors(page, errors)
        t, sa, sb = [await room_strings(p) for p in (teacher, a, b)]
        base_title = await teacher.title()
        a_name, b_name = "Студент 01", "Студент 02"

        # -- the hands' queue -------------------------------------------------------------
        await a.locator("#hand").click()
        await expect(teacher).to_have_title(f"(1) {base_title}")
        await b.locator("#hand").click()
        await expect(teacher).to_have_title(f"(2) {base_title}")
        rows = teacher.locator("#roster li")
        await expect(rows.filter(has_text=a_name).locator(".queue-no")).to_have_text("1")
        await expect(rows.filter(has_text=b_name).locator(".queue-no")).to_have_text("2")
        assert await teacher.evaluate("window.sabaqChimes") == 2
        await expect(a.locator("#hand-place")).to_have_text(sa["handPlace"].replace("{n}", "1"))
        await expect(b.locator("#hand-place")).to_have_text(sb["handPlace"].replace("{n}", "2"))
        await expect(a.locator("#hand")).to_have_text(sa["lowerHand"])
        await a.locator("#hand").click()  # lowered: B moves up
        await expect(b.locator("#hand-place")).to_have_text(sb["handPlace"].replace("{n}", "1"))
        await expect(a.locator("#hand-place")).to_be_hidden()
        await expect(teacher).to_have_title(f"(1) {base_title}")
        await teacher.locator("#next-hand").click()
        await expect(b.locator("#status")).to_have_text(sb["youHaveTheFloor"], timeout=10_000)
        await expect(teacher).to_have_title(base_title)
        await expect(teacher.locator("#next-hand")).to_be_disabled()
        await expect(rows.filter(has_text=b_name).locator(".role")).to_contain_text(t["hasFloor"])

        # -- a private question and its answer; text as typed ----------------------------
        question = 'Можно уйти? <a href="https://example.com">тут</a> https://example.com'
        await a.locator("#chat-to").select_option("teacher")
        await a.locator("#chat-text").fill(question)
        await a.locator("#chat-text").press("Enter")
        asked = teacher.locator("#chat-log li.private")
        await expect(asked).to_contain_text(question)
        await expect(a.locator("#chat-log li.private")).to_contain_text(sa["toTeacherOnly"])
        await asked.get_by_role("button").click()  # answer privately
        await teacher.locator("#chat-text").fill("Да")
        await teacher.locator("#chat-text").press("Enter")
        await expect(a.locator("#chat-log li.private")).to_have_count(2)
        await expect(a.locator("#chat-log li.private").nth(1)).to_contain_text(sa["privatelyToYou"])
        await expect(teacher.locator("#chat-log li.private").nth(1)).to_contain_text(
            t["privatelyTo"].replace("{name}", a_name)
        )
        # -- on the phone the chat is folded: B saw none of it, and counts what is public --
        await expect(b.locator("#chat-log")).to_be_hidden()
        await expect(b.locator("#chat-unread")).to_be_hidden()
        await teacher.locator("#chat-to").select_option("")
        await teacher.locator("#chat-text").fill("Всем: https://example.com/tasks")
        await teacher.locator("#chat-text").press("Enter")
        await expect(b.locator("#chat-unread")).to_have_text("1")
        await b.locator("#chat-toggle").click()
        await expect(b.locator("#chat-log")).to_be_visible()
        await expect(b.locator("#chat-unread")).to_be_hidden()
        await expect(b.locator("#chat-log li")).to_have_count(1)  # nothing private
        for page in (teacher, a, b):
            assert await page.locator("#chat-log a").count() == 0  # links are text
        # Times are the group's, whatever the browser's own zone.
        stamp = teacher.locator("#chat-log li time").first
        at = datetime.fromisoformat(str(await stamp.get_attribute("datetime"))).astimezone(zone)
        shown = await stamp.text_content() or ""
        assert f"{at.minute:02d}" in shown
        assert f"{at.hour:02d}:" in shown or f"{(at.hour - 1) % 12 + 1}:" in shown, shown
        # The chat's placeholder fits (kk at 360, ru and en at 1280).
        for page in (teacher, a, b):
            text, room = await page.evaluate(PLACEHOLDER_FITS_JS)
            assert text <= room, (await page.get_attribute("html", "lang"), text, room)
    assert errors == []
