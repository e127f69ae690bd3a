"""The audit trail in SQLite, written by the stores that change things: each administrative
change gives exactly one record with its actor, the changed fields before and after and the
store's clock; a change refused gives none; a change and its record are one transaction; and
no password, hash, token or key secret is ever in a record."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from access.api_keys import Scope, SqliteApiKeys
from access.audit import Action, Actor, ActorKind, AuditQuery, AuditRecord, ObjectKind
from access.errors import LoginTaken
from access.models import Role
from access.sqlite_audit import SqliteAudit
from access.sqlite_people import NewPerson, SqlitePeople
from access.sqlite_store import SqliteAccounts
from attendance.marks import MarkRules
from attendance.sqlite_mark_rules import SqliteMarkRules
from control.database import connect
from scheduler.errors import SchedulerError, StructureNameTaken, WrongRoleFor
from scheduler.sqlite_agencies import SqliteAgencies
from scheduler.sqlite_store import SqliteTimetable

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC: the stores' clock, fixed
ADMIN = Actor.user(1, "Администратор")


def clock() -> float:
    return NOW


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    conn = connect(":memory:")
    SqliteAccounts(conn, clock).create_user(login="admin", full_name="Администратор",
                                            role=Role.ADMIN)  # fmt: skip
    yield conn
    conn.close()


def records(db: sqlite3.Connection) -> list[AuditRecord]:
    found, total = SqliteAudit(db, clock).find(AuditQuery(), 1000)
    assert len(found) == total
    return found[::-1]  # oldest first


def test_accounts_made_changed_deactivated_and_their_passwords(db: sqlite3.Connection) -> None:
    accounts, people = SqliteAccounts(db, clock), SqlitePeople(db, clock)
    made = accounts.create_user(login="aigerim", full_name="Айгерим", role=Role.TEACHER,
                                department_id=4, actor=ADMIN)  # fmt: skip
    [rec] = records(db)
    assert (rec.actor, rec.action, rec.kind, rec.object_id, rec.at) == (
        ADMIN,
        Action.CREATED,
        ObjectKind.ACCOUNT,
        made.id,
        NOW,
    )
    assert rec.before == {} and rec.object_label == "aigerim"
    assert rec.after == {"login": "aigerim", "full_name": "Айгерим", "role": "teacher",
                         "department_id": 4, "active": True}  # fmt: skip

    people.update(made.id, full_name="Айгерим Сапарова", role=Role.TEACHER, department_id=4,
                  actor=ADMIN)  # fmt: skip
    rec = records(db)[-1]
    assert rec.action is Action.CHANGED
    assert (rec.before, rec.after) == ({"full_name": "Айгерим"}, {"full_name": "Айгерим Сапарова"})

    people.update(made.id, full_name="Айгерим Сапарова", role=Role.HEAD_OF_DEPARTMENT,
                  department_id=5, actor=ADMIN)  # fmt: skip
    rec = records(db)[-1]
    assert rec.action is Action.ROLE_CHANGED
    assert rec.before == {"role": "teacher", "department_id": 4}
    assert rec.after == {"role": "head_of_department", "department_id": 5}

    # The same values again change nothing: nothing recorded.
    people.update(made.id, full_name="Айгерим Сапарова", role=Role.HEAD_OF_DEPARTMENT,
                  department_id=5, actor=ADMIN)  # fmt: skip
    assert len(records(db)) == 3

    people.deactivate(made.id, ADMIN)
    people.deactivate(made.id, ADMIN)  # deactivated already: no second record
    people.reactivate(made.id, ADMIN)
    recs = records(db)
    assert [r.action for r in recs[3:]] == [Action.DEACTIVATED, Action.REACTIVATED]
    assert (recs[3].before, recs[3].after) == ({"active": True}, {"active": False})
    assert (recs[4].before, recs[4].after) == ({"active": False}, {"active": True})

    own = Actor.user(made.id, "Айгерим Сапарова")
    accounts.open_session(made.id)
    accounts.change_password(made.id, "$argon2id$v=19$secret-hash", actor=own)
    accounts.change_password(made.id, "$argon2id$v=19$other-hash", actor=own,
                             action=Action.PASSWORD_SET)  # fmt: skip
    changed_pw, set_pw = records(db)[-2:]
    assert (changed_pw.actor, changed_pw.action, changed_pw.after) == (
        own,
        Action.PASSWORD_CHANGED,
        {"sessions_ended": 1},
    )
    assert set_pw.action is Action.PASSWORD_SET and set_pw.object_id == made.id
    assert "hash" not in json.dumps([r.after for r in records(db)])


def test_refused_account_changes_leave_no_record(db: sqlite3.Connection) -> None:
    accounts, people = SqliteAccounts(db, clock), SqlitePeople(db, clock)
    accounts.create_user(login="taken", full_name="Есть", role=Role.TEACHER, actor=ADMIN)
    with pytest.raises(LoginTaken):
        accounts.create_user(login="taken", full_name="Другой", role=Role.TEACHER, actor=ADMIN)
    with pytest.raises(ValueError, match="Login"):
        accounts.create_user(login="Bad Login", full_name="X", role=Role.TEACHER, actor=ADMIN)
    with pytest.raises(ValueError, match="full name"):
        people.update(2, full_name="  ", role=Role.TEACHER, department_id=None, actor=ADMIN)
    with pytest.raises(LoginTaken):  # all or none: the import's second login is taken
        people.create_many([NewPerson("fresh", "Новый", Role.TEACHER),
                            NewPerson("taken", "Есть", Role.STAFF)], ADMIN)  # fmt: skip
    assert [r.action for r in records(db)] == [Action.CREATED]


def test_a_change_and_its_record_are_one_transaction(db: sqlite3.Connection) -> None:
    """Were the record not written, the change is not made either."""
    accounts, people = SqliteAccounts(db, clock), SqlitePeople(db, clock)
    made = accounts.create_user(login="marat", full_name="Марат", role=Role.TEACHER)
    db.execute("ALTER TABLE audit_log RENAME TO audit_log_gone")
    with pytest.raises(sqlite3.OperationalError):
        people.update(made.id, full_name="Марат Искаков", role=Role.TEACHER, department_id=None,
                      actor=ADMIN)  # fmt: skip
    with pytest.raises(sqlite3.OperationalError):
        people.deactivate(made.id, ADMIN)
    assert people.get(made.id).full_name == "Марат" and people.get(made.id).active


def test_an_import_is_one_record_with_its_counts(db: sqlite3.Connection) -> None:
    people = SqlitePeople(db, clock)
    ids = people.create_many(
        [NewPerson(f"t{i}", f"Преподаватель {i}", Role.TEACHER, 1) for i in range(3)]
        + [NewPerson("s1", "Методист", Role.STAFF)],
        ADMIN,
    )
    [rec] = records(db)
    assert (rec.action, rec.kind, rec.object_id) == (Action.IMPORTED, ObjectKind.ACCOUNT, None)
    assert rec.after == {"count": 4, "roles": {"staff": 1, "teacher": 3},
                         "first_id": min(ids), "last_id": max(ids)}  # fmt: skip


def test_the_structure_made_renamed_given_a_head_archived_and_brought_back(
    db: sqlite3.Connection,
) -> None:
    accounts, tt = SqliteAccounts(db, clock), SqliteTimetable(db, clock)
    director = accounts.create_user(login="dir", full_name="Директор", role=Role.DIRECTOR).id
    head = accounts.create_user(login="head", full_name="Завкафедрой",
                                role=Role.HEAD_OF_DEPARTMENT).id  # fmt: skip
    inst = tt.create_institute("Институт", director, ADMIN)
    tt.change_institute(inst.id, name="Институт права", actor=ADMIN)
    tt.change_institute(inst.id, director_id=None, actor=ADMIN)
    tt.change_institute(inst.id, name="Институт права", actor=ADMIN)  # the same: no record
    dep = tt.create_department(inst.id, "Кафедра", None, ADMIN)
    tt.change_department(dep.id, head_id=head, actor=ADMIN)
    tt.change_department(dep.id, archived=True, actor=ADMIN)
    tt.change_department(dep.id, archived=False, actor=ADMIN)
    tt.change_institute(inst.id, archived=True, actor=ADMIN)
    # Refused: a name taken, a director who is no director, a department of an archived
    # institute brought back.
    with pytest.raises(StructureNameTaken):
        tt.create_institute("институт права", None, ADMIN)
    with pytest.raises(WrongRoleFor):
        tt.change_department(dep.id, head_id=director, actor=ADMIN)
    tt.change_department(dep.id, archived=True, actor=ADMIN)
    with pytest.raises(SchedulerError):
        tt.change_department(dep.id, archived=False, actor=ADMIN)
    got = [(r.kind, r.action, r.object_id, r.before, r.after) for r in records(db)]
    assert got == [
        (ObjectKind.INSTITUTE, Action.CREATED, inst.id, {},
         {"name": "Институт", "director_id": director}),
        (ObjectKind.INSTITUTE, Action.CHANGED, inst.id, {"name": "Институт"},
         {"name": "Институт права"}),
        (ObjectKind.INSTITUTE, Action.CHANGED, inst.id, {"director_id": director},
         {"director_id": None}),
        (ObjectKind.DEPARTMENT, Action.CREATED, dep.id, {},
         {"name": "Кафедра", "institute_id": inst.id}),
        (ObjectKind.DEPARTMENT, Action.CHANGED, dep.id, {"head_id": None}, {"head_id": head}),
        (ObjectKind.DEPARTMENT, Action.ARCHIVED, dep.id, {"archived": False}, {"archived": True}),
        (ObjectKind.DEPARTMENT, Action.RESTORED, dep.id, {"archived": True}, {"archived": False}),
        (ObjectKind.INSTITUTE, Action.ARCHIVED, inst.id, {"archived": False}, {"archived": True}),
        (ObjectKind.DEPARTMENT, Action.ARCHIVED, dep.id, {"archived": False}, {"archived": True}),
    ]  # fmt: skip
    assert all(r.actor == ADMIN and r.at == NOW for r in records(db))


def test_agencies_made_renamed_their_contacts_and_archived(db: sqlite3.Connection) -> None:
    agencies = SqliteAgencies(db, clock)
    a = agencies.create_agency("МВД", ("hr@mvd.kz",), ADMIN)
    agencies.change_agency(a.id, name="МВД РК", actor=ADMIN)
    agencies.change_agency(a.id, contacts=("hr@mvd.kz", "kadry@mvd.kz"), actor=ADMIN)
    agencies.change_agency(a.id, archived=True, actor=ADMIN)
    agencies.change_agency(a.id, archived=True, actor=ADMIN)  # archived already: no record
    with pytest.raises(SchedulerError):
        agencies.change_agency(a.id, contacts=("not an address",), actor=ADMIN)
    got = [(r.action, r.before, r.after) for r in records(db)]
    assert got == [
        (Action.CREATED, {}, {"name": "МВД", "contacts": ["hr@mvd.kz"]}),
        (Action.CHANGED, {"name": "МВД"}, {"name": "МВД РК"}),
        (Action.CHANGED, {"contacts": ["hr@mvd.kz"]},
         {"contacts": ["hr@mvd.kz", "kadry@mvd.kz"]}),
        (Action.ARCHIVED, {"archived": False}, {"archived": True}),
    ]  # fmt: skip
    assert {r.kind for r in records(db)} == {ObjectKind.AGENCY}


def test_api_keys_made_and_revoked_without_their_secret(db: sqlite3.Connection) -> None:
    store = SqliteApiKeys(db, clock)
    portal = Actor.api_key(9, "портал")  # an actor given instead of the person
    key, secret = store.create("Портал", frozenset({Scope.READ, Scope.PEOPLE}), 1)
    store.revoke(key.id, 1, portal)
    store.revoke(key.id, 1)  # revoked already: no record
    with pytest.raises(ValueError, match="name"):
        store.create("", frozenset({Scope.READ}), 1)
    made, revoked = records(db)
    assert (made.actor, made.action, made.kind, made.object_id) == (
        Actor(ActorKind.USER, 1, ""),
        Action.CREATED,
        ObjectKind.API_KEY,
        key.id,
    )
    assert made.after == {"name": "Портал", "scopes": ["people", "read"]}
    assert (revoked.actor, revoked.action, revoked.after) == (
        portal,
        Action.REVOKED,
        {"revoked": True},
    )
    dump = "\n".join(map(str, db.execute("SELECT * FROM audit_log").fetchall()))
    dump += json.dumps([dict(r) for r in db.execute("SELECT * FROM audit_log")])
    assert secret not in dump and secret[4:12] not in dump
    key_hash = db.execute("SELECT key_hash FROM api_keys").fetchone()[0]
    assert key_hash not in dump


def test_the_attendance_thresholds_are_settings_whose_change_is_recorded(
    db: sqlite3.Connection,
) -> None:
    rules = SqliteMarkRules(db, MarkRules(600, 0.8, 60), clock)
    rules.set(MarkRules(900, 0.8, 60), 1, "Администратор", NOW, ADMIN)
    rules.set(MarkRules(900, 0.8, 60), 1, "Администратор", NOW, ADMIN)  # the same: no record
    [rec] = records(db)
    assert (rec.kind, rec.action, rec.object_id) == (ObjectKind.SETTINGS, Action.CHANGED, None)
    assert (rec.before, rec.after) == ({"late_after_minutes": 10.0}, {"late_after_minutes": 15.0})


def test_the_trail_is_found_by_who_what_action_and_time(db: sqlite3.Connection) -> None:
    moment = [NOW - 86400]
    accounts = SqliteAccounts(db, lambda: moment[0])
    staff = Actor.user(7, "Методист")
    accounts.create_user(login="a1", full_name="А", role=Role.TEACHER, actor=ADMIN)
    moment[0] = NOW
    accounts.create_user(login="a2", full_name="Б", role=Role.TEACHER, actor=staff)
    moment[0] = NOW + 60
    accounts.create_user(login="a3", full_name="В", role=Role.STUDENT, actor=Actor.cli())
    audit = SqliteAudit(db, clock)

    def labels(q: AuditQuery) -> list[str]:
        return [r.object_label for r in audit.find(q, 10)[0]]

    assert labels(AuditQuery()) == ["a3", "a2", "a1"]  # newest first
    assert labels(AuditQuery(actor=(ActorKind.USER, 7))) == ["a2"]
    assert labels(AuditQuery(actor=(ActorKind.CLI, None))) == ["a3"]
    assert labels(AuditQuery(since=NOW)) == ["a3", "a2"]
    assert labels(AuditQuery(until=NOW)) == ["a1"]
    assert labels(AuditQuery(kind=ObjectKind.AGENCY)) == []
    assert labels(AuditQuery(action=Action.CREATED, kind=ObjectKind.ACCOUNT)) == ["a3", "a2", "a1"]
    page, total = audit.find(AuditQuery(), 2, 2)
    assert [r.object_label for r in page] == ["a1"] and total == 3
    # By name: "command line", "Администратор", "Методист".
    assert [a.ref for a in audit.actors()] == ["cli", "user:1", "user:7"]
