"""Join latency: a burst of N simultaneous aiortc viewers, WebSocket open → first video frame;
and a student's Chromium page → first decoded frame.

The server runs in its own process (``sabaq``'s app on a loopback port, seeded with one class
and its students); the viewers run in this process. The baseline in the same run is a single
viewer joining alone, so a burst's cost shows as its distance from that row.

Each row also gives WebSocket open → ``welcome``. A welcome waits for the join to be committed
(a welcome is an acknowledgement); the same run first measures a server on the previous path,
which welcomed before the commit (``--no-previous`` skips it), so the table shows what the
wait costs.

Chromium (Debian's, through Playwright) opens the class page of a signed-in student, and the
page itself notes when the teacher's first video frame is presented
(``requestVideoFrameCallback``), counted from the navigation's start: a new user, Join clicked
by the page itself the moment the device check allows (the check's parts at once, the join token
and WebSocket prepared meanwhile); the same on the previous path (the check's parts in sequence,
nothing prepared before Join); and a returning user whose devices passed today (no check, no
click). The paths take turns, page by page. One page is opened first to warm the browser up
and is not counted.

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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, WSMsgType, web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from access.models import ClassRole, Role
from access.sqlite_store import SqliteAccounts
from scheduler.models import ClassFormat, ClassKind, room_mode
from scheduler.sqlite_store import SqliteTimetable
from streaming.aiortc_media import advertise_host_addresses
from streaming.room import MediaBackend
from web.core import keys
from web.core.app import create_app
from web.core.settings import Settings


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
    data_dir: str,
    students: int,
    media: MediaBackend | None = None,
    kind: ClassKind = ClassKind.LECTURE,
    extra: Callable[[web.Application, str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Serve the app on a free loopback port with one class of ``students`` learners.

    Returns the WebSocket URL and join tokens (teacher, then each student); ``extra`` seeds
    more (given the application and its base URL) and adds what it returns."""
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
        kind=kind,
        format=ClassFormat.LIVE_ONLINE,
        teacher_id=teacher,
        starts_at=now,
        ends_at=now + timedelta(hours=2),
        group_ids=(group_id,),
        on_day_off=True,
    )

    def token(uid: int, role: ClassRole) -> str:
        return signer.mint_join(
            user_id=uid,
            class_id=c.id,
            role=role,
            display_name=str(uid),
            media_url="",
            ttl=3600,
            mode=room_mode(kind),
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
        **(extra(app, base) if extra else {}),
    }


def _serve(data_dir: str, students: int, out: Any, welcome_before_commit: bool = False) -> None:
    if welcome_before_commit:
        # The previous path, for comparison: the welcome does not wait for the join's commit.
        from streaming.events import EventOutbox, MediaEvent

        async def not_waiting(self: EventOutbox, event: MediaEvent) -> None:
            return None

        EventOutbox.durable = not_waiting  # type: ignore[method-assign]

    async def main() -> None:
        out.send(await seed_bench_class(data_dir, students))
        await asyncio.Event().wait()

    asyncio.run(main())


class _Participant:
    def __init__(self, session: ClientSession, url: str, token: str) -> None:
        self.session, self.url, self.token = session, url, token
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.first_frame = asyncio.get_running_loop().create_future()
        self.welcome = 0.0  # seconds from WebSocket open to the welcome
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
            if doc["type"] == "welcome":
                self.welcome = time.perf_counter() - start
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


# Join is clicked by the page itself the moment the check enables it: what is measured is the
# page, not how quickly the harness notices (polling from outside took 100–900 ms on a busy
# machine). A page that goes straight in never enables it.
JOIN_AT_ONCE_JS = """
document.addEventListener("DOMContentLoaded", () => {
  const join = document.getElementById("join");
  if (!join) return;
  const click = () => {
    if (!join.disabled && !join.hidden && !window.__joinClicked) {
      window.__joinClicked = true;
      join.click();
    }
  };
  new MutationObserver(click).observe(join, { attributes: true, attributeFilter: ["disabled"] });
  click();
});
"""

# How a page comes to the class: a new user (the device check, then Join as soon as it allows),
# the same on the previous path (the check's parts one after another, nothing prepared before
# Join: join.js's comparison switch), and a returning user whose devices passed today (no
# check, no click: the page goes straight in).
PATHS = {
    "new user, previous path (sequential check)": "window.sabaqSequentialJoin = true;",
    "new user (check and way in at once)": "",
    "returning user (passed today: straight in)": "",
}
RETURNING_JS = """(() => {
  const zone = JSON.parse(document.getElementById("room-config").textContent).zone;
  const day = new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date());
  const pass = { day: day, ok: true, camera: false };
  localStorage.setItem("sabaq.devicesPassed", JSON.stringify(pass));
})()"""


async def _page_to_frame(browser: Any, link: str, grant: dict[str, Any], path: str) -> float:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(link)  # signed in; the measured navigation is the class page
    if path.startswith("returning"):
        await page.goto(grant["page"])  # the check, once, as on an earlier day's visit
        await page.evaluate(RETURNING_JS)
    await page.add_init_script(FIRST_FRAME_JS + JOIN_AT_ONCE_JS + PATHS[path])
    await page.goto(grant["page"])
    first = await page.wait_for_function("() => window.__firstFrame", timeout=30_000)
    ms = float(await first.json_value())
    steps = await page.evaluate(STEPS_JS)
    for step, at in {**steps, "first frame": ms}.items():
        STEPS.setdefault(path, {}).setdefault(step, []).append(float(at))
    await context.close()
    return ms


