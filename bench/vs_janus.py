"""Sabaq beside Janus: the same pre-encoded stream, the same aiortc viewers, the same box.

Two streams are encoded once before the run (VP8 640×480 30 fps plus Opus 20 ms): a heavy one
(about 5 RTP packets per video frame) and a light one (about 2). For each stream, each server
in turn forwards it to K viewers:

- Janus (Debian's ``janus``; installed with ``apt-get install -y janus`` when missing) runs its
  streaming plugin from a config folder of the bench's own: only the streaming plugin and the
  HTTP transport, an RTP mountpoint fed with the stream's packets over UDP. "janus" has
  ``event_loops`` = the number of cores (the tuned Janus), "janus-default" Janus's default
  (a thread per viewer). Janus leaves loopback interfaces out of ICE, so inside the namespace a
  veth pair carries 127.0.0.2, which Janus is told to use (packets still never leave it).
- Sabaq (``bench.join``'s served class; ``--previous DIR`` also runs the code of another
  checkout, for a before/after in the same run) is sent the same frames by an aiortc publisher,
  which packetizes them with the same packetizer the Janus feed uses.

The viewers are aiortc peers spread over load processes; they decline abs-send-time and count
RTP packets and whole encoded frames as they come off the socket (``bench.seminar_media``),
decoding nothing. Each run measures two windows, at the first K and, after more viewers join,
at the second: the server's CPU (from /proc, all its threads) over the packets the viewers
received gives µs per packet, and the difference between the windows the marginal cost — what
one more viewer's packets cost, without what does not grow with viewers.

    .venv/bin/python -m bench.vs_janus --k 10,100

It installs Janus if needed, then runs itself inside ``scripts/loopback-ns``.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import math
import multiprocessing
import os
import secrets
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import av
from aiohttp import ClientSession
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecParameters,
    RTCSessionDescription,
)
from aiortc.codecs import get_encoder

from bench.fanout import (
    Viewer,
    _join,
    _publisher,
    cpu_times,
    decline_abs_send_time,
    watch,
)
from bench.seminar_media import (
    AUDIO_CLOCK,
    VIDEO_CLOCK,
    Counter,
    Loop,
    LoopTrack,
    count_rtp_frames,
    encode_audio,
    encode_video,
)
from streaming.aiortc_media import advertise_host_addresses

ROOT = Path(__file__).resolve().parent.parent
STREAMS = {"heavy": 1400, "light": 450}  # VP8 kbit/s: ~5 and ~2 packets per frame
JANUS_LIBS = Path("/usr/lib/x86_64-linux-gnu/janus")
JANUS_HTTP = "http://127.0.0.2:8088/janus"
VIDEO_PT, AUDIO_PT = 96, 111
VIDEO_PORT, AUDIO_PORT = 5004, 5002
_IN_NAMESPACE = "SABAQ_VS_JANUS_IN_NAMESPACE"
_RTP = struct.Struct("!BBHII")
_MOUNTPOINT = f"""bench: {{
    type = "rtp"
    id = 1
    description = "bench"
    audio = true
    video = true
    audioport = {AUDIO_PORT}
    audiopt = {AUDIO_PT}
    audiocodec = "opus"
    videoport = {VIDEO_PORT}
    videopt = {VIDEO_PT}
    videocodec = "vp8"
    videobufferkf = true
}}
"""


@dataclass(frozen=True)
class Stream:
    name: str
    video: Loop
    audio: Loop
    packets_per_frame: float


def encode_streams(names: list[str]) -> list[Stream]:
    audio = encode_audio(tone=True)
    out = []
    for name in names:
        kbit_s = STREAMS[name]
        video = encode_video(640, 480, 30, 2, kbit_s)
        packer = _packer("video/VP8", 90000)
        packets = sum(len(_pack(packer, f, i, VIDEO_CLOCK)[0]) for i, f in enumerate(video.frames))
        out.append(Stream(name, video, audio, packets / len(video.frames)))
    return out


def _packer(mime: str, rate: int) -> Any:
    """aiortc's packetizer for the codec (``pack()`` only: nothing is encoded)."""
    return get_encoder(RTCRtpCodecParameters(mimeType=mime, clockRate=rate, payloadType=0))


