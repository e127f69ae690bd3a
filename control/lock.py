"""The control lock (DESIGN.md, "Two deployments"): a cluster has exactly one control node, the
one that holds a key in Redis that expires unless its holder renews it. A second control node
refuses to start while the first holds it; one that finds it taken over stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis

from streaming.cluster_keys import text
from streaming.redis_events import UNREACHABLE

log = logging.getLogger("sabaq.control.lock")

LOCK = "sabaq:control-lock"

# Renew the lock if it is still ours, take it if it lapsed (Redis was away), else say no.
KEEP_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class ControlLockHeld(Exception):
    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class LockUnsure(Exception):
    """The control lock was not renewed lately: nothing is ingested or judged meanwhile."""


class ControlLock:
    """Exactly one control node: a key in Redis that expires unless its holder renews it."""

    def __init__(self, redis: Redis, holder: str, ttl: float) -> None:
        self._redis = redis
        self.holder = holder
        self._ttl_ms = max(1, int(ttl * 1000))
        self.ttl = ttl
        self._renewed = float("-inf")  # monotonic time the lock was last known to be ours

    async def acquire(self) -> None:
        """Take the lock, or raise ``ControlLockHeld`` naming who holds it."""
        if await self._redis.set(LOCK, self.holder, nx=True, px=self._ttl_ms):
            self._renewed = time.monotonic()
            return
        holder = await self._redis.get(LOCK)
        if holder is None:  # lapsed between the two calls
            return await self.acquire()
        raise ControlLockHeld(text(holder))

    async def keep(self, lost: Callable[[], None]) -> None:
        """Renew until cancelled; call ``lost`` if another control node took over (this one
        must stop: two would ingest and place at once). Redis away: keep running."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            asked = time.monotonic()
            try:
                ours = await self._redis.eval(KEEP_LOCK, 1, LOCK, self.holder, self._ttl_ms)  # type: ignore[misc]
            except UNREACHABLE:
                continue
            if ours:
                self._renewed = asked
            else:
                log.critical("another control node holds the control lock now: stopping")
                lost()
                return

    @property
    def sure(self) -> bool:
        """Whether the lock is surely still ours (renewed within two thirds of its life): the
        control node ingests and places only then — after a pause longer than the lock, another
        control node may have taken over."""
        return time.monotonic() - self._renewed < self.ttl * 2 / 3

    async def release(self) -> None:
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.eval(RELEASE_LOCK, 1, LOCK, self.holder)  # type: ignore[misc]
