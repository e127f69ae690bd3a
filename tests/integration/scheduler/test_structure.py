"""The academy's structure (issue 22, item 2): institutes with their director, departments with
their head, agencies with their HR service's addresses — created, renamed, archived and brought
back by the rules, never deleted; the agencies learners were given as free text before became
agencies, and every name given since becomes one too."""

from __future__ import annotations

import sqlite3

import pytest

from access.models import Role
from access.sqlite_store import SqliteAccounts
from control.database import MIGRATIONS, connect, migrate
from scheduler.errors import (
    ArchivedParent,
    BadContactAddress,
    BadStructureName,
    StructureNameTaken,
    WrongRoleFor,
)
from scheduler.models import DEFAULT_TIMEZONE
from scheduler.sqlite_agencies import SqliteAgencies
from scheduler.sqlite_store import SqliteTimetable
from scheduler.structure import FirstRun, split_contacts
from tests.conftest import Academy, Clock

AGENCIES_MIGRATION = "scheduler_0007_structure_archive_agencies"


def _upto(db: sqlite3.Connection, last: str) -> None:
    """The schema as it was before ``last``: the migrations before it, applied as ``migrate``
    applies them."""
    db.execute(
        "CREATE TABLE schema_migrations"
        " (name TEXT PRIMARY KEY, position INTEGER NOT NULL, applied_at REAL NOT NULL)"
    )
    for position, (name, sql) in enumerate(MIGRATIONS, start=1):
        if name == last:
            return
        db.executescript(
            f"BEGIN;\n{sql}\nINSERT INTO schema_migrations VALUES ('{name}', {position}, 0);"
            "\nCOMMIT;"
        )


def test_the_free_text_agencies_of_learners_become_agencies_and_later_names_join_them() -> None:
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    _upto(db, AGENCIES_MIGRATION)
    for n, agency in enumerate(["МВД", "Агентство по делам госслужбы", "МВД", None, "mvd", "MVD"]):
        db.execute(
            "INSERT INTO users (login, full_name, role, agency, created_at)"
            " VALUES (?, ?, 'student', ?, 0)",
            (f"s{n}", f"Слушатель {n}", agency),
        )
    db.commit()
    assert AGENCIES_MIGRATION in migrate(db)
    agencies = SqliteAgencies(db)
    # One agency per name, letter case aside (the first spelling given), none for no agency.
    assert [a.name for a in agencies.agencies()] == ["mvd", "Агентство по делам госслужбы", "МВД"]
    assert all(a.contacts == () and not a.archived for a in agencies.agencies())
    # The learners keep their agency as it was: the report reads the same.
    accounts = SqliteAccounts(db)
    assert [u.agency for u in accounts.learners_with_agency()] == [
        "MVD", "mvd", "Агентство по делам госслужбы", "МВД", "МВД",
    ]  # fmt: skip
    # A name given later (an import, an edit) is an agency too.
    accounts.create_user(login="s9", full_name="Новый", role=Role.STUDENT, agency="КНБ")
    accounts.set_agency(accounts.by_login("s0")[0].id, "Минобороны")
    names = {a.name for a in agencies.agencies()}
    assert {"КНБ", "Минобороны"} <= names


def test_renaming_an_agency_renames_it_on_its_learners_and_archiving_keeps_them(
    clock: Clock,
) -> None:
    db = connect(":memory:")
    accounts, agencies = SqliteAccounts(db, clock), SqliteAgencies(db, clock)
    uid = accounts.create_user(login="s1", full_name="С", role=Role.STUDENT, agency="МВД").id
    mvd = next(a for a in agencies.agencies() if a.name == "МВД")
    renamed = agencies.change_agency(
        mvd.id, name="  Министерство   внутренних дел ", contacts=("hr@mvd.gov.kz",)
    )
    assert renamed.name == "Министерство внутренних дел"
    assert renamed.contacts == ("hr@mvd.gov.kz",)
    assert accounts.get(uid).agency == "Министерство внутренних дел"
    archived = agencies.change_agency(mvd.id, archived=True)
    assert archived.archived and agencies.agencies(archived=False) == []
    assert accounts.get(uid).agency == "Министерство внутренних дел"  # history names it
    assert agencies.learner_counts() == {"министерство внутренних дел": 1}
    with pytest.raises(StructureNameTaken):
        agencies.create_agency("министерство внутренних дел")
    with pytest.raises(BadContactAddress):
        agencies.create_agency("КНБ", ("not an address",))
    with pytest.raises(BadContactAddress):  # at most ten
        agencies.create_agency("КНБ", tuple(f"hr{n}@knb.kz" for n in range(11)))
    assert split_contacts("a@b.kz, c@d.kz;\na@B.kz") == ("a@b.kz", "c@d.kz")


def test_institutes_and_departments_follow_the_rules_and_archive_without_losing_history(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, academy, accounts = timetable
    director = accounts.by_login("director")[0].id
    head = accounts.by_login("head")[0].id
    made = tt.create_institute(" Институт  права ", director)
    assert (made.name, made.director_id, made.archived) == ("Институт права", director, False)
    with pytest.raises(StructureNameTaken):
        tt.create_institute("институт ПРАВА")
    with pytest.raises(WrongRoleFor):  # a teacher is not a director
        tt.create_institute("Другой", academy.teacher_id)
    with pytest.raises(BadStructureName):
        tt.create_institute("   ")
    dept = tt.create_department(made.id, "Кафедра уголовного права", head)
    with pytest.raises(WrongRoleFor):
        tt.change_department(dept.id, head_id=director)
    assert tt.change_department(dept.id, head_id=None).head_id is None
    assert tt.change_institute(made.id, name="Институт права и политики").director_id == director
    # A group of the department, then the department archived: out of the pickers, still its
    # group's.
    group = tt.add_group("ЮП-26-1", dept.id, "ru", DEFAULT_TIMEZONE)
    tt.change_department(dept.id, archived=True)
    assert dept.id not in {d.id for d in tt.departments(archived=False)}
    assert tt.department(tt.group(group.id).department_id).name == "Кафедра уголовного права"
    assert tt.department(dept.id).archived
    # An archived institute: its departments leave the pickers, none is added or brought back.
    tt.change_department(dept.id, archived=False)
    tt.change_institute(made.id, archived=True)
    assert made.id not in {i.id for i in tt.institutes(archived=False)}
    assert dept.id not in {d.id for d in tt.departments(archived=False)}
    with pytest.raises(ArchivedParent):
        tt.create_department(made.id, "Ещё одна")
    tt.change_department(dept.id, archived=True)
    with pytest.raises(ArchivedParent):
        tt.change_department(dept.id, archived=False)
    assert tt.institute_of_group(group.id).name == "Институт права и политики"


def test_the_first_run_counts_what_is_set_up(clock: Clock) -> None:
    db = connect(":memory:")
    tt, accounts = SqliteTimetable(db, clock), SqliteAccounts(db, clock)
    accounts.create_user(login="admin", full_name="Админ", role=Role.ADMIN)
    assert tt.first_run() == FirstRun(0, 0, 0, 0, 0)
    assert [done for _, done in tt.first_run().steps] == [False] * 5
    inst = tt.create_institute("Институт")
    tt.create_department(inst.id, "Кафедра")
    state = tt.first_run()
    assert [done for _, done in state.steps] == [True, True, False, False, False]
    assert not state.done
