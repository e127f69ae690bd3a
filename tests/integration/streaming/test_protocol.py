"""Bad signaling input: the offender gets an error and is disconnected, the server stays up,
and the other participants' frames keep flowing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, WSMsgType
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaming.protocol import MAX_MESSAGE_BYTES, ProtocolError, parse_client_message
from tests.conftest import Academy, Client, SignIn
from tests.peers import Peer, join, join_token, publish, ws_url
from tests.peers import pc as new_pc

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
messages = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {
            "v": st.sampled_from([1, 2, "1", None]),
            "type": st.sampled_from(
                ["publish", "answer", "join", "end_class", "leave", "ping", "bogus", "", None]
            ),
        },
        optional={
            "sdp": st.one_of(st.text(max_size=300), st.integers(), st.just("v=0\r\nm=audio")),
            "token": st.text(max_size=50),
        },
    ).map(json.dumps),
)


@given(messages)
def test_parser_raises_only_protocol_errors(text: str) -> None:
    try:
        parse_client_message(str(text))
    except ProtocolError as exc:
        assert exc.code and exc.message


def test_parser_refuses_oversized_binary_and_deep_messages() -> None:
    cases: list[tuple[str | bytes, str]] = [
        ("x" * (MAX_MESSAGE_BYTES + 1), "too_large"),
        (b"{}", "bad_message"),
        ("[" * 5000 + "]" * 5000, "bad_json"),
        ('{"v": 1, "type": "publish", "sdp": "hello"}', "bad_sdp"),
        ('{"v": 1, "type": "nope"}', "unknown_type"),
        ('{"type": "ping"}', "bad_version"),
    ]
    for bad, code in cases:
        try:
            parse_client_message(bad)
        except ProtocolError as exc:
            assert exc.code == code, (bad[:20], exc.code)
        else:
            raise AssertionError(f"{bad[:20]!r} was accepted")


async def _offend(url: str, token: str, payload: str) -> tuple[list[dict[str, Any]], int | None]:
    async with ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"v": 1, "type": "join", "token": token}))
        await ws.send_str(payload)
        # A payload that happens to be valid (a ping, say) leaves the connection open: leave.
        await ws.send_str(json.dumps({"v": 1, "type": "leave"}))
        got = []
        async with asyncio.timeout(10):
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    got.append(json.loads(msg.data))
        return got, ws.close_code


BAD_PAYLOADS = [
    "not json",
    "[]",
    '{"v": 1, "type": "publish", "sdp": "v=0\\r\\nthis is not sdp"}',
    '{"v": 1, "type": "answer", "sdp": "v=0\\r\\n"}',
    '{"v": 7, "type": "ping"}',
    '{"v": 1, "type": "join", "token": "again"}',
    json.dumps({"v": 1, "type": "publish", "sdp": "v=0\r\n" + "a=x\r\n" * 20000}),
]


async def test_offenders_are_disconnected_while_the_class_goes_on(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    viewer = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await viewer.wait_frames(5)
    offender = sign_in(academy.student_ids[1])
    url = ws_url(offender, academy.class_id)
    for payload in BAD_PAYLOADS:
        grant = await join_token(offender, academy.class_id)
        got, code = await _offend(url, grant["token"], payload)
        assert got[0]["type"] == "welcome"
        assert got[-1]["type"] == "error", (payload[:40], got[-1])
        assert code == 4400, (payload[:40], code)
    before = viewer.frames
    await viewer.wait_frames(before + 10)
    assert teacher.closed_code is None and viewer.closed_code is None
    await viewer.close()
    await teacher.close()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=messages)
async def test_random_messages_never_break_the_server(
    served: TestServer, academy: Academy, sign_in: SignIn, payload: str
) -> None:
    client = sign_in(academy.student_ids[2])
    grant = await join_token(client, academy.class_id)
    got, _ = await _offend(ws_url(client, academy.class_id), grant["token"], payload)
    ok = await client.get("/healthz")
    assert ok.status == 200
    assert got and got[0]["type"] in ("welcome", "error")


async def _offered(client: Client, class_id: int) -> tuple[Peer, dict[str, Any]]:
    """A participant that joined and was offered the teacher's media (not yet answered)."""
    grant = await join_token(client, class_id)
    session = ClientSession()
    ws = await session.ws_connect(ws_url(client, class_id))
    peer = Peer(ws=ws, session=session)
    await peer.send("join", token=grant["token"])
    async with asyncio.timeout(10):
        async for msg in ws:
            doc = json.loads(msg.data)
            peer.messages.append(doc)
            if doc["type"] == "offer":
                return peer, doc
    raise AssertionError("no offer came")


async def _answer_for(offer: dict[str, Any]) -> tuple[RTCPeerConnection, str]:
    conn = new_pc()
    await conn.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
    await conn.setLocalDescription(await conn.createAnswer())
    return conn, conn.localDescription.sdp


async def _outcome(peer: Peer) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(20):
        async for msg in peer.ws:
            if msg.type is WSMsgType.TEXT:
                got.append(json.loads(msg.data))
    return got


async def test_a_tampered_dtls_fingerprint_disconnects_only_its_sender(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    viewer = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await viewer.wait_frames(5)
    peer, offer = await _offered(sign_in(academy.student_ids[1]), academy.class_id)
    conn, sdp = await _answer_for(offer)
    line = next(x for x in sdp.splitlines() if x.startswith("a=fingerprint:sha-256 "))
    head, hexes = line.rsplit(" ", 1)
    tampered = hexes.replace(hexes[:2], "00" if hexes[:2] != "00" else "11", 1)
    await peer.send(
        "answer", sdp=sdp.replace(line, f"{head} {tampered}"), offer_id=offer["offer_id"]
    )
    got = await _outcome(peer)
    assert got[-1]["type"] == "error" and got[-1]["code"] == "media_failed", got[-1]
    assert peer.ws.close_code == 4505
    before = viewer.frames
    await viewer.wait_frames(before + 10)
    for c in (conn,):
        await c.close()
    await peer.session.close()
    await viewer.close()
    await teacher.close()


@pytest.fixture
async def teaching(served: TestServer, academy: Academy, sign_in: SignIn) -> AsyncIterator[Peer]:
    """The teacher, publishing, for the whole test (all its examples)."""
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    yield teacher
    await teacher.close()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.floats(0.0, 1.0), junk=st.text(max_size=40), line_no=st.integers(0, 60))
async def test_mangled_answers_never_break_the_class(
    served: TestServer,
    academy: Academy,
    sign_in: SignIn,
    teaching: Peer,
    cut: float,
    junk: str,
    line_no: int,
) -> None:
    peer, offer = await _offered(sign_in(academy.student_ids[3]), academy.class_id)
    conn, sdp = await _answer_for(offer)
    lines = sdp.splitlines()
    lines[line_no % len(lines)] = junk
    mangled = "\r\n".join(lines)[: max(3, int(len(sdp) * cut))]
    if not mangled.startswith("v=0"):
        mangled = "v=0\r\n" + mangled
    await peer.send("answer", sdp=mangled, offer_id=offer["offer_id"])
    await peer.send("ping")
    async with asyncio.timeout(10):
        async for msg in peer.ws:
            doc = json.loads(msg.data) if msg.type is WSMsgType.TEXT else {}
            if doc.get("type") in ("pong", "error"):
                break  # accepted (maybe to fail later), or refused with a reason
    await conn.close()
    await peer.ws.close()
    await peer.session.close()
    assert (await (await sign_in(academy.staff_id).get("/healthz")).json())["status"] == "ok"
    assert teaching.closed_code is None  # the teacher's class goes on
