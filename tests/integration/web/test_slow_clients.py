"""A client that sends its request slowly, or never finishes it, is cut off within a bound:
many half-sent requests do not hold connections (and memory) for an hour."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from tests.conftest import free_port
from web.core.app import create_app
from web.core.settings import Settings

BOUND = 1.0


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[TestServer]:
    short = dataclasses.replace(settings, header_timeout_seconds=BOUND, body_timeout_seconds=BOUND)
    server = TestServer(create_app(short), host="127.0.0.1", port=free_port())
    await server.start_server()
    yield server
    await server.close()


async def _closed_after(server: TestServer, sent: bytes) -> tuple[float, bytes]:
    """Send ``sent`` and no more; how long until the server closes, and what it answered."""
    assert server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    start = time.monotonic()
    writer.write(sent)
    await writer.drain()
    try:
        async with asyncio.timeout(BOUND + 10):
            answer = await reader.read()  # until the server closes the connection
    finally:
        writer.close()
    return time.monotonic() - start, answer


async def test_half_sent_requests_are_closed_within_the_bound(served: TestServer) -> None:
    head = b"GET /signin HTTP/1.1\r\nHost: sabaq.example\r\nUser-Agent: slow"
    body = (
        b"POST /signin HTTP/1.1\r\nHost: sabaq.example\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
        b"login=teacher&pass"
    )
    results = await asyncio.gather(
        *(_closed_after(served, head) for _ in range(20)),
        *(_closed_after(served, body) for _ in range(20)),
    )
    for elapsed, _answer in results:
        assert elapsed < BOUND + 3, elapsed
    # A request whose body never arrives in full is told so, as the connection closes.
    assert all(a.startswith(b"HTTP/1.1 408") for _, a in results[20:]), results[20][1][:100]
    # Whoever sends their request in time is served as before.
    async with ClientSession() as http:
        page = await http.get(served.make_url("/signin"))
        assert page.status == 200
        posted = await http.post(served.make_url("/signin"), data={"login": "x", "password": "y"})
        assert posted.status in (401, 403)
