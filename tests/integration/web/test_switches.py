"""Emergency switches through the API and the pages, on a fixed day: staff (or a key with
"schedule") put one in force, classes planned by the page and the API and moved by the API
into its days are live online, the portal is told by webhook; lifting it returns only the
classes it changed; who may list, make and lift switches."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from access.api_keys import Scope
from scheduler.models import DEFAULT_TIMEZONE, ClassFormat
from tests.conftest import Academy, Clock, SignIn
from web.api.openapi import document
from web.core import keys
from web.core.app import ROUTE_TABLES

ALMATY = ZoneInfo(DEFAULT_TIMEZONE)


@pytest.fixture
def clock() -> Clock:
    """Wednesday 8 September 2027, 09:00 in Almaty; the working days 13 to 16 are switched."""
    return Clock(datetime(2027, 9, 8, 9, 0, tzinfo=ALMATY))


def _plan(academy: Academy, day: str, start: str, *, group: int = 0) -> dict[str, Any]:
    other = group and group != academy.group_id
    return {
        "title": "Криминалистика", "kind": "seminar", "format": "in_person",
        "group_id": group or academy.group_id,
        "teacher_id": academy.other_teacher_id if other else academy.teacher_id,
        "day": day, "start": start, "end": "11:50" if start == "10:30" else "16:20",
    }  # fmt: skip


def _portal(served: TestServer, scopes: frozenset[Scope], staff_id: int) -> ClientSession:
    _key, secret = served.app[keys.API_KEYS].create("portal", scopes, staff_id)
    return ClientSession(
        base_url=served.make_url("/"), headers={"Authorization": f"Bearer {secret}"}
    )


def _webhooks(served: TestServer) -> list[tuple[str, dict[str, Any]]]:
    served.app[keys.WEBHOOKS].collect(time.time())
    rows = served.app[keys.DB].execute("SELECT body FROM webhook_outbox ORDER BY id")
    return [(b["event"], b["data"]) for b in (json.loads(r[0]) for r in rows)]


async def test_classes_planned_and_moved_into_a_switch_go_online_and_lifting_returns_them(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    served.app[keys.WEBHOOKS].add("https://portal.example/hooks", academy.staff_id)
    staff = sign_in(academy.staff_id)
    made = await staff.post(
        "/api/v1/switches",
        json={"first_day": "2027-09-13", "last_day": "2027-09-16",
              "group_ids": [academy.group_id], "reason": "карантин"},
    )  # fmt: skip
    assert made.status == 201, await made.text()
    sw = await made.json()
    assert sw["in_force"] and sw["group_ids"] == [academy.group_id] and sw["class_ids"] == []
    assert sw["by"] == "Жанна Серикбаева" and sw["lifted_at"] is None
    # Planned on the page, in person, inside the days: live online.
    page = await staff.post(
        "/timetable/classes", data=_plan(academy, "2027-09-14", "10:30"), allow_redirects=False
    )
    assert page.status in (302, 303), await page.text()
    by_page = tt.classes_of_group(academy.group_id)[-1]
    assert by_page.starts_at.astimezone(ALMATY).date() == date(2027, 9, 14)
    assert by_page.format is ClassFormat.LIVE_ONLINE
    # Planned through the API: the answer already says live online.
    api = await staff.post("/api/v1/classes", json=_plan(academy, "2027-09-15", "15:00"))
    assert api.status == 201, await api.text()
    (by_api,) = (await api.json())["classes"]
    assert by_api["format"] == "live_online"
    # Outside the days, or another group's: in person; then moved into the days: online.
    outside = await staff.post("/api/v1/classes", json=_plan(academy, "2027-09-10", "10:30"))
    (later,) = (await outside.json())["classes"]
    assert later["format"] == "in_person"
    other_group = tt.groups_of_member(academy.outsider_id)[0].id
    other = await staff.post(
        "/api/v1/classes", json=_plan(academy, "2027-09-14", "10:30", group=other_group)
    )
    assert (await other.json())["classes"][0]["format"] == "in_person"
    moved = await staff.post(
        f"/api/v1/classes/{later['id']}/move",
        json={"day": "2027-09-16", "start": "10:30", "end": "11:50"},
    )
    assert moved.status == 200 and (await moved.json())["format"] == "live_online"
    # Live online by hand inside the days: not the switch's.
    hand = await staff.post(
        "/api/v1/classes", json=_plan(academy, "2027-09-13", "15:00") | {"format": "live_online"}
    )
    (by_hand,) = (await hand.json())["classes"]
    listed = await (await staff.get("/api/v1/switches")).json()
    (now,) = listed["switches"]
    assert sorted(now["class_ids"]) == sorted([by_page.id, by_api["id"], later["id"]])
    # The portal was told: the switch, then each class switched online by it.
    told = _webhooks(served)
    assert ("switch.made", {"class_id": None, "group_id": None, "by": "Жанна Серикбаева",
                            "reason": "карантин", "at": sw_at(told), "switch_id": sw["id"]}
            ) in told  # fmt: skip
    switched = [d["class_id"] for e, d in told if e == "class.switched_online"]
    assert sorted(switched) == sorted(now["class_ids"])
    assert all(d["switch_id"] == sw["id"] for e, d in told if e == "class.switched_online")
    # The page lists it, in force.
    html = await (await staff.get("/timetable/emergency")).text()
    assert f'data-switch-id="{sw["id"]}"' in html and "карантин" in html

    lifted = await staff.post(f"/api/v1/switches/{sw['id']}/lift")
    assert lifted.status == 200
    body = await lifted.json()
    assert not body["in_force"] and body["lifted_by"] == "Жанна Серикбаева" and body["lifted_at"]
    for cid in now["class_ids"]:
        assert tt.get_class(cid).format is ClassFormat.IN_PERSON
    assert tt.get_class(by_hand["id"]).format is ClassFormat.LIVE_ONLINE
    told = _webhooks(served)
    assert [e for e, _ in told].count("switch.lifted") == 1
    undone = [d["class_id"] for e, d in told if e == "class.switch_undone"]
    assert sorted(undone) == sorted(now["class_ids"])
    again = await staff.post(f"/api/v1/switches/{sw['id']}/lift")
    assert again.status == 409
    assert (await staff.post("/api/v1/switches/999999/lift")).status == 404


def sw_at(told: list[tuple[str, dict[str, Any]]]) -> float:
    return next(float(d["at"]) for e, d in told if e == "switch.made")


async def test_who_may_list_make_and_lift_switches(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    body = {"first_day": "2027-09-13", "last_day": "2027-09-16", "all_groups": True,
            "reason": "су тасқыны"}  # fmt: skip
    for who in (academy.student_ids[0], academy.teacher_id):
        client = sign_in(who)
        assert (await client.get("/api/v1/switches")).status == 403
        assert (await client.post("/api/v1/switches", json=body)).status == 403
    staff = sign_in(academy.staff_id)
    bad = (
        body | {"last_day": "2027-09-12"},
        body | {"first_day": "13.09.2027"},
        body | {"group_ids": [academy.group_id]},  # groups and all of them
        {k: v for k, v in body.items() if k != "all_groups"},  # neither
        body | {"reason": " "},
        body | {"reason": ""},
        body | {"extra": 1},
    )
    for b in bad:
        refused = await staff.post("/api/v1/switches", json=b)
        assert refused.status == 400, (b, await refused.text())
    unknown = await staff.post(
        "/api/v1/switches", json={k: v for k, v in body.items() if k != "all_groups"}
        | {"group_ids": [999999]},
    )  # fmt: skip
    assert unknown.status == 404
    assert served.app[keys.TIMETABLE].switches() == []
    async with ClientSession(base_url=served.make_url("/")) as anyone:
        assert (await anyone.get("/api/v1/switches")).status == 401
    async with _portal(served, frozenset({Scope.READ}), academy.staff_id) as reader:
        assert (await reader.get("/api/v1/switches")).status == 200
        assert (await reader.post("/api/v1/switches", json=body)).status == 403
    async with _portal(served, frozenset({Scope.SCHEDULE}), academy.staff_id) as portal:
        key = {"Idempotency-Key": "switch-2027-09-13"}
        made = await portal.post("/api/v1/switches", json=body, headers=key)
        assert made.status == 201
        # A retry after a timeout gets the first answer: one switch in force, not two.
        again = await portal.post("/api/v1/switches", json=body, headers=key)
        assert again.status == 201 and (await again.json()) == (await made.json())
        assert len(served.app[keys.TIMETABLE].switches()) == 1
        sw = await made.json()
        assert sw["group_ids"] == [] and "portal" in sw["by"]
        assert (await portal.get("/api/v1/switches")).status == 403  # no "read"
        for who in (academy.student_ids[0], academy.teacher_id):
            lift = await sign_in(who).post(f"/api/v1/switches/{sw['id']}/lift")
            assert lift.status == 403
        assert (await portal.post(f"/api/v1/switches/{sw['id']}/lift")).status == 200
    listed = await (await staff.get("/api/v1/switches")).json()
    assert [s["in_force"] for s in listed["switches"]] == [False]


def test_the_switch_operations_are_in_the_openapi_document() -> None:
    doc = document(chain.from_iterable(ROUTE_TABLES))
    ops = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert {"emergencySwitches", "makeSwitch", "liftSwitch"} <= ops
    assert "/api/v1/switches/{switch_id}/lift" in doc["paths"]
