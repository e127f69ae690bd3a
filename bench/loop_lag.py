"""The media loop's lag while staff work: one ``sabaq serve`` process (both planes on one event
loop), a lecture of ``--viewers`` aiortc viewers, and a staff member's browser session that
builds a group's twelve monthly reports, exports the largest month as XLSX and imports a group
from an XLSX file, all at once.

A probe task in the server sleeps 1 ms and notes how late it wakes (p50, p99, max over the
window); the viewers count the video frames they receive (fps). Each is measured over the same
window without staff load and then with it. Then the group-month page of ``--learners`` learners
× ``--classes`` classes is timed (``--runs`` sequential requests, the lecture still running).

The server, the publisher, the viewers (``--per-process`` a process, frames counted without
decoding, as ``bench.fanout`` makes them) and the staff member are separate processes.

    scripts/loopback-ns .venv/bin/python -m bench.loop_lag --viewers 100
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import math
import multiprocessing
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientSession, CookieJar, FormData, web
from openpyxl import Workbook

from access.models import Role
from bench.fanout import _publisher, _viewers
from bench.join import seed_bench_class
from bench.ledger import class_happenings, stamp
from scheduler.models import ClassFormat, ClassKind
from web.core import keys
from web.core.http import CSRF_COOKIE

ZONE = "Asia/Almaty"
WARMUP, WINDOW = 3.0, 10.0
IMPORT_ROWS = 200
LAG_TARGET = (5.0, 20.0)  # ms: p99, max
REPORT_TARGET = 150.0  # ms, p95 of a group's month


def _months(now: datetime) -> list[tuple[int, int]]:
    """The twelve months before ``now``'s, the latest first."""
    out = []
    y, m = now.year, now.month
    for _ in range(12):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        out.append((y, m))
    return out


