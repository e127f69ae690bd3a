"""The structure's API and pages (issue 22, items 1 and 2): staff and administrators create,
rename, name a director or head, archive and bring back institutes, departments and agencies;
directors and heads read their own institute; the portal reads; nobody else. Every answer has
the shape the OpenAPI document gives it. An administrator's home leads them through setting the
academy up, and their menu is theirs."""

from __future__ import annotations

from itertools import chain
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from pydantic import BaseModel

from access.api_keys import Scope
from access.models import Role
from tests.conftest import Academy, Client, SignIn
from web.api import admin_models
from web.api import models as api_models
from web.api.openapi import document
from web.core import keys
from web.core.app import ROUTE_TABLES


def _admin(served: TestServer) -> int:
    return (
        served.app[keys.ACCOUNTS]
        .create_user(login="admin", full_name="Админ Админов", role=Role.ADMIN)
        .id
    )


async def _call(
    client: Client, method: str, path: str, body: Any = None, model: type[BaseModel] | None = None
) -> tuple[int, Any]:
    """An API call; a successful answer is checked against its model."""
    async with client.request(method, path, json=body) as resp:
        data = await resp.json()
        if resp.status < 300 and model is not None:
            model.model_validate(data, strict=True)
        elif resp.status >= 400:
            api_models.Error.model_validate(data, strict=True)
        return resp.status, data


