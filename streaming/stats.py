"""What the media plane counts for the operator (``/metrics``): plain integers bumped where the
work happens and read when the metrics are scraped, so the forwarding path pays an integer
addition, never a metrics library's call per packet.

``ForwardTally`` sums the forwarding path of one media backend: every live viewer's lean sender
keeps its own counters (it needs some of them anyway, for its sender reports) and folds them
into the tally when it closes, so the totals only ever grow. ``Histogram`` is a fixed-bucket
histogram (the join latency), read as Prometheus reads one."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class SenderCounts(Protocol):
    """What a viewer's sender counts while it lives."""

    packets: int  # RTP packets sent (retransmissions not included)
    octets: int  # their payload bytes
    skipped: int  # frames skipped because the viewer's socket had too much queued
    nacks: int  # packets the viewer asked to have sent again
    retransmitted: int  # of those, sent again


@dataclass(slots=True)
class LinkTally:
    """The links between media nodes (cascading) as one node sees them."""

    links: int = 0  # links to relay nodes open here (this node is the origin of their classes)
    frames: int = 0  # encoded frames sent over links: down to relays, or up to an origin
    octets: int = 0  # their bytes, heads included


@dataclass(frozen=True, slots=True)
class ForwardCounts:
    """The forwarding path's totals since the process started."""

    packets: int = 0
    octets: int = 0
    skipped: int = 0
    nacks: int = 0
    retransmitted: int = 0
    send_errors: int = 0
    keyframe_requests: int = 0


class ForwardTally:
    """The totals of one media backend: those of closed senders, plus the live senders' own
    counters, summed when asked (``counts``). Rare events (a send that failed, a keyframe asked
    of a publisher) are counted here directly."""

    def __init__(self) -> None:
        self.live: set[SenderCounts] = set()
        self.send_errors = 0
        self.keyframe_requests = 0
        self._closed = [0, 0, 0, 0, 0]

    def opened(self, sender: SenderCounts) -> None:
        self.live.add(sender)

    def closed(self, sender: SenderCounts) -> None:
        """The sender is done: its counts join the totals (once, however often it closes)."""
        if sender in self.live:
            self.live.discard(sender)
            for i, n in enumerate(_of(sender)):
                self._closed[i] += n

    def counts(self) -> ForwardCounts:
        sums = list(self._closed)
        for sender in tuple(self.live):
            for i, n in enumerate(_of(sender)):
                sums[i] += n
        packets, octets, skipped, nacks, retransmitted = sums
        return ForwardCounts(
            packets, octets, skipped, nacks, retransmitted, self.send_errors,
            self.keyframe_requests,
        )  # fmt: skip


def _of(sender: SenderCounts) -> tuple[int, int, int, int, int]:
    return sender.packets, sender.octets, sender.skipped, sender.nacks, sender.retransmitted


# From a join on a quiet node (a few ms) to one behind a burst of handshakes (seconds).
JOIN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Observations counted into fixed buckets (upper bounds, ascending; +Inf is implied)."""

    def __init__(self, bounds: Iterable[float]) -> None:
        self.bounds = tuple(bounds)
        if list(self.bounds) != sorted(set(self.bounds)) or not self.bounds:
            raise ValueError(f"bucket bounds must ascend, not {self.bounds}")
        self._counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations at or below it)`` per bucket, +Inf last."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self._counts, strict=True):
            running += n
            out.append((bound, running))
        return out
