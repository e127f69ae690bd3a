"""Join latency: a burst of N simultaneous aiortc viewers, WebSocket open → first video frame;
and a student's Chromium page → first decoded frame.

The server runs in its own process (``sabaq``'s app on a loopback port, seeded with one class
and its students); the viewers run in this process. The baseline in the same run is a single
viewer joining alone, so a burst's cost shows as its distance from that row.

Chromium (Debian's, through Playwright) opens the class page of a signed-in student, clicks
Join as soon as the device check allows, and the page itself notes when the teacher's first
video frame is presented (``requestVideoFrameCallback``), counted from the navigation's start.
One page is opened first to warm the browser up and is not counted.

    scripts/loopback-ns .venv/bin/python -m bench.join --bursts 1,10,25,50 --pages 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, WSMsgType, web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from access.models import ClassRole, Role
from access.sqlite_store import SqliteAccounts
from scheduler.models import ClassFormat, ClassKind
from scheduler.sqlite_store import SqliteTimetable
from streaming.aiortc_media import advertise_host_addresses
from streaming.room import MediaBackend
from web import keys
from web.app import create_app
from web.settings import Settings


def one_group(
    accounts: SqliteAccounts, timetable: SqliteTimetable, learners: int
) -> tuple[int, int, list[int]]:
    """A teacher and one group of ``learners`` students: (teacher, group, students)."""
    teacher = accounts.create_user(login="teacher", full_name="Teacher", role=Role.TEACHER).id
    inst = timetable.add_institute("I", None)
    dept = timetable.add_department(inst.id, "D", None)
    group = timetable.add_group("G", dept.id, "ru", "Asia/Almaty")
    timetable.add_teacher(group.id, teacher)
    ids = [
        accounts.create_user(login=f"s{i:04d}", full_name=f"S{i}", role=Role.STUDENT).id
        for i in range(learners)
    ]
    timetable.add_members(group.id, ids)
    return teacher, group.id, ids


async def seed_bench_class(
    data_dir: str, students: int, media: MediaBackend | None = None
) -> dict[str, Any]:
    """Serve the app on a free loopback port with one class of ``students`` learners.

    Returns the WebSocket URL and join tokens (teacher, then each student)."""
    settings = Settings(
        data_dir=Path(data_dir),
        secret_key=secrets.token_bytes(32),
        port=0,
        ice_addresses=("127.0.0.1",),
    )
    app = create_app(settings, media)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    acc, tt, signer = app[keys.ACCOUNTS], app[keys.TIMETABLE], app[keys.SIGNER]
    teacher, group_id, ids = one_group(acc, tt, students)
    now = datetime.now(UTC)
    c = tt.add_class(
        title="Bench",
        kind=ClassKind.LECTURE,
        format=ClassFormat.LIVE_ONLINE,
        teacher_id=teacher,
        starts_at=now,
        ends_at=now + timedelta(hours=2),
        group_ids=(group_id,),
    )

    def token(uid: int, role: ClassRole) -> str:
        return signer.mint_join(
            user_id=uid, class_id=c.id, role=role, display_name=str(uid), media_url="", ttl=3600
        )

    base = f"http://127.0.0.1:{port}"
    return {
        "url": f"ws://127.0.0.1:{port}/media/classes/{c.id}/ws",
        "page": f"{base}/classes/{c.id}",
        "teacher": token(teacher, ClassRole.HOST),
        "students": [token(u, ClassRole.LEARNER) for u in ids],
        # One-time sign-in links, for the students whose browsers open the class page.
        "signin": [
            f"{base}/signin/link?token={signer.mint_signin(user_id=u, ttl=3600)}&next=/"
            for u in ids
        ],
    }


def _serve(data_dir: str, students: int, out: Any) -> None:
    async def main() -> None:
        out.send(await seed_bench_class(data_dir, students))
        await asyncio.Event().wait()

    asyncio.run(main())


class _Participant:
    def __init__(self, session: ClientSession, url: str, token: str) -> None:
        self.session, self.url, self.token = session, url, token
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.first_frame = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[None]] = set()

    async def watch(self) -> float:
        """Join as a viewer; seconds from WebSocket open to the first video frame."""
        start = time.perf_counter()
        ws = await self.session.ws_connect(self.url)
        await ws.send_str(json.dumps({"v": 1, "type": "join", "token": self.token}))

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self._tasks.add(asyncio.create_task(self._first(track)))

        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            doc = json.loads(msg.data)
            if doc["type"] == "offer":
                await self.pc.setRemoteDescription(RTCSessionDescription(doc["sdp"], "offer"))
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                sdp = self.pc.localDescription.sdp
                await ws.send_str(
                    json.dumps({"v": 1, "type": "answer", "sdp": sdp, "offer_id": doc["offer_id"]})
                )
                await asyncio.wait_for(self.first_frame, 30)
                return time.perf_counter() - start
        raise RuntimeError("the server closed before sending media")

    async def _first(self, track: MediaStreamTrack) -> None:
        await track.recv()
        if not self.first_frame.done():
            self.first_frame.set_result(None)


async def _publish(session: ClientSession, url: str, token: str) -> asyncio.Task[None]:
    """The teacher publishes; the returned task keeps their WebSocket read until cancelled."""
    from tests.peers import MovingVideo

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(MovingVideo())
    ws = await session.ws_connect(url)
    await ws.send_str(json.dumps({"v": 1, "type": "join", "token": token}))
    await pc.setLocalDescription(await pc.createOffer())
    await ws.send_str(json.dumps({"v": 1, "type": "publish", "sdp": pc.localDescription.sdp}))
    answered = asyncio.get_running_loop().create_future()

    async def read() -> None:
        try:
            async for msg in ws:  # reading also answers the server's heartbeat pings
                doc = json.loads(msg.data)
                if doc["type"] == "answer":
                    await pc.setRemoteDescription(RTCSessionDescription(doc["sdp"], "answer"))
                    answered.set_result(None)
        finally:
            await pc.close()
            await ws.close()

    task = asyncio.create_task(read())
    await asyncio.wait_for(answered, 10)
    return task


# Set on every page before its own scripts run: the moment (ms since the navigation started)
# the first frame of the teacher's video is presented.
FIRST_FRAME_JS = """
document.addEventListener("DOMContentLoaded", () => {
  const video = document.getElementById("video");
  if (video && video.requestVideoFrameCallback) {
    video.requestVideoFrameCallback((now) => { window.__firstFrame = now; });
  }
});
"""


async def browser_pages(grant: dict[str, Any], signins: list[str], pages: int) -> list[float]:
    """Page → first presented frame (ms) for ``pages`` students, one after another, each in a
    fresh browser context; one more page first, to warm the browser up, is not counted."""
    from playwright.async_api import async_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    times = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for n, link in enumerate(signins[: pages + 1]):
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(link)  # signed in; the measured navigation is the class page
            await page.add_init_script(FIRST_FRAME_JS)
            await page.goto(grant["page"])
            join = page.locator("#join")
            await join.wait_for()
            await page.wait_for_function("() => !document.getElementById('join').disabled")
            await join.click()
            first = await page.wait_for_function("() => window.__firstFrame", timeout=30_000)
            if n > 0:
                times.append(float(await first.json_value()))
            await context.close()
        await browser.close()
    return sorted(times)


def _row(label: str, times: list[float]) -> tuple[str, int, float, float, float]:
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return (label, len(times), statistics.median(times), p95, times[-1])


async def run(
    bursts: list[int], pages: int, grant: dict[str, Any]
) -> list[tuple[str, int, float, float, float]]:
    advertise_host_addresses(["127.0.0.1"])  # the load generator's peers stay on loopback too
    rows = []
    async with ClientSession() as session:
        teacher = await _publish(session, grant["url"], grant["teacher"])
        tokens = iter(grant["students"])
        for n in bursts:
            viewers = [_Participant(session, grant["url"], next(tokens)) for _ in range(n)]
            times = sorted(await asyncio.gather(*(v.watch() for v in viewers)))
            label = "alone (baseline)" if n == 1 else "burst"
            rows.append(_row(label, [t * 1000 for t in times]))
            await asyncio.gather(*(v.pc.close() for v in viewers))
        if pages:
            used = sum(bursts)
            signins = grant["signin"][used : used + pages + 1]
            rows.append(
                _row("Chromium page → first frame", await browser_pages(grant, signins, pages))
            )
        teacher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await teacher
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bursts", default="1,10,25", help="comma-separated burst sizes")
    parser.add_argument("--pages", type=int, default=10, help="Chromium pages (0: none)")
    args = parser.parse_args()
    bursts = [int(b) for b in args.bursts.split(",")]
    if bursts[0] != 1:
        bursts.insert(0, 1)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = multiprocessing.get_context("spawn")  # a clean interpreter, no inherited loop state
        parent, child = ctx.Pipe()
        students = sum(bursts) + args.pages + 1
        server = ctx.Process(target=_serve, args=(tmp, students, child), daemon=True)
        server.start()
        child.close()  # so that a server that dies makes recv() raise instead of waiting
        try:
            if not parent.poll(60):
                raise SystemExit("bench: the server did not start within 60 s")
            grant = parent.recv()
            rows = asyncio.run(run(bursts, args.pages, grant))
        finally:
            server.terminate()
            server.join(5)
    print("| join | viewers | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for label, n, p50, p95, worst in rows:
        print(f"| {label} | {n} | {p50:.0f} | {p95:.0f} | {worst:.0f} |")


if __name__ == "__main__":
    main()
