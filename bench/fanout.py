"""Fan-out: one 640×480 ~30 fps VP8 publisher plus audio, K viewers.

Stock aiortc ``MediaRelay`` (decode once, encode per viewer) and Sabaq's forwarding are
measured side by side in the same run. The server, the publisher and the viewers are separate
processes; viewers are spread over several load-generator processes and count frames without
decoding them (their receivers are tapped like the server's). Server CPU and memory are read
from /proc over a measuring window after a warm-up.

    scripts/loopback-ns .venv/bin/python -m bench.fanout --stock 1,5,10 --sabaq 1,10,25,40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import av
from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import AudioStreamTrack

from streaming.aiortc_forward import Hub, tap_receiver
from streaming.aiortc_media import advertise_host_addresses

WIDTH, HEIGHT, FPS = 640, 480, 30
WARMUP, WINDOW = 3.0, 8.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _server(backend: str, students: int, conn: Connection) -> None:
    from bench.join import seed_bench_class
    from bench.stock_relay import StockRelayBackend

    async def main() -> None:
        grant = await seed_bench_class(
            tempfile.mkdtemp(), students, StockRelayBackend() if backend == "stock" else None
        )
        conn.send({**grant, "pid": os.getpid()})
        await asyncio.Event().wait()

    asyncio.run(main())


class Camera(VideoStreamTrack):
    """A 640×480 picture at 30 fps that changes every frame (frames made once, then cycled)."""

    def __init__(self) -> None:
        super().__init__()
        self._frames = []
        for n in range(30):
            frame = av.VideoFrame(width=WIDTH, height=HEIGHT, format="yuv420p")
            y, u, v = frame.planes
            edge = (n * 21) % WIDTH
            y.update((bytes([200]) * edge + bytes([40]) * (WIDTH - edge)) * HEIGHT)
            u.update(bytes([90 + n]) * u.buffer_size)
            v.update(bytes([160]) * v.buffer_size)
            self._frames.append(frame)
        self._n = 0
        self._t0: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._t0 is None:
            self._t0 = time.monotonic()
        self._n += 1
        await asyncio.sleep(max(0.0, self._t0 + self._n / FPS - time.monotonic()))
        frame = self._frames[self._n % len(self._frames)]
        frame.pts = int(self._n * 90000 / FPS)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


async def _join(session: ClientSession, url: str, token: str) -> ClientWebSocketResponse:
    ws = await session.ws_connect(url)
    await ws.send_str(json.dumps({"v": 1, "type": "join", "token": token}))
    return ws


def decline_abs_send_time(sdp: str) -> str:
    """An offer without the abs-send-time header extension, so that the answer declines it:
    with it, aiortc's receive-side bitrate estimator costs a load process more per packet than
    the server's forwarding."""
    return "".join(line for line in sdp.splitlines(keepends=True) if "abs-send-time" not in line)


def _publisher(
    url: str,
    token: str,
    conn: Connection,
    tracks: Callable[[], list[MediaStreamTrack]] | None = None,
) -> None:
    """The teacher publishes a camera and a microphone (``tracks``: made in this process)."""

    async def main() -> None:
        advertise_host_addresses(["127.0.0.1"])
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        for track in tracks() if tracks else [Camera(), AudioStreamTrack()]:
            pc.addTrack(track)
        async with ClientSession() as session:
            ws = await _join(session, url, token)
            await pc.setLocalDescription(await pc.createOffer())
            await ws.send_str(
                json.dumps({"v": 1, "type": "publish", "sdp": pc.localDescription.sdp})
            )
            async for msg in ws:
                doc = json.loads(msg.data)
                if doc["type"] == "answer":
                    await pc.setRemoteDescription(RTCSessionDescription(doc["sdp"], "answer"))
                    conn.send("ready")
            await pc.close()

    asyncio.run(main())