def seed_reports(learners: int, classes: int, others: int) -> Any:
    """A staff member, a group of ``learners`` with a year of held classes (``classes`` in the
    latest month, ``others`` in each of the eleven before) and their ledger, and an empty group
    to import into."""

    def seed(app: web.Application, base: str) -> dict[str, Any]:
        acc, tt, ledger = app[keys.ACCOUNTS], app[keys.TIMETABLE], app[keys.LEDGER]
        staff = acc.create_user(login="staff", full_name="Staff", role=Role.STAFF)
        teacher = acc.create_user(login="rteacher", full_name="Report Teacher", role=Role.TEACHER)
        inst = tt.add_institute("Reports", None)
        dept = tt.add_department(inst.id, "Reports", None)
        group = tt.add_group("R-200", dept.id, "ru", ZONE)
        target = tt.add_group("Imported", dept.id, "ru", ZONE)
        tt.add_teacher(group.id, teacher.id)
        ids = [
            acc.create_user(login=f"r{i:04d}", full_name=f"Learner {i:04d}", role=Role.STUDENT).id
            for i in range(learners)
        ]
        tt.add_members(group.id, ids)
        rng = random.Random(24)
        seq = 0
        months = _months(datetime.now(ZoneInfo(ZONE)))
        for k, (y, m) in enumerate(months):
            for d in range(classes if k == 0 else others):
                start = datetime(y, m, 1 + d // 2, 9 + 2 * (d % 2), tzinfo=ZoneInfo(ZONE))
                c = tt.add_class(
                    title=f"Lecture {d + 1}", kind=ClassKind.LECTURE,
                    format=ClassFormat.LIVE_ONLINE, teacher_id=teacher.id, starts_at=start,
                    ends_at=start + timedelta(minutes=90), group_ids=(group.id,), on_day_off=True,
                )  # fmt: skip
                events = stamp(class_happenings(rng, c.id, ids, start.timestamp()), seq)
                seq += len(events)
                ledger.append_many(events)
        signer = app[keys.SIGNER]
        return {
            "base": base,
            "staff": [  # one-time links: one per staff process
                f"{base}/signin/link?token={signer.mint_signin(user_id=staff.id, ttl=7200)}&next=/"
                for _ in range(2)
            ],
            "group": group.id,
            "import_group": target.id,
            "months": [f"{y:04d}-{m:02d}" for y, m in months],
            "events": seq,
        }

    return seed


class Sampler:
    """``--sample``: a thread that looks at the loop's thread every millisecond and counts the
    innermost frames of what it runs (where the loop spends its time, waiting for the
    interpreter's lock included)."""

    def __init__(self, thread: int) -> None:
        self.thread = thread
        self.counts: collections.Counter[str] = collections.Counter()
        self.recording = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(0.001)
            frame = sys._current_frames().get(self.thread)
            if not self.recording or frame is None:
                continue
            names: list[str] = []
            while frame is not None and len(names) < 4:
                code = frame.f_code
                names.append(f"{code.co_filename.rsplit('/', 2)[-1]}:{code.co_name}")
                frame = frame.f_back
            self.counts[" < ".join(names)] += 1


class LagProbe:
    """Sleeps 1 ms again and again and notes, while recording, how late each wake-up is."""

    def __init__(self) -> None:
        self.recording = False
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            if self.recording:
                self.samples.append(time.perf_counter() - t - 0.001)


def _server(
    viewers: int,
    learners: int,
    classes: int,
    others: int,
    sample: bool,
    conn: Connection,
) -> None:
    async def main() -> None:
        grant = await seed_bench_class(
            tempfile.mkdtemp(), viewers, extra=seed_reports(learners, classes, others)
        )
        probe = LagProbe()
        task = asyncio.create_task(probe.run())
        sampler = Sampler(threading.get_ident()) if sample else None
        conn.send({**grant, "pid": os.getpid()})
        loop = asyncio.get_running_loop()  # orders are awaited off the loop
        while (order := await loop.run_in_executor(None, conn.recv)) != "end":
            if order == "start":
                probe.samples = []
                probe.recording = True
                if sampler:
                    sampler.counts.clear()
                    sampler.recording = True
            else:
                probe.recording = False
                conn.send(probe.samples)
                if sampler:
                    sampler.recording = False
                    for where, n in sampler.counts.most_common(25):
                        print(f"# {n:6d} {where}", file=sys.stderr)
        task.cancel()

    asyncio.run(main())


def _roster(cycle: int) -> bytes:
    """An XLSX list of ``IMPORT_ROWS`` new learners (new logins each cycle)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["login", "full name", "agency"])
    for i in range(IMPORT_ROWS):
        ws.append([f"imp{cycle:03d}x{i:04d}", f"Imported Learner {cycle} {i}", "Agency"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def _signed_in(session: ClientSession, link: str) -> dict[str, str]:
    async with session.get(link) as r:
        r.raise_for_status()
    csrf = next(c.value for c in session.cookie_jar if c.key == CSRF_COOKIE)
    return {"X-CSRF-Token": csrf}


def _staff(grant: dict[str, Any], mode: str, runs: int, conn: Connection) -> None:
    """``load``: reports, exports and imports at once until told to stop, answering how many
    of each were done; ``time``: the latest month's page ``runs`` times, one after another."""

    async def main() -> None:
        base, group = grant["base"], grant["group"]
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
            csrf = await _signed_in(s, grant["staff"][mode == "time"])
            if mode == "time":
                times = []
                for n in range(runs + 3):  # three to warm up
                    t = time.perf_counter()
                    async with s.get(
                        f"{base}/reports/groups/{group}?month={grant['months'][0]}"
                    ) as r:
                        r.raise_for_status()
                        await r.read()
                    if n >= 3:
                        times.append(time.perf_counter() - t)
                conn.send(times)
                return
            done = {"reports": 0, "xlsx": 0, "imports": 0}
            stop = asyncio.Event()

            async def reports() -> None:
                while not stop.is_set():
                    for month in grant["months"]:
                        async with s.get(f"{base}/reports/groups/{group}?month={month}") as r:
                            r.raise_for_status()
                            await r.read()
                        done["reports"] += 1

            async def exports() -> None:
                while not stop.is_set():
                    url = f"{base}/reports/groups/{group}.xlsx?month={grant['months'][0]}"
                    async with s.get(url) as r:
                        r.raise_for_status()
                        await r.read()
                    done["xlsx"] += 1

            async def imports() -> None:
                cycle = 0
                target = f"{base}/groups/{grant['import_group']}/import"
                while not stop.is_set():
                    cycle += 1
                    form = FormData()
                    form.add_field("file", _roster(cycle), filename=f"group-{cycle}.xlsx")
                    async with s.post(target, data=form, headers=csrf) as r:
                        r.raise_for_status()
                        page = await r.text()
                    found = re.search(r'name="rows" value="([^"]+)"', page)
                    assert found, "the import's preview has no rows to confirm"
                    async with s.post(
                        f"{target}/confirm", data={"rows": found.group(1)}, headers=csrf
                    ) as r:
                        r.raise_for_status()
                        await r.read()
                    done["imports"] += 1

            tasks = [asyncio.create_task(job()) for job in (reports, exports, imports)]
            conn.send("running")
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, conn.recv) == "stop"
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            conn.send(done)

    asyncio.run(main())


