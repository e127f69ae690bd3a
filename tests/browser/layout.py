"""Measuring the class page's boxes in a real browser: what a person sees without scrolling.

A test calls :func:`check_layout` on a page in some state of the class; it measures the page at
1280×800 and at 360×740 (the viewport is changed in place) and fails on a page wider than the
screen or higher than the window (the page scrolls, not only a panel inside it), a panel or
control whose box ends below the fold, a video box whose shape is not its
picture's (more than 10 % off), or a seminar's tile lying over a panel (a quick question, the
breakout panel, the control bar, the side panel)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page, ViewportSize

WIDE: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 360, "height": 740}
ASPECT_TOLERANCE = 0.10
MAIN_MIN_SHARE = 0.15  # the main picture is at least this share of the window's height: not a strip

# Every visible control of the live page (except those inside a list that scrolls by itself:
# the roster's rows and the chat's lines are reached by scrolling that list, not the page), the
# side panel (or, folded on a phone, its tabs), and every visible video with its picture's size.
MEASURE_JS = """() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    const name = el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${el.className}`;
    return { name: name, x: Math.round(r.left), y: Math.round(r.top), w: Math.round(r.width),
             h: Math.round(r.height), right: Math.round(r.right), bottom: Math.round(r.bottom) };
  };
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  const stage = document.getElementById("stage");
  // A panel short of room scrolls inside (a long quick question on a phone): its controls are
  // reached by scrolling it; the panel itself is measured.
  const scrolls = (el) => el && el.scrollHeight > el.clientHeight + 1;
  const controls = [...stage.querySelectorAll("button, input, select")]
    .filter((el) => shown(el) && !el.closest(".roster, .chat-log, .removed-list, .tile")
      && !scrolls(el.closest(".question-panel, .breakout-panel")));
  controls.push(...[...stage.querySelectorAll(".question-panel, .breakout-panel")].filter(shown));
  const panel = stage.querySelector(".side");
  const videos = [...stage.querySelectorAll("video")].filter(shown).map((v) =>
    Object.assign(box(v), { vw: v.videoWidth, vh: v.videoHeight }));
  // The main picture's box and the phone's dock (display: contents, so no box, on a wide one).
  const main = document.getElementById("stage-box");
  const dock = stage.querySelector(".dock");
  // The seminar's shown tiles (gallery, filmstrip) and the panels none of them may lie over.
  const tiles = [...stage.querySelectorAll("#gallery .tile")].filter(shown).map(box);
  const panels = [...stage.querySelectorAll(".question-panel, .breakout-panel, .controls, .side")]
    .filter(shown).map(box);
  return {
    width: innerWidth, height: innerHeight, tiles: tiles, panels: panels,
    main: main && shown(main) ? box(main) : null,
    dock: dock && shown(dock) ? box(dock) : null,
    scrollWidth: document.documentElement.scrollWidth,
    scrollHeight: document.documentElement.scrollHeight,
    panel: panel && shown(panel) ? box(panel) : null,
    controls: controls.map(box),
    videos: videos,
  };
}"""


FRAMES_JS = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"


async def measure(page: Page) -> dict[str, Any]:
    boxes: dict[str, Any] = await page.evaluate(MEASURE_JS)
    return boxes


def problems(m: dict[str, Any]) -> list[str]:
    """What is wrong with one measurement, in words (empty: the layout holds)."""
    found: list[str] = []
    if m["scrollWidth"] > m["width"]:
        found.append(f"the page is {m['scrollWidth']} px wide in a {m['width']} px window")
    if m["scrollHeight"] > m["height"]:
        # The page itself does not scroll (its panels may, inside): nothing is below the fold.
        found.append(f"the page is {m['scrollHeight']} px high in a {m['height']} px window")
    if m["panel"] is None:
        found.append("no side panel in view")
    for b in [m["panel"], *m["controls"]] if m["panel"] else m["controls"]:
        if b["bottom"] > m["height"] or b["right"] > m["width"] or b["x"] < 0 or b["y"] < 0:
            found.append(f"{b['name']} at {b['x']},{b['y']} {b['w']}x{b['h']} is out of view")
    for v in m["videos"]:
        # The picture's own shape; before its first frame, the nearest of the usual two.
        ratio = v["w"] / v["h"]
        usual = min((4 / 3, 16 / 9), key=lambda r: abs(r - ratio))
        want = v["vw"] / v["vh"] if v["vw"] and v["vh"] else usual
        if abs(ratio / want - 1) > ASPECT_TOLERANCE:
            found.append(f"{v['name']} is {v['w']}x{v['h']} for a {v['vw']}x{v['vh']} picture")
    for t in m["tiles"]:
        for p in m["panels"]:
            w = min(t["right"], p["right"]) - max(t["x"], p["x"])
            h = min(t["bottom"], p["bottom"]) - max(t["y"], p["y"])
            if w > 1 and h > 1:
                found.append(f"a tile at {t['x']},{t['y']} covers {w}x{h} px of {p['name']}")
    main, dock = m.get("main"), m.get("dock")
    if main:
        # The main picture is not a strip, and nothing (the phone's dock) lies over it.
        if main["h"] < m["height"] * MAIN_MIN_SHARE:
            found.append(f"{main['name']} is only {main['w']}x{main['h']}")
        if dock and dock["y"] < main["bottom"] - 1 and dock["bottom"] > main["y"] + 1:
            over = min(main["bottom"], dock["bottom"]) - max(main["y"], dock["y"])
            found.append(f"{dock['name']} covers {over} px of {main['name']}")
    return found


def summary(m: dict[str, Any]) -> str:
    panel = m["panel"]
    where = f"panel {panel['x']},{panel['y']} {panel['w']}x{panel['h']}" if panel else "no panel"
    videos = ", ".join(f"{v['name']} {v['w']}x{v['h']}" for v in m["videos"])
    lowest = max((c["bottom"] for c in m["controls"]), default=0)
    main, dock = m.get("main"), m.get("dock")
    boxes = "".join(f"; {b['name']} {b['x']},{b['y']} {b['w']}x{b['h']}" for b in (main, dock) if b)
    return f"{m['width']}x{m['height']}: {where}; lowest control {lowest}; videos {videos}{boxes}"


async def check_layout(page: Page, state: str, seen: list[str]) -> None:
    """Measure ``page`` at both sizes (back to the first afterwards); fail on what is wrong."""
    before = page.viewport_size
    found: list[str] = []
    for size in (WIDE, PHONE):
        await page.set_viewport_size(size)
        await page.evaluate(FRAMES_JS)  # laid out again (and the gallery re-fitted)
        m = await measure(page)
        shots = os.environ.get("SABAQ_LAYOUT_SHOTS")  # a folder: each state's picture, to look at
        if shots:
            name = re.sub(r"\W+", "-", state).strip("-")
            await page.screenshot(path=Path(shots) / f"{name}-{size['width']}.png")
        seen.append(f"{state} {summary(m)}")
        found += [f"{state} at {size['width']}: {p}" for p in problems(m)]
    if before is not None:
        await page.set_viewport_size(before)
    assert not found, "\n".join(found)
