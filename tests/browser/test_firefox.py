"""The student's and the guest lecturer's paths in Debian's firefox-esr: the teacher publishes from
Python (aiortc), Firefox signs in or opens an invite, passes the device check, joins (the guest
after waiting in the lobby for the teacher) and decodes the teacher's video.

Playwright's Firefox cannot drive Debian's firefox-esr, so tests/firefox/drive.mjs drives it with
puppeteer-core over WebDriver BiDi (WEBRTC-NOTES.md, "Firefox too"); it runs as a subprocess of
the test's event loop, which also serves the application, and reports what it saw as JSON lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from access.events import EventKind
from tests.browser.test_browser import TEACHER_NAME, approved_guest, ledger_until
from tests.conftest import Academy, SignIn
from tests.peers import Peer, join, publish
from web.core import keys

FIREFOX = "/usr/bin/firefox-esr"
DRIVER_DIR = Path(__file__).parent.parent / "firefox"
DRIVER = DRIVER_DIR / "drive.mjs"
FRAMES = 10  # video frames of the teacher's picture the page must decode


def require_driver() -> str:
    """The node executable; fails (does not skip) with what to run when something is missing."""
    node = shutil.which("node")
    missing = [
        what
        for what, there in (
            (f"{FIREFOX} (make system-deps installs firefox-esr)", os.path.exists(FIREFOX)),
            ("node (make system-deps installs npm)", node is not None),
            (
                "tests/firefox/node_modules (make test runs npm ci there)",
                (DRIVER_DIR / "node_modules" / "puppeteer-core").is_dir(),
            ),
        )
        if not there
    ]
    if missing or node is None:
        pytest.fail("the Firefox tests need " + "; ".join(missing))
    return node


class FirefoxRun:
    """One run of drive.mjs: its step events as they arrive, then its result line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.final: dict[str, Any] | None = None
        self.stderr = b""
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        errs = asyncio.create_task(self.proc.stderr.read())
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if not line.startswith("{"):
                continue
            doc: dict[str, Any] = json.loads(line)
            if "event" in doc:
                self.events.append(doc)
            else:
                self.final = doc
            self._changed.set()
        self.stderr = await errs
        self._changed.set()

    def _why(self) -> str:
        if self.final is not None:
            return f"the driver failed: {self.final.get('error')}; it saw {self.final['result']}"
        tail = self.stderr.decode(errors="replace")[-2000:]
        return f"the driver ended (exit {self.proc.returncode}) with no result; stderr: {tail}"

    async def wait_event(self, name: str, limit: float) -> dict[str, Any]:
        """The driver's report that step ``name`` is done."""
        try:
            async with asyncio.timeout(limit):
                while True:
                    for e in self.events:
                        if e["event"] == name:
                            return e
                    if self._reader.done():
                        pytest.fail(f"no {name!r} step: {self._why()}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"no {name!r} step in {limit:.0f} s; steps so far: {self.events}")

    async def release(self) -> None:
        """Let the driver go on from its "hold" step."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"\n")
        with contextlib.suppress(ConnectionError):
            await self.proc.stdin.drain()

    async def result(self, limit: float) -> dict[str, Any]:
        """What the driver saw, once every step has passed."""
        try:
            async with asyncio.timeout(limit):
                await self._reader
                await self.proc.wait()
        except TimeoutError:
            pytest.fail(f"the driver did not finish in {limit:.0f} s; steps: {self.events}")
        if self.proc.returncode != 0 or self.final is None or not self.final["ok"]:
            pytest.fail(self._why())
        result: dict[str, Any] = self.final["result"]
        return result

    async def stop(self) -> None:
        """End the driver if it still runs: on SIGTERM it kills Firefox and reports; when it
        has not ended 5 s later, its process group and Firefox's are killed."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await self.proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
                # Firefox leads a process group of its own; the driver said which.
                for e in self.events:
                    if e["event"] == "launched" and e.get("firefox_pid"):
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(int(e["firefox_pid"]), signal.SIGKILL)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def firefox(job: dict[str, Any]) -> AsyncIterator[FirefoxRun]:
    """drive.mjs started on ``job``, without blocking the event loop that serves the app."""
    node = require_driver()
    proc = await asyncio.create_subprocess_exec(
        node,
        str(DRIVER),
        json.dumps(job),
        cwd=DRIVER_DIR,
        stdin=asyncio.subprocess.PIPE,  # a line on it ends the driver's "hold" step
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    run = FirefoxRun(proc)
    try:
        yield run
    finally:
        await run.stop()


async def teacher_live(sign_in: SignIn, class_id: int, teacher_id: int) -> Peer:
    """The teacher joins from Python and publishes a moving picture."""
    teacher = await join(sign_in(teacher_id), class_id)
    await publish(teacher)
    return teacher


async def on_roster(peer: Peer, name: str, limit: float = 5.0) -> None:
    """Until the newest roster ``peer`` has received lists ``name``."""

    def names() -> list[str]:
        rosters = [m for m in peer.messages if m["type"] == "roster"]
        return [p["name"] for p in rosters[-1]["participants"]] if rosters else []

    try:
        async with asyncio.timeout(limit):
            while name not in names():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"{name} not on the roster after {limit:.0f} s: {names()}")


async def until_present(served: TestServer, class_id: int, user_id: int, limit: float) -> None:
    node = served.app[keys.MEDIA_NODE]
    try:
        async with asyncio.timeout(limit):
            while user_id not in node.present_user_ids(class_id):
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"{user_id} not in the class after {limit:.0f} s")


