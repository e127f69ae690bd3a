"""Rate limits for sign-in and token endpoints: a sliding window per key, in memory (one
control process), bounded in the keys it remembers."""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass, field


class RateLimiter:
    """At most ``limit`` hits per key in any ``window`` seconds."""

    def __init__(self, limit: int, window: float, max_keys: int = 50_000) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("A rate limit needs a positive count and window")
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def blocked(self, key: str, now: float) -> float | None:
        """Seconds until ``key`` may hit again, or None if it may now (nothing counted)."""
        hits = self._hits.get(key)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return max(0.0, hits[0] + self.window - now) if len(hits) >= self.limit else None

    def hit(self, key: str, now: float) -> float | None:
        """Count a hit; None if allowed, else the seconds until the next one would be."""
        wait = self.blocked(key, now)
        if wait is not None:
            return wait
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            self._forget(now)
        else:
            self._hits.move_to_end(key)
        hits.append(now)
        return None

    def _forget(self, now: float) -> None:
        """Past the bound, forget the longest-quiet keys — but never one that is blocked, or a
        flood of new keys would set it free."""
        spared = 0
        while len(self._hits) > self._max_keys and spared < len(self._hits):
            key = next(iter(self._hits))
            if self.blocked(key, now) is not None:
                self._hits.move_to_end(key)
                spared += 1
                continue
            del self._hits[key]


@dataclass(frozen=True, slots=True)
class Limits:
    """The application's limits: sign-in attempts per login and per address, sign-in links
    per address, join tokens per person, practice-room network checks per person."""

    signin_per_login: RateLimiter
    signin_per_address: RateLimiter
    join_per_user: RateLimiter
    echo_per_user: RateLimiter = field(default_factory=lambda: RateLimiter(10, 60.0))

    @classmethod
    def of(cls, attempts: int, window: float, joins_per_minute: int) -> Limits:
        return cls(
            RateLimiter(attempts, window),
            RateLimiter(attempts * 5, window),
            RateLimiter(joins_per_minute, 60.0),
        )


def address_key(remote: str | None) -> str:
    """The client's address as a rate-limit key: IPv6 by its /64 (one subscriber's block)."""
    try:
        ip = ipaddress.ip_address(remote or "")
    except ValueError:
        return remote or ""
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
