"""One configuration of ``bench.cascade``: its media processes, publisher, load and probe
processes, started; its windows measured; everything stopped."""

from __future__ import annotations

import bisect
import math
import multiprocessing
import secrets
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from access.models import ClassRole
from bench.cascade_nodes import (
    Arrival,
    NotedTracks,
    join_tokens,
    media_node,
    probes,
    publish,
    read_sent,
    ws_url,
)
from bench.fanout import cpu_times
from bench.vs_janus import Stream, _load, _stop

READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class Step:
    """Before a window: relays to link (node indexes), then viewers to add (node → count)."""

    link: list[int] = field(default_factory=list)
    add: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    processes: int
    steps: list[Step]


@dataclass
class NodeWindow:
    role: str
    viewers: int
    cpu: float  # CPU seconds a second (1.0: one core)
    packets: float  # RTP packets a second to its viewers
    link_frames: float  # frames a second that came over its relay link (a relay's)
    fps: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)  # seconds, publisher → its probe


@dataclass
class Window:
    nodes: list[NodeWindow]
    hop: dict[int, list[float]] = field(default_factory=dict)  # relay → its probe − origin's

    @property
    def to_relays(self) -> float:
        """Frames a second the origin sent over its relay links."""
        return sum(n.link_frames for n in self.nodes[1:])


@dataclass
class Run:
    config: Config
    windows: list[Window]


@dataclass
class _Procs:
    nodes: list[Connection]
    pids: list[int]
    urls: list[str]
    viewers: list[tuple[int, Connection]] = field(default_factory=list)  # node (-1: probes)


def _plan(
    config: Config, secret: bytes, urls: list[str], per_process: int
) -> tuple[list[tuple[int, str, list[list[str]]]], list[list[tuple[int, str, str]]]]:
    """The load processes (node, tokens phase by phase) and the probes' phases: each node's
    first viewer is its probe."""
    loads: list[tuple[int, str, list[list[str]]]] = []
    probe_phases: list[list[tuple[int, str, str]]] = [[] for _ in config.steps]
    for node, url in enumerate(urls):
        total = sum(step.add.get(node, 0) for step in config.steps)
        tokens = join_tokens(secret, url, 1000 * (node + 1), total, ClassRole.LEARNER)
        processes = math.ceil((total - 1) / per_process) if total > 1 else 0
        phases: list[list[list[str]]] = [[] for _ in range(processes)]
        given = 0
        for s, step in enumerate(config.steps):
            new = tokens[given : given + step.add.get(node, 0)]
            if new and given == 0:
                probe_phases[s].append((node, ws_url(url), new[0]))
                new = new[1:]
            given += step.add.get(node, 0)
            for p in range(processes):
                phases[p].append(new[p::processes])
        loads += [(node, ws_url(url), phase) for phase in phases]
    return loads, probe_phases


def _link(procs: _Procs, relays: list[int]) -> None:
    for r in relays:
        procs.nodes[r].send(("relay", procs.urls[0]))
        if not procs.nodes[r].poll(READY_TIMEOUT) or procs.nodes[r].recv() != "linked":
            raise SystemExit(f"bench: relay {r} did not get the origin's video")


def _sample(procs: _Procs) -> list[tuple[float, dict[str, int]]]:
    out = []
    for conn, pid in zip(procs.nodes, procs.pids, strict=True):
        conn.send(("counts",))
        out.append((sum(cpu_times(pid)), conn.recv()))
    return out


