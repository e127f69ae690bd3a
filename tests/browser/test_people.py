"""People in real headless Chromium: staff make a teacher's account, issue a set-password link
and copy it; the teacher opens it in a browser of their own, sets a password and signs in."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from access.models import Role
from tests.browser.test_browser import chromium, open_signed_in, watch_errors
from tests.conftest import Academy
from web.core import keys

PASSWORD = "snow on the steppe at dawn"


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_staff_make_a_teacher_who_sets_a_password_through_the_link_and_signs_in(
    served: TestServer, academy: Academy
) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        staff = await open_signed_in(browser, served, academy.staff_id, "/people", errors=errors)
        await staff.get_by_role("link", name="New account").click()
        await staff.get_by_label("Login").fill("aigerim.s")
        await staff.get_by_label("Full name").fill("Айгерим Сапарова")
        await staff.get_by_label("E-mail (optional)").fill("aigerim@academy.kz")
        await staff.get_by_label("Role").select_option("teacher")
        await staff.get_by_label("Department").select_option(label="Кафедра")
        await staff.get_by_role("button", name="Create the account").click()
        await expect(staff.get_by_role("heading", name="Айгерим Сапарова")).to_be_visible()
        await staff.get_by_role("button", name="Issue a set-password link").click()
        link = await staff.get_by_label("Link").input_value()
        assert "/password/set?token=" in link

        teacher_ctx = await browser.new_context(locale="en-US")
        teacher = await teacher_ctx.new_page()
        watch_errors(teacher, errors)
        await teacher.goto(link)
        await teacher.get_by_label("New password", exact=True).fill(PASSWORD)
        await teacher.get_by_label("New password again").fill(PASSWORD)
        await (
            teacher.get_by_role("button")
            .filter(has_text="пароль")
            .or_(teacher.get_by_role("button").filter(has_text="password"))
            .or_(teacher.get_by_role("button").filter(has_text="құпиясөз"))
            .first.click()
        )
        await expect(teacher).to_have_url(str(served.make_url("/signin?login=aigerim.s&set=1")))
        await teacher.locator("#password").fill(PASSWORD)
        await teacher.locator("form[action='/signin'] button[type=submit]").click()
        await expect(teacher).to_have_url(str(served.make_url("/")))
        await expect(teacher.locator("a.who")).to_have_text("Айгерим Сапарова")
        # the link was spent: opened again, it is refused
        again = await teacher.goto(link)
        assert again is not None and again.status == 401
    made = served.app[keys.ACCOUNTS].by_login("aigerim.s")[0]
    assert made.role is Role.TEACHER and made.department_id is not None
    assert made.email == "aigerim@academy.kz"
    assert errors == []
