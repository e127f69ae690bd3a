"""API keys for the portal: created by staff with scopes and shown once, checked on every call
(a key without the scope gets 403, a revoked or unknown one 401), and each call attributed."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from access.api_keys import Scope
from scheduler.models import ClassFormat, ClassKind
from scheduler.workdays import AcademyCalendar
from tests.conftest import Academy, SignIn
from tests.days import working_day
from web.core import keys
from web.core.http import CSRF_COOKIE


def _monday_ahead() -> date:
    soon = date.today() + timedelta(days=20)
    return working_day(AcademyCalendar(), soon - timedelta(days=soon.weekday()), step=7)


async def test_staff_create_a_key_the_portal_uses_it_within_its_scopes(
    served: TestServer, academy: Academy, sign_in: SignIn, caplog: pytest.LogCaptureFixture
) -> None:
    staff = sign_in(academy.staff_id)
    assert (await sign_in(academy.teacher_id).get("/api-keys")).status == 403
    made = await staff.post("/api-keys", data={"name": "Портал", "scope": "read"})
    html = await made.text()
    found = re.search(r'value="(sbq_[A-Za-z0-9_-]{40,})"', html)
    assert made.status == 200 and found
    reader = found.group(1)
    assert made.headers["Cache-Control"] == "no-store"
    assert reader not in await (await staff.get("/api-keys")).text()  # shown once
    assert (await staff.post("/api-keys", data={"name": "x"})).status == 400  # no scope

    key, writer = served.app[keys.API_KEYS].create(
        "Портал (расписание)", frozenset({Scope.READ, Scope.SCHEDULE}), academy.staff_id
    )
    monday = _monday_ahead()
    body = {
        "title": "Криминология", "kind": "lecture", "format": "live_online",
        "group_id": academy.group_id, "teacher_id": academy.teacher_id,
        "day": monday.isoformat(), "start": "09:00", "end": "10:20",
    }  # fmt: skip
    url = (
        f"/api/v1/groups/{academy.group_id}/timetable"
        f"?from={monday.isoformat()}&to={(monday + timedelta(days=6)).isoformat()}"
    )
    async with ClientSession(base_url=served.make_url("/")) as portal:

        def bearer(secret: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {secret}"}

        listed = await portal.get(url, headers=bearer(reader))
        assert listed.status == 200 and (await listed.json())["classes"] == []
        refused = await portal.post("/api/v1/classes", json=body, headers=bearer(reader))
        assert refused.status == 403
        assert (await refused.json())["error"]["code"] == "scope_missing"
        with caplog.at_level(logging.INFO, logger="sabaq.web"):
            created = await portal.post("/api/v1/classes", json=body, headers=bearer(writer))
        assert created.status == 201, await created.text()  # no CSRF token: none is needed
        assert any(f"api key={key.id}" in r.getMessage() for r in caplog.records)
        (c,) = (await created.json())["classes"]
        change = served.app[keys.TIMETABLE].changes(class_id=c["id"])[0]
        assert change.by_id is None and change.by_name == f"API: Портал (расписание) (#{key.id})"
        assert len((await (await portal.get(url, headers=bearer(reader))).json())["classes"]) == 1

        for secret in ("sbq_" + "x" * 43, "nonsense"):
            resp = await portal.get(url, headers=bearer(secret))
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "api_key_invalid"
        revoke = await staff.post(f"/api-keys/{key.id}/revoke")
        assert revoke.status == 200
        gone = await portal.post("/api/v1/classes", json=body, headers=bearer(writer))
        assert gone.status == 401
        # A key speaks only to the API: pages still want a person signed in.
        page = await portal.get("/", headers=bearer(reader), allow_redirects=False)
        assert page.status == 303
        # Without any key or session the API answers 401, not a sign-in page.
        assert (await portal.get(url)).status == 401


async def test_a_retried_creation_with_the_same_idempotency_key_plans_once(
    served: TestServer, academy: Academy
) -> None:
    _key, secret = served.app[keys.API_KEYS].create(
        "портал", frozenset({Scope.SCHEDULE, Scope.READ}), academy.staff_id
    )
    monday = _monday_ahead()
    body = {
        "title": "Криминология", "kind": "lecture", "format": "live_online",
        "group_id": academy.group_id, "teacher_id": academy.teacher_id,
        "day": monday.isoformat(), "start": "12:00", "end": "13:20",
    }  # fmt: skip
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "plan-2026-001"}
    async with ClientSession(base_url=served.make_url("/")) as portal:
        first = await portal.post("/api/v1/classes", json=body, headers=headers)
        assert first.status == 201 and "Idempotent-Replayed" not in first.headers
        again = await portal.post("/api/v1/classes", json=body, headers=headers)
        assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert await again.json() == await first.json()  # the same class, not a second one
        other = await portal.post(
            "/api/v1/classes", json=body | {"start": "15:00", "end": "16:00"}, headers=headers
        )
        assert other.status == 422
        assert (await other.json())["error"]["code"] == "idempotency_key_reused"
        bad = await portal.post(
            "/api/v1/classes", json=body, headers=headers | {"Idempotency-Key": "x" * 101}
        )
        assert bad.status == 400
    planned = served.app[keys.TIMETABLE].classes_of_group(academy.group_id)
    assert sum(c.title == "Криминология" for c in planned) == 1


async def test_join_links_are_the_portals_and_open_one_class_only(
    served: TestServer, academy: Academy, sign_in: SignIn, caplog: pytest.LogCaptureFixture
) -> None:
    link_body = {"user_id": academy.teacher_id, "class_id": academy.class_id}
    # Staff cannot sign in as a teacher or a student through a link made from their session.
    refused = await sign_in(academy.staff_id).post("/api/v1/join-links", json=link_body)
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "api_key_required"
    tt = served.app[keys.TIMETABLE]
    now = datetime.now(UTC)
    second = tt.add_class(
        title="Уголовный процесс", kind=ClassKind.SEMINAR, format=ClassFormat.LIVE_ONLINE,
        teacher_id=academy.teacher_id, starts_at=now + timedelta(hours=2),
        ends_at=now + timedelta(hours=3),
        group_ids=(academy.group_id,), on_day_off=True,  # today, whatever the day is
    )  # fmt: skip
    key, secret = served.app[keys.API_KEYS].create(
        "Портал", frozenset({Scope.JOIN}), academy.staff_id
    )
    async with ClientSession(base_url=served.make_url("/")) as portal:
        with caplog.at_level(logging.INFO, logger="sabaq.web"):
            made = await portal.post(
                "/api/v1/join-links", json=link_body, headers={"Authorization": f"Bearer {secret}"}
            )
            assert made.status == 201, await made.text()
            url = (await made.json())["url"]
            async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
                landed = await browser.get(url)
                assert landed.status == 200 and "Уголовное право" in await landed.text()
                assert str(landed.url).endswith(f"/classes/{academy.class_id}")
                # The link opens that class: its page and joining it, as the teacher.
                csrf = {c.key: c.value for c in browser.cookie_jar}[CSRF_COOKIE]
                joined = await browser.post(
                    served.make_url(f"/classes/{academy.class_id}/join-token"),
                    headers={"X-CSRF-Token": csrf},
                )
                assert joined.status == 200 and (await joined.json())["role"] == "host"
                # Nothing else as that teacher: not their other class, not their home page.
                for path in (f"/classes/{second.id}", "/", f"/classes/{academy.class_id}x"):
                    other = await browser.get(served.make_url(path), allow_redirects=False)
                    assert other.status in (403, 404), (path, other.status)
                other_token = await browser.post(
                    served.make_url(f"/classes/{second.id}/join-token"),
                    headers={"X-CSRF-Token": csrf},
                )
                assert other_token.status == 403
        # The log names who made the link and who used it.
        made_by = f"API: Портал (#{key.id})"
        assert any(
            "join link" in r.getMessage() and made_by in r.getMessage() for r in caplog.records
        )
        assert any(
            "join link used" in r.getMessage() and made_by in r.getMessage() for r in caplog.records
        )


async def test_the_keys_of_a_deactivated_account_are_refused_until_it_is_reactivated(
    served: TestServer, academy: Academy
) -> None:
    made, secret = served.app[keys.API_KEYS].create(
        "портал", frozenset({Scope.READ, Scope.JOIN}), academy.staff_id
    )
    people = served.app[keys.PEOPLE]
    url = "/api/v1/groups"
    headers = {"Authorization": f"Bearer {secret}"}
    async with ClientSession(base_url=served.make_url("/")) as portal:
        assert (await portal.get(url, headers=headers)).status == 200
        link_body = {"user_id": academy.student_ids[0], "class_id": academy.class_id}
        link = await portal.post("/api/v1/join-links", json=link_body, headers=headers)
        assert link.status == 201, await link.text()
        people.deactivate(academy.staff_id)  # the staff member who made it has left
        # A join link the key made just before is refused too.
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
            landed = await browser.get((await link.json())["url"], allow_redirects=False)
            assert landed.status == 401
        refused = await portal.get(url, headers=headers)
        error = (await refused.json())["error"]
        assert refused.status == 401 and error["code"] == "api_key_invalid"
        assert "deactivated" in error["message"]
        (listed,) = [k for k in served.app[keys.API_KEYS].listed() if k.id == made.id]
        assert listed.active and not listed.maker_active  # the keys page says it is refused
        people.reactivate(academy.staff_id)
        assert (await portal.get(url, headers=headers)).status == 200
