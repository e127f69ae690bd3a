"""A removal that lasts (issue 20, item 7): one the teacher removed stays out of that class —
with a new join token, on a reload of the page, after a restart on the same data — until the
teacher lets them back in; they are told why, in their language."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from aiohttp.test_utils import TestServer

from access.models import ClassRole
from streaming.participant import REMOVED_MESSAGE
from tests.conftest import SignInTo, free_port, seed_academy
from tests.integration.admission.test_admission_status import _programmes, _record
from tests.integration.streaming.test_restart_refusals import Mint, enter, outcome, running
from tests.peers import connect, join_token, publish
from tests.redis_server import RedisServer
from web.core import keys
from web.core.app import create_app, create_media_app
from web.core.settings import Settings


async def test_a_removed_student_stays_out_across_new_tokens_and_a_restart_until_let_back(
    settings: Settings, sign_in_to: SignInTo
) -> None:
    async with running(settings) as server:
        academy = seed_academy(server.app)
        mint = Mint(server, academy)
        cid, sid, tid = academy.class_id, academy.student_ids[0], academy.teacher_id
        teacher = await enter(server, cid, mint(tid, ClassRole.HOST))
        assert (await outcome(teacher))[0] == "welcome"
        await publish(teacher)
        student = await enter(server, cid, mint(sid, ClassRole.LEARNER))
        welcome = await student.wait_for("welcome")
        await teacher.send("remove", participant_id=welcome["participant_id"])
        told = await student.wait_for("error")
        assert (told["code"], told["message"]) == ("removed", REMOVED_MESSAGE)
        assert await student.wait_closed() == 4003
        # A new join token (the page reloaded, Join pressed again): refused, saying why.
        again = await enter(server, cid, mint(sid, ClassRole.LEARNER))
        assert await outcome(again) == ("removed", REMOVED_MESSAGE, 4003)
        await again.close()
        # The page no longer hands out join tokens to them, and says why in their language.
        page = sign_in_to(server, sid)
        resp = await page.post(
            f"/classes/{cid}/join-token",
            headers={"Accept-Language": "ru", "Accept": "application/json"},
        )
        body = await resp.json()
        assert resp.status == 403 and body["error"]["code"] == "removed"
        assert "Преподаватель удалил вас" in body["error"]["message"]
        resp = await sign_in_to(server, sid).get(
            f"/classes/{cid}", headers={"Accept-Language": "kk"}
        )
        html = await resp.text()
        assert '<button id="join"' not in html and "Преподаватель удалил вас" in html
        for p in (teacher, student):
            await p.close()

    async with running(settings) as server:
        mint = Mint(server, academy)
        again = await enter(server, cid, mint(sid, ClassRole.LEARNER))
        assert await outcome(again) == ("removed", REMOVED_MESSAGE, 4003)
        await again.close()
        # Only the teacher sees whom they removed and lets them back.
        student_page = sign_in_to(server, sid)
        assert (await student_page.get(f"/classes/{cid}/removed")).status == 403
        assert (await student_page.post(f"/classes/{cid}/removed/{sid}/readmit")).status == 403
        teacher_page = sign_in_to(server, tid)
        listed = await (await teacher_page.get(f"/classes/{cid}/removed")).json()
        assert [r["user_id"] for r in listed["removed"]] == [sid]
        other = academy.student_ids[1]
        assert (await teacher_page.post(f"/classes/{cid}/removed/{other}/readmit")).status == 404
        resp = await teacher_page.post(f"/classes/{cid}/removed/{sid}/readmit")
        assert resp.status == 200, await resp.text()
        assert (await (await teacher_page.get(f"/classes/{cid}/removed")).json())["removed"] == []
        teacher = await enter(server, cid, mint(tid, ClassRole.HOST))
        assert (await outcome(teacher))[0] == "welcome"
        grant = await join_token(student_page, cid)
        back = await enter(server, cid, str(grant["token"]))
        assert (await outcome(back))[0] == "welcome"
        for p in (teacher, back):
            await p.close()


async def test_an_admission_change_does_not_lift_a_removal_nor_the_teacher_a_bar(
    settings: Settings, sign_in_to: SignInTo
) -> None:
    """The control plane (admission status, guests) and the teacher each lift only their own
    keeping out: a learner admitted again stays removed; one let back in by the teacher who is
    not admitted stays out."""
    async with running(settings) as server:
        academy = seed_academy(server.app)
        p = _programmes(server.app[keys.TIMETABLE], academy)
        mint = Mint(server, academy)
        cid, sid, tid = academy.class_id, academy.student_ids[0], academy.teacher_id
        teacher = await enter(server, cid, mint(tid, ClassRole.HOST))
        assert (await outcome(teacher))[0] == "welcome"
        student = await enter(server, cid, mint(sid, ClassRole.LEARNER))
        welcome = await student.wait_for("welcome")
        await teacher.send("remove", participant_id=welcome["participant_id"])
        assert (await student.wait_for("error"))["code"] == "removed"
        await student.close()
        # Staff record the learner's admission (another discipline): admitted to this class.
        staff = sign_in_to(server, academy.staff_id)
        key = f"{p.postgraduate}:{p.criminal_law}"
        for status in ("assignments_incomplete", "admitted"):
            assert await _record(staff, sid, key, status) == 303
        control = server.app[keys.MEDIA_CONTROL]
        assert await control.taken_out(cid) == {sid: "removed"}
        again = await enter(server, cid, mint(sid, ClassRole.LEARNER))
        assert await outcome(again) == ("removed", REMOVED_MESSAGE, 4003)
        await again.close()
        # Not admitted as well; the teacher lets them back in: still kept out, as not admitted.
        await control.remove_user(cid, sid, "not_admitted", "Вы не допущены")
        resp = await sign_in_to(server, tid).post(f"/classes/{cid}/removed/{sid}/readmit")
        assert resp.status == 200, await resp.text()
        assert await control.taken_out(cid) == {sid: "not_admitted"}
        again = await enter(server, cid, mint(sid, ClassRole.LEARNER))
        assert (await outcome(again))[::2] == ("revoked", 4003)
        for peer in (again, teacher):
            await peer.close()


async def test_in_a_cluster_a_removed_student_stays_out_on_every_node_until_let_back(
    settings: Settings, tmp_path: Path, sign_in_to: SignInTo
) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    cluster = dataclasses.replace(
        settings, redis_url=redis.url, node_heartbeat_seconds=0.2, node_dead_after_seconds=5.0
    )
    port = free_port()
    node_settings = dataclasses.replace(
        cluster, data_dir=tmp_path / "media-1", node_id="media-1",
        media_url=f"http://127.0.0.1:{port}/media",
    )  # fmt: skip
    control = TestServer(create_app(cluster, role="control"), host="127.0.0.1", port=free_port())
    await control.start_server()
    media = TestServer(create_media_app(node_settings), host="127.0.0.1", port=port)
    await media.start_server()
    try:
        # Bounded, so that a hang says where it waits (a run once stalled here until the
        # per-test timeout, which names no line).
        async with asyncio.timeout(60):
            academy = seed_academy(control.app)
            cid, sid, tid = academy.class_id, academy.student_ids[0], academy.teacher_id
            ws = f"ws://127.0.0.1:{port}/media/classes/{cid}/ws"
            teacher_page, student_page = sign_in_to(control, tid), sign_in_to(control, sid)
            teacher = await connect(ws, str((await join_token(teacher_page, cid))["token"]))
            await teacher.wait_for("welcome")
            student = await connect(ws, str((await join_token(student_page, cid))["token"]))
            welcome = await student.wait_for("welcome")
            await teacher.send("remove", participant_id=welcome["participant_id"])
            assert (await student.wait_for("error"))["code"] == "removed"
            await student.close()
            # The node kept them out where every node and the control plane see it (Redis).
            taken_out = await control.app[keys.MEDIA_CONTROL].taken_out(cid)
            assert taken_out == {sid: "removed"}
            resp = await student_page.post(
                f"/classes/{cid}/join-token", headers={"Accept": "application/json"}
            )
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "removed"

            # A token minted all the same (as one minted before the removal) is refused by the node.
            def token_of() -> str:
                return control.app[keys.SIGNER].mint_join(
                    user_id=sid,
                    class_id=cid,
                    role=ClassRole.LEARNER,
                    display_name="x",
                    media_url="",
                )

            again = await connect(ws, token_of())
            assert await outcome(again) == ("removed", REMOVED_MESSAGE, 4003)
            await again.close()
            resp = await teacher_page.post(f"/classes/{cid}/removed/{sid}/readmit")
            assert resp.status == 200, await resp.text()
            back = await connect(ws, str((await join_token(student_page, cid))["token"]))
            assert (await outcome(back))[0] == "welcome"
            # Removed again; admitted again by the control plane: still removed, on the node too.
            await teacher.send(
                "remove", participant_id=(await back.wait_for("welcome"))["participant_id"]
            )
            assert (await back.wait_for("error"))["code"] == "removed"
            await back.close()
            staff = sign_in_to(control, academy.staff_id)
            p = _programmes(control.app[keys.TIMETABLE], academy)
            key = f"{p.postgraduate}:{p.criminal_law}"
            for status in ("assignments_incomplete", "admitted"):
                assert await _record(staff, sid, key, status) == 303
            assert await control.app[keys.MEDIA_CONTROL].taken_out(cid) == {sid: "removed"}
            again = await connect(ws, token_of())
            assert await outcome(again) == ("removed", REMOVED_MESSAGE, 4003)
            await again.close()
            # Not admitted as well, then let back in by the teacher: still kept out.
            await control.app[keys.MEDIA_CONTROL].remove_user(
                cid, sid, "not_admitted", "Не допущены"
            )
            assert await control.app[keys.MEDIA_CONTROL].taken_out(cid) == {sid: "removed"}
            resp = await teacher_page.post(f"/classes/{cid}/removed/{sid}/readmit")
            assert resp.status == 200, await resp.text()
            again = await connect(ws, token_of())
            assert (await outcome(again))[::2] == ("revoked", 4003)
            for peer in (teacher, again):
                await peer.close()
    finally:
        try:
            async with asyncio.timeout(20):
                await media.close()
                await control.close()
        finally:
            redis.kill()
