"""A media node's life as its control node watches it (``control.node_watch``): ``GET
/node/watch`` on the node's own address answers its id at once, then a tick every few seconds
for as long as the process lives, and ``stopping`` when it shuts down on purpose. A connection
that ends without that word is how the control node learns, in milliseconds, that the process
is gone (the kernel closes a killed process's sockets) — and not by waiting for heartbeats."""

from __future__ import annotations

import asyncio

from aiohttp import web

from . import keys
from .metrics import FORWARDED_HEADERS

TICK_SECONDS = 10.0  # keeps the idle connection open through what sits between
MAX_WATCHERS = 8  # a control node holds one (two while a new one takes over)


class NodeLife:
    """Whether the node is shutting down on purpose, and who watches it."""

    def __init__(self, tick: float = TICK_SECONDS) -> None:
        self.stopping = asyncio.Event()
        self.watchers = 0
        self.tick = tick


LIFE = web.AppKey("node_life", NodeLife)


async def stopping(app: web.Application) -> None:
    """On shutdown, first of all: those watching are told it is on purpose."""
    app[LIFE].stopping.set()
    await asyncio.sleep(0)  # the watches write their last word before anything else stops


async def node_watch(request: web.Request) -> web.StreamResponse:
    life = request.app[LIFE]
    if any(h in request.headers for h in FORWARDED_HEADERS):
        raise web.HTTPForbidden(
            text="a node's watch is for its control node, not through a proxy\n"
        )
    agent = request.app.get(keys.AGENT)
    if agent is None:
        raise web.HTTPNotFound(text="this node has not joined its cluster\n")
    if life.watchers >= MAX_WATCHERS:
        raise web.HTTPServiceUnavailable(text="this node is watched by enough already\n")
    resp = web.StreamResponse(
        headers={"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    )
    life.watchers += 1
    try:
        await resp.prepare(request)
        await resp.write(f"{agent.id}\n".encode())
        while not life.stopping.is_set():
            try:
                async with asyncio.timeout(life.tick):
                    await life.stopping.wait()
            except TimeoutError:
                await resp.write(b".\n")
        await resp.write(b"stopping\n")
        await resp.write_eof()
    finally:
        life.watchers -= 1
    return resp
