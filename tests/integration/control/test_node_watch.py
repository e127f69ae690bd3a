"""``control.node_watch`` against real HTTP servers on loopback that answer ``/node/watch`` as a
media node does (``web.core.node_life``): what it concludes, and what it never concludes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from control.node_watch import NodeWatch
from streaming.cluster_keys import NodeInfo
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(30)


def info(node_id: str, port: int) -> NodeInfo:
    return NodeInfo(
        id=node_id,
        name=node_id.split(".")[0],
        url=f"http://127.0.0.1:{port}/media",
        capacity=10,
        participants=0,
        rooms=0,
        started=0.0,
        at=0.0,
        watch=f"http://127.0.0.1:{port}/node/watch",
    )


@asynccontextmanager
async def node(
    node_id: str, port: int, stopping: asyncio.Event | None = None
) -> AsyncIterator[None]:
    """A process answering its watch as a media node does: its id, then ticks; ``stopping``
    when ``stopping`` is set."""
    stop = stopping or asyncio.Event()

    async def watch(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(f"{node_id}\n".encode())
        while not stop.is_set():
            try:
                async with asyncio.timeout(0.2):
                    await stop.wait()
            except TimeoutError:
                await resp.write(b".\n")
        await resp.write(b"stopping\n")
        return resp

    app = web.Application()
    app.router.add_get("/node/watch", watch)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()


async def until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_a_node_whose_address_refuses_is_gone_at_once() -> None:
    woken: list[bool] = []
    watch = NodeWatch(retry=0.1, woken=lambda: woken.append(True))
    port = free_port()
    try:
        async with node("media-1.a", port):
            watch.follow({"media-1.a": info("media-1.a", port)})
            await asyncio.sleep(0.5)
            assert watch.gone == set()
        # The process is gone: its connection ends and its port refuses.
        assert await until(lambda: watch.gone == {"media-1.a"}), "not seen gone"
        assert woken == [True]
    finally:
        await watch.close()


async def test_another_process_at_the_address_means_the_node_is_gone() -> None:
    watch = NodeWatch(retry=0.1)
    port = free_port()
    try:
        async with node("media-1.a", port):
            watch.follow({"media-1.a": info("media-1.a", port)})
            await asyncio.sleep(0.5)
        async with node("media-1.b", port):  # restarted at once, under a new id
            assert await until(lambda: watch.gone == {"media-1.a"}), "not seen gone"
    finally:
        await watch.close()


async def test_a_node_never_reached_is_never_judged() -> None:
    """A wrong address (nothing listens, or another node answers there) condemns nobody."""
    watch = NodeWatch(retry=0.05)
    nobody, other = free_port(), free_port()
    try:
        async with node("media-2.x", other):
            watch.follow(
                {
                    "media-1.a": info("media-1.a", nobody),
                    "media-3.c": info("media-3.c", other),
                }
            )
            await asyncio.sleep(1)
            assert watch.gone == set()
    finally:
        await watch.close()


async def test_a_node_stopping_on_purpose_is_not_gone() -> None:
    watch = NodeWatch(retry=0.05)
    port = free_port()
    stop = asyncio.Event()
    try:
        async with node("media-1.a", port, stop):
            watch.follow({"media-1.a": info("media-1.a", port)})
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.sleep(0.3)
        await asyncio.sleep(0.5)  # its port refuses now: that is no news once it said so
        assert watch.gone == set()
    finally:
        await watch.close()


async def test_a_node_that_left_the_registry_is_no_longer_watched() -> None:
    watch = NodeWatch(retry=0.05)
    port = free_port()
    try:
        async with node("media-1.a", port):
            watch.follow({"media-1.a": info("media-1.a", port)})
            await asyncio.sleep(0.3)
            watch.follow({})
        await asyncio.sleep(0.5)
        assert watch.gone == set()
    finally:
        await watch.close()
