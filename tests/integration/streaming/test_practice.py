"""The practice room's network check: a real peer connection to the media node, which echoes
on a data channel; bounded in number and refusing what is not an offer."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from streaming.aiortc_media import advertise_host_addresses
from streaming.practice import Echoes, TooManyEchoes
from tests.conftest import Academy, SignIn


async def _offer() -> tuple[RTCPeerConnection, asyncio.Queue[str]]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    channel = pc.createDataChannel("practice")
    echoes: asyncio.Queue[str] = asyncio.Queue()
    channel.on("message", lambda m: echoes.put_nowait(str(m)))
    pc.channel = channel  # type: ignore[attr-defined]
    await pc.setLocalDescription(await pc.createOffer())
    return pc, echoes


@pytest.mark.timeout(30)
async def test_the_media_node_echoes_a_signed_in_persons_data_channel(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    pc, echoes = await _offer()
    try:
        resp = await sign_in(academy.student_ids[0]).post(
            "/practice/echo", json={"sdp": pc.localDescription.sdp}
        )
        body = await resp.json()
        assert resp.status == 200, body
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))
        channel = pc.channel  # type: ignore[attr-defined]
        async with asyncio.timeout(10):
            while channel.readyState != "open":
                await asyncio.sleep(0.02)
        for i in range(3):
            channel.send(f"ping {i}")
            async with asyncio.timeout(5):
                assert await echoes.get() == f"ping {i}"
    finally:
        await pc.close()


async def test_what_is_not_an_offer_is_refused_and_strangers_are_not_answered(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    student = sign_in(academy.student_ids[0])
    for bad in ({}, {"sdp": 5}, {"sdp": ""}, {"sdp": "v=0\r\nnot an offer"}, {"sdp": "x" * 30000}):
        resp = await student.post("/practice/echo", json=bad)
        assert resp.status == 400, (bad, await resp.text())
    audio_only = (
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
    )
    assert (await student.post("/practice/echo", json={"sdp": audio_only})).status == 400
    assert (await student.post("/practice/echo", data=b"{")).status == 400
    async with ClientSession() as anonymous:
        resp = await anonymous.post(str(served.make_url("/practice/echo")), json={"sdp": "v=0"})
        assert resp.status in (401, 403)  # no session (and so no CSRF token either)
    page = await student.get("/practice")
    assert page.status == 200 and "practice.js" in await page.text()


def held(echoes: Echoes) -> int:
    return echoes.open  # read afresh (mypy narrows a property after a loop on it)


@pytest.mark.timeout(30)
async def test_a_node_holds_only_so_many_echoes_and_each_for_a_while() -> None:
    echoes = Echoes(limit=1, lifetime=0.3)
    first, _q1 = await _offer()
    second, _q2 = await _offer()
    try:
        await echoes.answer(first.localDescription.sdp, "student-1")
        assert echoes.open == 1
        with pytest.raises(TooManyEchoes):
            await echoes.answer(second.localDescription.sdp, "student-2")
        async with asyncio.timeout(5):
            while echoes.open:  # its minute (here 0.3 s) is up
                await asyncio.sleep(0.05)
        await echoes.answer(second.localDescription.sdp, "student-2")
        assert held(echoes) == 1
    finally:
        await echoes.close_all()
        await first.close()
        await second.close()
    assert echoes.open == 0


@pytest.mark.timeout(30)
async def test_one_person_one_echo_no_media_no_flood() -> None:
    """A person's new check replaces their previous one; an offer carrying sound or video is
    refused (nothing would read what it decodes); an echo answers only small pings, and only
    so many."""
    echoes = Echoes(limit=2, lifetime=30)
    pcs: list[RTCPeerConnection] = []
    try:
        for _ in range(3):
            pc, _q = await _offer()
            pcs.append(pc)
            await echoes.answer(pc.localDescription.sdp, "student-1")
            assert held(echoes) == 1  # the newest only
        media = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pcs.append(media)
        media.createDataChannel("practice")
        media.addTransceiver("video", direction="sendonly")
        await media.setLocalDescription(await media.createOffer())
        with pytest.raises(ValueError, match="media"):
            await echoes.answer(media.localDescription.sdp, "student-2")
        assert held(echoes) == 1
        pc, answers = await _offer()
        pcs.append(pc)
        answer = await echoes.answer(pc.localDescription.sdp, "student-3")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        channel = pc.channel  # type: ignore[attr-defined]
        async with asyncio.timeout(10):
            while channel.readyState != "open":
                await asyncio.sleep(0.02)
        channel.send("é" * 600)  # 1200 bytes: over the limit though 600 characters
        channel.send("ping")
        async with asyncio.timeout(5):
            assert await answers.get() == "ping"  # the big one was not echoed
        for i in range(120):
            channel.send(f"p{i}")
        async with asyncio.timeout(10):  # a loaded machine answers late, but answers
            while answers.qsize() < 99:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert answers.qsize() == 99  # a hundred answers in all, then no more
    finally:
        await echoes.close_all()
        for pc in pcs:
            await pc.close()


async def test_checks_are_limited_per_person(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    student = sign_in(academy.student_ids[0])
    ice = await student.get("/practice/ice")
    assert ice.status == 200 and (await ice.json()) == {"ice_servers": []}
    statuses = [
        (await student.post("/practice/echo", json={"sdp": "v=0"})).status for _ in range(11)
    ]
    assert statuses == [400] * 10 + [429]  # ten checks a minute


@pytest.mark.timeout(30)
async def test_an_echo_closed_while_it_gathers_leaves_no_socket_open() -> None:
    """The node stops (or the person's next check replaces this one) while the answer gathers
    its ICE candidates: the echo is closed once its offer/answer step ends, so no UDP socket
    bound meanwhile stays open (aioice closes only those bound before its close)."""
    advertise_host_addresses(("127.0.0.1",))  # as the media node does
    echoes = Echoes()
    offer, _q = await _offer()
    answering = asyncio.create_task(echoes.answer(offer.localDescription.sdp, "student-1"))
    async with asyncio.timeout(5):  # until it gathers
        while not echoes._open or next(iter(echoes._open)).pc.iceGatheringState != "gathering":
            await asyncio.sleep(0)
    made = next(iter(echoes._open)).pc
    await echoes.close_all()
    with contextlib.suppress(ValueError):  # closed meanwhile: no answer to give
        await answering
    assert made.sctp is not None
    assert len(made.sctp.transport.transport.iceGatherer._connection._protocols) == 0
    await offer.close()
