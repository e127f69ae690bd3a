"""ICE consent on a busy node: a peer that answers consent checks late keeps its connection (a
loaded machine is not a lost peer), and so does one that answers none but keeps sending (a
publishing browser starved of CPU); one that stops answering and sending loses it after the
expiry, even if somebody else goes on sending to the node's port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aioice
import aioice.ice
import pytest

from streaming import aiortc_media, ice_consent

LATE = 1.0  # seconds the peer takes to answer each consent check: twice aioice's own timeout


@pytest.fixture
async def pair(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, Any]]:
    """Two connected ICE agents on loopback: a browser's (controlling) and the node's; checks
    every 0.2 s, consent expiring after 2 s without an answer."""
    assert aiortc_media  # the node's consent check is installed with the media backend
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(ice_consent, "CONSENT_EXPIRY", 2.0)
    browser = aioice.Connection(ice_controlling=True, components=1)
    node = aioice.Connection(ice_controlling=False, components=1)
    await asyncio.gather(browser.gather_candidates(), node.gather_candidates())
    for one, other in ((browser, node), (node, browser)):
        for candidate in other.local_candidates:
            await one.add_remote_candidate(candidate)
        await one.add_remote_candidate(None)
        one.remote_username, one.remote_password = other.local_username, other.local_password
    await asyncio.gather(browser.connect(), node.connect())
    yield browser, node
    await asyncio.gather(browser.close(), node.close())


def answer_late(browser: Any, delay: float | None) -> None:
    """The browser answers the node's checks ``delay`` seconds late (None: never)."""
    loop = asyncio.get_running_loop()
    answer = browser.request_received

    def late(message: Any, addr: Any, protocol: Any) -> None:
        if delay is not None:
            loop.call_later(delay, answer, message, addr, protocol)

    browser.request_received = late


async def test_a_peer_answering_consent_late_stays_connected(pair: tuple[Any, Any]) -> None:
    browser, node = pair
    answer_late(browser, LATE)
    # Long enough for aioice's own check (500 ms, no retransmission) to fail six times over.
    await asyncio.sleep(5.0)
    assert node._nominated, "the node closed a live peer's connection"
    assert node._query_consent_task is not None and not node._query_consent_task.done()


async def test_a_peer_that_stops_answering_loses_consent(pair: tuple[Any, Any]) -> None:
    browser, node = pair
    answer_late(browser, None)
    async with asyncio.timeout(8.0):  # the expiry, plus one check's retransmissions
        while node._nominated:
            await asyncio.sleep(0.1)


async def test_a_peer_that_sends_but_does_not_answer_stays_connected(
    pair: tuple[Any, Any],
) -> None:
    browser, node = pair
    answer_late(browser, None)
    for _ in range(25):  # 5 s of a publisher's packets, more than twice the expiry
        await browser.send(b"\x80" + bytes(20))
        await asyncio.sleep(0.2)
    assert node._nominated, "the node closed the connection of a peer still sending to it"


async def test_packets_from_another_address_do_not_keep_a_gone_peer(
    pair: tuple[Any, Any],
) -> None:
    browser, node = pair
    answer_late(browser, None)  # the browser is gone
    local = node.local_candidates[0]
    loop = asyncio.get_running_loop()
    stranger, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        async with asyncio.timeout(8.0):  # the expiry, plus one check's retransmissions
            while node._nominated:
                stranger.sendto(b"\x80" + bytes(20), (local.host, local.port))
                await asyncio.sleep(0.1)
    finally:
        stranger.close()