def _pack(packer: Any, data: bytes, pts: int, clock: fractions.Fraction) -> tuple[list[bytes], int]:
    packet = av.Packet(data)
    packet.pts, packet.time_base = pts, clock
    payloads, timestamp = packer.pack(packet)
    return payloads, timestamp


# --- the feeds ------------------------------------------------------------------------------


def _feed_janus(stream: Stream) -> None:
    """The stream's frames as plain RTP to the mountpoint's ports, in real time, packetized by
    aiortc's packetizers as an aiortc publisher would."""

    async def play(loop: Loop, mime: str, rate: int, pt: int, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        clock = VIDEO_CLOCK if mime.startswith("video") else AUDIO_CLOCK
        packer, ssrc, seq = _packer(mime, rate), secrets.randbits(32), 0
        t0, n = time.monotonic(), 0
        while True:
            await asyncio.sleep(max(0.0, t0 + n / loop.fps - time.monotonic()))
            sent = round(n / loop.fps / clock)
            payloads, timestamp = _pack(packer, loop.frames[n % len(loop.frames)], sent, clock)
            for i, payload in enumerate(payloads):
                marker = 0x80 if i == len(payloads) - 1 else 0
                sock.sendto(
                    _RTP.pack(0x80, pt | marker, seq, timestamp, ssrc) + payload,
                    ("127.0.0.1", port),
                )
                seq = (seq + 1) & 0xFFFF
            n += 1

    async def main() -> None:
        await asyncio.gather(
            play(stream.video, "video/VP8", 90000, VIDEO_PT, VIDEO_PORT),
            play(stream.audio, "audio/opus", 48000, AUDIO_PT, AUDIO_PORT),
        )

    asyncio.run(main())


def _stream_tracks(stream: Stream) -> list[MediaStreamTrack]:
    return [
        LoopTrack("video", {"full": stream.video}, "full"),
        LoopTrack("audio", {"full": stream.audio}, "full"),
    ]


# --- viewers --------------------------------------------------------------------------------


def _count_at_socket(counter: Counter) -> Any:
    def tap(viewer: Viewer, pc: RTCPeerConnection) -> None:
        count_rtp_frames(pc, counter)

    return tap


async def _janus_viewer(session: ClientSession, counter: Counter) -> RTCPeerConnection:
    """Watch mountpoint 1 over Janus's HTTP API (long poll for the offer)."""

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": secrets.token_hex(6)}
        async with session.post(JANUS_HTTP + path, json=body) as response:
            doc: dict[str, Any] = await response.json(content_type=None)
        if doc.get("janus") == "error":
            raise SystemExit(f"bench: Janus refused {body}: {doc}")
        return doc

    sid = (await post("", {"janus": "create"}))["data"]["id"]
    hid = (await post(f"/{sid}", {"janus": "attach", "plugin": "janus.plugin.streaming"}))["data"][
        "id"
    ]
    await post(f"/{sid}/{hid}", {"janus": "message", "body": {"request": "watch", "id": 1}})
    offer = None
    while offer is None:
        async with session.get(f"{JANUS_HTTP}/{sid}?maxev=1") as response:
            event = await response.json(content_type=None)
        offer = (event.get("jsep") or {}).get("sdp")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    await pc.setRemoteDescription(RTCSessionDescription(decline_abs_send_time(offer), "offer"))
    count_rtp_frames(pc, counter)
    await pc.setLocalDescription(await pc.createAnswer())
    answer = {"type": "answer", "sdp": pc.localDescription.sdp}
    await post(f"/{sid}/{hid}", {"janus": "message", "body": {"request": "start"}, "jsep": answer})
    return pc


def _load(server: str, url: str, phases: list[list[str]], conn: Connection) -> None:
    """One load process: its viewers join phase by phase; each phase is measured."""

    async def main() -> None:
        # Janus's side of the connection is on the veth's address, and so are its viewers.
        advertise_host_addresses(["127.0.0.2" if server.startswith("janus") else "127.0.0.1"])
        loop = asyncio.get_running_loop()
        counters: list[Counter] = []
        pcs: list[RTCPeerConnection] = []
        tasks: list[asyncio.Task[None]] = []
        async with ClientSession() as session:
            for tokens in phases:
                new = [Counter() for _ in tokens]
                counters += new
                if server.startswith("janus"):
                    pcs += await asyncio.gather(*(_janus_viewer(session, c) for c in new))
                else:
                    for token, counter in zip(tokens, new, strict=True):
                        viewer = Viewer(await _join(session, url, token))
                        tasks.append(asyncio.create_task(watch(viewer, _count_at_socket(counter))))
                try:
                    async with asyncio.timeout(90):
                        while not all(c.frames["video"] for c in counters):
                            await asyncio.sleep(0.1)
                except TimeoutError:
                    waiting = sum(not c.frames["video"] for c in counters)
                    conn.send(f"{waiting} of {len(counters)} viewers got no whole video frame")
                    return
                conn.send("ready")
                assert await loop.run_in_executor(None, conn.recv) == "start"
                before = [c.snapshot() for c in counters]
                t0 = time.monotonic()
                assert await loop.run_in_executor(None, conn.recv) == "stop"
                elapsed = time.monotonic() - t0
                after = [c.snapshot() for c in counters]
                conn.send(
                    {
                        "fps": [
                            (b[0] - a[0]) / elapsed for a, b in zip(before, after, strict=True)
                        ],
                        "packets": sum(b[2] - a[2] for a, b in zip(before, after, strict=True)),
                    }
                )
            await loop.run_in_executor(None, conn.recv)  # the end
            for task in tasks:
                task.cancel()
            for pc in pcs:
                await pc.close()

    asyncio.run(main())


# --- servers --------------------------------------------------------------------------------


def _janus_config(folder: Path, event_loops: int | None) -> Path:
    """A config folder with only the streaming plugin and the HTTP transport."""
    for kind, lib in (("plugins", "libjanus_streaming.so"), ("transports", "libjanus_http.so")):
        (folder / kind).mkdir()
        (folder / kind / lib).symlink_to(JANUS_LIBS / kind / lib)
    (folder / "none").mkdir()
    loops = f"event_loops = {event_loops}" if event_loops else ""
    (folder / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{folder}/plugins"
    transports_folder = "{folder}/transports"
    events_folder = "{folder}/none"
    loggers_folder = "{folder}/none"
    debug_level = 3
    session_timeout = 0
    {loops}
}}
certificates: {{}}
media: {{}}
nat: {{
    nice_debug = false
    ignore_mdns = true
    ice_enforce_list = "jv0"
}}
plugins: {{}}
transports: {{}}
loggers: {{}}
events: {{}}
"""
    )
    (folder / "janus.transport.http.jcfg").write_text(
        'general: {\n    json = "plain"\n    base_path = "/janus"\n    http = true\n'
        "    port = 8088\n    https = false\n}\nadmin: {\n    admin_http = false\n}\n"
    )
    (folder / "janus.plugin.streaming.jcfg").write_text(
        "general: {\n    string_ids = false\n}\n" + _MOUNTPOINT
    )
    return folder / "janus.jcfg"


def _start_janus(folder: Path, event_loops: int | None, log: Any) -> subprocess.Popen[bytes]:
    config = _janus_config(folder, event_loops)
    proc = subprocess.Popen(
        ["janus", "-C", str(config), "-F", str(folder)], stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with (
            suppress(OSError),
            urllib.request.urlopen(f"{JANUS_HTTP}/info", timeout=1) as response,  # noqa: S310
        ):
            if json.load(response).get("janus") == "server_info":
                return proc
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"bench: Janus did not answer on {JANUS_HTTP}/info (its log: {log.name})")


_SABAQ = """
import asyncio, json, os, sys, tempfile
from bench.join import seed_bench_class
async def main():
    grant = await seed_bench_class(tempfile.mkdtemp(), int(sys.argv[1]))
    print("GRANT " + json.dumps(grant), flush=True)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nobody reads the pipe any more
    await asyncio.Event().wait()
