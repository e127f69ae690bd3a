"""The class page's layout in real Chromium, in each state of a lecture, at 1280×800 and 360×740:
the side panel and every control stay in view, nothing is wider than the screen, and every video
box has its picture's shape."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from access.models import Role
from tests.browser.layout import FRAMES_JS, PHONE, WIDE, check_layout
from tests.browser.test_browser import (
    GUEST_NAME,
    approved_guest,
    chromium,
    enter_class,
    open_signed_in,
    room_strings,
    wait_decoded,
    watch_errors,
)
from tests.conftest import Academy, SignIn
from tests.peers import join, publish
from web.core import keys


@pytest.mark.browser
@pytest.mark.timeout(150)
async def test_the_lecture_layout_holds_in_every_state_at_both_widths(
    served: TestServer, academy: Academy
) -> None:
    """The teacher alone; a student given the floor with camera (as the teacher, the speaker and
    another student see it); a presenting guest beside the teacher; the teacher's screen share."""
    errors: list[str] = []
    seen: list[str] = []
    cid = academy.class_id
    try:
        async with chromium() as browser:
            (teacher,) = await enter_class(browser, served, [academy.teacher_id], cid, errors)
            t = await room_strings(teacher)
            await expect(teacher.locator("#status")).to_have_text(t["youAreLive"], timeout=10_000)
            await check_layout(teacher, "teacher alone", seen)

            speaker, listener = await enter_class(
                browser, served, academy.student_ids[:2], cid, errors
            )
            await wait_decoded(listener, 5)
            row = teacher.locator("#roster li").filter(has_text="Студент 01")
            await row.get_by_role("button", name=t["giveFloorCamera"]).click()
            s = await room_strings(speaker)
            await expect(speaker.locator("#status")).to_have_text(s["youHaveTheFloor"])
            for page in (teacher, listener):
                await page.wait_for_function(
                    "() => { const v = document.querySelector('#speakers video');"
                    " return v && v.videoWidth > 0; }",
                    timeout=15_000,
                )
            await check_layout(teacher, "floor with camera, teacher", seen)
            await check_layout(listener, "floor with camera, student", seen)
            await check_layout(speaker, "floor with camera, speaker", seen)
            await row.get_by_role("button", name=t["takeFloor"]).click()
            await expect(listener.locator("#speakers figure")).to_have_count(0)

            _filed, token = approved_guest(served.app, cid)
            guest = await (await browser.new_context(viewport=WIDE)).new_page()
            watch_errors(guest, errors)
            await guest.goto(str(served.make_url(f"/invite/{token}")))
            await expect(guest.locator("#join")).to_be_enabled(timeout=10_000)
            await guest.locator("#join").click()
            figure = listener.locator("#speakers figure")
            await expect(figure).to_contain_text(GUEST_NAME, timeout=10_000)
            await listener.wait_for_function(
                "() => { const v = document.querySelector('#speakers video');"
                " return v && v.videoWidth > 0; }",
                timeout=15_000,
            )
            await check_layout(listener, "presenting guest, student", seen)
            await check_layout(guest, "presenting guest, guest", seen)
            await guest.locator("#leave").click()
            await expect(figure).to_have_count(0, timeout=10_000)

            await teacher.locator("#share").click()
            await expect(teacher.locator("#share")).to_have_text(t["stopSharing"])
            await listener.wait_for_function(
                "() => document.getElementById('screen').videoWidth > 0", timeout=15_000
            )
            await check_layout(teacher, "screen share, teacher", seen)
            await check_layout(listener, "screen share, student", seen)
    finally:
        print("\n".join(seen))
    assert errors == []


async def ask_a_question(
    teacher: Page,
    text: str = "Which planet is largest?",
    choices: tuple[str, ...] = ("Mars", "Jupiter"),
) -> None:
    """The teacher asks a quick question of these options."""
    await teacher.locator("#ask-open").click()
    dialog = teacher.locator("#ask")
    await expect(dialog).to_be_visible()
    await teacher.locator("#ask-text").fill(text)
    options = dialog.locator(".ask-option")
    for i, choice in enumerate(choices):
        if i >= await options.count():
            await dialog.locator("#ask-add").click()
        await options.nth(i).fill(choice)
    await dialog.locator('button[type="submit"]').click()
    await expect(dialog).to_be_hidden()


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_the_layout_holds_while_a_quick_question_is_open(
    served: TestServer, academy: Academy
) -> None:
    """A quick question open (the teacher's results, the student's choices): the picture keeps
    its box at both widths, and on a phone the dock does not lie over it."""
    errors: list[str] = []
    seen: list[str] = []
    cid = academy.class_id
    try:
        async with chromium() as browser:
            teacher, student = await enter_class(
                browser, served, [academy.teacher_id, academy.student_ids[0]], cid, errors
            )
            await wait_decoded(student, 5)
            await ask_a_question(teacher, LONG_QUESTION, LONG_CHOICES)
            await expect(student.locator("#question-text")).to_have_text(LONG_QUESTION)
            await check_layout(teacher, "quick question open, teacher", seen)
            await check_layout(student, "quick question open, student", seen)
            # On a phone the status line says that a question is open, in a line or two: the
            # question itself is in its panel only, not repeated above the picture.
            await student.set_viewport_size(PHONE)
            status = await student.locator("#status").evaluate(STATUS_JS)
            seen.append(f"status at 360: {status}")
            assert status["text"].strip() == (await room_strings(student))["qAsked"], status
            assert LONG_QUESTION[:30] not in status["text"], status
            assert status["height"] <= 2 * status["line"] + 1, status
    finally:
        print("\n".join(seen))
    assert errors == []


