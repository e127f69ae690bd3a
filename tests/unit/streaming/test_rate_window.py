"""The lighter bitrate counter gives aiortc's ``RateCounter``'s figures, packet by packet, on
the streams a media node sees: steady, bursty, silent for longer than the window, and
restarted (the estimator resets its counter after a silence)."""

from __future__ import annotations

import random

from aiortc.rate import RateCounter, RemoteBitrateEstimator

from streaming.rate_window import RateWindow


def arrivals(seed: int) -> list[tuple[int, int]]:
    """(arrival ms, payload bytes): frames at 15 and 30 fps, bursts in one millisecond, gaps
    of 0.2-3 s."""
    rng = random.Random(seed)
    now, out = 1_000_000, []
    for _ in range(3000):
        roll = rng.random()
        now += (
            0 if roll < 0.2 else rng.choice((1, 33, 66)) if roll < 0.97 else rng.randint(200, 3000)
        )
        out.append((now, rng.randint(50, 1200)))
    return out


def test_same_rates_as_aiortc_counter() -> None:
    for seed in range(5):
        theirs, ours = RateCounter(1000, 8000), RateWindow(1000, 8000)
        for i, (now, size) in enumerate(arrivals(seed)):
            assert ours.rate(now) == theirs.rate(now)
            if i % 500 == 499:
                theirs.reset()
                ours.reset()
            theirs.add(size, now)
            ours.add(size, now)
            assert ours.rate(now + 5) == theirs.rate(now + 5)


def test_same_estimates_in_aiortc_estimator() -> None:
    """In the REMB estimator, as ``aiortc_forward.tap_receiver`` puts it: the same REMBs."""
    theirs, ours = RemoteBitrateEstimator(), RemoteBitrateEstimator()
    ours.incoming_bitrate = RateWindow(1000, 8000)  # type: ignore[assignment]
    estimates = 0
    for now, size in arrivals(7):
        send_time = (now * 262) & 0xFFFFFF  # abs-send-time: 6.18 fixed point seconds
        remb = ours.add(now, send_time, size, 1)
        assert remb == theirs.add(now, send_time, size, 1)
        estimates += remb is not None
    assert estimates > 10
