"""Cascading: one lecture over 1, 2 and 3 media processes on this box.

One teacher publishes a pre-encoded stream (``bench.vs_janus``'s: VP8 640×480 30 fps, "heavy"
~5 or "light" ~2 RTP packets a frame, plus Opus 20 ms) to the origin node; K aiortc viewers
watch, split evenly over the nodes. Each media node is one OS process (``bench.cascade_nodes``:
a ``MediaNode`` behind the signaling app, as ``sabaq media`` serves one); a relay node links to
the origin with ``streaming.cascade`` (one WebSocket per class, each frame once per relay).
The same K viewers and the same stream in each configuration:

1. one process: the origin alone, K viewers — the baseline, the path before cascading. Two
   windows, K/3 then K viewers: the difference is the origin's marginal cost per packet.
2. two processes: the origin and one relay, K/2 viewers each.
3. three processes: the origin and two relays, K/3 viewers each. Four windows: the origin with
   its K/3 viewers and no relay; with relay 1 linked; with relays 1 and 2 linked (neither with
   viewers yet); then with the relays' viewers. The origin's extra CPU over the link frames it
   sent is the relay overhead (µs per frame sent to a relay, % of a core per relay link),
   beside what a viewer costs it; a relay's CPU linked without viewers is its fixed cost.

Per node and window: CPU from /proc (all the process's threads, user + system) over the
window; RTP packets sent to viewers as the node's own senders count them (closed senders
included); frames that came over a relay link as the relay's hubs count them (each one message
the origin sent); fps at the viewers as in ``bench.vs_janus`` (load processes count RTP off the
socket, decode nothing). "µs / packet" is the node's CPU over everything it forwarded: RTP
packets to its viewers plus, on the origin, frames to relays.

Latency: one viewer per node (counted in K) is a probe in a process of its own
(``bench.cascade_nodes.probes``): its RTP is decrypted, and the VP8 data of each frame's last
packet names the frame in the publisher's loop. The publisher notes ``time.monotonic()`` when
its track hands each frame to aiortc's sender (``CLOCK_MONOTONIC`` is one clock for every
process of the box). Measured: from that moment to the arrival, at the probe's aiortc SRTP
receive path, of the frame's last packet — publisher → origin → viewer, or publisher → origin →
relay → viewer; "added by the hop" is, frame by frame, the relay probe's arrival minus the
origin probe's arrival of the same frame (p50 / p95). Publisher → viewer includes one frame
interval (33 ms at 30 fps) that is neither the hop's nor the bench's: the origin's aiortc
receiver hands a frame on only when the next frame's first packet arrives (its jitter buffer).

Projection: viewers of one lecture on a 16-core box, one process per core — 1 origin and 15
relays — each allowed ``--budget`` of its core. From the measured: p = RTP packets/s per
viewer; the relay's fixed cost (linked, no viewers) and marginal µs per packet (its viewers'
window over the linked window); the origin's cost without viewers (the origin's CPU with its
K/3 viewers, less their packets at its marginal cost), its cost per relay link (0 where the
windows' difference comes out negative) and its marginal µs per packet. Relay viewers =
(budget − relay fixed) / (p × relay µs); origin viewers = (budget − origin base − 15 × link) /
(p × origin µs); total = 15 × relay viewers + origin viewers. Assumed: cores are independent
(on this 2-core box three nodes and the load share two cores, so per-packet costs here include
contention), and the link frames of 15 relays cost the origin 15 times one link's.

    .venv/bin/python -m bench.cascade            # K=90, heavy stream, 8 s windows
    .venv/bin/python -m bench.cascade --quick    # a few viewers, short windows (< 60 s)

It runs itself inside ``scripts/loopback-ns`` when not in a loopback-only namespace.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from bench.cascade_nodes import frame_names
from bench.cascade_report import print_report
from bench.cascade_run import Config, Step, run_config
from bench.vs_janus import ROOT, _in_loopback_namespace, encode_streams

_IN_NAMESPACE = "SABAQ_CASCADE_IN_NAMESPACE"


def configs(k: int) -> list[Config]:
    """The three configurations, K viewers in each (see the docstring for their windows)."""
    if k < 6:
        raise SystemExit("bench: --k must be at least 6 (three nodes, a probe and a viewer each)")
    half, third = k - k // 2, k - 2 * (k // 3)
    return [
        Config(1, [Step(add={0: k // 3}), Step(add={0: k - k // 3})]),
        Config(2, [Step(link=[1], add={0: half, 1: k // 2})]),
        Config(
            3,
            [
                Step(add={0: third}),
                Step(link=[1]),
                Step(link=[2]),
                Step(add={1: k // 3, 2: k // 3}),
            ],
        ),
    ]


@dataclass(frozen=True)
class Options:
    k: int
    stream: str
    warmup: float
    window: float
    per_process: int
    budget: float


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cascade",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--k", type=int, default=90, help="viewers in each configuration")
    parser.add_argument("--stream", choices=["heavy", "light"], default="heavy")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before each window")
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured")
    parser.add_argument("--per-process", type=int, default=30, help="viewers per load process")
    parser.add_argument(
        "--budget", type=float, default=0.8, help="share of its core a process may use (projection)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="K=6, 1 s warm-up, 2 s windows: a smoke run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.k, args.warmup, args.window = 6, 1.0, 2.0
    if not 0 < args.budget <= 1:
        raise SystemExit("bench: --budget is a share of one core, in (0, 1]")
    return Options(args.k, args.stream, args.warmup, args.window, args.per_process, args.budget)


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    options = parse(argv)
    if not _in_loopback_namespace():
        if argv is not None or os.environ.get(_IN_NAMESPACE):  # called, not run: no exec
            raise SystemExit("bench: run inside a loopback-only namespace (scripts/loopback-ns)")
        script = str(ROOT / "scripts" / "loopback-ns")
        args = [script, sys.executable, "-m", "bench.cascade", *sys.argv[1:]]
        os.environ[_IN_NAMESPACE] = "1"
        os.execv(script, args)  # noqa: S606 - the same bench, inside the namespace
    print(f"# {os.cpu_count()} cores, load average {_load_average()} at the start", flush=True)
    (stream,) = encode_streams([options.stream])
    names = frame_names(stream.video)
    runs = []
    for config in configs(options.k):
        runs.append(
            run_config(config, stream, names, options.warmup, options.window, options.per_process)
        )
    print_report(runs, stream, options.k, options.budget)
    print(
        f"\n{os.cpu_count()} cores; K={options.k}, {options.stream} stream"
        f" ({stream.packets_per_frame:.1f} packets / video frame); windows of {options.window:g} s"
        f" after {options.warmup:g} s; load average {_load_average()} at the end"
    )


if __name__ == "__main__":
    main()
