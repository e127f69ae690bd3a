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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from access.events import EventKind
from tests.browser.test_browser import (
    VIEWPORT,
    accessibility_problems,
    chromium,
    ledger_until,
    open_signed_in,
    wait_decoded,
    watch_errors,
)
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


# Zones a group may be in, one of which has a working hour now whatever the hour in UTC: the
# class is planned for a few minutes ahead on the same day, in the group's zone.
ZONES = ("Asia/Almaty", "Europe/London", "America/Los_Angeles")
TEACHER_PASSWORD = "chalk dust and a quiet room"


def _working_zone(now: datetime) -> tuple[str, datetime]:
    """A zone where ``now`` plus a few minutes is between 06:00 and 20:00 (local), and that
    moment, on the minute."""
    for zone in ZONES:
        local = (
            (now + timedelta(minutes=2)).astimezone(ZoneInfo(zone)).replace(second=0, microsecond=0)
        )
        if 6 <= local.hour < 20:
            return zone, local
    raise AssertionError(f"no zone of {ZONES} is in its working hours at {now}")


async def _create_account(
    page: Page, url: str, login: str, name: str, role: str, dept: str | None
) -> None:
    await page.goto(url)
    await page.get_by_label("Login").fill(login)
    await page.get_by_label("Full name").fill(name)
    await page.get_by_label("Role").select_option(role)
    if dept is not None:
        await page.get_by_label("Department").select_option(label=dept)
    await page.get_by_role("button", name="Create the account").click()
    await expect(page.get_by_role("heading", name=name)).to_be_visible()