asyncio.run(main())
"""


def _start_sabaq(tree: Path, students: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Sabaq's app from the checkout ``tree`` (its own code, not this one's), one class."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SABAQ, str(students)],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("GRANT "):
            return proc, json.loads(line[6:])
    raise SystemExit(f"bench: Sabaq from {tree} did not start")


# --- one run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    k: int
    cpu_s_per_s: float
    sys_s_per_s: float  # of which in the kernel (sending is mostly there)
    packets_per_s: float
    fps: list[float]

    @property
    def us_per_packet(self) -> float:
        return 1e6 * self.cpu_s_per_s / self.packets_per_s if self.packets_per_s else math.nan


def run_one(
    server: str, stream: Stream, ks: list[int], processes: int, args: argparse.Namespace
) -> list[Window]:
    ctx = multiprocessing.get_context("spawn")
    with ExitStack() as stack:
        procs: list[Any] = []
        stack.callback(_stop, procs)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vs-janus-")))
        if server.startswith("janus"):
            log = stack.enter_context(open(folder / "janus.log", "wb"))
            janus = _start_janus(folder, os.cpu_count() if server == "janus" else None, log)
            procs.append(janus)
            pid, url, tokens = janus.pid, JANUS_HTTP, [""] * ks[-1]
            procs.append(ctx.Process(target=_feed_janus, args=(stream,), daemon=True))
            procs[-1].start()
        else:
            tree = ROOT if server == "sabaq" else Path(server.split("@", 1)[1])
            sabaq, grant = _start_sabaq(tree, ks[-1])
            procs.append(sabaq)
            if sabaq.stdout:
                stack.callback(sabaq.stdout.close)
            pid, url, tokens = sabaq.pid, grant["url"], grant["students"]
            a, b = ctx.Pipe()
            procs.append(
                ctx.Process(
                    target=_publisher,
                    args=(url, grant["teacher"], b, StreamTracks(stream)),
                    daemon=True,
                )
            )
            procs[-1].start()
            if not a.poll(60):
                raise SystemExit("bench: the publisher did not connect")
        time.sleep(1.0)
        # Phase i adds viewers up to ks[i]; they are dealt to the load processes in turn.
        phases: list[list[list[str]]] = [[] for _ in range(processes)]
        start = 0
        for k in ks:
            for p in range(processes):
                phases[p].append(tokens[start:k][p::processes])
            start = k
        conns = []
        for p in range(processes):
            a, b = ctx.Pipe()
            procs.append(ctx.Process(target=_load, args=(server, url, phases[p], b), daemon=True))
            procs[-1].start()
            conns.append(a)
        windows = []
        for k in ks:
            for c in conns:
                if not c.poll(120):
                    raise SystemExit(f"bench: {server}'s viewers did not all receive video")
                if (said := c.recv()) != "ready":
                    raise SystemExit(f"bench: {server}, {stream.name} stream, K={k}: {said}")
            time.sleep(args.warmup)
            for c in conns:
                c.send("start")
            cpu0, t0 = cpu_times(pid), time.monotonic()
            time.sleep(args.window)
            cpu1, t1 = cpu_times(pid), time.monotonic()
            for c in conns:
                c.send("stop")
            results = [c.recv() for c in conns]
            windows.append(
                Window(
                    k,
                    (sum(cpu1) - sum(cpu0)) / (t1 - t0),
                    (cpu1[1] - cpu0[1]) / (t1 - t0),
                    sum(r["packets"] for r in results) / (t1 - t0),
                    sorted(f for r in results for f in r["fps"]),
                )
            )
        for c in conns:
            c.send("end")
        time.sleep(0.5)
        return windows


class StreamTracks:
    """The publisher's tracks, made in the publisher's process from the stream's loops."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def __call__(self) -> list[MediaStreamTrack]:
        return _stream_tracks(self.stream)


