"""Breakout groups in real Chromium with six students: the teacher splits them into two groups
by hand from the dialog, the students turn on their cameras inside their group, and each page
receives packets only of its own group (inbound RTP stats, not the page's text); the teacher
visits one group then the other; a student whose connection drops comes back into their group;
the timer closes both groups and everyone is back in the main room with the teacher's video
flowing; the register shows each student's presence unbroken across the moves. The page holds
at 360 px and its dialog passes axe-core. In firefox-esr a student receives only their group."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from access.events import EventKind
from attendance.presence import intervals_by_user
from streaming.room import Room
from tests.browser.layout import PHONE, check_layout
from tests.browser.test_browser import (
    accessibility_problems,
    chromium,
    ledger_until,
    room_strings,
)
from tests.browser.test_firefox import firefox, teacher_live
from tests.browser.test_seminar import camera_on, enter
from tests.conftest import Academy, SignIn
from tests.peers import join, publish
from web.core import keys

# RTP packets (sound and picture) each of the page's connections received, by source id.
PACKETS_JS = """async () => {
  const out = {};
  for (const [source, view] of window.sabaqRoom.views) {
    let packets = 0;
    try {
      (await view.pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp") packets += r.packetsReceived || 0;
      });
    } catch (e) {
      // closed (being replaced) while its stats were read
    }
    out[source] = packets;
  }
  return out;
}"""
WINDOW = 2.0  # seconds over which packets are counted
SETTLE = 1.0  # for packets already on their way when a move took effect


async def packets(page: Page) -> dict[str, int]:
    got: dict[str, int] = await page.evaluate(PACKETS_JS)
    return got


def groups_now(room: Room) -> dict[str, int | None]:
    """Each publishing participant's group, by source id (the server's view)."""
    return {p.id: p.group for p in room.participants.values() if p.publications}


async def flows(page: Page, room: Room, group: int | None, what: str) -> None:
    """Over a window the page receives packets from every publisher of ``group`` (that it is
    connected to) and not one from any other."""
    await asyncio.sleep(SETTLE)
    before = await packets(page)
    await asyncio.sleep(WINDOW)
    after = await packets(page)
    where = groups_now(room)
    mine = [s for s in after if s in where and where[s] == group and s in before]
    others = [s for s in after if s in where and where[s] != group and s in before]
    assert mine, f"{what}: no source of its own group: {where}, {after}"
    grew = {s: after[s] - before[s] for s in mine}
    assert all(n > 10 for n in grew.values()), f"{what}: its own group's media stalled: {grew}"
    crossed = {s: after[s] - before[s] for s in others if after[s] != before[s]}
    assert not crossed, f"{what}: packets crossed groups: {crossed}"


@pytest.mark.browser
@pytest.mark.timeout(420)
async def test_six_students_in_two_groups_hear_and_see_only_their_own(
    served: TestServer, academy: Academy
) -> None:
    errors: list[str] = []
    cid = academy.class_id
    node = served.app[keys.MEDIA_NODE]
    students = academy.student_ids[:6]
    async with chromium() as browser:
        teacher = await enter(browser, served, academy.teacher_id, cid, errors)
        t = await room_strings(teacher)
        pages = [await enter(browser, served, u, cid, errors) for u in students]
        room: Room = node.rooms[cid]
        await expect(pages[0].locator("#breakout-start")).to_have_count(0)  # students do not

        # -- the teacher splits by hand (keyboard) and opens the groups -------------------------
        await teacher.locator("#breakout-start").focus()
        await teacher.keyboard.press("Enter")  # by keyboard
        dialog = teacher.locator("#breakout-dialog")
        await expect(dialog).to_be_visible()
        await expect(teacher.locator("#breakout-count")).to_be_focused()
        await dialog.locator('input[name="split"][value="hand"]').check()
        selects = dialog.locator("#breakout-students select")
        await expect(selects).to_have_count(6)
        names = [await room_name(served, u) for u in students]
        for i, name in enumerate(names):  # the first three in group 1, the others in group 2
            await dialog.get_by_label(name, exact=True).select_option(str(0 if i < 3 else 1))
        await dialog.locator("#breakout-save").check()
        assert await accessibility_problems(teacher) == []  # the dialog, as filled
        await dialog.locator('button[type="submit"]').focus()
        await teacher.keyboard.press("Enter")
        await expect(dialog).to_be_hidden()
        for i, page in enumerate(pages):
            s = await room_strings(page)
            want = s["boYouAreIn"].replace("{n}", "1" if i < 3 else "2")
            await expect(page.locator("#breakout-where")).to_have_text(want, timeout=10_000)
        await expect(teacher.locator("#breakout-visits button")).to_have_count(3)
        await ledger_until(
            served, cid, lambda k: (EventKind.BREAKOUT_OPENED, academy.teacher_id) in k
        )
        [opened] = [
            e.event
            for e in served.app[keys.LEDGER].events(cid)
            if e.event.kind is EventKind.BREAKOUT_OPENED
        ]
        assert opened.data["groups"] == [students[:3], students[3:]] and opened.data["saved"]

        await expect(pages[0].locator("#share")).to_be_visible()  # a student shares in a group

        # -- inside a group everyone publishes: each page receives only its own group -----------
        for page in pages:
            await camera_on(page)
        await pages[0].set_viewport_size(PHONE)
        seen: list[str] = []
        await check_layout(pages[0], "breakout group, student", seen)
        for i, page in enumerate(pages):
            await flows(page, room, 0 if i < 3 else 1, f"student {i + 1}")
        await expect(pages[0].locator('#gallery .tile[data-shown="yes"]')).to_have_count(2)

        # -- the teacher visits group 1, then group 2 -------------------------------------------
        await teacher.locator('#breakout-visits button[data-group="0"]').focus()
        await teacher.keyboard.press("Enter")
        await expect(teacher.locator('#breakout-visits button[data-group="0"]')).to_have_attribute(
            "aria-pressed", "true"
        )
        await flows(teacher, room, 0, "the teacher in group 1")
        await teacher.locator('#breakout-visits button[data-group="1"]').click()
        await flows(teacher, room, 1, "the teacher in group 2")
        await flows(pages[4], room, 1, "a student of group 2 with the teacher")
        # The teacher moves the sixth student into group 1 from the roster.
        mover = teacher.get_by_label(t["boMove"].replace("{name}", names[5]), exact=True)
        await mover.select_option("0")
        s5 = await room_strings(pages[5])
        await expect(pages[5].locator("#breakout-where")).to_have_text(
            s5["boYouAreIn"].replace("{n}", "1")
        )
        await flows(pages[5], room, 0, "a student moved into group 1")
        # The teacher's panel and roster hold on a phone and pass axe-core.
        await teacher.set_viewport_size(PHONE)
        await check_layout(teacher, "breakout groups, teacher", seen)
        assert await accessibility_problems(teacher) == []
        await teacher.locator("#breakout-say-text").fill("Two minutes left")
        await teacher.locator("#breakout-say-text").press("Enter")
        s0 = await room_strings(pages[0])
        await expect(pages[0].locator("#breakout-news")).to_contain_text("Two minutes left")
        assert await accessibility_problems(pages[0]) == []  # the student's breakout panel

        # -- a student's connection drops: the page comes back into its group ------------------
        (dropped,) = [p for p in room.participants.values() if p.user_id == students[4]]
        await dropped.close_ws(1011, "simulated failure")
        s4 = await room_strings(pages[4])
        await expect(pages[4].locator("#breakout-where")).to_have_text(
            s4["boYouAreIn"].replace("{n}", "2"), timeout=20_000
        )
        async with asyncio.timeout(20):
            while not any(
                p.user_id == students[4] and p.publications for p in room.participants.values()
            ):
                await asyncio.sleep(0.2)
        # Back as the same participant while its reconnect token holds, or (as here, the page
        # having been in the class longer than the grace its token was minted with) joined
        # afresh: in their own group either way, which is the student's, not the connection's.
        (back,) = [p for p in room.participants.values() if p.user_id == students[4]]
        assert back.group == 1
        await flows(pages[3], room, 1, "a student of group 2 after the rejoin")

        # -- the time is over: both groups close, everyone is in the main room -----------------
        real = room.breakout_clock
        room.breakout_clock = lambda: real() + 3600.0
        for page in [teacher, *pages]:
            await expect(page.locator("#breakout")).to_be_hidden(timeout=10_000)
        await expect(pages[0].locator("#status")).to_have_text(s0["boClosed"])
        await expect(pages[0].locator("#share")).to_be_hidden()
        assert all(p.group is None for p in room.participants.values())
        teacher_source = next(
            p.id for p in room.participants.values() if p.user_id == academy.teacher_id
        )
        await asyncio.sleep(SETTLE)
        before = [(await packets(page)).get(teacher_source, 0) for page in pages]
        await asyncio.sleep(WINDOW)
        after = [(await packets(page)).get(teacher_source, 0) for page in pages]
        assert all(a > b + 10 for a, b in zip(after, before, strict=True)), (before, after)

        # -- the saved split is offered for the next groups ---------------------------------------
        await teacher.locator("#breakout-start").click()
        await expect(dialog).to_be_visible()
        await dialog.locator('input[name="split"][value="saved"]').check()
        for i, name in enumerate(names):
            await expect(dialog.get_by_label(name, exact=True)).to_have_value(str(i // 3))
        await teacher.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()

        # -- the register: the moves, and presence unbroken across them --------------------------
        await ledger_until(
            served, cid, lambda kinds: (EventKind.BREAKOUT_CLOSED, None) in kinds, limit=10
        )
        events = list(served.app[keys.LEDGER].events(cid))
        by_user = intervals_by_user(events, grace=60)
        for u in students:
            assert len(by_user[u]) == 1 and by_user[u][0].end is None, by_user[u]
        moved = {e.event.user_id for e in events if e.event.kind is EventKind.BREAKOUT_MOVED}
        assert set(students) <= moved
        assert t["boClosed"]
    assert not errors, errors


async def room_name(served: TestServer, user_id: int) -> str:
    name: Any = served.app[keys.ACCOUNTS].get(user_id).full_name
    return str(name)


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_a_student_in_firefox_receives_only_their_own_group(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """firefox-esr: a student's page shows its group, and over a window its connections receive
    the packets of its group's other member and none of the other group's nor the teacher's
    (who stays in the main room)."""
    cid, ff_id = academy.class_id, academy.student_ids[0]
    node = served.app[keys.MEDIA_NODE]
    teacher = await teacher_live(sign_in, cid, academy.teacher_id)
    mate = await join(sign_in(academy.student_ids[1]), cid)
    other = await join(sign_in(academy.student_ids[2]), cid)
    try:
        token = served.app[keys.SIGNER].mint_signin(user_id=ff_id, ttl=600)
        url = str(served.make_url(f"/signin/link?token={token}&next=/classes/{cid}"))
        steps = ["open", "check", "join", "live", "decode", "hold", "breakout", "leave"]
        job = {"url": url, "steps": steps, "timeout_ms": 90_000, "hold_ms": 60_000}
        async with firefox(job) as run:
            await run.wait_event("holding", limit=40)
            groups = [[ff_id, academy.student_ids[1]], [academy.student_ids[2]]]
            await teacher.send("open_breakout", groups=groups, seconds=600, late="wait")
            for peer in (mate, other):
                await peer.wait_for("breakout")
                await publish(peer)
            room: Room = node.rooms[cid]
            (ff,) = [p for p in room.participants.values() if p.user_id == ff_id]
            sources = [str(peer.messages[0]["participant_id"]) for peer in (mate, other)]
            async with asyncio.timeout(20):  # the page answered both new sources' offers
                while not all(
                    getattr(getattr(ff.views.get(s), "pc", None), "connectionState", "")
                    == "connected"
                    for s in sources
                ):
                    await asyncio.sleep(0.1)
            await run.release()
            got = await run.result(limit=40)
    finally:
        for peer in (other, mate, teacher):
            await peer.close()
    strings: dict[str, str] = got["strings"]
    assert got["breakout_where"] == strings["boYouAreIn"].replace("{n}", "1"), got
    packets: dict[str, int] = got["breakout_packets"]
    teacher_source = str(teacher.messages[0]["participant_id"])
    assert packets[sources[0]] > 10, packets  # the group's other member
    assert packets.get(sources[1], 0) == 0 and packets.get(teacher_source, 0) == 0, packets
    assert got["errors"] == [], got["errors"]
