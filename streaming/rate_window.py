"""A received stream's bitrate over the last second, as aiortc's ``rate.RateCounter`` counts it
(1 ms buckets over a window), kept in two lists of ints instead of one object per bucket.

aiortc's receiver gives every video track a ``RemoteBitrateEstimator`` (its REMB to the
publisher) whose counter holds 1,000 bucket objects, allocated again whenever the stream was
silent for the window, and walks the buckets one millisecond at a time. On a seminar's media
node those objects were three fifths of everything the garbage collector walked (625,625 of
about 1.05 million objects with 25 participants), so each full collection took about half a
second of the event loop. ``aiortc_forward.tap_receiver`` puts this counter in its place; the
figures are the same (``tests/unit/streaming/test_rate_window.py``).
"""

from __future__ import annotations


class RateWindow:
    """``aiortc.rate.RateCounter``'s interface and figures: ``add``, ``rate``, ``reset``."""

    def __init__(self, window_size: int, scale: int = 8000) -> None:
        self._window_size = window_size
        self._scale = scale
        self.reset()

    def reset(self) -> None:
        self._counts = [0] * self._window_size
        self._values = [0] * self._window_size
        self._origin_index = 0
        self._origin_ms: int | None = None
        self._count = 0
        self._value = 0

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms, self._origin_ms)
        index = (self._origin_index + now_ms - self._origin_ms) % self._window_size
        self._counts[index] += 1
        self._values[index] += value
        self._count += 1
        self._value += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin_ms is not None:
            self._erase_old(now_ms, self._origin_ms)
            active_window_size = now_ms - self._origin_ms + 1
            if self._count > 0 and active_window_size > 1:
                return round(self._scale * self._value / active_window_size)
        return None

    def _erase_old(self, now_ms: int, origin_ms: int) -> None:
        new_origin_ms = now_ms - self._window_size + 1
        steps = new_origin_ms - origin_ms
        if steps <= 0:
            return
        size, counts, values = self._window_size, self._counts, self._values
        if steps >= size:  # the whole window is older: everything goes at once
            counts[:] = [0] * size
            values[:] = [0] * size
            self._count = self._value = 0
        else:
            index = self._origin_index
            for _ in range(steps):
                self._count -= counts[index]
                self._value -= values[index]
                counts[index] = values[index] = 0
                index = (index + 1) % size
        self._origin_index = (self._origin_index + steps) % size
        self._origin_ms = new_origin_ms