@dataclass
class Viewer:
    ws: ClientWebSocketResponse
    pc: RTCPeerConnection | None = None
    video: Hub | None = None
    reader: asyncio.Task[None] | None = None

    async def packets(self) -> int:
        if self.pc is None:
            return 0
        stats = await self.pc.getStats()
        return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")


def _tap_hubs(viewer: Viewer, pc: RTCPeerConnection) -> None:
    for t in pc.getTransceivers():
        hub = tap_receiver(t)  # count encoded frames, never decode them
        if t.kind == "video":
            viewer.video = hub


async def watch(
    viewer: Viewer, tap: Callable[[Viewer, RTCPeerConnection], None] = _tap_hubs
) -> None:
    """Answer the server's offers; ``tap`` diverts the new connection's media to a counter."""
    async for msg in viewer.ws:
        if msg.type is not WSMsgType.TEXT:
            return
        doc = json.loads(msg.data)
        if doc["type"] != "offer":
            continue
        pc = viewer.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        await pc.setRemoteDescription(
            RTCSessionDescription(decline_abs_send_time(doc["sdp"]), "offer")
        )
        tap(viewer, pc)
        await pc.setLocalDescription(await pc.createAnswer())
        await viewer.ws.send_str(
            json.dumps(
                {
                    "v": 1,
                    "type": "answer",
                    "sdp": pc.localDescription.sdp,
                    "offer_id": doc["offer_id"],
                }
            )
        )


def _viewers(url: str, tokens: list[str], conn: Connection) -> None:
    async def main() -> None:
        advertise_host_addresses(["127.0.0.1"])
        async with ClientSession() as session:
            viewers = [Viewer(await _join(session, url, t)) for t in tokens]
            for v in viewers:
                v.reader = asyncio.create_task(watch(v))
            async with asyncio.timeout(60):
                while not all(v.video and v.video.frames for v in viewers):
                    await asyncio.sleep(0.1)
            conn.send("ready")
            loop = asyncio.get_running_loop()  # wait for orders without blocking the media
            # Windows, each from "start" to "stop" (bench.loop_lag measures more than one).
            while await loop.run_in_executor(None, conn.recv) == "start":
                frames0 = [v.video.frames if v.video else 0 for v in viewers]
                packets0 = [await v.packets() for v in viewers]
                t0 = time.monotonic()
                assert await loop.run_in_executor(None, conn.recv) == "stop"
                elapsed = time.monotonic() - t0
                frames1 = [v.video.frames if v.video else 0 for v in viewers]
                packets1 = [await v.packets() for v in viewers]
                conn.send(
                    {
                        "fps": [(b - a) / elapsed for a, b in zip(frames0, frames1, strict=True)],
                        "packets": sum(b - a for a, b in zip(packets0, packets1, strict=True)),
                    }
                )
            for v in viewers:
                if v.reader:
                    v.reader.cancel()
                if v.pc:
                    await v.pc.close()

    asyncio.run(main())


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK  # utime, stime