def _window(procs: _Procs, warmup: float, seconds: float) -> tuple[Window, list[Arrival]]:
    for node, c in procs.viewers:
        who = "the probes" if node < 0 else f"a load process of node {node}"
        if not c.poll(READY_TIMEOUT):
            raise SystemExit(
                f"bench: {who} did not say in {READY_TIMEOUT:.0f} s its viewers had video"
            )
        if (said := c.recv()) != "ready":
            raise SystemExit(f"bench: {who}: {said}")
    time.sleep(warmup)
    for _, c in procs.viewers:
        c.send("start")
    before, t0 = _sample(procs), time.monotonic()
    time.sleep(seconds)
    after, t1 = _sample(procs), time.monotonic()
    for _, c in procs.viewers:
        c.send("stop")
    elapsed = t1 - t0
    nodes = [
        NodeWindow(
            "origin" if i == 0 else f"relay {i}",
            b[1]["viewers"],
            (b[0] - a[0]) / elapsed,
            (b[1]["packets"] - a[1]["packets"]) / elapsed,
            (b[1]["link_frames"] - a[1]["link_frames"]) / elapsed,
        )
        for i, (a, b) in enumerate(zip(before, after, strict=True))
    ]
    arrivals: list[Arrival] = []
    for node, c in procs.viewers:
        result = c.recv()
        if node < 0:
            arrivals = result
        else:
            nodes[node].fps += result["fps"]
    return Window(nodes), arrivals


def _latencies(window: Window, arrivals: list[Arrival], sent: list[tuple[int, float]]) -> None:
    """Each arrival matched to the last sending of its loop frame before it."""
    sendings: dict[int, list[float]] = defaultdict(list)
    for index, at in sent:
        sendings[index].append(at)
    seen: dict[int, dict[float, float]] = defaultdict(dict)  # node → sent at → arrived at
    for node, index, at in arrivals:
        times = sendings.get(index, [])
        k = bisect.bisect_right(times, at) - 1
        if k >= 0:
            window.nodes[node].latency.append(at - times[k])
            seen[node][times[k]] = at
    for relay in range(1, len(window.nodes)):
        both = seen[relay].keys() & seen[0].keys()
        window.hop[relay] = [seen[relay][t] - seen[0][t] for t in both]


def run_config(
    config: Config,
    stream: Stream,
    names: dict[tuple[int, int], int],
    warmup: float,
    seconds: float,
    per_process: int,
) -> Run:
    ctx = multiprocessing.get_context("spawn")
    secret = secrets.token_bytes(32)
    with ExitStack() as stack:
        started: list[Any] = []
        stack.callback(_stop, started)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cascade-")))

        def start(target: Any, *args: Any) -> Connection:
            a, b = ctx.Pipe()
            started.append(ctx.Process(target=target, args=(*args, b), daemon=True))
            started[-1].start()
            return a

        conns = [
            start(media_node, "origin" if i == 0 else f"relay-{i}", secret)
            for i in range(config.processes)
        ]
        infos = [c.recv() if c.poll(60) else {} for c in conns]
        if not all(infos):
            raise SystemExit("bench: a media process did not start")
        procs = _Procs(conns, [i["pid"] for i in infos], [i["url"] for i in infos])
        (teacher,) = join_tokens(secret, procs.urls[0], 1, 1, ClassRole.HOST)
        sent_path = folder / "sent.txt"
        publisher = start(publish, ws_url(procs.urls[0]), teacher, NotedTracks(stream, sent_path))
        if not publisher.poll(60):
            raise SystemExit("bench: the publisher did not connect")
        publisher.recv()
        loads, probe_phases = _plan(config, secret, procs.urls, per_process)
        _link(procs, config.steps[0].link)
        for node, url, phases in loads:
            procs.viewers.append((node, start(_load, "sabaq", url, phases)))
        procs.viewers.append((-1, start(probes, names, probe_phases)))
        windows = []
        for s, step in enumerate(config.steps):
            if s:
                _link(procs, step.link)
            windows.append(_window(procs, warmup, seconds))
        for _, c in procs.viewers:
            c.send("end")
        for c in procs.nodes:
            c.send(("end",))
        sent = read_sent(sent_path)
    for window, arrivals in windows:
        _latencies(window, arrivals, sent)
    return Run(config, [w for w, _ in windows])
