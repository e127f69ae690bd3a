"""The teacher's class page says how long until the class counts as held, and ending it before
then asks for confirmation naming the consequence (the class counts as missed)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from access.events import EventKind
from tests.browser.test_browser import chromium, ledger_until, open_signed_in, room_strings
from tests.conftest import Academy
from web.core.settings import Settings

HELD_AFTER = 600.0  # the default: ten minutes live


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, held_min_live_seconds=HELD_AFTER)


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_the_teacher_sees_the_countdown_and_ending_early_asks_first(
    served: TestServer, academy: Academy
) -> None:
    class_id = academy.class_id
    errors: list[str] = []
    async with chromium() as browser:
        teacher = await open_signed_in(
            browser, served, academy.teacher_id, f"/classes/{class_id}", errors=errors
        )
        strings = await room_strings(teacher)
        await expect(teacher.locator("#join")).to_be_enabled(timeout=10_000)
        await teacher.locator("#join").click()
        await expect(teacher.locator("#room")).to_have_attribute(
            "data-state", "live", timeout=10_000
        )

        # While live: how long until the class counts as held, counting down.
        countdown = teacher.locator("#held-countdown")
        await expect(countdown).to_be_visible()
        await expect(countdown).to_have_text(
            re.compile(r"^(9:5\d|10:00) more live and the class counts as held")
        )
        first = int(await countdown.get_attribute("data-remaining") or "0")
        await expect(countdown).not_to_have_attribute("data-remaining", str(first), timeout=3000)
        assert 0 < int(await countdown.get_attribute("data-remaining") or "0") < first

        # Ending it now asks first, and says in words that the class would count as missed.
        warning = teacher.locator("#end-warning")
        await expect(warning).to_be_hidden()
        await teacher.locator("#end").click()
        await expect(warning).to_be_visible()
        await expect(warning).to_contain_text("if you end it now, it counts as missed, not held")
        await expect(warning).to_contain_text(re.compile(r"\(9:\d\d more were needed\)"))
        await expect(teacher.locator("#end-confirm")).to_be_visible()

        # Cancelling keeps the class live: nothing is sent, the countdown goes on.
        await teacher.locator("#end-cancel").click()
        await expect(warning).to_be_hidden()
        await expect(teacher.locator("#end-confirm")).to_be_hidden()
        await expect(teacher.locator("#end")).to_be_visible()
        await expect(teacher.locator("#end")).to_be_focused()
        await expect(teacher.locator("#status")).to_have_text(strings["youAreLive"])
        await expect(teacher.locator("#room")).to_have_attribute("data-state", "live")
        kinds = await ledger_until(
            served, class_id, lambda k: any(kind is EventKind.CLASS_STARTED for kind, _u in k)
        )
        assert all(kind is not EventKind.CLASS_ENDED for kind, _u in kinds)
        await expect(countdown).to_contain_text("counts as held")

        # Confirmed, it ends.
        await teacher.locator("#end").click()
        await teacher.locator("#end-confirm").click()
        await expect(teacher.locator("#room")).to_have_attribute("data-state", "ended")
        await expect(countdown).to_be_hidden()
        await ledger_until(
            served, class_id, lambda k: any(kind is EventKind.CLASS_ENDED for kind, _u in k)
        )
        await teacher.context.close()
    assert errors == []
