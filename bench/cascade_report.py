"""What ``bench.cascade`` prints: the nodes of each configuration against the one-process
baseline, the relay overhead, the latency a hop adds, and the projection to a 16-core box."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from bench.cascade_run import NodeWindow, Run, Window
from bench.ledger import p95, table
from bench.vs_janus import Stream

BOX_CORES = 16
RELAYS = BOX_CORES - 1  # one process a core: the origin and 15 relays


def _div(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "–"
    return f"{1000 * statistics.median(values):.1f} / {1000 * p95(values):.1f}"


def _fps(values: Sequence[float]) -> str:
    return f"{min(values):.1f} / {statistics.median(values):.1f}" if values else "–"


def _forwarded(n: NodeWindow, w: Window, i: int) -> float:
    """What the node sent a second: RTP packets to viewers, and the origin's frames to relays."""
    return n.packets + (w.to_relays if i == 0 else 0.0)


def _nodes_table(runs: list[Run]) -> None:
    rows = []
    for run in runs:
        w = run.windows[-1]
        for i, n in enumerate(w.nodes):
            sent = _forwarded(n, w, i)
            rows.append(
                [
                    f"{run.config.processes} ({'baseline' if run is runs[0] else 'cascade'})",
                    n.role,
                    str(n.viewers),
                    f"{100 * n.cpu:.0f}",
                    f"{n.packets:.0f}",
                    f"{w.to_relays:.0f}" if i == 0 else f"{n.link_frames:.0f}",
                    f"{sent:.0f}",
                    f"{1e6 * _div(n.cpu, sent):.1f}",
                    _fps(n.fps),
                    _ms(n.latency),
                ]
            )
    header = [
        "processes", "node", "viewers", "CPU % of a core", "RTP packets/s to viewers",
        "relay link frames/s (origin: out, relay: in)", "forwarded/s", "µs CPU / forwarded",
        "fps min / median", "publisher → viewer ms p50 / p95",
    ]  # fmt: skip
    table(header, rows)


def _totals_table(runs: list[Run]) -> None:
    base = runs[0].windows[-1]
    base_cpu = sum(n.cpu for n in base.nodes)
    base_busiest = max(n.cpu for n in base.nodes)
    base_us = _div(base_cpu, sum(_forwarded(n, base, i) for i, n in enumerate(base.nodes)))
    rows = []
    for run in runs:
        w = run.windows[-1]
        cpu = sum(n.cpu for n in w.nodes)
        busiest = max(n.cpu for n in w.nodes)
        us = _div(cpu, sum(n.packets for n in w.nodes))  # per packet a viewer got
        hops = [d for ds in w.hop.values() for d in ds]
        rows.append(
            [
                str(run.config.processes),
                f"{100 * cpu:.0f}",
                f"{100 * busiest:.0f}",
                f"{1e6 * us:.1f}",
                f"{cpu / base_cpu:.2f}",
                f"{busiest / base_busiest:.2f}",
                f"{us / base_us:.2f}",
                _ms(hops) if hops else "–",
            ]
        )
    header = [
        "processes", "CPU % all nodes", "busiest node CPU %", "µs CPU / packet a viewer got",
        "× baseline: all CPU", "× baseline: busiest node", "× baseline: µs / packet",
        "added by the hop ms p50 / p95",
    ]  # fmt: skip
    table(header, rows)


