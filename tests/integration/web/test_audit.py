"""The audit trail through the served application (issue 22, item 7): every administrative
change made on the pages — accounts, roles, passwords, the structure, agencies, API keys,
webhooks, the attendance thresholds, an import — is one record naming who made it, with the
changed fields before and after; a change refused leaves none; no secret is ever in it. Staff
and administrators read it on /audit (filters by who, object, action and days in the academy's
zone), download it as CSV or XLSX with formulas defused; nobody else does. ``sabaq admin
create`` is recorded as the command line's."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar, FormData
from aiohttp.test_utils import TestServer
from openpyxl import load_workbook

from access.api_keys import Scope
from access.audit import Action, Actor, AuditQuery, AuditRecord, ObjectKind
from access.models import Role
from access.passwords import Passwords
from access.sqlite_audit import SqliteAudit
from tests.conftest import DAYS, Academy, Clock, SignIn
from web import cli
from web.core import keys

GOOD = "a long and quiet river"


@pytest.fixture
def clock() -> Clock:
    # 02:30 on the 1st of March in Almaty: still the 28th of February in UTC.
    return DAYS["1st-of-month"]()


def trail(served: TestServer) -> list[AuditRecord]:
    found, _total = served.app[keys.AUDIT].find(AuditQuery(), 1000)
    return found[::-1]  # oldest first


def summary(records: list[AuditRecord]) -> list[tuple[str, Action, ObjectKind]]:
    return [(r.actor.ref, r.action, r.kind) for r in records]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no form"
    return found[1]


def _csv(*lines: str) -> FormData:
    form = FormData()
    form.add_field(
        "file", ("\n".join(lines) + "\n").encode(), filename="people.csv", content_type="text/csv"
    )
    return form


async def test_every_administrative_change_is_one_record_and_no_secret_is_kept(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    app = served.app
    admin_id = app[keys.ACCOUNTS].create_user(login="admin", full_name="Админ", role=Role.ADMIN).id
    admin, staff = sign_in(admin_id), sign_in(academy.staff_id)
    me, st = f"user:{admin_id}", f"user:{academy.staff_id}"
    assert trail(served) == []  # the seed is not an administrative change

    # -- the structure ------------------------------------------------------------------------
    made = await admin.post(
        "/structure/institutes",
        allow_redirects=False,
        data={"name": "Институт права", "person_id": ""},
    )
    inst_id = int(made.headers["Location"].rsplit("/", 1)[1])
    await admin.post(
        f"/structure/institutes/{inst_id}", data={"action": "rename", "name": "Институт ПД"}
    )
    director = f"{academy.teacher_id}"  # not a director: refused, nothing recorded
    refused = await admin.post(
        f"/structure/institutes/{inst_id}", data={"action": "person", "person_id": director}
    )
    assert refused.status >= 400
    assert (await admin.post("/structure/institutes", data={"name": " "})).status == 400
    await admin.post(f"/structure/institutes/{inst_id}/departments", data={"name": "Кафедра 2"})
    await admin.post(f"/structure/institutes/{inst_id}", data={"action": "archive"})
    await admin.post(f"/structure/institutes/{inst_id}", data={"action": "unarchive"})
    made = await staff.post(
        "/agencies", data={"name": "МВД", "contacts": "hr@mvd.kz"}, allow_redirects=False
    )
    agency_id = int(made.headers["Location"].rsplit("/", 1)[1])
    await staff.post(
        f"/agencies/{agency_id}", data={"action": "contacts", "contacts": "hr@mvd.kz, k@mvd.kz"}
    )
    assert (await staff.post("/agencies", data={"name": "КНБ", "contacts": "nope"})).status == 400
    assert summary(trail(served)) == [
        (me, Action.CREATED, ObjectKind.INSTITUTE),
        (me, Action.CHANGED, ObjectKind.INSTITUTE),
        (me, Action.CREATED, ObjectKind.DEPARTMENT),
        (me, Action.ARCHIVED, ObjectKind.INSTITUTE),
        (me, Action.RESTORED, ObjectKind.INSTITUTE),
        (st, Action.CREATED, ObjectKind.AGENCY),
        (st, Action.CHANGED, ObjectKind.AGENCY),
    ]
    renamed = trail(served)[1]
    assert (renamed.before, renamed.after) == ({"name": "Институт права"}, {"name": "Институт ПД"})
    assert renamed.actor.name == "Админ" and renamed.at == pytest.approx(clock(), abs=30)
    count = len(trail(served))

    # -- accounts -------------------------------------------------------------------------------
    bad = await staff.post(
        "/people/new", data={"login": "Плохой", "full_name": "X", "role": "teacher"}
    )
    assert bad.status == 400 and len(trail(served)) == count
    made = await staff.post(
        "/people/new",
        allow_redirects=False,
        data={"login": "aigerim", "full_name": "Айгерим", "role": "teacher", "department_id": "1"},
    )
    person = int(made.headers["Location"].rsplit("/", 1)[1])
    await staff.post(
        f"/people/{person}",
        data={"full_name": "Айгерим", "role": "head_of_department", "department_id": "1"},
    )
    await staff.post(f"/people/{person}/deactivate")
    await staff.post(f"/people/{person}/reactivate")
    issued = await (await staff.post(f"/people/{person}/password-link")).text()
    link = re.search(r'id="set-link" readonly value="([^"]+)"', issued)
    assert link
    url = link[1].replace("&amp;", "&")
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        html = await (await s.get(url)).text()
        token = re.search(r'name="token" value="([^"]+)"', html)
        assert token
        set_pw = await s.post(
            url.split("?")[0],
            allow_redirects=False,
            data={
                "csrf_token": csrf_of(html),
                "token": token[1],
                "new": GOOD,
                "again": GOOD,
            },
        )
        assert set_pw.status == 303
    aigerim = sign_in(person)
    changed = await aigerim.post(
        "/profile/password",
        data={"current": GOOD, "new": "a brand new phrase", "again": "a brand new phrase"},
    )
    assert changed.status == 200
    wrong = await aigerim.post(
        "/profile/password", data={"current": "not it at all", "new": "x" * 20, "again": "x" * 20}
    )
    assert wrong.status == 400
    who = f"user:{person}"
    assert summary(trail(served)[count:]) == [
        (st, Action.CREATED, ObjectKind.ACCOUNT),
        (st, Action.ROLE_CHANGED, ObjectKind.ACCOUNT),
        (st, Action.DEACTIVATED, ObjectKind.ACCOUNT),
        (st, Action.REACTIVATED, ObjectKind.ACCOUNT),
        (st, Action.PASSWORD_LINK, ObjectKind.ACCOUNT),
        (who, Action.PASSWORD_SET, ObjectKind.ACCOUNT),
        (who, Action.PASSWORD_CHANGED, ObjectKind.ACCOUNT),
    ]
    await admin.post("/language", data={"lang": "en"})
    shown = await (await admin.get("/audit?action=role_changed")).text()
    assert "Role: Teacher; Department: Кафедра" not in shown  # only what changed
    assert "<td>Role: Teacher</td>" in shown and "<td>Role: Head of department</td>" in shown
    shown = await (await admin.get("/audit?action=deactivated")).text()
    assert "<td>Active: Yes</td>" in shown and "<td>Active: No</td>" in shown
    role = trail(served)[count + 1]
    assert (role.object_id, role.before, role.after) == (
        person,
        {"role": "teacher"},
        {"role": "head_of_department"},
    )
    count = len(trail(served))

    # -- an import: one record with its counts ---------------------------------------------------
    preview = await staff.post(
        "/people/import",
        data=_csv(
            "login,full name,role,department",
            "p.one,Первый Преподаватель,teacher,Кафедра",
            "p.two,Второй Методист,staff,",
            "p.three,Третий Преподаватель,teacher,Кафедра",
        ),
    )
    rows = re.search(r'name="rows" value="([^"]+)"', await preview.text())
    assert rows and len(trail(served)) == count  # a preview writes nothing
    assert (await staff.post("/people/import/confirm", data={"rows": rows[1]})).status == 200
    [imported] = trail(served)[count:]
    assert (imported.actor.ref, imported.action, imported.object_id) == (st, Action.IMPORTED, None)
    assert imported.after["count"] == 3 and imported.after["roles"] == {"staff": 1, "teacher": 2}
    count += 1

    # -- API keys, webhooks, settings -----------------------------------------------------------
    assert (await staff.post("/api-keys", data={"name": "x"})).status == 400  # no scope
    page = await (await staff.post("/api-keys", data={"name": "Портал", "scope": "read"})).text()
    secret = re.search(r'value="(sbq_[A-Za-z0-9_-]{40,})"', page)
    assert secret
    key_id = app[keys.API_KEYS].listed()[0].id
    await staff.post(f"/api-keys/{key_id}/revoke")
    await staff.post(f"/api-keys/{key_id}/revoke")  # revoked already: nothing more
    hook = f"http://127.0.0.1:{served.port}/hook?token=portal-credential"
    await staff.post("/webhooks", data={"url": hook})
    endpoint = app[keys.WEBHOOKS].endpoints()[0]
    await staff.post(f"/webhooks/{endpoint.id}/disable")
    await staff.post("/reports/rules", data={"late_after_minutes": "15", "present_percent": "80"})
    assert summary(trail(served)[count:]) == [
        (st, Action.CREATED, ObjectKind.API_KEY),
        (st, Action.REVOKED, ObjectKind.API_KEY),
        (st, Action.CREATED, ObjectKind.WEBHOOK),
        (st, Action.DISABLED, ObjectKind.WEBHOOK),
        (st, Action.CHANGED, ObjectKind.SETTINGS),
    ]
    made_hook = trail(served)[count + 2]
    assert made_hook.after == {"url": f"http://127.0.0.1:{served.port}/hook"}
    rules = trail(served)[-1]
    assert (rules.before, rules.after) == (
        {"late_after_minutes": 10.0},
        {"late_after_minutes": 15.0},
    )

    # -- no secret, anywhere in the trail ---------------------------------------------------------
    db = app[keys.DB]
    dump = "\n".join(" ".join(map(str, tuple(r))) for r in db.execute("SELECT * FROM audit_log"))
    secrets_ = [
        GOOD,
        "a brand new phrase",
        secret[1],
        token[1],
        "portal-credential",
        endpoint.secret,
        *(r[0] for r in db.execute("SELECT key_hash FROM api_keys")),
        *(
            r[0]
            for r in db.execute("SELECT password_hash FROM users WHERE password_hash IS NOT NULL")
        ),
    ]
    assert len(secrets_) >= 8
    for s in secrets_:
        assert s not in dump
    assert "argon2" not in dump and "sbq_" not in dump


async def test_the_page_filters_and_exports_for_staff_and_administrators_only(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    app = served.app
    accounts = app[keys.ACCOUNTS]
    admin_id = accounts.create_user(login="admin", full_name="Админ", role=Role.ADMIN).id
    admin, staff = sign_in(admin_id), sign_in(academy.staff_id)
    await admin.post("/language", data={"lang": "en"})
    # A name a spreadsheet would run as a formula, and one that would split on ";" in Excel.
    evil = '=HYPERLINK("http://evil.example","x")'
    await admin.post("/agencies", data={"name": evil, "contacts": ""})
    await staff.post("/agencies", data={"name": "Ли;=cmd|' /C calc'!A0", "contacts": ""})
    await staff.post("/structure/institutes", data={"name": "Институт", "person_id": ""})  # taken
    await staff.post("/structure/institutes", data={"name": "Институт права", "person_id": ""})

    page = await admin.get(f"/audit?who=user:{admin_id}")
    html = await page.text()
    assert page.status == 200 and "HYPERLINK" in html and "Институт" not in html
    assert "Records found: 1." in html
    html = await (await admin.get("/audit?kind=institute&action=created")).text()
    assert "Records found: 1." in html and "Институт права" in html
    # Days in the academy's zone: it is the 1st of March in Almaty (the 28th of February in UTC).
    assert "Records found: 3." in await (await admin.get("/audit?from=2027-03-01")).text()
    assert "Records found: 0." in await (await admin.get("/audit?to=2027-02-28")).text()
    march = await admin.get("/audit?from=2027-02-01&to=2027-03-01")
    assert "Records found: 3." in await march.text()
    for bad in (
        "who=root",
        "kind=planet",
        "action=ate",
        "from=2027-13-01",
        "from=2027-03-02&to=2027-03-01",
    ):
        assert (await admin.get(f"/audit?{bad}")).status == 400, bad
    # In Russian and Kazakh.
    await staff.post("/language", data={"lang": "ru"})
    html_ru = await (await staff.get("/audit?kind=agency")).text()
    assert "Журнал изменений" in html_ru and "создано" in html_ru
    await staff.post("/language", data={"lang": "kk"})
    html_kk = await (await staff.get("/audit?kind=agency")).text()
    assert "Өзгерістер журналы" in html_kk and "құрылды" in html_kk
    # The menu links the trail for staff and administrators.
    assert 'href="/audit"' in html
    assert 'href="/audit"' in await (await staff.get("/")).text()
    assert 'href="/audit"' not in await (await sign_in(academy.teacher_id).get("/")).text()

    csv_resp = await admin.get("/audit.csv?kind=agency")
    body = (await csv_resp.read()).decode("utf-8-sig")
    assert csv_resp.status == 200 and csv_resp.headers["Cache-Control"] == "no-store"
    assert 'attachment; filename="audit.csv"' in csv_resp.headers["Content-Disposition"]
    lines = body.splitlines()
    assert lines[0].startswith("When (Asia/Almaty),Who,Action,Object,Id,Name,Before,After")
    assert len(lines) == 3 and "2027-03-01 02:" in lines[1]
    assert "'=HYPERLINK" in body and ",=HYPERLINK" not in body
    assert ";'=cmd" in body and ";=cmd" not in body  # safe for Excel splitting on ";" too
    assert "Админ,created,Agency," in body

    xlsx = await admin.get("/audit.xlsx")
    assert xlsx.status == 200
    sheet = load_workbook(io.BytesIO(await xlsx.read()), read_only=True).worksheets[0]
    cells = [c for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    assert "'" + evil in cells and evil not in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("student", 403),
        ("teacher", 403),
        ("head", 403),
        ("director", 403),
        ("staff", 200),
        ("admin", 200),
        ("anonymous", 303),
    ],
)
async def test_who_reads_the_trail(
    served: TestServer, academy: Academy, sign_in: SignIn, who: str, status: int
) -> None:
    accounts = served.app[keys.ACCOUNTS]
    ids = {
        "student": academy.student_ids[0],
        "teacher": academy.teacher_id,
        "head": accounts.by_login("head")[0].id,
        "director": accounts.by_login("director")[0].id,
        "staff": academy.staff_id,
        "admin": accounts.create_user(login="admin", full_name="Админ", role=Role.ADMIN).id,
    }
    if who == "anonymous":
        async with ClientSession(base_url=served.make_url("/")) as nobody:
            for path in ("/audit", "/audit.csv", "/audit.xlsx"):
                resp = await nobody.get(path, allow_redirects=False)
                assert resp.status == 303 and "/signin" in resp.headers["Location"]
            assert (await nobody.get("/api/v1/audit")).status == 401
        return
    client = sign_in(ids[who])
    for path in ("/audit", "/audit.csv", "/audit.xlsx"):
        assert (await client.get(path, allow_redirects=False)).status == status, path
    api = await client.get("/api/v1/audit")
    assert api.status == status
    if status == 200:
        assert (await api.json())["items"] == []
    else:
        assert (await api.json())["error"]["code"] == "forbidden"


def test_the_first_administrator_made_on_the_command_line_is_recorded_as_its(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SABAQ_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO(GOOD + "\n"))
    assert (
        cli.main(["admin", "create", "--login", "root", "--name", "Бас Әкімші", "--password-stdin"])
        == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["admin", "create", "--login", "root2", "--name", "X", "--password-stdin"]) == 2
    db = sqlite3.connect(tmp_path / "sabaq.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        [rec] = SqliteAudit(db).find(AuditQuery(), 10)[0]
        password_hash = db.execute("SELECT password_hash FROM users").fetchone()[0]
        dump = " ".join(map(str, tuple(db.execute("SELECT * FROM audit_log").fetchone())))
    finally:
        db.close()
    assert (rec.actor.ref, rec.actor.name, rec.action, rec.kind) == (
        "cli",
        "command line",
        Action.CREATED,
        ObjectKind.ACCOUNT,
    )
    assert rec.after == {
        "login": "root",
        "full_name": "Бас Әкімші",
        "role": "admin",
        "active": True,
    }
    assert Passwords().verify(password_hash, GOOD) and password_hash not in dump


async def test_students_a_group_import_makes_are_one_record_of_the_portal(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    app = served.app
    key, secret = app[keys.API_KEYS].create("Портал", frozenset({Scope.SCHEDULE}), academy.staff_id)
    members = {"members": [
        {"login": "new.one", "full_name": "Новый Первый"},
        {"login": "new.two", "full_name": "Новый Второй", "agency": "МВД"},
        {"login": "student01", "full_name": "Студент 01"},  # in the group already
    ]}  # fmt: skip
    path = f"/api/v1/groups/{academy.group_id}/members"
    async with ClientSession(base_url=served.make_url("/")) as portal:
        auth = {"Authorization": f"Bearer {secret}"}
        assert (await portal.post(path, json=members, headers=auth)).status == 200
        assert (await portal.post(path, json=members, headers=auth)).status == 200  # a repeat
        bad = {"members": [{"login": "Плохой", "full_name": "X"}]}
        assert (await portal.post(path, json=bad, headers=auth)).status == 400
    made_key, imported = trail(served)
    assert (made_key.action, made_key.kind) == (Action.CREATED, ObjectKind.API_KEY)
    assert (imported.actor.ref, imported.action, imported.kind, imported.object_id) == (
        f"api_key:{key.id}",
        Action.IMPORTED,
        ObjectKind.ACCOUNT,
        None,
    )
    assert imported.actor.name == "Портал" and imported.object_label == "ПД-24-1"
    assert imported.after == {"count": 2, "roles": {"student": 2},
                              "group_id": academy.group_id, "added_to_group": 2}  # fmt: skip


async def test_the_structure_api_and_the_pages_of_a_long_trail(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    admin_id = served.app[keys.ACCOUNTS].create_user(login="admin", full_name="Админ",
                                                     role=Role.ADMIN).id  # fmt: skip
    admin = sign_in(admin_id)
    await admin.post("/language", data={"lang": "en"})
    made = await admin.post("/api/v1/institutes", json={"name": "Институт API"})
    assert made.status == 201
    inst = (await made.json())["id"]
    patched = await admin.patch(f"/api/v1/institutes/{inst}", json={"archived": True})
    assert patched.status == 200
    bad = await admin.patch(f"/api/v1/institutes/{inst}", json={"name": " "})
    assert bad.status == 400
    assert summary(trail(served)) == [
        (f"user:{admin_id}", Action.CREATED, ObjectKind.INSTITUTE),
        (f"user:{admin_id}", Action.ARCHIVED, ObjectKind.INSTITUTE),
    ]
    audit = served.app[keys.AUDIT]
    for i in range(55):
        audit.record(Actor.user(admin_id, "Админ"), Action.PASSWORD_LINK, ObjectKind.ACCOUNT,
                     academy.teacher_id, label=f"link-{i:02d}")  # fmt: skip
    first = await (await admin.get("/audit")).text()
    assert "Records found: 57." in first and "Page 1 of 2" in first and "link-54" in first
    assert 'rel="next"' in first and "Институт API" not in first  # newest first
    second = await (await admin.get("/audit?page=2")).text()
    assert "Институт API" in second and "link-54" not in second and 'rel="prev"' in second
    api = await (await admin.get("/api/v1/audit?limit=50&offset=50")).json()
    assert api["total"] == 57 and api["next_offset"] is None and len(api["items"]) == 7
    assert api["items"][-1]["object_label"] == "Институт API"
    assert api["items"][-1]["after"] == {"name": "Институт API"}