@pytest.mark.browser
@pytest.mark.timeout(60)
async def test_a_student_joins_and_watches_in_firefox(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """The teacher is live (aiortc); a student opens their sign-in link in Firefox, the device
    check passes, they join, decode the teacher's picture and leave; the ledger says so."""
    class_id, student_id = academy.class_id, academy.student_ids[0]
    node = served.app[keys.MEDIA_NODE]
    teacher = await teacher_live(sign_in, class_id, academy.teacher_id)
    try:
        token = served.app[keys.SIGNER].mint_signin(user_id=student_id, ttl=600)
        url = str(served.make_url(f"/signin/link?token={token}&next=/classes/{class_id}"))
        steps = ["open", "check", "join", "live", "decode", "playing", "hold", "leave"]
        async with firefox({"url": url, "steps": steps, "frames": FRAMES}) as run:
            await run.wait_event("holding", limit=40)
            # In the class, on the teacher's roster, while the page watches.
            assert student_id in node.present_user_ids(class_id)
            await on_roster(teacher, "Студент 01")
            await run.release()
            got = await run.result(limit=15)
    finally:
        await teacher.close()

    assert got["url"] == str(served.make_url(f"/classes/{class_id}")), got["url"]
    assert got["role"] == "learner", got["role"]
    assert got["checks"] == {"browser": "yes", "network": "yes", "sound": "yes"}, got["checks"]
    strings: dict[str, str] = got["strings"]
    assert got["live_status"] == f"{strings['live']} · {TEACHER_NAME}", got["live_status"]
    assert got["teacher"] == TEACHER_NAME
    assert got["frames"] > FRAMES
    # Left on purpose: its own state ("left"), not the refused or removed one ("closed").
    assert (got["status"], got["state"]) == (strings["left"], "left")
    assert got["errors"] == [], got["errors"]
    print(
        f"firefox {got['browser']}: page load -> first frame {got['open_to_first_frame_ms']} ms,"
        f" join click -> first frame {got['join_to_first_frame_ms']} ms,"
        f" whole run {got['total_ms']} ms"
    )

    kinds = await ledger_until(served, class_id, lambda k: (EventKind.LEFT, student_id) in k)
    mine = [k for k, u in kinds if u == student_id]
    assert mine == [EventKind.JOINED, EventKind.LEFT], kinds
    assert served.app[keys.LEDGER].verify(class_id) is None


@pytest.mark.browser
@pytest.mark.timeout(60)
async def test_a_presenting_guest_waits_in_the_lobby_then_watches_in_firefox(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """An approved guest lecturer opens the invite in Firefox before the class: the device check
    (camera included) passes and the lobby waits. The teacher starts from Python: the guest is
    let in by themselves, decodes the teacher's picture, and the teacher receives the guest's
    camera from Firefox."""
    app, class_id = served.app, academy.class_id
    node = app[keys.MEDIA_NODE]
    filed, token = approved_guest(app, class_id)
    guest_id = -filed.id  # in the class and the ledger a guest is the request, negated
    invite = str(served.make_url(f"/invite/{token}"))

    teacher: Peer | None = None
    steps = ["open", "check", "join", "lobby", "live", "decode", "playing", "hold"]
    job = {"url": invite, "steps": steps, "frames": FRAMES, "lobby_ms": 20_000}
    try:
        async with firefox(job) as run:
            lobby = await run.wait_event("lobby", limit=30)
            await asyncio.sleep(3.5)  # the lobby asks again every 3 s: still not let in
            assert [e["event"] for e in run.events][-1] == "lobby", run.events
            assert guest_id not in node.present_user_ids(class_id)
            teacher = await teacher_live(sign_in, class_id, academy.teacher_id)
            await run.wait_event("live", limit=20)
            await until_present(served, class_id, guest_id, limit=5)
            await run.wait_event("holding", limit=25)
            # Firefox publishes too: the teacher's aiortc peer decodes the guest's camera.
            await teacher.wait_frames(FRAMES, timeout=10)
            assert guest_id in node.present_user_ids(class_id)
            await run.release()
            got = await run.result(limit=15)
    finally:
        if teacher is not None:
            await teacher.close()

    assert got["role"] == "presenter", got["role"]
    assert got["checks"] == {"browser": "yes", "network": "yes", "camera": "yes"}, got["checks"]
    strings: dict[str, str] = got["strings"]
    assert got["lobby_status"] == strings["waitingTeacher"], got["lobby_status"]
    assert got["lobby_waiting_hidden"] is False
    # Live by its own publication or by the teacher's picture, whichever connected first.
    assert got["live_status"] in (strings["youAreLive"], f"{strings['live']} · {TEACHER_NAME}")
    assert got["state"] == "live" and got["waiting_hidden"] is True
    assert got["frames"] > FRAMES
    assert got["errors"] == [], got["errors"]
    print(
        f"firefox guest: in the lobby {lobby['t_ms']} ms after the driver started,"
        f" join click -> first frame {got['join_to_first_frame_ms']} ms"
    )

    kinds = await ledger_until(served, class_id, lambda k: (EventKind.JOINED, guest_id) in k)
    mine = [k for k, u in kinds if u == guest_id]
    # (then they left: the driver has closed Firefox by now)
    assert mine[:3] == [EventKind.LOBBY_ENTERED, EventKind.LOBBY_ADMITTED, EventKind.JOINED], kinds