@pytest.mark.browser
@pytest.mark.timeout(180)
async def test_from_an_empty_database_to_a_live_class(
    served: TestServer, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 22's whole path, in Chromium: the first administrator creates an institute and a
    department, a director, a head, a teacher and a staff member, names the director and the
    head; the teacher sets a password through the link; staff make a group, import its 20
    students and plan a live class; the teacher starts it with their password and a student
    joins — on an empty database, nothing seeded."""
    app = served.app
    tt, accounts = app[keys.TIMETABLE], app[keys.ACCOUNTS]
    assert tt.first_run().institutes == 0
    monkeypatch.setenv("SABAQ_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    made = cmd_admin_create(
        argparse.Namespace(login="admin", name="Айгерим Садыкова", password_stdin=True)
    )
    assert made == 0
    admin_id = accounts.by_login("admin")[0].id
    institute, department = "Институт права", "Кафедра уголовного права"
    errors: list[str] = []
    async with chromium() as browser:
        # -- the administrator: the structure and the people ------------------------------
        admin = await open_signed_in(browser, served, admin_id, "/structure", errors=errors)
        await admin.fill("#name", institute)
        await admin.get_by_role("button", name="Create the institute").click()
        await expect(admin).to_have_url(re.compile(r"/structure/institutes/\d+$"))
        institute_url = admin.url
        await admin.fill("#dept_name", department)
        await admin.get_by_role("button", name="Create the department").click()
        await expect(admin.locator("main table")).to_contain_text(department)
        people = {
            "director.a": ("Асель Директорова", "director", None),
            "head.b": ("Бауыржан Заведующий", "head_of_department", department),
            "teacher.c": ("Сәуле Оқытушы", "teacher", department),
            "staff.d": ("Динара Методист", "staff", None),
        }
        for login, (name, role, of) in people.items():
            await _create_account(admin, str(served.make_url("/people/new")), login, name, role, of)
            if login == "teacher.c":
                await admin.get_by_role("button", name="Issue a set-password link").click()
                link = await admin.get_by_label("Link").input_value()
        await admin.goto(institute_url)
        await admin.locator("#director_id").select_option(label=people["director.a"][0])
        await admin.get_by_role("button", name="Name the director").click()
        await expect(admin.locator("main")).to_contain_text(people["director.a"][0])
        (dept,) = tt.departments()
        await admin.goto(str(served.make_url(f"/structure/departments/{dept.id}")))
        await admin.locator("#head_id").select_option(label=people["head.b"][0])
        await admin.get_by_role("button", name="Name the head of department").click()
        await expect(admin.locator("main")).to_contain_text(people["head.b"][0])
        (inst,) = tt.institutes()
        assert inst.director_id == accounts.by_login("director.a")[0].id
        assert tt.department(dept.id).head_id == accounts.by_login("head.b")[0].id

        # -- the teacher sets a password through the link ------------------------------------
        teacher_ctx = await browser.new_context(viewport=VIEWPORT)
        teacher = await teacher_ctx.new_page()
        watch_errors(teacher, errors)
        await teacher.goto(link)
        await teacher.locator("#new").fill(TEACHER_PASSWORD)
        await teacher.locator("#again").fill(TEACHER_PASSWORD)
        await teacher.locator("form.password-form button[type=submit]").click()
        await expect(teacher).to_have_url(re.compile(r"/signin\?login=teacher\.c&set=1$"))

        # -- staff: a group of 20 from a file, its teacher, a live class in a few minutes -----
        staff_id = accounts.by_login("staff.d")[0].id
        staff = await open_signed_in(browser, served, staff_id, "/groups/new", errors=errors)
        zone, starts = _working_zone(datetime.now(UTC))
        await staff.get_by_label("Name of the group").fill("ПД-27-1")
        await staff.get_by_label("Department").select_option(label=department)
        await staff.get_by_label("Language of instruction").select_option("ru")
        await staff.get_by_label("Time zone").fill(zone)
        await staff.get_by_role("button", name="Create the group").click()
        await expect(staff).to_have_url(re.compile(r"/groups/\d+$"))
        (group,) = tt.groups()
        roster = tmp_path / "group.csv"
        rows = [f"student{i:02d},Студент Номер {i:02d}" for i in range(1, 21)]
        roster.write_text("login,full_name\n" + "\n".join(rows) + "\n", encoding="utf-8")
        await staff.locator("form.import-form input[type=file]").set_input_files(str(roster))
        await staff.locator("form.import-form button[type=submit]").click()
        await expect(staff.locator("main")).to_contain_text("student20")
        await staff.get_by_role("button", name="Confirm import").click()
        await expect(staff.locator("main")).to_contain_text("Student accounts created: 20.")
        assert len(tt.members(group.id)) == 20
        await staff.goto(str(served.make_url(f"/groups/{group.id}")))
        await staff.locator("#teacher_id").select_option(
            label=f"{people['teacher.c'][0]} · teacher.c"
        )
        await staff.get_by_role("button", name="Add", exact=True).click()
        await expect(staff.locator("main")).to_contain_text(people["teacher.c"][0])
        if not tt.group(group.id).active:  # an additional-education group: 20 members now
            await staff.get_by_role("button", name="Activate").click()
        await staff.goto(str(served.make_url("/timetable/new")))
        await staff.get_by_label("Title", exact=True).fill("Уголовное право")
        await staff.get_by_label("Group", exact=True).select_option(str(group.id))
        await staff.get_by_label("Teacher", exact=True).select_option(label=people["teacher.c"][0])
        await staff.get_by_label("Kind of class").select_option(label="Lecture")
        await staff.get_by_label("Format", exact=True).select_option(label="Live online")
        await staff.get_by_label("Day", exact=True).fill(starts.date().isoformat())
        await staff.get_by_label("Starts", exact=True).fill(f"{starts:%H:%M}")
        ends = starts + timedelta(minutes=80)
        await staff.get_by_label("Ends", exact=True).fill(f"{ends:%H:%M}")
        await staff.get_by_role("button", name="Plan", exact=True).click()
        confirm = staff.locator("input[name=on_day_off]")
        await expect(confirm.or_(staff.locator("table.calendar"))).to_be_visible()
        if await confirm.count():  # today is a day off (a holiday): planned all the same
            await confirm.check()
            await staff.get_by_role("button", name="Plan", exact=True).click()
        await expect(staff).to_have_url(re.compile(r"/timetable/groups/\d+"))
        (planned,) = tt.classes_of_group(group.id)

        # -- the teacher signs in with the password and starts the class; a student joins ---
        await teacher.locator("#password").fill(TEACHER_PASSWORD)
        await teacher.locator("form[action='/signin'] button[type=submit]").click()
        await expect(teacher).to_have_url(str(served.make_url("/")))
        await teacher.goto(str(served.make_url(f"/classes/{planned.id}")))
        await expect(teacher.locator("#join")).to_be_enabled(timeout=15_000)
        await teacher.locator("#join").click()
        await expect(teacher.locator("#room")).to_have_attribute(
            "data-state", "live", timeout=15_000
        )
        student_id = accounts.by_login("student07")[0].id
        student = await open_signed_in(
            browser, served, student_id, f"/classes/{planned.id}", errors=errors
        )
        await expect(student.locator("#join")).to_be_enabled(timeout=15_000)
        await student.locator("#join").click()
        await wait_decoded(student, 3)  # the teacher's camera, decoded
        await expect(teacher.locator("#roster")).to_contain_text("Студент Номер 07")
        kinds = await ledger_until(
            served, planned.id, lambda k: (EventKind.JOINED, student_id) in k
        )
        assert (EventKind.JOINED, accounts.by_login("teacher.c")[0].id) in kinds
        if readme := os.environ.get("SABAQ_SCREENSHOT_DIR"):  # the README's picture
            await teacher.screenshot(path=os.path.join(readme, "first-class.png"))
    assert errors == []
