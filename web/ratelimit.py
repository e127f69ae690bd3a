"""Rate limits for sign-in and token endpoints: a sliding window per key, in memory (one
control process), bounded in the keys it remembers."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass


class RateLimiter:
    """At most ``limit`` hits per key in any ``window`` seconds."""

    def __init__(self, limit: int, window: float, max_keys: int = 50_000) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("A rate limit needs a positive count and window")
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str, now: float) -> float | None:
        """Count a hit; None if allowed, else the seconds until the next one would be."""
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            while len(self._hits) > self._max_keys:  # forget the longest-quiet keys
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(0.0, hits[0] + self.window - now)
        hits.append(now)
        return None


@dataclass(frozen=True, slots=True)
class Limits:
    """The application's limits: sign-in attempts per login and per address, sign-in links
    per address, join tokens per person."""

    signin_per_login: RateLimiter
    signin_per_address: RateLimiter
    join_per_user: RateLimiter

    @classmethod
    def of(cls, attempts: int, window: float, joins_per_minute: int) -> Limits:
        return cls(
            RateLimiter(attempts, window),
            RateLimiter(attempts * 5, window),
            RateLimiter(joins_per_minute, 60.0),
        )
