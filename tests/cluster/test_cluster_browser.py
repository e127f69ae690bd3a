"""The cluster as separate processes (issue 7), seen from real headless Chromium: a student on the
control node's class page watches the teacher (an aiortc participant) on one media node; that
node is killed, and the page, by itself, finds the class again on the other media node — without
its Content-Security-Policy refusing the new node's signaling, and without a script error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from access.events import EventKind
from tests.browser.test_browser import VIEWPORT, chromium, room_strings, wait_decoded, watch_errors
from tests.cluster.test_cluster import start
from tests.cluster_procs import Cluster, Proc, seeded_cluster, session_cookies, until
from tests.conftest import Academy
from web.core.http import LANG_COOKIE

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[Cluster, Academy]]:
    async with seeded_cluster(tmp_path) as (c, _server, academy):
        yield c, academy


async def open_on_control(
    browser: Browser,
    c: Cluster,
    control: Proc,
    user_id: int,
    path: str,
    errors: list[str],
    sockets: list[str],
) -> tuple[Page, str]:
    """A browser context of its own, signed in on the control node with a session cookie (in
    English), at ``path``; watched for errors and for the WebSockets it opens (from the start: a
    page opened shortly before its class prepares its join, socket included, as it loads).
    Returns the page and its Content-Security-Policy."""
    ctx = await browser.new_context(viewport=VIEWPORT)
    cookies = {**session_cookies(c.control_dir / "sabaq.sqlite3", user_id), LANG_COOKIE: "en"}
    await ctx.add_cookies(
        [{"name": k, "value": v, "url": control.base + "/"} for k, v in cookies.items()]
    )
    page = await ctx.new_page()
    watch_errors(page, errors)
    page.on("websocket", lambda ws: sockets.append(ws.url))
    response = await page.goto(control.base + path)
    assert response is not None and response.status == 200, response
    csp = await response.header_value("content-security-policy")
    assert csp is not None
    return page, csp


async def test_the_class_page_follows_its_class_to_another_media_node(
    cluster: tuple[Cluster, Academy],
) -> None:
    c, a = cluster
    control, m1, m2 = await start(c)
    teacher = c.member(control, a.teacher_id, a.class_id, publishes=True)
    teacher.start()
    at = await teacher.welcomed()
    victim, survivor = (m1, m2) if at.startswith(m1.base) else (m2, m1)
    errors: list[str] = []
    sockets: list[str] = []

    async with chromium() as browser:
        page, csp = await open_on_control(
            browser, c, control, a.student_ids[0], f"/classes/{a.class_id}", errors, sockets
        )
        # Both media nodes' signaling is allowed from the start: the page is not reloaded.
        connect_src = next(d for d in csp.split(";") if d.strip().startswith("connect-src"))
        for node in (m1, m2):
            assert node.base in connect_src.split(), connect_src
            assert node.base.replace("http://", "ws://") in connect_src.split(), connect_src
        strings = await room_strings(page)
        await expect(page.locator("#join")).to_be_enabled(timeout=15_000)
        await page.locator("#join").click()
        await wait_decoded(page, 10)
        await expect(page.locator("#room")).to_have_attribute("data-state", "live")
        assert sockets and all(
            u.startswith(victim.base.replace("http://", "ws://")) for u in sockets
        )

        # The node of the class is killed: the page says so, then finds the class again.
        victim.kill()
        await expect(page.locator("#room")).to_have_attribute(
            "data-state", "reconnecting", timeout=5_000
        )
        await expect(page.locator("#status")).to_have_text(strings["reconnecting"])
        await expect(page.locator("#room")).to_have_attribute("data-state", "live", timeout=30_000)
        await wait_decoded(page, 10, limit=30)
        await until(lambda: len(teacher.joined_at) > 1, "the teacher back in the class")
        assert teacher.joined_at[-1].startswith(survivor.base)
        new_node = survivor.base.replace("http://", "ws://")
        assert sockets[-1].startswith(new_node), sockets
        await expect(page.locator("#status")).to_contain_text(strings["live"])

        def joined_on_both() -> bool:
            nodes = [
                le.event.node
                for le in c.ledger()
                if le.event.kind is EventKind.JOINED
                and le.event.user_id == a.student_ids[0]
                and le.event.class_id == a.class_id
            ]
            return all(any(n.startswith(f"{m}.") for n in nodes) for m in ("media-1", "media-2"))

        await until(joined_on_both, "the student's joins on both nodes in the ledger")
        await page.context.close()
    assert not errors, errors
