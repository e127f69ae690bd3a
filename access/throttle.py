"""Rate limits for sign-in and token endpoints, in memory (one control process), bounded in
the keys they remember: a sliding window per key, and for failed sign-ins waits that grow with
the failures (per login and address, and per address — never per login alone, or a guesser
would lock its owner out)."""

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


class Backoff:
    """Failures per key: the first ``free`` cost nothing; from then on the key waits after its
    latest failure, ``base`` seconds doubling every ``doubling`` further failures, at most half
    the ``window``. A key quiet for a whole ``window`` starts over (a key that waits the most
    still fails within it, so hammering stays slow). Asking while waiting counts nothing."""

    def __init__(
        self,
        free: int,
        window: float,
        doubling: int = 1,
        base: float = 1.0,
        max_keys: int = 50_000,
    ) -> None:
        if free < 1 or window <= 0 or doubling < 1 or base <= 0:
            raise ValueError("A backoff needs positive counts, window and base")
        self.free = free
        self.window = window
        self.doubling = doubling
        self.base = base
        self._max_keys = max_keys
        self._fails: OrderedDict[str, tuple[int, float]] = OrderedDict()  # count, latest

    def failures(self, key: str, now: float) -> int:
        """How many failures of ``key`` count at ``now``."""
        count, latest = self._fails.get(key, (0, now))
        return count if now - latest < self.window else 0

    def blocked(self, key: str, now: float) -> float | None:
        """Seconds ``key`` still has to wait, or None if it may try now."""
        count = self.failures(key, now)
        if count < self.free:
            return None
        exponent = min((count - self.free) / self.doubling, 32.0)
        wait = min(self.window / 2, self.base * 2.0**exponent)
        left = self._fails[key][1] + wait - now
        return left if left > 0 else None

    def hit(self, key: str, now: float) -> float | None:
        """Count a failure unless the key is waiting: None if counted, else the seconds the
        key still has to wait."""
        wait = self.blocked(key, now)
        if wait is None:
            self.fail(key, now)
        return wait

    def fail(self, key: str, at: float) -> None:
        """Count a failure of ``key`` at ``at``."""
        known = key in self._fails
        count = self.failures(key, at)
        latest = self._fails[key][1] if count else at
        self._fails[key] = (count + 1, max(latest, at))
        if known:
            self._fails.move_to_end(key)
        else:
            self._forget(at)

    def undo(self, key: str) -> None:
        """Take back one failure counted for ``key`` (it was not one after all)."""
        found = self._fails.get(key)
        if found is not None and found[0] > 0:
            self._fails[key] = (found[0] - 1, found[1])

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures (its owner got in)."""
        self._fails.pop(key, None)

    def _forget(self, now: float) -> None:
        """Past the bound, forget the longest-quiet keys — but never one past its free
        failures, or a flood of new keys would set it free."""
        spared = 0
        while len(self._fails) > self._max_keys and spared < len(self._fails):
            key = next(iter(self._fails))
            if self.failures(key, now) >= self.free:
                self._fails.move_to_end(key)
                spared += 1
                continue
            del self._fails[key]


@dataclass(frozen=True, slots=True)
class Limits:
    """The application's limits: failed sign-ins per login and address and per address (and
    sign-in links per address), join tokens per person, practice-room network checks per
    person."""

    signin_per_login_and_address: Backoff
    signin_per_address: Backoff
    join_per_user: RateLimiter
    echo_per_user: RateLimiter = field(default_factory=lambda: RateLimiter(10, 60.0))

    @classmethod
    def of(
        cls, attempts: int, window: float, joins_per_minute: int, first_wait: float = 1.0
    ) -> Limits:
        """``attempts`` free failures per login and address, then waits doubling with each
        failure; five times as many per address, then waits doubling every ``attempts``
        failures (a classroom behind one address waits seconds for a few typos, a guesser
        trying many logins minutes)."""
        return cls(
            Backoff(attempts, window, base=first_wait),
            Backoff(attempts * 5, window, doubling=attempts, base=first_wait),
            RateLimiter(joins_per_minute, 60.0),
        )


def login_at(login: str, address: str) -> str:
    """The key of failures of one login from one address."""
    return f"{address} {login}"


def address_key(remote: str | None) -> str:
    """The client's address as a rate-limit key: IPv6 by its /64 (one subscriber's block)."""
    try:
        ip = ipaddress.ip_address(remote or "")
    except ValueError:
        return remote or ""
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