def _relay_overhead(runs: list[Run]) -> dict[str, float]:
    """The origin with the same own viewers and 0, 1, 2 relays linked (the 3-process run)."""
    three = runs[-1].windows
    rows = []
    for w in three[:3]:
        o = w.nodes[0]
        linked = sum(n.link_frames > 0 for n in w.nodes[1:])
        rows.append(
            [
                str(linked),
                str(o.viewers),
                f"{100 * o.cpu:.1f}",
                f"{o.packets:.0f}",
                f"{w.to_relays:.0f}",
            ]
        )
    header = ["relays linked", "origin's viewers", "origin CPU %", "RTP packets/s", "frames/s out"]
    table(header, rows)
    one = runs[0].windows
    d_cpu = three[2].nodes[0].cpu - three[0].nodes[0].cpu
    per_link = d_cpu / 2
    per_frame = _div(d_cpu, three[2].to_relays - three[0].to_relays)
    viewer_us = _div(one[1].nodes[0].cpu - one[0].nodes[0].cpu,
                     one[1].nodes[0].packets - one[0].nodes[0].packets)  # fmt: skip
    p = _div(one[1].nodes[0].packets, one[1].nodes[0].viewers)
    print(
        f"\nA relay link costs the origin {100 * per_link:.2f} % of a core:"
        f" {1e6 * per_frame:.1f} µs per frame sent to a relay"
        f" ({three[2].to_relays / 2:.0f} frames/s a link). A viewer costs"
        f" it {100 * viewer_us * p:.2f} % of a core: {1e6 * viewer_us:.1f} µs per RTP packet"
        f" (marginal, 1 process, {one[0].nodes[0].viewers}→{one[1].nodes[0].viewers} viewers)"
        f" × {p:.0f} packets/s. One relay link ≈ {_div(per_link, viewer_us * p):.1f} viewers."
    )
    return {"link": per_link, "origin_us": viewer_us, "p": p}


def _projection(runs: list[Run], budget: float, over: dict[str, float]) -> None:
    three = runs[-1].windows
    linked, full = three[2], three[3]
    relays = range(1, len(full.nodes))
    relay_fixed = statistics.mean(linked.nodes[r].cpu for r in relays)
    relay_us = statistics.mean(
        _div(
            full.nodes[r].cpu - linked.nodes[r].cpu, full.nodes[r].packets - linked.nodes[r].packets
        )
        for r in relays
    )
    o = three[0].nodes[0]
    origin_base = o.cpu - o.packets * over["origin_us"]
    p, measured, origin_us = over["p"], over["link"], over["origin_us"]
    # A link's cost is the difference of two windows of the origin's CPU; where noise makes it
    # negative, none is counted (and the table says so).
    link = max(0.0, measured)
    relay_viewers = _div(budget - relay_fixed, p * relay_us)
    origin_viewers = max(0.0, _div(budget - origin_base - RELAYS * link, p * origin_us))
    alone = _div(budget - origin_base, p * origin_us)
    total = RELAYS * relay_viewers + origin_viewers
    rows = [
        ["budget B, share of a core each process may use", f"{budget:.2f}"],
        ["p, RTP packets/s per viewer (1 process)", f"{p:.0f}"],
        ["relay fixed F_r, % of a core (linked, no viewers)", f"{100 * relay_fixed:.2f}"],
        ["relay marginal c_r, µs / packet", f"{1e6 * relay_us:.1f}"],
        ["origin without viewers F_o, % of a core (publisher's side)", f"{100 * origin_base:.2f}"],
        [
            "origin per relay link L, % of a core",
            f"{100 * link:.2f}" + ("" if link == measured else f" (measured {100 * measured:.2f})"),
        ],
        ["origin marginal c_o, µs / packet", f"{1e6 * origin_us:.1f}"],
        ["relay viewers = (B − F_r) / (p × c_r)", f"{relay_viewers:.0f}"],
        [f"origin viewers = (B − F_o − {RELAYS} L) / (p × c_o)", f"{origin_viewers:.0f}"],
        [f"one lecture, {BOX_CORES} cores = {RELAYS} × relay + origin", f"{total:.0f}"],
        ["one lecture, one process (the baseline) = (B − F_o) / (p × c_o)", f"{alone:.0f}"],
    ]
    print(
        f"\nProjection: one lecture on a {BOX_CORES}-core box, 1 origin + {RELAYS} relay processes"
        " (one a core, cores assumed independent)\n"
    )
    table(["input or result", "value"], rows)
    print(f"\n{_div(total, alone):.1f}× the viewers of one process.")


def print_report(runs: list[Run], stream: Stream, k: int, budget: float) -> None:
    print(
        f"\nOne lecture, {k} viewers, {stream.name} stream, over 1, 2 and 3 media processes"
        " (each configuration's last window)\n"
    )
    _nodes_table(runs)
    print()
    _totals_table(runs)
    print("\nRelay overhead: the origin with the same own viewers and 0, 1, 2 relays linked\n")
    over = _relay_overhead(runs)
    _projection(runs, budget, over)