async def test_an_administrator_manages_institutes_and_departments_through_the_api(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    admin = sign_in(_admin(served))
    director = served.app[keys.ACCOUNTS].by_login("director")[0].id
    head = served.app[keys.ACCOUNTS].by_login("head")[0].id
    status, made = await _call(
        admin, "POST", "/api/v1/institutes", {"name": "Институт права", "director_id": director},
        admin_models.Institute,
    )  # fmt: skip
    assert status == 201 and made["director_id"] == director and not made["archived"]
    iid = made["id"]
    assert (await _call(admin, "POST", "/api/v1/institutes", {"name": "ИНСТИТУТ права"}))[0] == 409
    assert (await _call(admin, "POST", "/api/v1/institutes", {"name": " "}))[0] == 400
    assert (await _call(admin, "POST", "/api/v1/institutes", {"name": "x", "extra": 1}))[0] == 400
    wrong = {"name": "Другой", "director_id": academy.teacher_id}
    status, refused = await _call(admin, "POST", "/api/v1/institutes", wrong)
    assert status == 400 and refused["error"]["code"] == "wrong_role_for"
    one = f"/api/v1/institutes/{iid}"
    status, renamed = await _call(admin, "PATCH", one, {"name": "ИП"}, admin_models.Institute)
    assert status == 200 and renamed["name"] == "ИП" and renamed["director_id"] == director
    status, cleared = await _call(
        admin, "PATCH", one, {"director_id": None}, admin_models.Institute
    )
    assert cleared["director_id"] is None and cleared["name"] == "ИП"
    assert (await _call(admin, "PATCH", "/api/v1/institutes/999999", {"name": "Н"}))[0] == 404
    new_dept = {"institute_id": iid, "name": "Кафедра", "head_id": head}
    depts = "/api/v1/departments"
    status, dept = await _call(admin, "POST", depts, new_dept, admin_models.Department)
    assert status == 201 and dept["head_id"] == head
    dept_path = f"/api/v1/departments/{dept['id']}"
    status, archived = await _call(
        admin, "PATCH", dept_path, {"archived": True}, admin_models.Department
    )
    assert archived["archived"] and archived["name"] == "Кафедра"
    # No new group goes into an archived department (nor, below, one of an archived institute).
    group = {"name": "ПД-99", "department_id": dept["id"], "language": "ru"}
    staff = sign_in(academy.staff_id)
    status, refused = await _call(staff, "POST", "/api/v1/groups", group)
    assert status == 409 and refused["error"]["code"] == "archived_department", refused
    await _call(admin, "PATCH", one, {"archived": True})
    status, refused = await _call(admin, "PATCH", dept_path, {"archived": False})
    assert status == 409 and refused["error"]["code"] == "archived_parent"
    status, open_dept = await _call(
        admin, "POST", depts, new_dept | {"institute_id": 1, "name": "В"}
    )
    assert status == 201
    await _call(admin, "PATCH", "/api/v1/institutes/1", {"archived": True})
    in_archived = group | {"department_id": open_dept["id"]}
    status, refused = await _call(staff, "POST", "/api/v1/groups", in_archived)
    assert status == 409 and refused["error"]["code"] == "archived_department", refused
    await _call(admin, "PATCH", "/api/v1/institutes/1", {"archived": False})
    status, _made = await _call(staff, "POST", "/api/v1/groups", in_archived)
    assert status == 201
    assert (await _call(admin, "POST", "/api/v1/departments", new_dept | {"name": "Б"}))[0] == 409
    nowhere = new_dept | {"institute_id": 999999}
    assert (await _call(admin, "POST", "/api/v1/departments", nowhere))[0] == 404
    status, listed = await _call(admin, "GET", "/api/v1/institutes", model=admin_models.Institutes)
    assert {i["name"]: i["archived"] for i in listed["items"]} == {"Институт": False, "ИП": True}
    status, listed = await _call(
        admin, "GET", "/api/v1/departments", model=admin_models.Departments
    )
    assert [d["name"] for d in listed["items"]].count("Кафедра") == 2  # A's and the archived one


async def test_agencies_through_the_api_keep_their_hr_addresses(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = sign_in(academy.staff_id)
    body = {"name": "Министерство внутренних дел", "contacts": ["hr@mvd.gov.kz"]}
    status, made = await _call(staff, "POST", "/api/v1/agencies", body, admin_models.Agency)
    assert status == 201 and made["contacts"] == ["hr@mvd.gov.kz"]
    bad = body | {"name": "КНБ", "contacts": ["nobody"]}
    status, refused = await _call(staff, "POST", "/api/v1/agencies", bad)
    assert status == 400 and refused["error"]["code"] == "bad_contact_address"
    one = f"/api/v1/agencies/{made['id']}"
    change = {"name": "МВД РК", "contacts": ["kadry@mvd.gov.kz", "hr@mvd.gov.kz"]}
    status, changed = await _call(staff, "PATCH", one, change, admin_models.Agency)
    assert changed["name"] == "МВД РК" and len(changed["contacts"]) == 2
    status, changed = await _call(staff, "PATCH", one, {"archived": True}, admin_models.Agency)
    assert changed["archived"] and changed["name"] == "МВД РК"
    status, listed = await _call(staff, "GET", "/api/v1/agencies", model=admin_models.Agencies)
    assert [a["name"] for a in listed["items"]] == ["МВД РК"]
    assert (await _call(staff, "PATCH", "/api/v1/agencies/999999", {"archived": True}))[0] == 404


async def test_who_may_read_and_change_the_structure_through_the_api(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    other_director = served.app[keys.ACCOUNTS].create_user(
        login="director-b", full_name="Директор Б", role=Role.DIRECTOR
    )
    tt.create_institute("Институт Б", other_director.id)
    director = sign_in(served.app[keys.ACCOUNTS].by_login("director")[0].id)
    status, listed = await _call(director, "GET", "/api/v1/institutes")
    assert status == 200 and [i["name"] for i in listed["items"]] == ["Институт"]
    status, listed = await _call(director, "GET", "/api/v1/departments")
    assert [d["name"] for d in listed["items"]] == ["Кафедра"]
    writes = [
        ("POST", "/api/v1/institutes", {"name": "Н"}),
        ("PATCH", "/api/v1/institutes/1", {"name": "Н"}),
        ("POST", "/api/v1/departments", {"institute_id": 1, "name": "Н"}),
        ("PATCH", "/api/v1/departments/1", {"name": "Н"}),
        ("POST", "/api/v1/agencies", {"name": "Н"}),
        ("PATCH", "/api/v1/agencies/1", {"name": "Н"}),
    ]
    teacher = sign_in(academy.teacher_id)
    for client in (director, teacher, sign_in(academy.student_ids[0])):
        for method, path, body in writes:
            assert (await _call(client, method, path, body))[0] == 403, (method, path)
    for path in ("/api/v1/institutes", "/api/v1/departments", "/api/v1/agencies"):
        assert (await _call(teacher, "GET", path))[0] == 403
    assert (await _call(director, "GET", "/api/v1/agencies"))[0] == 403
    # The portal reads the structure with a read key and changes none of it.
    _key, secret = served.app[keys.API_KEYS].create("p", frozenset(Scope), academy.staff_id)
    async with _portal(served, secret) as portal:
        for path in ("/api/v1/institutes", "/api/v1/departments", "/api/v1/agencies"):
            async with portal.get(path) as resp:
                assert resp.status == 200, path
        async with portal.post("/api/v1/institutes", json={"name": "Н"}) as resp:
            assert resp.status == 403


def _portal(served: TestServer, secret: str) -> ClientSession:
    return ClientSession(
        base_url=served.make_url("/"), headers={"Authorization": f"Bearer {secret}"}
    )


async def test_the_structure_operations_are_in_the_openapi_document() -> None:
    doc = document(chain.from_iterable(ROUTE_TABLES))
    ops = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert {
        "institutes", "createInstitute", "changeInstitute", "departments", "createDepartment",
        "changeDepartment", "agencies", "createAgency", "changeAgency",
    } <= ops  # fmt: skip
    assert "patch" in doc["paths"]["/api/v1/departments/{department_id}"]


# -- the pages ------------------------------------------------------------------------------------
async def test_an_archived_department_leaves_the_pickers_and_stays_in_its_groups_history(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = sign_in(academy.staff_id)
    tt = served.app[keys.TIMETABLE]
    dept_id = tt.group(academy.group_id).department_id
    form = f'<form method="post" action="/structure/departments/{dept_id}" class="inline">'
    async with staff.get(f"/structure/departments/{dept_id}") as r:
        page = await r.text()
    assert form in page and 'value="archive"' in page and 'value="unarchive"' not in page
    async with staff.post(f"/structure/departments/{dept_id}", data={"action": "archive"}) as r:
        page = await r.text()
        assert r.status == 200 and "Кафедра" in page  # followed to its page
    assert form in page and 'value="unarchive"' in page and 'value="archive"' not in page
    assert tt.department(dept_id).archived
    async with staff.get(f"/groups/{academy.group_id}") as r:
        assert "Кафедра" in await r.text()  # the group's history still names it
    async with staff.get("/groups") as r:
        assert "Кафедра" in await r.text()
    async with staff.get("/groups/new") as r:
        assert f'<option value="{dept_id}">Кафедра<' not in await r.text()  # not offered
    async with staff.get(f"/classes/{academy.class_id}") as r:
        assert r.status == 200
    async with staff.post(f"/structure/departments/{dept_id}", data={"action": "unarchive"}):
        pass
    async with staff.get("/groups/new") as r:
        assert f'<option value="{dept_id}">Кафедра<' in await r.text()


async def test_the_structure_pages_create_rename_and_refuse_with_the_rules_words(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    admin = sign_in(_admin(served))
    tt = served.app[keys.TIMETABLE]
    async with admin.post("/structure/institutes", data={"name": "Институт", "person_id": ""}) as r:
        assert r.status == 409 and "Институт" in await r.text()  # the name is taken
    async with admin.post("/structure/institutes", data={"name": "ИГС", "person_id": ""}) as r:
        assert r.status == 200 and str(r.url).endswith(f"/structure/institutes/{r.url.parts[-1]}")
    made = next(i for i in tt.institutes() if i.name == "ИГС")
    path = f"/structure/institutes/{made.id}"
    async with admin.post(f"{path}/departments", data={"name": "Кафедра ГУ", "person_id": ""}):
        pass
    assert [d.name for d in tt.departments(made.id)] == ["Кафедра ГУ"]
    async with admin.post(path, data={"action": "rename", "name": "Институт госслужбы"}) as r:
        assert "Институт госслужбы" in await r.text()
    teacher_id = str(academy.teacher_id)
    async with admin.post(path, data={"action": "person", "person_id": teacher_id}) as r:
        assert r.status == 400 and tt.institute(made.id).director_id is None
    async with admin.post(path, data={"action": "nothing"}) as r:
        assert r.status == 400
    async with admin.post("/agencies", data={"name": "КНБ", "contacts": "hr@knb.kz\nok@knb.kz"}):
        pass
    async with admin.get("/agencies") as r:
        assert "hr@knb.kz, ok@knb.kz" in await r.text()
    # staff and a teacher: staff manage too, a teacher sees none of it
    teacher = sign_in(academy.teacher_id)
    for p in ("/structure", path, "/agencies"):
        assert (await teacher.get(p)).status == 403
    assert (await teacher.post("/structure/institutes", data={"name": "X"})).status == 403
    director = sign_in(served.app[keys.ACCOUNTS].by_login("director")[0].id)
    async with director.get("/structure") as r:
        text = await r.text()
        assert "Институт госслужбы" not in text and "/structure/institutes" in text
        assert 'action="/structure/institutes"' not in text  # no forms
    assert (await director.get(path)).status == 404  # not their institute
    assert (await director.post("/agencies", data={"name": "X"})).status == 403


async def test_an_administrators_home_leads_through_the_first_run_and_their_menu_is_theirs(
    served: TestServer, sign_in: SignIn
) -> None:
    admin = sign_in(_admin(served))
    async with admin.get("/") as r:
        text = await r.text()
    assert "first-run" in text
    assert text.count('data-done="no"') == 5
    for link in ('href="/structure"', 'href="/people"', 'href="/api-keys"', 'href="/webhooks"'):
        assert link in text, link
    tt = served.app[keys.TIMETABLE]
    inst = tt.create_institute("Институт")
    tt.create_department(inst.id, "Кафедра")
    async with admin.get("/") as r:
        text = await r.text()
    assert text.count('data-done="yes"') == 2 and text.count('data-done="no"') == 3
    staff_id = (
        served.app[keys.ACCOUNTS].create_user(login="staff", full_name="Жанна", role=Role.STAFF).id
    )
    async with sign_in(staff_id).get("/") as r:
        text = await r.text()
    # Staff's own menu, no checklist; they manage people too (issue 22, item 3).
    assert "first-run" not in text and 'href="/api-keys"' in text and 'href="/people"' in text
    assert 'href="/structure"' in text and 'href="/practice"' in text
