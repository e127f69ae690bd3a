"""Whoever may not enter a class is refused with a clear message, and gets no media."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import jwt
from aiohttp import ClientSession, WSMsgType
from aiohttp.test_utils import TestServer

from access.models import ClassRole
from scheduler.models import ClassFormat
from scheduler.planning import Actor
from tests.conftest import Academy, SignIn, class_ahead
from tests.peers import connect, join, join_token, publish, ws_url
from web.core import keys


async def _refused(
    url: str, token: str | None, first: dict[str, object] | None = None
) -> tuple[dict[str, object], int | None]:
    """Connect, send a join (or ``first``), and return the error message and close code."""
    async with ClientSession() as session, session.ws_connect(url) as ws:
        if first is not None:
            await ws.send_str(json.dumps(first))
        elif token is not None:
            await ws.send_str(json.dumps({"v": 1, "type": "join", "token": token}))
        msgs = []
        async with asyncio.timeout(5):
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    msgs.append(json.loads(msg.data))
        assert [m["type"] for m in msgs] == ["error"], msgs  # nothing else: no welcome, no offer
        return msgs[0], ws.close_code


async def test_no_token(served: TestServer, academy: Academy, sign_in: SignIn) -> None:
    url = ws_url(sign_in(academy.teacher_id), academy.class_id)
    err, code = await _refused(url, None, {"v": 1, "type": "join"})
    assert err["code"] == "token_missing"
    assert code == 4401


async def test_first_message_not_a_join(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    url = ws_url(sign_in(academy.teacher_id), academy.class_id)
    err, code = await _refused(url, None, {"v": 1, "type": "ping"})
    assert err["code"] == "token_missing"
    assert code == 4401


async def test_expired_token(served: TestServer, academy: Academy, sign_in: SignIn) -> None:
    signer = served.app[keys.SIGNER]
    token = signer.mint_join(
        user_id=academy.student_ids[0],
        class_id=academy.class_id,
        role=ClassRole.LEARNER,
        display_name="Студент 01",
        media_url="http://127.0.0.1/media",
        ttl=-5,
    )
    err, code = await _refused(ws_url(sign_in(academy.teacher_id), academy.class_id), token)
    assert err["code"] == "token_expired"
    assert "expired" in str(err["message"])
    assert code == 4401


async def test_token_for_another_class(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    client = sign_in(academy.student_ids[0])
    grant = await join_token(client, academy.class_id)
    err, code = await _refused(ws_url(client, academy.other_class_id), grant["token"])
    assert err["code"] == "token_wrong_class"
    assert code == 4401


async def test_forged_token(served: TestServer, academy: Academy, sign_in: SignIn) -> None:
    now = int(time.time())
    claims = {
        "iss": "sabaq",
        "typ": "join",
        "iat": now,
        "exp": now + 60,
        "sub": str(academy.outsider_id),
        "cls": academy.class_id,
        "role": "host",
        "name": "Самозванец",
        "media": "x",
    }
    forged = jwt.encode(claims, b"not-the-secret-not-the-secret-not-the", algorithm="HS256")
    unsigned = jwt.encode(claims, "", algorithm="none")
    url = ws_url(sign_in(academy.teacher_id), academy.class_id)
    for token in (forged, unsigned, "garbage", "a" * 5000):
        err, code = await _refused(url, token)
        assert err["code"] == "token_invalid"
        assert code == 4401


async def test_student_of_another_group_gets_no_token(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    client = sign_in(academy.outsider_id)
    resp = await client.post(
        f"/classes/{academy.class_id}/join-token", headers={"Accept": "application/json"}
    )
    assert resp.status == 403
    body = await resp.json()
    assert body["error"]["code"] == "not_in_class"
    # In the language of the outsider's own group (Kazakh).
    assert "Бұл сабақ басқа топқа арналған" in body["error"]["message"]
    page = await client.get(f"/classes/{academy.class_id}")
    assert page.status == 403
    assert "Бұл сабақ басқа топқа арналған" in await page.text()


async def test_signed_out_gets_no_token(served: TestServer, academy: Academy) -> None:
    async with ClientSession() as session:
        resp = await session.post(
            served.make_url(f"/classes/{academy.class_id}/join-token"),
            headers={"Accept": "application/json"},
        )
        # No CSRF cookie either: refused before anything else, with a message.
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "csrf_failed"


async def test_learner_cannot_publish_and_others_keep_receiving(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    good = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await good.wait_frames(5)
    bad = await join(sign_in(academy.student_ids[1]), academy.class_id)
    await bad.send("publish", sdp="v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n")
    err = await bad.wait_for("error")
    assert err["code"] == "not_allowed"
    before = good.frames
    await good.wait_frames(before + 10)
    for p in (bad, good, teacher):
        await p.close()


async def test_join_after_the_class_ended_is_refused(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher_client = sign_in(academy.teacher_id)
    student_client = sign_in(academy.student_ids[0])
    grant = await join_token(student_client, academy.class_id)  # minted while the class is on
    teacher = await join(teacher_client, academy.class_id)
    await teacher.send("end_class")
    await teacher.wait_for("ended")
    await teacher.close()
    late = await connect(ws_url(student_client, academy.class_id), grant["token"])
    err = await late.wait_for("error")
    assert err["code"] == "class_ended"
    await late.close()
    resp = await student_client.post(
        f"/classes/{academy.class_id}/join-token", headers={"Accept": "application/json"}
    )
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "class_over"


async def test_a_class_cancelled_or_held_in_person_after_the_join_token_is_refused_so(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """A join token fetched before the class was cancelled (the page fetches it ahead) is
    refused by the media node as cancelled, with the timetable's reason — not as ended; one
    for a class held in person since, as not online. Both close as finally as an ended class."""
    tt = served.app[keys.TIMETABLE]
    student = sign_in(academy.student_ids[0])
    grant = await join_token(student, academy.class_id)
    tt.cancel_class(academy.class_id, by=Actor(academy.staff_id, "Жанна"), reason="болезнь")
    late = await connect(ws_url(student, academy.class_id), grant["token"])
    err = await late.wait_for("error")
    assert (err["code"], err["reason"]) == ("class_cancelled", "болезнь")
    assert err["message"] == "This class has been cancelled: болезнь"
    assert await late.wait_closed() == 4000
    await late.close()
    in_person = class_ahead(served.app, academy, timedelta(hours=2), ClassFormat.IN_PERSON)
    token = served.app[keys.SIGNER].mint_join(  # as minted while the class was still online
        user_id=academy.student_ids[0],
        class_id=in_person.id,
        role=ClassRole.LEARNER,
        display_name="Студент 01",
        media_url="",
    )
    peer = await connect(ws_url(student, in_person.id), token)
    err = await peer.wait_for("error")
    assert (err["code"], "reason" in err) == ("not_online", False)
    assert await peer.wait_closed() == 4000
    await peer.close()
