"""The first run in real headless Chromium (issue 22, item 1): on an empty database the first
administrator, made with ``sabaq admin create``, signs in with their password, finds the
checklist of setting the academy up on their home page, creates an institute and one of its
departments through the structure's pages, and the checklist ticks both."""

from __future__ import annotations

import argparse
import io
import os
import re
import sys

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from tests.browser.test_browser import VIEWPORT, accessibility_problems, chromium, watch_errors
from web.cli import cmd_admin_create
from web.core import keys
from web.core.http import LANG_COOKIE
from web.core.settings import Settings

PASSWORD = "a first admin's long password"


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_the_first_admin_sets_up_an_institute_and_a_department_from_an_empty_database(
    served: TestServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = served.app
    assert app[keys.TIMETABLE].first_run().institutes == 0  # nothing but the schema
    monkeypatch.setenv("SABAQ_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    made = cmd_admin_create(
        argparse.Namespace(login="admin", name="Айгерим Садыкова", password_stdin=True)
    )
    assert made == 0
    _ = app[keys.CATALOGUES]["ru"].gettext
    errors: list[str] = []
    async with chromium() as browser:
        ctx = await browser.new_context(viewport=VIEWPORT)
        cookie = {"name": LANG_COOKIE, "value": "ru", "url": str(served.make_url("/"))}
        await ctx.add_cookies([cookie])  # type: ignore[list-item]
        page = await ctx.new_page()
        watch_errors(page, errors)
        await page.goto(str(served.make_url("/")))  # sent to sign in
        await page.fill("#login", "admin")
        await page.fill("#password", PASSWORD)
        await page.get_by_role("button", name=_("Sign in")).click()
        await expect(page).to_have_url(str(served.make_url("/")))
        checklist = page.locator(".first-run li")
        await expect(page.locator(".first-run h2")).to_have_text(_("Set up the academy"))
        await expect(checklist).to_have_count(5)
        await expect(page.locator('.first-run li[data-done="yes"]')).to_have_count(0)
        # The administrator's menu: the structure, people, keys and settings.
        nav = page.get_by_role("navigation")
        for name in (_("Structure"), _("People"), _("API keys"), _("Webhooks")):
            await expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
        assert await accessibility_problems(page) == []
        # An institute, from the checklist's first step.
        await checklist.nth(0).get_by_role("link").click()
        await expect(page).to_have_url(re.compile(r"/structure$"))
        await page.fill("#name", "Институт правоохранительной деятельности")
        await page.get_by_role("button", name=_("Create the institute")).click()
        await expect(page).to_have_url(re.compile(r"/structure/institutes/\d+$"))
        await expect(page.locator("h1")).to_have_text("Институт правоохранительной деятельности")
        # A department of it, from the institute's page.
        await page.fill("#dept_name", "Кафедра уголовного права")
        await page.get_by_role("button", name=_("Create the department")).click()
        await expect(page.locator("main table")).to_contain_text("Кафедра уголовного права")
        assert await accessibility_problems(page) == []
        # Home again: the first two steps are ticked, the rest still to do.
        await page.goto(str(served.make_url("/")))
        done = [await li.get_attribute("data-done") for li in await checklist.all()]
        assert done == ["yes", "yes", "no", "no", "no"]
        await expect(checklist.nth(2).get_by_role("link")).to_have_attribute("href", "/people")
        if readme := os.environ.get("SABAQ_SCREENSHOT_DIR"):  # the README's picture
            await page.screenshot(path=os.path.join(readme, "admin-first-run.png"), full_page=True)
        await ctx.close()
    assert errors == []
    assert [d.name for d in app[keys.TIMETABLE].departments()] == ["Кафедра уголовного права"]
