"""Seminar: N publishing participants, each watching all the others, one on the stage.

Every participant publishes a camera and a microphone (Opus) and switches its camera between
the levels the server asks for, as the class page does (gallery.js): small (VP8 240×180, 15 fps,
for galleries of more than 9 tiles — so here), thumbnail (320×240, 15 fps) and full (640×480,
30 fps, the stage), at the page's bitrates; most microphones are muted (they send nothing), one
carries a tone, a few send silence. The teacher is on the stage. The VP8 and Opus loops
are encoded once, before the run; every participant sends the same encoded frames through
aiortc's packetizer, so the load generator never encodes. Viewers never decode: they count
encoded frames below the jitter buffer and RTP packets as they arrive. Participants are spread
over several load-generator processes.

Sabaq's forwarding and stock aiortc ``MediaRelay`` (decode once, encode per viewer) serve the
same room in the same run, Sabaq first. Each gets a bounded set-up time; what has not come up
by then is measured as it is (the table says how many tiles arrived). Server CPU is read from
/proc for the server process only, over a window after a warm-up.

    scripts/loopback-ns .venv/bin/python -m bench.seminar

With ``--breakout N`` the teacher splits the students into N breakout groups once everyone sees
everyone, before the warm-up: each viewer is then sent only its own group's media (the others'
are held back), which is what the window measures — beside the same class in one room, run
without it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bench.seminar_media import encode_audio, encode_video
from bench.seminar_peers import Loops, Role, participants_process

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Run:
    participants: int
    processes: int
    unmuted: int
    window: float
    warmup: float
    load: float  # the machine's 1-minute load average as the run began
    kind: str  # the class's kind: "seminar", or "lecture" (every student given the floor)
    setup: dict[str, float]  # backend → seconds allowed for everyone to see everyone
    counting: str = "rtp"  # viewers count frames from RTP headers ("rtp") or aiortc's receiver
    breakout: int = 0  # the teacher splits the students into this many breakout groups


def _server(backend: str, students: int, kind: str, conn: Connection) -> None:
    import asyncio

    from bench.join import seed_bench_class
    from bench.stock_relay import StockRelayBackend
    from scheduler.models import ClassKind

    async def main() -> None:
        media = StockRelayBackend() if backend == "stock" else None
        grant = await seed_bench_class(tempfile.mkdtemp(), students, media, ClassKind(kind))
        conn.send({**grant, "pid": os.getpid()})
        await asyncio.Event().wait()

    asyncio.run(main())


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads


def roles(grant: dict[str, Any], n: int, unmuted: int) -> list[Role]:
    """The teacher speaks (a tone); the next ``unmuted - 1`` send silence; the rest are muted."""
    tokens = [grant["teacher"], *grant["students"][: n - 1]]
    sounds = ["tone", *["silence"] * (unmuted - 1)]
    return [Role(t, i == 0, sounds[i] if i < len(sounds) else None) for i, t in enumerate(tokens)]


def run_room(backend: str, run: Run, loops: Loops) -> dict[str, Any]:
    """One room on one server: set up (bounded), warm up, measure, and tear down."""
    ctx = multiprocessing.get_context("spawn")
    procs: list[Any] = []
    try:
        parent, child = ctx.Pipe()
        procs.append(ctx.Process(target=_server, args=(backend, run.participants, run.kind, child)))
        procs[-1].start()
        if not parent.poll(60):
            raise SystemExit("bench: the server did not start")
        grant = parent.recv()
        everyone = roles(grant, run.participants, run.unmuted)
        conns = []
        t_setup = time.monotonic()
        for i in range(run.processes):
            a, b = ctx.Pipe()
            mine = everyone[i :: run.processes]
            if not mine:
                continue
            args = (grant["url"], mine, loops, run.participants - 1, b, run.counting == "rtp")
            procs.append(ctx.Process(target=participants_process, args=args))
            procs[-1].start()
            conns.append(a)
        deadline = t_setup + run.setup[backend]
        ready = sum(c.poll(max(0.0, deadline - time.monotonic())) for c in conns)
        setup_s = time.monotonic() - t_setup
        if run.breakout:
            for c in conns:
                c.send(f"breakout:{run.breakout}")
        time.sleep(run.warmup)
        for c in conns:
            c.send("start")
        pid = grant["pid"]
        cpu0, t0 = _cpu_seconds(pid), time.monotonic()
        time.sleep(run.window)
        cpu1, t1 = _cpu_seconds(pid), time.monotonic()
        for c in conns:
            c.send("stop")
        viewers: list[dict[str, Any]] = []
        for c in conns:
            msg = c.recv()
            while msg == "ready":  # it came up after the deadline
                msg = c.recv()
            viewers.extend(msg)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)
    return summarize(backend, run, viewers, (cpu1 - cpu0) / (t1 - t0), setup_s, ready == len(conns))


def summarize(
    backend: str,
    run: Run,
    viewers: list[dict[str, Any]],
    cpu_share: float,
    setup_s: float,
    complete: bool,
) -> dict[str, Any]:
    """Per tile (a viewer's copy of another participant's camera): frames a second; per
    viewer: RTP kbit/s received; for the room: packets forwarded a second."""
    tiles: list[float] = []
    stage: list[float] = []
    down: list[float] = []
    packets = 0.0
    crossing = 0.0  # packets a second from outside a viewer's breakout group (must be 0)
    expected = run.participants * (run.participants - 1)
    if run.breakout:
        expected = sum(len(v["mates"]) for v in viewers)
    for v in viewers:
        rates = v["sources"]
        if run.breakout:
            # In breakout groups a viewer's tiles are its group's; the teacher is in the main
            # room (no stage); every other source must send it nothing.
            tiles.extend(rates[s][0] if s in rates else 0.0 for s in v["mates"])
            crossing += sum(r[2] for s, r in rates.items() if s not in v["mates"])
            down.append(sum(r[3] for r in rates.values()) * 8 / 1000)
            packets += sum(r[2] for r in rates.values())
            continue
        shown = [s for s in rates if s != v["stage"]]
        # A tile that never arrived counts as 0 fps.
        missing = run.participants - 1 - len(shown) - (1 if v["stage"] else 0)
        tiles.extend([rates[s][0] for s in shown] + [0.0] * max(0, missing))
        if v["stage"] is not None or not v["host"]:
            stage.append(rates[v["stage"]][0] if v["stage"] in rates else 0.0)
        down.append(sum(r[3] for r in rates.values()) * 8 / 1000)
        packets += sum(r[2] for r in rates.values())
    arrived = sum(v["seen"] for v in viewers)  # tiles whose picture arrived at all
    if run.breakout:
        arrived = sum(1 for v in viewers for s in v["mates"] if v["sources"].get(s, [0])[0] > 0)
    return {
        "backend": backend,
        "cpu_pct": 100 * cpu_share,
        "us_per_packet": 1e6 * cpu_share / packets if packets else float("nan"),
        "packets_per_s": packets,
        "down_median": statistics.median(down) if down else 0.0,
        "down_max": max(down, default=0.0),
        "tile_min": min(tiles, default=0.0),
        "tile_median": statistics.median(tiles) if tiles else 0.0,
        "stage_min": min(stage, default=0.0),
        "stage_median": statistics.median(stage) if stage else 0.0,
        "arrived": arrived,
        "expected": expected,
        "crossing": crossing,
        "setup_s": setup_s,
        "complete": complete,
        "errors": sorted({e for v in viewers for e in v["errors"]}),
        "load_cpu_pct": 100 * sum(v["process_cpu"] for v in viewers),
    }


def print_table(run: Run, loops: Loops, rows: list[dict[str, Any]]) -> None:
    n = run.participants
    if run.breakout:
        print(
            f"\nBreakout: the teacher split the {n - 1} students into {run.breakout} groups"
            " before the window and stays in the main room; each viewer's tiles are its own"
            " group's (no stage); every other camera and microphone is held back from it"
        )
    print(
        f"\nA {run.kind} of {n} participants in {run.processes} load processes, each watching"
        f" the other"
        f" {n - 1} ({n * (n - 1)} tiles); small tiles VP8 240×180 {loops.small.fps:.0f} fps"
        f" {loops.small.kbit_s:.0f} kbit/s (thumbnails 320×240"
        f" {loops.thumbnail.kbit_s:.0f} kbit/s), stage (the teacher) VP8 640×480"
        f" {loops.full.fps:.0f} fps {loops.full.kbit_s:.0f} kbit/s; Opus: 1 tone, {run.unmuted - 1}"
        f" silent, {n - run.unmuted} muted; window {run.window:.0f} s after {run.warmup:.0f} s"
        f" warm-up; {os.cpu_count()} cores, load average {run.load:.1f} when the run began;"
        f" viewers count frames {COUNTING[run.counting]}\n"
    )
    print(
        "| backend | server CPU % of one core | µs CPU / forwarded packet | packets/s forwarded"
        " | down kbit/s per viewer (median / max) | tile fps (min / median)"
        " | stage fps (min / median) | tiles arriving | set-up s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        setup = f"{r['setup_s']:.1f}" + ("" if r["complete"] else " (cut off)")
        print(
            f"| {r['backend']} | {r['cpu_pct']:.0f} | {r['us_per_packet']:.1f}"
            f" | {r['packets_per_s']:.0f} | {r['down_median']:.0f} / {r['down_max']:.0f}"
            f" | {r['tile_min']:.1f} / {r['tile_median']:.1f}"
            f" | {r['stage_min']:.1f} / {r['stage_median']:.1f}"
            f" | {r['arrived']} / {r['expected']} | {setup} |"
        )
    print("| target | ≤ 60 | – | – | ≤ 2500 | ≥ 12 | ≥ 25 | all | – |")
    print()
    for r in rows:
        print(
            f"{r['backend']}: the {run.processes} load processes used"
            f" {r['load_cpu_pct']:.0f} % of one core in the window"
        )
    for r in rows:
        if run.breakout:
            print(
                f"{r['backend']}: packets a second reaching a viewer from outside its group:"
                f" {r['crossing']:.0f}"
            )
    for r in rows:
        if r["errors"]:
            print(f"\n{r['backend']}: the server said: {'; '.join(r['errors'])}")


COUNTING = {
    "rtp": "from RTP headers (a video frame whole when its packets all came; aiortc's receiver"
    " skipped)",
    "aiortc": "below aiortc's jitter buffer (its receiver's Python cost in the load processes)",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--participants", type=int, default=25)
    parser.add_argument("--processes", type=int, default=5, help="load-generator processes")
    parser.add_argument("--unmuted", type=int, default=3, help="microphones on (1 tone)")
    # The class page's bitrates for each level (gallery.js, QUALITY).
    parser.add_argument("--small-kbps", type=int, default=48)
    parser.add_argument("--thumbnail-kbps", type=int, default=200)
    parser.add_argument("--full-kbps", type=int, default=900)
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    parser.add_argument("--setup", type=float, default=40.0, help="Sabaq's set-up bound, s")
    parser.add_argument("--stock-setup", type=float, default=25.0, help="stock's bound, s")
    parser.add_argument("--backends", default="sabaq,stock")
    parser.add_argument(
        "--kind",
        choices=("seminar", "lecture"),
        default="seminar",
        help="lecture: no seminar mode, the teacher gives every student the floor with camera",
    )
    parser.add_argument(
        "--breakout",
        type=int,
        default=0,
        help="the teacher splits the students into this many breakout groups before the window"
        " (Sabaq only: stock aiortc has none)",
    )
    parser.add_argument("--loop-seconds", type=int, default=4, help="a keyframe this often")
    parser.add_argument(
        "--counting",
        choices=tuple(COUNTING),
        default="rtp",
        help="rtp: viewers count whole frames from RTP headers, so that on a small machine the"
        " load generator is not the bottleneck; aiortc: through aiortc's receiver",
    )
    args = parser.parse_args(argv)
    run = Run(
        participants=args.participants,
        processes=min(args.processes, args.participants),
        unmuted=max(1, min(args.unmuted, args.participants)),
        window=args.window,
        warmup=args.warmup,
        load=os.getloadavg()[0],
        kind=args.kind,
        setup={"sabaq": args.setup, "stock": args.stock_setup},
        counting=args.counting,
        breakout=args.breakout,
    )
    loops = Loops(
        small=encode_video(240, 180, 15, args.loop_seconds, args.small_kbps),
        thumbnail=encode_video(320, 240, 15, args.loop_seconds, args.thumbnail_kbps),
        full=encode_video(640, 480, 30, args.loop_seconds, args.full_kbps),
        tone=encode_audio(True),
        silence=encode_audio(False),
    )
    rows = []
    backends = args.backends.split(",")
    if run.breakout:
        backends = [b for b in backends if b != "stock"]
    for backend in backends:
        rows.append(run_room(backend, run, loops))
        print(f"# {backend}: {rows[-1]['cpu_pct']:.0f}% CPU", flush=True)
    print_table(run, loops, rows)


if __name__ == "__main__":
    main()
