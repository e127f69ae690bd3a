"""The OpenAPI document is the API: every operation answers only with statuses it documents,
with bodies of the documented shape — for good calls and for bad ones."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import chain
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from pydantic import BaseModel, ValidationError

from access.api_keys import Scope
from access.errors import UserNotFound
from scheduler.models import DisciplineFormat, ProgrammeKind
from tests.conftest import Academy, SignIn
from web.api import admin_models
from web.api import models as api_models
from web.api.openapi import document
from web.core import keys
from web.core.app import ROUTE_TABLES


def _misfits(doc: dict[str, Any], schema: dict[str, Any], data: Any) -> list[str]:
    """What in ``data`` does not fit ``schema``, a reference to one of the document's
    component schemas: checked by the model the component was generated from."""
    name = schema["$ref"].removeprefix("#/components/schemas/")
    assert name in doc["components"]["schemas"], name
    found = [getattr(m, name) for m in (api_models, admin_models) if hasattr(m, name)]
    model: type[BaseModel] = found[0]
    try:
        model.model_validate(data, strict=True)
    except ValidationError as exc:
        return [f"{e['loc']}: {e['msg']}" for e in exc.errors()]
    return []


async def test_every_operation_answers_as_documented(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    doc = document(chain.from_iterable(ROUTE_TABLES))
    assert doc["openapi"] == "3.1.0"
    _key, secret = served.app[keys.API_KEYS].create("contract", frozenset(Scope), academy.staff_id)
    reader_key, reader = served.app[keys.API_KEYS].create(
        "reader", frozenset({Scope.READ}), academy.staff_id
    )
    soon = date.today() + timedelta(days=20)
    monday = soon - timedelta(days=soon.weekday())
    plan = {
        "title": "Криминалистика", "kind": "seminar", "format": "live_online",
        "group_id": academy.group_id, "teacher_id": academy.teacher_id,
        "day": monday.isoformat(), "start": "09:00", "end": "10:20",
        "on_day_off": True,  # the wall clock's weeks may hold a public holiday
    }  # fmt: skip
    span = f"from={monday.isoformat()}&to={(monday + timedelta(days=6)).isoformat()}"
    checked: set[tuple[str, str]] = set()

    async with ClientSession(base_url=served.make_url("/")) as portal:
        served_doc = await (await portal.get("/api/v1/openapi.json")).json()
        assert served_doc == doc
        docs_page = await portal.get("/api/v1/docs")
        assert docs_page.status == 200 and "planClasses" in await docs_page.text()

        async def call(
            method: str,
            template: str,
            path: str,
            body: Any = None,
            token: str = secret,
            headers: dict[str, str] | None = None,
        ) -> Any:
            resp = await portal.request(
                method,
                path,
                json=body,
                headers={"Authorization": f"Bearer {token}"} | (headers or {}),
            )
            op = doc["paths"][template][method.lower()]
            assert str(resp.status) in op["responses"], (method, path, resp.status)
            content = op["responses"][str(resp.status)].get("content")
            data = await resp.json()
            if content:
                schema = content["application/json"]["schema"]
                assert _misfits(doc, schema, data) == [], (path, resp.status, data)
            checked.add((method.lower(), template))
            return resp.status, data

        status, made = await call("POST", "/api/v1/classes", "/api/v1/classes", plan)
        assert status == 201
        cid = made["classes"][0]["id"]
        assert (await call("POST", "/api/v1/classes", "/api/v1/classes", plan))[0] == 409
        for bad in ({}, {"title": 5}, plan | {"extra": 1}, plan | {"start": "9:00"}, [1]):
            assert (await call("POST", "/api/v1/classes", "/api/v1/classes", bad))[0] == 400
        refused = await call("POST", "/api/v1/classes", "/api/v1/classes", plan, reader)
        assert refused[0] == 403
        group_tt = "/api/v1/groups/{group_id}/timetable"
        assert (await call("GET", group_tt, f"/api/v1/groups/{academy.group_id}/timetable?{span}"))[
            0
        ] == 200
        assert (await call("GET", group_tt, f"/api/v1/groups/{academy.group_id}/timetable"))[
            0
        ] == 400
        assert (await call("GET", group_tt, f"/api/v1/groups/999999/timetable?{span}"))[0] == 404
        teacher_tt = "/api/v1/teachers/{user_id}/timetable"
        path = f"/api/v1/teachers/{academy.teacher_id}/timetable?{span}"
        assert (await call("GET", teacher_tt, path))[0] == 200
        move = "/api/v1/classes/{class_id}/move"
        new_day = (monday + timedelta(days=1)).isoformat()
        to = {"day": new_day, "start": "11:00", "end": "12:20", "on_day_off": True}
        assert (await call("POST", move, f"/api/v1/classes/{cid}/move", to))[0] == 200
        assert (await call("POST", move, f"/api/v1/classes/{cid}/move", {"day": "x"}))[0] == 400
        cancel = "/api/v1/classes/{class_id}/cancel"
        assert (await call("POST", cancel, f"/api/v1/classes/{cid}/cancel", {}))[0] == 400
        assert (await call("POST", cancel, f"/api/v1/classes/{cid}/cancel",
                           {"reason": "карантин"}))[0] == 200  # fmt: skip
        assert (await call("POST", cancel, f"/api/v1/classes/{cid}/cancel",
                           {"reason": "ещё раз"}))[0] == 409  # fmt: skip
        links = "/api/v1/join-links"
        status, link = await call(
            "POST", links, links, {"user_id": academy.student_ids[0], "class_id": academy.class_id}
        )
        assert status == 201 and f"next=/classes/{academy.class_id}" in link["url"]
        assert link["role"] == "learner"
        async with ClientSession() as browser:  # the link signs the student in, once
            landed = await browser.get(link["url"].replace("localhost", "127.0.0.1"))
            assert landed.status == 200 and str(landed.url).endswith(f"/classes/{academy.class_id}")
            again = await browser.get(link["url"], allow_redirects=False)
            assert again.status == 401
        outsider = {"user_id": academy.outsider_id, "class_id": academy.class_id}
        assert (await call("POST", links, links, outsider))[0] == 403
        # A link signs its person in: never one for staff (nor a director or an admin).
        staff_link = {"user_id": academy.staff_id, "class_id": academy.class_id}
        assert (await call("POST", links, links, staff_link))[0] == 403
        surrogate = {"members": [{"login": "ab\ud800", "full_name": "X"}]}
        assert (await call("POST", "/api/v1/groups", "/api/v1/groups", surrogate))[0] == 400
        assert (await call("POST", links, links, {"user_id": 999999, "class_id": 1}))[0] == 404
        assert (await call("POST", links, links, {"user_id": "x"}))[0] == 400
        groups = "/api/v1/groups"
        dept = served.app[keys.TIMETABLE].group(academy.group_id).department_id
        new = {"name": "ПД-27-1", "department_id": dept, "language": "kk",
               "starts_on": "2027-09-01", "ends_on": "2028-06-30"}  # fmt: skip
        status, made_group = await call("POST", groups, groups, new)
        assert status == 201 and made_group["language"] == "kk" and made_group["members"] == []
        assert (await call("POST", groups, groups, new))[0] == 409  # the name is taken
        assert (
            await call("POST", groups, groups, new | {"name": "X", "time_zone": "Mars/Olympus"})
        )[0] == 400
        assert (await call("POST", groups, groups, new | {"name": "Y", "department_id": 999}))[
            0
        ] == 404
        status, page = await call("GET", groups, f"{groups}?limit=1")
        assert status == 200 and len(page["items"]) == 1 and page["next_offset"] == 1
        status, rest = await call("GET", groups, f"{groups}?limit=1&offset=1")
        assert page["total"] == 3  # two seeded, one just created
        assert rest["next_offset"] == 2 and rest["items"][0]["id"] != page["items"][0]["id"]
        assert (await call("GET", groups, f"{groups}?limit=0"))[0] == 400
        members = "/api/v1/groups/{group_id}/members"
        into = f"/api/v1/groups/{made_group['id']}/members"
        roster = {"members": [
            {"login": "portal.learner1", "full_name": "Айгерім Сәрсенова", "agency": "МВД"},
            {"login": "student01", "full_name": "Студент 01"},
        ]}  # fmt: skip
        status, added = await call("POST", members, into, roster)
        assert status == 200 and (added["created"], added["added"]) == (1, 2)
        assert sorted(added["group"]["members"]) == sorted(m["user_id"] for m in added["members"])
        status, again = await call("POST", members, into, roster)
        assert status == 200 and (again["created"], again["added"], again["already"]) == (0, 0, 2)
        staff_login = served.app[keys.ACCOUNTS].get(academy.staff_id).login
        wrong_rosters: list[dict[str, Any]] = [
            {"members": []},
            {"members": [{"login": "x"}]},
            {"members": [{"login": "bad login!", "full_name": "X"}]},
            {"members": [{"login": staff_login, "full_name": "X"}]},  # not a student
            {"members": [{"login": "twice", "full_name": "X"}] * 2},
        ]
        for wrong_roster in wrong_rosters:
            assert (await call("POST", members, into, wrong_roster))[0] == 400, wrong_roster
        with pytest.raises(UserNotFound):  # all or none: the valid row was not written either
            served.app[keys.ACCOUNTS].by_login("twice")
        assert (await call("POST", members, "/api/v1/groups/999999/members", roster))[0] == 404
        teachers = "/api/v1/groups/{group_id}/teachers"
        to_teach = f"/api/v1/groups/{made_group['id']}/teachers"
        status, taught = await call("POST", teachers, to_teach, {"user_id": academy.teacher_id})
        assert status == 200 and taught["teachers"] == [academy.teacher_id]
        student = {"user_id": academy.student_ids[0]}
        assert (await call("POST", teachers, to_teach, student))[0] == 400
        assert (await call("POST", teachers, to_teach, {"user_id": 999999}))[0] == 404
        assert (await call("POST", teachers, to_teach, {"user_id": "1"}))[0] == 400
        group_report = "/api/v1/reports/groups/{group_id}"
        path = f"/api/v1/reports/groups/{academy.group_id}?month=2026-03"
        status, report = await call("GET", group_report, path)
        assert status == 200 and report["header"][0] == "Обучающийся"  # the default language
        assert len(report["rows"]) == len(academy.student_ids)
        bad_month = f"/api/v1/reports/groups/{academy.group_id}?month=March"
        assert (await call("GET", group_report, bad_month))[0] == 400
        assert (await call("GET", group_report, path, token=reader))[0] == 403  # no scope
        learner_report = "/api/v1/reports/learners/{user_id}"
        path = f"/api/v1/reports/learners/{academy.student_ids[0]}"
        assert (await call("GET", learner_report, path))[0] == 200
        assert (await call("GET", learner_report, "/api/v1/reports/learners/999999"))[0] == 404
        guests = "/api/v1/guest-requests"
        head = served.app[keys.ACCOUNTS].by_login("head")[0].id
        guest = {
            "head_user_id": head, "class_id": academy.class_id, "guest_name": "Ержан Тоқтаров",
            "organisation": "Прокуратура", "position": "прокурор", "contact": "+7 701 000 0000",
            "topic": "Тергеу", "justification": "Тәжірибе", "presents": True,
        }  # fmt: skip
        status, filed = await call("POST", guests, guests, guest, headers={"Idempotency-Key": "g"})
        assert status == 201 and filed["status"] == "pending"
        replayed = await call("POST", guests, guests, guest, headers={"Idempotency-Key": "g"})
        assert replayed == (201, filed)
        steps = served.app[keys.GUESTS].steps(filed["id"])
        assert steps[0].actor_id == head  # filed as the head the portal named
        not_head = guest | {"head_user_id": academy.teacher_id}
        assert (await call("POST", guests, guests, not_head))[0] == 403
        assert (await call("POST", guests, guests, guest | {"topic": ""}))[0] == 400
        assert (await call("POST", guests, guests, guest | {"head_user_id": 999999}))[0] == 404
        admission = "/api/v1/learners/{user_id}/admission"
        tt = served.app[keys.TIMETABLE]
        pg = tt.add_programme("Магистратура", ProgrammeKind.POSTGRADUATE, 1)
        law = tt.add_discipline(pg.id, "Уголовное право", 5, DisciplineFormat.DISTANCE)
        pg_group = tt.add_group("М-1", dept, "ru", "Asia/Almaty", programme_id=pg.id)
        learner = academy.student_ids[0]
        tt.add_members(pg_group.id, [learner])
        mine = f"/api/v1/learners/{learner}/admission"
        barred = {"programme_id": pg.id, "discipline_id": law.id, "admitted": False,
                  "reason": "assignments_incomplete", "note": "Ведомость портала"}  # fmt: skip
        status, change = await call("POST", admission, mine, barred)
        assert status == 201 and change["by"].startswith("API: contract")
        assert (await call("POST", admission, mine, barred))[0] == 200  # nothing new
        for wrong in (
            barred | {"reason": None},
            barred | {"admitted": True},
            barred | {"discipline_id": None},
            barred | {"discipline_id": 999999},
            barred | {"programme_id": 999999},
            barred | {"note": ""},
            barred | {"reason": "lazy"},
            {"admitted": "no"},
        ):
            assert (await call("POST", admission, mine, wrong))[0] == 400, wrong
        assert (await call("POST", admission, mine, barred, reader))[0] == 403
        assert (await call("POST", admission, "/api/v1/learners/999999/admission", barred))[
            0
        ] == 404
        status, statuses = await call("GET", admission, mine, token=reader)
        assert status == 200 and statuses["statuses"] == [
            {"programme_id": pg.id, "discipline_id": law.id, "name": "Уголовное право",
             "admitted": False, "reason": "assignments_incomplete",
             "since": change["at"]},
        ]  # fmt: skip
        assert [h["id"] for h in statuses["history"]] == [change["id"]]
        assert (await call("GET", admission, "/api/v1/learners/999999/admission"))[0] == 404
        excuses = "/api/v1/excuse-requests"
        sick = {
            "learner_id": learner, "group_id": academy.group_id, "reason": "illness",
            "first_day": "2026-03-02", "last_day": "2026-03-04",
            "document": "Справка № 12 от 05.03.2026", "filed_by_user_id": academy.staff_id,
        }  # fmt: skip
        status, excuse = await call("POST", excuses, excuses, sick)
        assert status == 201 and excuse["status"] == "pending"
        once = {"Idempotency-Key": "excuse-1"}
        first = await call("POST", excuses, excuses, sick | {"details": "повтор"}, headers=once)
        again = await call("POST", excuses, excuses, sick | {"details": "повтор"}, headers=once)
        assert first == again and first[0] == 201  # the retry made nothing new
        other = await call("POST", excuses, excuses, sick | {"details": "иное"}, headers=once)
        assert other[0] == 422
        assert excuse["decider_id"] == served.app[keys.ACCOUNTS].by_login("director")[0].id
        assert [s["action"] for s in excuse["steps"]] == ["filed"]
        for wrong_excuse in (
            sick | {"last_day": "2026-03-01"},
            sick | {"first_day": "1999-01-01"},
            sick | {"document": ""},
            sick | {"reason": "lazy"},
            sick | {"learner_id": academy.outsider_id},  # not in the group
        ):
            assert (await call("POST", excuses, excuses, wrong_excuse))[0] == 400, wrong_excuse
        as_teacher = sick | {"filed_by_user_id": academy.teacher_id}
        assert (await call("POST", excuses, excuses, as_teacher))[0] == 403
        assert (await call("POST", excuses, excuses, sick | {"group_id": 999999}))[0] == 404
        assert (await call("POST", excuses, excuses, sick, reader))[0] == 403
        one = "/api/v1/excuse-requests/{request_id}"
        status, read = await call("GET", one, f"{excuses}/{excuse['id']}")
        assert status == 200 and read == excuse
        # Health and family matters: not for a key that only reads timetables.
        assert (await call("GET", one, f"{excuses}/{excuse['id']}", token=reader))[0] == 403
        assert (await call("GET", one, f"{excuses}/999999"))[0] == 404
        alerts = "/api/v1/guarantee/alerts"
        assert (await call("GET", alerts, alerts))[0] == 200
        assert (await call("GET", alerts, alerts, token="sbq_unknown"))[0] == 401
        run = "/api/v1/guarantee/run"  # (tests/integration/web/test_guarantee_run.py)
        status, would = await call("POST", run, run, {"dry_run": True})
        assert status == 200 and would["dry_run"] is True
        assert (await call("POST", run, run, {"dry_run": True}, reader))[0] == 403
        assert (await call("POST", run, run, {"dry_run": 1}))[0] == 400
        assert reader_key.id  # the reader key exists and was refused the write above
        # The structure: the portal reads it; staff and administrators change it, signed in
        # (tests/integration/web/test_structure.py), never with a key.
        for area, ident, body in (
            ("institutes", "{institute_id}", {"name": "Институт Б"}),
            ("departments", "{department_id}", {"institute_id": 1, "name": "Кафедра Б"}),
            ("agencies", "{agency_id}", {"name": "КНБ", "contacts": ["hr@knb.kz"]}),
        ):
            listed = f"/api/v1/{area}"
            one = f"{listed}/{ident}"
            assert (await call("GET", listed, listed))[0] == 200
            assert (await call("GET", listed, listed, token=reader))[0] == 200
            assert (await call("POST", listed, listed, body))[0] == 403
            assert (await call("POST", listed, listed, {"name": 5}))[0] in (400, 403)
            assert (await call("PATCH", one, f"{listed}/1", {"archived": True}))[0] == 403
            assert (await call("GET", listed, listed, token="sbq_unknown"))[0] == 401
        notices = "/api/v1/notices/unread"  # a person's (tests/integration/web/test_notices.py)
        assert (await call("GET", notices, notices))[0] == 403
        await _people(call, academy, reader)
        await _calendar(call, reader)
        await _audit(call, reader)
        await _switches(call, academy, reader)

    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert checked == documented  # every operation of the document was exercised


async def _calendar(call: Any, reader: str) -> None:
    """The academy calendar: read with any key, changed with "schedule"."""
    listed = "/api/v1/calendar"
    status, year = await call("GET", listed, f"{listed}?year=2027")
    assert status == 200
    assert {"day": "2027-03-22", "off": True, "source": "holiday"}.items() <= next(
        d for d in year["days"] if d["day"] == "2027-03-22"
    ).items()
    assert (await call("GET", listed, f"{listed}?year=1999"))[0] == 400
    assert (await call("GET", listed, f"{listed}?year=2027", token=reader))[0] == 200
    days = "/api/v1/calendar/days"
    saturday = {"day": "2027-01-09", "kind": "working_day", "name": "Рабочая суббота"}
    status, day = await call("PUT", days, days, saturday)
    assert status == 200 and day == {
        "day": "2027-01-09", "off": False, "name": "Рабочая суббота", "source": "staff",
        "holiday": None,
    }  # fmt: skip
    assert (await call("PUT", days, days, saturday, reader))[0] == 403
    assert (await call("PUT", days, days, saturday | {"kind": "holiday"}))[0] == 400
    assert (await call("PUT", days, days, saturday | {"name": ""}))[0] == 400
    assert (await call("DELETE", days, f"{days}?day=2027-01-09", token=reader))[0] == 403
    assert (await call("DELETE", days, f"{days}?day=2027-01-09"))[0] == 200
    assert (await call("DELETE", days, f"{days}?day=2027-01-09"))[0] == 404
    assert (await call("DELETE", days, f"{days}?day=2027-02-30"))[0] == 400


async def _switches(call: Any, academy: Academy, reader: str) -> None:
    """Emergency switches: listed with "read", made and lifted with "schedule"."""
    many, lift = "/api/v1/switches", "/api/v1/switches/{switch_id}/lift"
    body = {"first_day": "2030-09-02", "last_day": "2030-09-06",
            "group_ids": [academy.group_id], "reason": "карантин"}  # fmt: skip
    status, sw = await call("POST", many, many, body)
    assert status == 201 and sw["in_force"] and sw["group_ids"] == [academy.group_id]
    assert (await call("POST", many, many, body, reader))[0] == 403
    assert (await call("POST", many, many, body | {"group_ids": [999999]}))[0] == 404
    assert (await call("POST", many, many, body | {"last_day": "2030-09-01"}))[0] == 400
    status, listed = await call("GET", many, many, token=reader)
    assert status == 200 and [s["id"] for s in listed["switches"]] == [sw["id"]]
    path = f"{many}/{sw['id']}/lift"
    assert (await call("POST", lift, path, token=reader))[0] == 403
    status, lifted = await call("POST", lift, path)
    assert status == 200 and not lifted["in_force"] and lifted["lifted_at"]
    assert (await call("POST", lift, path))[0] == 409
    assert (await call("POST", lift, f"{many}/999999/lift"))[0] == 404


async def _people(call: Any, academy: Academy, reader: str) -> None:
    """The people operations: the portal's key (scope: people) manages as staff do."""
    many, one = "/api/v1/people", "/api/v1/people/{user_id}"
    new = {"login": "api.person", "full_name": "Через API", "role": "teacher", "department_id": 1}
    status, person = await call("POST", many, many, new, headers={"Idempotency-Key": "p-1"})
    assert status == 201 and person["active"] is True
    assert (await call("POST", many, many, new))[0] == 409
    assert (await call("POST", many, many, new | {"login": "x.admin", "role": "admin"}))[0] == 403
    assert (await call("POST", many, many, new | {"department_id": 999}))[0] == 404
    assert (await call("POST", many, many, new | {"role": "king"}))[0] == 400
    assert (await call("GET", many, f"{many}?q=api&role=teacher"))[1]["total"] == 1
    assert (await call("GET", many, f"{many}?limit=0"))[0] == 400
    assert (await call("GET", many, many, token=reader))[0] == 403
    path = f"{many}/{person['id']}"
    assert (await call("GET", one, path))[1]["login"] == "api.person"
    assert (await call("GET", one, f"{many}/999999"))[0] == 404
    status, changed = await call("PATCH", one, path, {"full_name": "Иное Имя"})
    assert status == 200 and changed["full_name"] == "Иное Имя"
    assert (await call("PATCH", one, path, {"role": "admin"}))[0] == 403
    off = "/api/v1/people/{user_id}/deactivate"
    on = "/api/v1/people/{user_id}/reactivate"
    assert (await call("POST", off, f"{path}/deactivate"))[1]["active"] is False
    assert (await call("POST", on, f"{path}/reactivate"))[1]["active"] is True


async def _audit(call: Any, reader: str) -> None:
    """The audit trail: what the portal's key just did to accounts, newest first (scope:
    audit); a key without the scope is refused."""
    trail = "/api/v1/audit"
    status, page = await call("GET", trail, f"{trail}?kind=account&limit=10")
    assert status == 200
    mine = [r for r in page["items"] if r["object_label"] == "api.person"]
    assert [r["action"] for r in mine] == ["reactivated", "deactivated", "changed", "created"]
    assert {r["actor"]["kind"] for r in mine} == {"api_key"}
    assert mine[2]["after"] == {"full_name": "Иное Имя"}
    who = f"api_key:{mine[0]['actor']['id']}"
    assert (await call("GET", trail, f"{trail}?who={who}&action=created"))[1]["total"] == 1
    assert (await call("GET", trail, f"{trail}?from=2027-02-30"))[0] == 400
    assert (await call("GET", trail, f"{trail}?limit=0"))[0] == 400
    assert (await call("GET", trail, trail, token=reader))[0] == 403
    assert (await call("GET", trail, trail, token="sbq_unknown"))[0] == 401
