"""The media plane's plain counters: a sender's counts join the totals when it closes (once),
so the totals never go down; the histogram's buckets are cumulative, as Prometheus reads them."""

from __future__ import annotations

import pytest

from streaming.stats import ForwardTally, Histogram


class Sender:
    def __init__(self, packets: int) -> None:
        self.packets, self.octets, self.skipped = packets, packets * 1000, 0
        self.nacks, self.retransmitted = 2, 1


def test_closed_senders_stay_counted_once() -> None:
    tally = ForwardTally()
    a, b = Sender(10), Sender(5)
    tally.opened(a)
    tally.opened(b)
    assert tally.counts().packets == 15
    a.packets += 3  # while it lives, its own counter moves
    tally.closed(a)
    tally.closed(a)  # closing twice counts nothing more
    a.packets += 100  # nor what it does after
    counts = tally.counts()
    assert (counts.packets, counts.octets, counts.nacks) == (18, 15000, 4)
    tally.send_errors += 1
    assert tally.counts().send_errors == 1


def test_histogram_buckets_are_cumulative() -> None:
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 7.0):
        h.observe(v)
    assert h.cumulative() == [(0.1, 2), (1.0, 3), (float("inf"), 4)]
    assert h.count == 4 and h.sum == pytest.approx(7.65)
    with pytest.raises(ValueError, match="ascend"):
        Histogram((1.0, 0.5))