def _stop(procs: list[Any]) -> None:
    for p in reversed(procs):
        with suppress(Exception):
            p.terminate()
    for p in reversed(procs):
        with suppress(Exception):
            p.join(5) if hasattr(p, "join") else p.wait(5)


# --- the whole bench ------------------------------------------------------------------------


def _ensure_janus() -> None:
    if shutil.which("janus"):
        return
    print(
        "bench: Janus is not installed; installing Debian's (apt-get install -y janus)", flush=True
    )
    if subprocess.run(["apt-get", "install", "-y", "janus"], check=False).returncode:
        raise SystemExit(
            "bench: apt-get could not install janus (run it as root: apt-get install -y janus)"
        )


def _veth() -> None:
    """Janus gathers no candidate on a loopback interface: a veth pair inside the namespace
    carries 127.0.0.2 for it."""
    for cmd in (
        "ip link add jv0 type veth peer name jv1",
        "ip addr add 127.0.0.2/32 dev jv0",
        "ip link set jv0 up",
        "ip link set jv1 up",
    ):
        if subprocess.run(cmd.split(), check=False).returncode:
            raise SystemExit(f"bench: '{cmd}' failed inside the namespace: Janus cannot gather")


def _in_loopback_namespace() -> bool:
    return _interfaces() <= {"lo", "jv0", "jv1"}


