"""The classroom in real Chromium: the raised hands' queue as the student and the teacher see
it, and pages that log no failed request while a guest waits in the lobby or a page first loads."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, Response, expect

from tests.browser.test_browser import (
    VIEWPORT,
    approved_guest,
    chromium,
    room_strings,
    watch_errors,
)
from tests.conftest import Academy, SignIn


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
