"""The regulation's timetable in real Chromium (issue 23): staff set an academy day off in the
calendar, and planning a class on it asks to confirm, naming the day; an emergency switch puts
that class online and keeps a class planned into its days online too, and undoing it returns
both; a class the guarantee proposed is confirmed on its page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from scheduler.models import ClassFormat
from tests.browser.test_browser import TEACHER_NAME, chromium, open_signed_in
from tests.conftest import Academy, Clock, SignIn
from web.core import keys

DAY_OFF = "Academy sports day"


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_the_calendar_a_switch_in_force_and_a_proposal_in_chromium(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    tt = served.app[keys.TIMETABLE]
    day = clock.today() + timedelta(days=20)
    errors: list[str] = []
    async with chromium() as browser:
        staff = await open_signed_in(
            browser, served, academy.staff_id, "/timetable/calendar", errors=errors
        )
        # -- a day off of the academy's own --------------------------------------------------
        await staff.get_by_label("Day", exact=True).fill(day.isoformat())
        await staff.get_by_label("The day is").select_option(label="Day off")
        await staff.get_by_label("Why (shown to everyone)").fill(DAY_OFF)
        await staff.get_by_role("button", name="Set the day").click()
        await expect(staff.locator("main")).to_contain_text(DAY_OFF)

        # -- planning on it asks first, naming the day; confirmed, it is planned --------------
        async def plan(title: str, start: str, end: str) -> None:
            await staff.goto(str(served.make_url("/timetable/new")))
            await staff.get_by_label("Title", exact=True).fill(title)
            await staff.get_by_label("Group", exact=True).select_option(str(academy.group_id))
            await staff.get_by_label("Teacher", exact=True).select_option(label=TEACHER_NAME)
            await staff.get_by_label("Kind of class").select_option(label="Lecture")
            await staff.get_by_label("Format", exact=True).select_option(label="In person")
            await staff.get_by_label("Day", exact=True).fill(day.isoformat())
            await staff.get_by_label("Starts", exact=True).fill(start)
            await staff.get_by_label("Ends", exact=True).fill(end)
            await staff.get_by_role("button", name="Plan", exact=True).click()
            confirm = staff.locator("input[name=on_day_off]")
            await expect(confirm).to_be_visible()
            await expect(staff.locator("label.confirm")).to_contain_text(DAY_OFF)
            await confirm.check()
            await staff.get_by_role("button", name="Plan", exact=True).click()
            await expect(staff.locator("table.calendar")).to_contain_text(title)

        def planned(title: str) -> ClassFormat:
            (c,) = [c for c in tt.classes_of_group(academy.group_id) if c.title == title]
            return c.format

        await plan("Криминология", "10:00", "11:20")
        assert planned("Криминология") is ClassFormat.IN_PERSON

        # -- an emergency switch over that day: the class goes online -------------------------
        await staff.goto(str(served.make_url("/timetable/emergency")))
        await staff.get_by_label("First day").fill((day - timedelta(days=1)).isoformat())
        await staff.get_by_label("Last day").fill((day + timedelta(days=1)).isoformat())
        await staff.locator(f"input[name=group_id][value='{academy.group_id}']").check()
        await staff.get_by_label("Reason").fill("Паводок")
        await staff.get_by_role("button", name="Move these classes online").click()
        await expect(staff.locator("main")).to_contain_text("Паводок")
        assert planned("Криминология") is ClassFormat.LIVE_ONLINE
        # In force: a class planned in person into its days is online as well.
        await plan("Криминалистика", "14:00", "15:20")
        assert planned("Криминалистика") is ClassFormat.LIVE_ONLINE
        # Undone: both go back in person (the switch made them online).
        await staff.goto(str(served.make_url("/timetable/emergency")))
        await staff.get_by_role("button", name="Undo").first.click()
        await expect(staff.locator("main")).to_be_visible()
        assert planned("Криминология") is ClassFormat.IN_PERSON
        assert planned("Криминалистика") is ClassFormat.IN_PERSON

        # -- the guarantee proposes, staff confirm on the class's page -------------------------
        ran = await sign_in(academy.staff_id).post("/api/v1/guarantee/run", json={"dry_run": False})
        assert ran.status == 200, await ran.text()
        proposals = [c for c in tt.classes_of_group(academy.group_id) if c.proposed]
        assert proposals, await ran.json()
        await staff.goto(str(served.make_url(f"/timetable/classes/{proposals[0].id}")))
        await staff.get_by_role("button", name="Confirm", exact=True).click()
        await expect(staff.get_by_role("button", name="Confirm", exact=True)).to_have_count(0)
        assert not tt.get_class(proposals[0].id).proposed
    assert errors == []
