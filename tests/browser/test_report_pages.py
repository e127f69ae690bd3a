"""The pages staff, teachers and students read outside the live class, in Kazakh and Russian,
on a laptop (1280 px) and a phone (360 px): none is wider than the screen (issue 20: the
agencies' report was 1,358 px wide in a 1,280 px window, then a table cut off in its box), and
the agencies' twelve columns fit a laptop's width without scrolling sideways. With
SABAQ_LAYOUT_SHOTS (a folder) each page's picture is kept there, to look at."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, ViewportSize

from scheduler.models import ClassFormat, ClassKind, ClassStatus
from scheduler.planning import SABAQ
from tests.browser.layout import PHONE, WIDE
from tests.browser.test_browser import chromium, open_signed_in
from tests.conftest import Academy
from web.core import keys

# The page's width, and each wide table's: its own width and its box's.
WIDTHS_JS = """() => ({
  page: document.documentElement.scrollWidth,
  window: innerWidth,
  tables: [...document.querySelectorAll("main table")].map((t) => ({
    id: t.id || t.className, width: t.scrollWidth,
    box: (t.closest(".table-wrap") || t.parentElement).clientWidth,
  })),
})"""

AGENCIES = ("Министерство внутренних дел Республики Казахстан", "Комитет национальной безопасности")


async def widths(page: Page, path: str, size: ViewportSize, shot: str) -> dict[str, Any]:
    await page.set_viewport_size(size)
    response = await page.goto(path)
    assert response is not None and response.status == 200, path
    found: dict[str, Any] = await page.evaluate(WIDTHS_JS)
    folder = os.environ.get("SABAQ_LAYOUT_SHOTS")
    if folder:
        await page.screenshot(path=Path(folder) / f"{shot}-{size['width']}.png", full_page=True)
    return found


@pytest.mark.browser
@pytest.mark.timeout(120)
@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_report_and_class_pages_keep_to_the_screen(
    served: TestServer, academy: Academy, lang: str
) -> None:
    app = served.app
    accounts, tt = app[keys.ACCOUNTS], app[keys.TIMETABLE]
    for i, learner in enumerate(academy.student_ids[:6]):
        accounts.set_agency(learner, AGENCIES[i % 2])
    g, c, other = academy.group_id, academy.class_id, academy.other_class_id
    tt.set_status(other, ClassStatus.LIVE)
    tt.set_status(other, ClassStatus.HELD)  # a class that has ended, as its teacher finds it
    # A class cancelled with a reason, and one held in person: their own cards, not "ended".
    now = datetime.fromtimestamp(app[keys.SETTINGS].clock(), UTC)
    cancelled, in_person = (
        tt.add_class(
            title="Уголовно-процессуальное право Республики Казахстан",
            kind=ClassKind.LECTURE,
            format=how,
            teacher_id=academy.teacher_id,
            starts_at=now + timedelta(hours=hours),
            ends_at=now + timedelta(hours=hours + 1),
            group_ids=(g,),
            on_day_off=True,
        )
        for how, hours in ((ClassFormat.LIVE_ONLINE, 3), (ClassFormat.IN_PERSON, 5))
    )
    tt.cancel_class(
        cancelled.id, by=SABAQ, reason="болезнь преподавателя; занятие будет перенесено позже"
    )
    staff_pages = {
        "agencies-report": "/reports/agencies",
        "group-report": f"/reports/groups/{g}",
        "learner-report": f"/reports/learners/{academy.student_ids[0]}",
        "timetable": f"/timetable/groups/{g}",
        "timetable-class": f"/timetable/classes/{c}",
        "groups": "/groups",
        "group": f"/groups/{g}",
        "agencies": "/agencies",
        "register": f"/classes/{c}/attendance",
    }
    walks = [
        ("staff", academy.staff_id, staff_pages),
        ("teacher", academy.other_teacher_id, {"class-ended": f"/classes/{other}"}),
        (
            "student",
            academy.student_ids[0],
            {
                "class": f"/classes/{c}",
                "class-cancelled": f"/classes/{cancelled.id}",
                "class-in-person": f"/classes/{in_person.id}",
            },
        ),
    ]
    wide: list[str] = []
    async with chromium() as browser:
        for who, user_id, pages in walks:
            page = await open_signed_in(browser, served, user_id, "/", lang=lang)
            for name, path in pages.items():
                for size in (WIDE, PHONE):
                    found = await widths(
                        page, str(served.make_url(path)), size, f"{lang}-{who}-{name}"
                    )
                    if found["page"] > found["window"]:
                        wide.append(f"{path} at {size['width']}: {found['page']} px")
                    if name == "agencies-report" and size == WIDE:
                        (table,) = found["tables"]
                        assert table["width"] <= table["box"], (lang, table)
            await page.context.close()
    assert not wide, wide