def _interfaces() -> set[str]:
    return {name for _, name in socket.if_nameindex()}  # this namespace's, unlike /sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k", default="10,100", help="viewers in the first and second window")
    parser.add_argument("--servers", default="janus,janus-default,sabaq")
    parser.add_argument(
        "--previous",
        action="append",
        default=[],
        metavar="DIR",
        help="also run Sabaq from this checkout (e.g. git archive of main)",
    )
    parser.add_argument("--streams", default="heavy,light")
    parser.add_argument("--processes", type=int, default=3, help="load processes")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=8.0)
    args = parser.parse_args(argv)
    servers = [s for s in args.servers.split(",") if s] + [f"sabaq@{d}" for d in args.previous]
    janus = any(s.startswith("janus") for s in servers)
    if janus and not os.environ.get(_IN_NAMESPACE):
        _ensure_janus()
        if not _in_loopback_namespace():
            script = str(ROOT / "scripts" / "loopback-ns")
            argv = [script, sys.executable, "-m", "bench.vs_janus", *(argv or sys.argv[1:])]
            os.environ[_IN_NAMESPACE] = "1"
            os.execv(script, argv)  # noqa: S606 - the same bench, inside the namespace
    if not _in_loopback_namespace():
        raise SystemExit("bench: run inside a loopback-only namespace (scripts/loopback-ns)")
    if janus and "jv0" not in _interfaces():
        _veth()
    ks = [int(k) for k in args.k.split(",")]
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(
        f"# {os.cpu_count()} cores, load average {load} at the start; encoding the streams",
        flush=True,
    )
    streams = encode_streams(args.streams.split(","))
    rows: dict[tuple[str, str], list[list[Window]]] = {}
    for _ in range(args.rounds):
        for stream in streams:
            for server in servers:
                windows = run_one(server, stream, ks, args.processes, args)
                rows.setdefault((server, stream.name), []).append(windows)
                print(
                    f"# {server} {stream.name}: "
                    + ", ".join(
                        f"K={w.k} {100 * w.cpu_s_per_s:.0f}% {w.us_per_packet:.1f} µs"
                        for w in windows
                    ),
                    flush=True,
                )
    _table(rows, streams, servers, ks)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(
        f"\n{os.cpu_count()} cores; window {args.window:.0f} s after {args.warmup:.0f} s"
        f" warm-up, {args.processes} load processes; load average {load} at the end"
    )


def _marginal(windows: list[Window], kernel: bool = False) -> float:
    first, last = windows[0], windows[-1]
    extra = last.packets_per_s - first.packets_per_s
    cpu = (
        (last.sys_s_per_s - first.sys_s_per_s) if kernel else (last.cpu_s_per_s - first.cpu_s_per_s)
    )
    return 1e6 * cpu / extra if extra > 0 else math.nan


def _table(
    rows: dict[tuple[str, str], list[list[Window]]],
    streams: list[Stream],
    servers: list[str],
    ks: list[int],
) -> None:
    print()
    print(
        f"| server | stream (packets / video frame) | K | server CPU % | µs CPU / packet"
        f" | marginal µs / packet (K {ks[0]}→{ks[-1]}) | of which in the kernel"
        " | fps at viewers (min / median) | marginal × tuned Janus |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for stream in streams:
        tuned = [_marginal(w) for w in rows.get(("janus", stream.name), [])]
        for server in servers:
            for windows in rows.get((server, stream.name), []):
                last = windows[-1]
                marginal = _marginal(windows)
                ratio = (
                    f"{marginal / statistics.mean(tuned):.2f}"
                    if tuned and server != "janus"
                    else "–"
                )
                print(
                    f"| {server} | {stream.name} ({stream.packets_per_frame:.1f}) | {last.k}"
                    f" | {100 * last.cpu_s_per_s:.0f} | {last.us_per_packet:.1f}"
                    f" | {marginal:.1f} | {_marginal(windows, kernel=True):.1f}"
                    f" | {last.fps[0]:.1f} / {statistics.median(last.fps):.1f}"
                    f" | {ratio} |"
                )


if __name__ == "__main__":
    main()