# What the page noted on its way (join.js's window.sabaqJoinTimes, ms since the navigation),
# by path and step, printed below the table: where a new user's time goes.
STEPS: dict[str, dict[str, list[float]]] = {}
STEPS_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return { ...(window.sabaqJoinTimes || {}), domContentLoaded: nav.domContentLoadedEventEnd };
}"""


async def browser_pages(
    grant: dict[str, Any], signins: list[str], pages: int
) -> dict[str, list[float]]:
    """Page → first presented frame (ms) on each path for ``pages`` students each, one after
    another in a fresh browser context, the paths taking turns (so a machine that slows down
    favours none); one more page first, to warm the browser up, is not counted."""
    from playwright.async_api import async_playwright

    from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS

    times: dict[str, list[float]] = {path: [] for path in PATHS}
    links = iter(signins)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        await _page_to_frame(browser, next(links), grant, next(iter(PATHS)))
        STEPS.clear()  # the warm-up page is not counted
        for _ in range(pages):
            for path in PATHS:
                times[path].append(await _page_to_frame(browser, next(links), grant, path))
        await browser.close()
    return {path: sorted(t) for path, t in times.items()}


Row = tuple[str, int, float | None, float | None, float, float, float]


def _p95(times: list[float]) -> float:
    return times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def _row(label: str, times: list[float], welcomes: list[float] | None = None) -> Row:
    w50 = statistics.median(welcomes) if welcomes else None
    w95 = _p95(sorted(welcomes)) if welcomes else None
    return (label, len(times), w50, w95, statistics.median(times), _p95(times), times[-1])


async def run(
    bursts: list[int], pages: int, servers: list[tuple[str, dict[str, Any]]]
) -> list[Row]:
    """Each burst size on each server in turn (paths interleaved, so a machine that slows down
    during the run does not favour one); Chromium pages on the last server."""
    advertise_host_addresses(["127.0.0.1"])  # the load generator's peers stay on loopback too
    rows = []
    async with ClientSession() as session:
        teachers = [await _publish(session, g["url"], g["teacher"]) for _, g in servers]
        tokens = [iter(g["students"]) for _, g in servers]
        for n in bursts:
            for (path, grant), left in zip(servers, tokens, strict=True):
                viewers = [_Participant(session, grant["url"], next(left)) for _ in range(n)]
                times = sorted(await asyncio.gather(*(v.watch() for v in viewers)))
                label = path + ("alone (baseline)" if n == 1 else "burst")
                welcomes = [v.welcome * 1000 for v in viewers]
                rows.append(_row(label, [t * 1000 for t in times], welcomes))
                await asyncio.gather(*(v.pc.close() for v in viewers))
        if pages:
            grant = servers[-1][1]
            used = sum(bursts)
            signins = grant["signin"][used : used + len(PATHS) * pages + 1]
            for path, times in (await browser_pages(grant, signins, pages)).items():
                rows.append(_row(f"Chromium page → first frame: {path}", times))
        for teacher in teachers:
            teacher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await teacher
    return sorted(rows, key=lambda r: (r[0].startswith("now"), r[0], r[1]))


@contextlib.contextmanager
def _server(students: int, welcome_before_commit: bool) -> Iterator[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        ctx = multiprocessing.get_context("spawn")  # a clean interpreter, no inherited loop state
        parent, child = ctx.Pipe()
        server = ctx.Process(
            target=_serve, args=(tmp, students, child, welcome_before_commit), daemon=True
        )
        server.start()
        child.close()  # so that a server that dies makes recv() raise instead of waiting
        try:
            if not parent.poll(60):
                raise SystemExit("bench: the server did not start within 60 s")
            yield parent.recv()
        finally:
            server.terminate()
            server.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bursts", default="1,10,25", help="comma-separated burst sizes")
    parser.add_argument("--pages", type=int, default=10, help="Chromium pages (0: none)")
    parser.add_argument(
        "--no-previous", action="store_true", help="skip the previous path (welcome before commit)"
    )
    args = parser.parse_args()
    bursts = [int(b) for b in args.bursts.split(",")]
    if bursts[0] != 1:
        bursts.insert(0, 1)
    students = sum(bursts) + len(PATHS) * args.pages + 1
    with contextlib.ExitStack() as stack:
        servers = []
        if not args.no_previous:
            before = stack.enter_context(_server(students, welcome_before_commit=True))
            servers.append(("before (welcome, then commit): ", before))
        now = stack.enter_context(_server(students, welcome_before_commit=False))
        servers.append(("now (commit, then welcome): ", now))
        rows = asyncio.run(run(bursts, args.pages, servers))
    print("| join | viewers | welcome p50 ms | welcome p95 ms | frame p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, n, w50, w95, p50, p95, worst in rows:
        ws = f"{w50:.1f} | {w95:.1f}" if w50 is not None and w95 is not None else "– | –"
        print(f"| {label} | {n} | {ws} | {p50:.0f} | {p95:.0f} | {worst:.0f} |")
    for path, steps in STEPS.items():
        order = sorted(steps, key=lambda step: statistics.median(steps[step]))
        said = ", ".join(f"{step} {statistics.median(steps[step]):.0f}" for step in order)
        print(f"\n{path}, p50 ms since the navigation: {said}")


if __name__ == "__main__":
    main()