def _cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_one(backend: str, k: int, per_process: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    procs: list[Any] = []
    try:
        parent, child = ctx.Pipe()
        procs.append(ctx.Process(target=_server, args=(backend, k, child), daemon=True))
        procs[-1].start()
        if not parent.poll(60):
            raise SystemExit("bench: the server did not start")
        grant = parent.recv()
        pid = grant["pid"]
        pub_parent, pub_child = ctx.Pipe()
        procs.append(
            ctx.Process(
                target=_publisher,
                args=(grant["url"], grant["teacher"], pub_child, None),
                daemon=True,
            )
        )
        procs[-1].start()
        if not pub_parent.poll(60):
            raise SystemExit("bench: the publisher did not connect")
        pub_parent.recv()
        time.sleep(1.0)
        rss0 = _rss_mb(pid)
        conns = []
        tokens = grant["students"][:k]
        for i in range(math.ceil(k / per_process)):
            a, b = ctx.Pipe()
            chunk = tokens[i * per_process : (i + 1) * per_process]
            procs.append(ctx.Process(target=_viewers, args=(grant["url"], chunk, b), daemon=True))
            procs[-1].start()
            conns.append(a)
        for c in conns:
            if not c.poll(90):
                raise SystemExit("bench: viewers did not all receive media")
            c.recv()
        time.sleep(WARMUP)
        for c in conns:
            c.send("start")
        cpu0, t0 = _cpu_seconds(pid), time.monotonic()
        time.sleep(WINDOW)
        cpu1, t1 = _cpu_seconds(pid), time.monotonic()
        rss1 = _rss_mb(pid)
        for c in conns:
            c.send("stop")
        results = [c.recv() for c in conns]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)
    fps = sorted(f for r in results for f in r["fps"])
    packets = sum(r["packets"] for r in results)
    cpu = cpu1 - cpu0
    return {
        "backend": backend,
        "k": k,
        "cpu_pct": 100 * cpu / (t1 - t0),
        "us_per_packet": 1e6 * cpu / packets if packets else float("nan"),
        "cpu_s_per_s": cpu / (t1 - t0),
        "packets_per_s": packets / (t1 - t0),
        "fps_min": fps[0],
        "fps_median": statistics.median(fps),
        "rss_per_viewer": (rss1 - rss0) / k,
        "rss": rss1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stock", default="1,5,10", help="viewer counts for stock aiortc")
    parser.add_argument("--sabaq", default="1,10,25,40", help="viewer counts for Sabaq")
    parser.add_argument("--per-process", type=int, default=10, help="viewers per load process")
    args = parser.parse_args()
    rows = []
    for backend, ks in (("stock", args.stock), ("sabaq", args.sabaq)):
        for k in (int(x) for x in ks.split(",") if x):
            rows.append(run_one(backend, k, args.per_process))
            r = rows[-1]
            print(f"# {backend} K={k}: {r['cpu_pct']:.0f}% CPU", flush=True)
    print()
    print(
        "| backend | K | server CPU % | µs CPU / forwarded packet | marginal µs / packet"
        " | fps min | fps median | server RSS MB | RSS / viewer MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    previous: dict[str, Any] = {}
    for r in rows:
        # Marginal: the extra CPU over the extra packets since the previous K of the same
        # backend; it leaves out what does not grow with viewers (the publisher's side).
        before = previous.get(r["backend"])
        marginal = "–"
        if before is not None and r["packets_per_s"] > before["packets_per_s"]:
            extra_cpu = r["cpu_s_per_s"] - before["cpu_s_per_s"]
            extra = r["packets_per_s"] - before["packets_per_s"]
            marginal = f"{1e6 * extra_cpu / extra:.1f}"
        previous[r["backend"]] = r
        print(
            f"| {r['backend']} | {r['k']} | {r['cpu_pct']:.0f} | {r['us_per_packet']:.1f}"
            f" | {marginal} | {r['fps_min']:.1f} | {r['fps_median']:.1f} | {r['rss']:.0f}"
            f" | {r['rss_per_viewer']:.2f} |"
        )
    slopes = {}
    for backend in ("stock", "sabaq"):
        pts = [(r["k"], r["cpu_pct"]) for r in rows if r["backend"] == backend]
        if len(pts) >= 2:
            (k0, c0), (k1, c1) = pts[0], pts[-1]
            slopes[backend] = (c1 - c0) / (k1 - k0)
    if len(slopes) == 2:
        print()
        print(
            f"CPU per extra viewer: stock {slopes['stock']:.2f} % of a core,"
            f" Sabaq {slopes['sabaq']:.2f} % — {slopes['stock'] / max(slopes['sabaq'], 1e-9):.0f}×"
            " less"
        )
    with contextlib.suppress(Exception):
        print(f"\n{os.cpu_count()} cores; window {WINDOW:.0f} s after {WARMUP:.0f} s warm-up")


if __name__ == "__main__":
    main()