@pytest.mark.browser
@pytest.mark.timeout(60)
async def test_the_seminar_gallery_gives_way_to_a_quick_question(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """A seminar's gallery of two cameras while a quick question is open (the student's page in
    Kazakh, the teacher's in Russian): at both widths no tile lies over the question, the
    control bar or the side panel; the gallery fits the room the question leaves."""
    errors: list[str] = []
    seen: list[str] = []
    cid = academy.class_id
    pages: dict[str, Page] = {}
    try:
        async with chromium() as browser:
            for lang, uid in (("ru", academy.teacher_id), ("kk", academy.student_ids[0])):
                page = await open_signed_in(
                    browser, served, uid, f"/classes/{cid}", lang=lang, viewport=WIDE,
                    errors=errors,
                )  # fmt: skip
                await expect(page.locator("#join")).to_be_enabled(timeout=10_000)
                await page.locator("#join").click()
                pages[lang] = page
            teacher, student = pages["ru"], pages["kk"]
            t = await room_strings(teacher)
            await expect(teacher.locator("#status")).to_have_text(t["youAreLive"], timeout=10_000)
            await teacher.locator("#mode").click()
            await expect(teacher.locator("#mode")).to_have_text(t["toLecture"])
            other = await join(sign_in(academy.student_ids[1]), cid)  # a camera more
            await publish(other)
            await student.wait_for_function(
                "() => [...document.querySelectorAll('#gallery .tile[data-shown=\"yes\"] video')]"
                ".filter((v) => v.videoWidth > 0).length === 2",
                timeout=15_000,
            )
            await ask_a_question(teacher, LONG_QUESTION, LONG_CHOICES)
            await expect(student.locator("#question-text")).to_have_text(LONG_QUESTION)
            await check_layout(student, "seminar gallery and question, kk", seen)
            await check_layout(teacher, "seminar gallery and question, ru", seen)
            await other.close()
    finally:
        print("\n".join(seen))
    assert errors == []


# The status line's text, height and line height (px).
STATUS_JS = """(el) => {
  const style = getComputedStyle(el);
  const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.45;
  return { text: el.textContent, height: el.getBoundingClientRect().height, line: line };
}"""

SPEAKER_NAME = "Айгерім Сапарова"  # a long name, as the Kazakh and Russian captions carry it
# A question of a real class: two lines of text and four answers (the panel at its tallest).
LONG_QUESTION = (
    "Какие из перечисленных обстоятельств смягчают наказание по Уголовному кодексу"
    " Республики Казахстан, если преступление совершено впервые?"
)
LONG_CHOICES = (
    "Совершение преступления впервые вследствие случайного стечения обстоятельств",
    "Явка с повинной и активное способствование раскрытию преступления",
    "Совершение преступления в состоянии сильного душевного волнения",
    "Добровольное возмещение имущественного ущерба потерпевшему",
)

# The speaker's tile beside every other panel of the class, its caption's text and whether it
# fits, and what lies at the middle of the quick question's title (nothing over it).
SPEAKER_TILE_JS = """() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { x: r.left, y: r.top, right: r.right, bottom: r.bottom, w: r.width, h: r.height };
  };
  const tile = document.querySelector("#speakers figure");
  const cap = tile.querySelector("figcaption");
  const ids = ["question", "controls", "side", "breakout", "stage-box"];
  const others = ids.map((id) => document.getElementById(id))
    .filter((el) => el && el.getBoundingClientRect().height > 0)
    .map((el) => Object.assign(box(el), { id: el.id }));
  const title = document.getElementById("question-title");
  const t = box(title);
  const hit = document.elementFromPoint(t.x + Math.min(t.w, 40) / 2, t.y + t.h / 2);
  return {
    tile: box(tile), caption: box(cap), text: cap.textContent,
    label: tile.getAttribute("aria-label"),
    fits: cap.scrollWidth <= cap.clientWidth + 1 && cap.scrollHeight <= cap.clientHeight + 1,
    others: others, titleClear: Boolean(hit && title.contains(hit)),
  };
}"""


def tile_problems(m: dict[str, Any], name: str) -> list[str]:
    """What is wrong with the speaker's tile: it lies over a panel, or its name is cut."""
    found: list[str] = []
    tile = m["tile"]
    for o in m["others"]:
        w = min(tile["right"], o["right"]) - max(tile["x"], o["x"])
        h = min(tile["bottom"], o["bottom"]) - max(tile["y"], o["y"])
        if w > 1 and h > 1:
            found.append(f"the tile covers {w:.0f}x{h:.0f} px of #{o['id']}")
    if not m["titleClear"]:
        found.append("something lies over the quick question's title")
    if name not in m["text"] or not m["fits"]:
        found.append(f"the caption {m['text']!r} is cut")
    if name not in (m["label"] or ""):
        found.append(f"the tile's name for a screen reader, {m['label']!r}, lacks the name")
    if not (m["caption"]["x"] >= tile["x"] - 1 and m["caption"]["right"] <= tile["right"] + 1):
        found.append(f"the caption {m['caption']} is out of its tile {tile}")
    return found


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_a_speakers_tile_covers_no_panel_and_shows_the_whole_name(
    served: TestServer, academy: Academy
) -> None:
    """A student with a long name speaks with camera while a quick question is open: on the
    other students' pages (kk and ru, at 1280×800 and 360×740) the speaker's tile lies over no
    panel (the question's title stays in view) and the caption shows the whole name."""
    errors: list[str] = []
    seen: list[str] = []
    cid = academy.class_id
    accounts, tt = served.app[keys.ACCOUNTS], served.app[keys.TIMETABLE]
    aigerim = accounts.create_user(login="aigerim", full_name=SPEAKER_NAME, role=Role.STUDENT)
    tt.add_members(academy.group_id, [aigerim.id])
    found: list[str] = []
    try:
        async with chromium() as browser:
            (speaker,) = await enter_class(browser, served, [aigerim.id], cid, errors)
            # The teacher's page in Russian, whose buttons are the longest (more rows on a phone).
            pages: dict[str, Page] = {}
            for lang, uid in (
                ("teacher", academy.teacher_id),
                ("kk", academy.student_ids[0]),
                ("ru", academy.student_ids[1]),
            ):
                in_lang = "ru" if lang == "teacher" else lang
                page = await open_signed_in(
                    browser, served, uid, f"/classes/{cid}", lang=in_lang, viewport=WIDE,
                    errors=errors,
                )  # fmt: skip
                await expect(page.locator("#join")).to_be_enabled(timeout=10_000)
                await page.locator("#join").click()
                pages[lang] = page
            teacher = pages.pop("teacher")
            listeners = pages
            t = await room_strings(teacher)
            row = teacher.locator("#roster li").filter(has_text=SPEAKER_NAME)
            await row.get_by_role("button", name=t["giveFloorCamera"]).click()
            await ask_a_question(teacher, LONG_QUESTION, LONG_CHOICES)
            for page in listeners.values():
                await page.wait_for_function(
                    "() => { const v = document.querySelector('#speakers video');"
                    " return v && v.videoWidth > 0; }",
                    timeout=15_000,
                )
                await expect(page.locator("#question-text")).to_be_visible()
            shots = os.environ.get("SABAQ_LAYOUT_SHOTS")
            for lang, page in [*listeners.items(), ("teacher", teacher)]:
                for size in (WIDE, PHONE):
                    await page.set_viewport_size(size)
                    await page.evaluate(FRAMES_JS)
                    m = await page.evaluate(SPEAKER_TILE_JS)
                    seen.append(f"{lang} {size['width']}: tile {m['tile']}, {m['text']!r}")
                    if shots:
                        path = Path(shots) / f"speaker-tile-{lang}-{size['width']}.png"
                        await page.screenshot(path=path)
                    where = f"{lang} at {size['width']}"
                    found += [f"{where}: {p}" for p in tile_problems(m, SPEAKER_NAME)]
                await page.set_viewport_size(WIDE)
            assert not found, "\n".join(found)
            for lang, page in [*listeners.items(), ("teacher", teacher), ("speaker", speaker)]:
                await check_layout(page, f"speaker and question, {lang}", seen)
    finally:
        print("\n".join(seen))
    assert errors == []
