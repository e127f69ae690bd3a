"""Delivering the webhook outbox: each due row POSTed as JSON with an HMAC-SHA256 signature
over the timestamp and the body, retried with backoff until the endpoint answers 2xx, a lane's
next event as soon as the one before it is through; the connection goes only to addresses
``control.webhook_addresses`` accepts (checked at each resolution, against DNS rebinding)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from .tasks import running as task_running
from .webhook_addresses import check_url, unreachable
from .webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    KEEP_LOG,
    PRUNE_EVERY,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivery,
    Endpoint,
    Webhooks,
    sign,
)

log = logging.getLogger("sabaq.control.webhook_delivery")

PASS_BUDGET = 5.0  # seconds one delivery pass may take


class GuardedResolver(AbstractResolver):
    """Resolves a webhook's host keeping only the addresses ``check_url`` would accept, and the
    connection goes to one of those: a name that resolves (or is re-pointed, DNS rebinding) to
    this machine or a link-local address after it was registered is not reached."""

    def __init__(
        self, allowed_hosts: frozenset[str] = frozenset(), inner: AbstractResolver | None = None
    ) -> None:
        self._allowed = allowed_hosts
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if host in self._allowed:
            return found
        kept = [r for r in found if not unreachable(ipaddress.ip_address(r["host"]))]
        if not kept:
            raise OSError(f"{host} resolves only to addresses webhooks may not go to")
        return kept

    async def close(self) -> None:
        await self._inner.close()


async def _send(
    store: Webhooks, session: aiohttp.ClientSession, delivery: Delivery, endpoint: Endpoint,
    body: str, allowed: frozenset[str],
) -> bool:  # fmt: skip
    raw = body.encode()
    stamp = int(time.time())  # when it is sent, not when the pass began
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(endpoint.secret, stamp, raw),
        TIMESTAMP_HEADER: str(stamp),
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.id),
    }
    status: int | None = None
    error = ""
    try:
        check_url(endpoint.url, allowed)  # again: the rules may have changed since it was added
    except ValueError:
        await asyncio.to_thread(store.attempted, delivery.id, time.time(), None, "address refused")
        return False
    try:
        async with session.post(
            endpoint.url, data=raw, headers=headers, allow_redirects=False
        ) as resp:
            status = resp.status
            if not 200 <= status < 300:
                error = f"HTTP {status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        error = type(exc).__name__
    except Exception as exc:  # a bad address must not stop the others' deliveries
        error = type(exc).__name__
    await asyncio.to_thread(store.attempted, delivery.id, time.time(), status, error)
    if error:
        log.info("webhook delivery %s to endpoint %s failed: %s", delivery.id, endpoint.id, error)
    return not error


async def deliver_once(store: Webhooks, session: aiohttp.ClientSession, now: float) -> int:
    """Collect, then send what is due — endpoints side by side, each endpoint's lanes one
    after another, a lane's next event as soon as the one before it is through; an endpoint
    that fails is left alone for the rest of the pass. Returns how many were delivered."""
    # The outbox's reads and writes run on worker threads: in ``sabaq serve`` the loop carries
    # the media too.
    await asyncio.to_thread(store.collect, now)
    delivered = 0
    resting: set[int] = set()
    deadline = time.monotonic() + PASS_BUDGET
    while time.monotonic() < deadline:
        due = [d for d in await asyncio.to_thread(store.due, now) if d[1].id not in resting]
        if not due:
            break
        by_endpoint: dict[int, list[tuple[Delivery, Endpoint, str]]] = {}
        for item in due:
            by_endpoint.setdefault(item[1].id, []).append(item)

        async def run(items: list[tuple[Delivery, Endpoint, str]]) -> int:
            done = 0
            for delivery, endpoint, body in items:
                if await _send(store, session, delivery, endpoint, body, store.allowed_hosts):
                    done += 1
                else:
                    resting.add(endpoint.id)
                    break
            return done

        results = await asyncio.gather(*(run(items) for items in by_endpoint.values()))
        if not sum(results):
            break
        delivered += sum(results)
    return delivered


@contextlib.asynccontextmanager
async def running(store: Webhooks, every: float) -> AsyncIterator[None]:
    """The deliverer, while the application runs."""
    timeout = aiohttp.ClientTimeout(total=10)

    async def loop() -> None:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(store.allowed_hosts))
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            pruned = 0.0
            while True:
                try:
                    await deliver_once(store, session, time.time())
                    if time.time() - pruned > PRUNE_EVERY:
                        pruned = time.time()
                        await asyncio.to_thread(store.prune, pruned - KEEP_LOG)
                except Exception:
                    log.exception("webhook delivery failed; trying again")
                await asyncio.sleep(every)

    async with task_running("webhooks", loop()):
        yield