def _ms(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _window(server: Connection, viewers: list[Connection]) -> tuple[list[float], list[float]]:
    for c in (server, *viewers):
        c.send("start")
    time.sleep(WINDOW)
    for c in (server, *viewers):
        c.send("stop")
    lags = server.recv()
    fps = sorted(f for c in viewers for f in c.recv()["fps"])
    return lags, fps


def run(args: argparse.Namespace) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    procs: list[Any] = []
    out: dict[str, Any] = {}

    def start(target: Any, *a: Any, daemon: bool = True) -> Connection:
        parent, child = ctx.Pipe()
        procs.append(ctx.Process(target=target, args=(*a, child), daemon=daemon))
        procs[-1].start()
        return parent

    try:
        server = start(
            _server,
            args.viewers,
            args.learners,
            args.classes,
            args.others,
            args.sample,
            daemon=False,  # as `sabaq serve`: its report workers are its children
        )
        if not server.poll(300):
            raise SystemExit("bench: the server did not start")
        grant = server.recv()
        out["events"] = grant["events"]
        publisher = start(_publisher, grant["url"], grant["teacher"])
        if not publisher.poll(60):
            raise SystemExit("bench: the publisher did not connect")
        publisher.recv()
        tokens = grant["students"][: args.viewers]
        viewers = [
            start(_viewers, grant["url"], tokens[i * args.per_process : (i + 1) * args.per_process])
            for i in range(math.ceil(args.viewers / args.per_process))
        ]
        for c in viewers:
            if not c.poll(150):
                raise SystemExit("bench: viewers did not all receive media")
            c.recv()
        time.sleep(WARMUP)
        out["idle"] = _window(server, viewers)
        staff = start(_staff, grant, "load", 0)
        assert staff.recv() == "running"
        time.sleep(1.0)
        out["loaded"] = _window(server, viewers)
        staff.send("stop")
        out["done"] = staff.recv()
        timer = start(_staff, grant, "time", args.runs)
        out["report"] = timer.recv()
        for c in (server, *viewers):
            c.send("end")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--viewers", type=int, default=100, help="viewers of the lecture")
    parser.add_argument("--per-process", type=int, default=25, help="viewers per load process")
    parser.add_argument("--learners", type=int, default=200, help="learners of the report group")
    parser.add_argument("--classes", type=int, default=30, help="classes in the report month")
    parser.add_argument("--others", type=int, default=8, help="classes in each other month")
    parser.add_argument("--sample", action="store_true", help="where the loop spends its time")
    parser.add_argument("--runs", type=int, default=40, help="timed group-month reports")
    args = parser.parse_args()
    out = run(args)
    load = os.getloadavg()
    print(
        f"\n{args.viewers} viewers; report group {args.learners} learners, {args.classes}"
        f" classes in the latest month, {args.others} in each of 11 before ({out['events']}"
        f" ledger events); window {WINDOW:.0f} s"
    )
    print()
    print("| staff load | loop lag p50 ms | p99 ms | max ms | lag samples | fps min | fps median |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, key in (("none", "idle"), ("reports + XLSX + import", "loaded")):
        lags, fps = out[key]
        print(
            f"| {label} | {_ms(lags, 0.5):.2f} | {_ms(lags, 0.99):.2f} | {max(lags) * 1000:.1f}"
            f" | {len(lags)} | {fps[0]:.1f} | {statistics.median(fps):.1f} |"
        )
    done = out["done"]
    print(
        f"\nstaff in the loaded window (+1 s before it): {done['reports']} monthly reports,"
        f" {done['xlsx']} XLSX exports, {done['imports']} imports of {IMPORT_ROWS} rows"
    )
    times = out["report"]
    print(
        f"group-month page ({args.learners} learners × {args.classes} classes), {len(times)}"
        f" runs with the lecture running: p50 {_ms(times, 0.5):.0f} ms,"
        f" p95 {_ms(times, 0.95):.0f} ms (target {REPORT_TARGET:.0f})"
    )
    print(
        f"targets: lag p99 ≤ {LAG_TARGET[0]:g} ms, max ≤ {LAG_TARGET[1]:g} ms; load average"
        f" {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end; {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
