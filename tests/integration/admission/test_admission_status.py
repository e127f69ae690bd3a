"""Admission status (clauses 12 and 20): who may enter which class, enforced at the door with
real signaling; the audit trail; "not admitted" in registers and reports."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from admission.door import NotInProgramme, UnknownDiscipline, Who, set_status, turned_away
from admission.models import ExcuseReason
from admission.sqlite_status import SqliteAdmission
from admission.status import (
    AdmissionChange,
    NotAdmittedReason,
    StatusKey,
    barred_between,
    closes,
    door_of,
    refusal,
    status_at,
)
from attendance.marks import Mark, class_marks
from attendance.reports import Totals
from scheduler.errors import DisciplineInUse
from scheduler.models import (
    MIN_ADDITIONAL_GROUP,
    ClassFormat,
    ClassKind,
    ClassStatus,
    DisciplineFormat,
    LiveClass,
    ProgrammeKind,
)
from scheduler.sqlite_store import SqliteTimetable
from tests.conftest import Academy, Client, SignIn
from tests.days import working_day
from tests.peers import Peer, connect, join, publish, wait_gone, ws_url
from web.core import keys

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def _class(kind: ClassKind, learners: tuple[int, ...] = (), discipline: str = "") -> LiveClass:
    return LiveClass(
        1, "Класс", kind, ClassFormat.LIVE_ONLINE, 9, NOW, NOW + timedelta(hours=1),
        ClassStatus.PLANNED, (1,), discipline, None, learners,
    )  # fmt: skip


def _change(key: StatusKey, admitted: bool, at: float, n: int = 1) -> AdmissionChange:
    reason = None if admitted else NotAdmittedReason.ASSIGNMENTS_INCOMPLETE
    return AdmissionChange(n, 5, key, admitted, reason, "по данным портала", 1, "Методист", at)


# -- the rule --------------------------------------------------------------------------------------
POSTGRADUATE = {1: ProgrammeKind.POSTGRADUATE}
ADDITIONAL = {1: ProgrammeKind.ADDITIONAL}


@pytest.mark.parametrize("kind", list(ClassKind))
def test_postgraduate_status_closes_only_the_disciplines_controls(kind: ClassKind) -> None:
    barred = {StatusKey(1, 10): [_change(StatusKey(1, 10), False, 0)]}
    of_discipline = door_of(_class(kind, discipline="Право"), POSTGRADUATE, {1: 10})
    other_discipline = door_of(_class(kind, discipline="Другое"), POSTGRADUATE, {1: 11})
    no_discipline = door_of(_class(kind), POSTGRADUATE, {1: None})
    expect = kind in (ClassKind.MIDTERM_CONTROL, ClassKind.EXAM)
    assert (refusal(of_discipline, barred, 1) is not None) is expect
    assert refusal(other_discipline, barred, 1) is None
    assert refusal(no_discipline, barred, 1) is None
    # An individual control of that discipline stays closed: the debt comes first.
    individual = door_of(_class(kind, (5,), "Право"), POSTGRADUATE, {1: 10})
    assert (refusal(individual, barred, 1) is not None) is expect


@pytest.mark.parametrize("kind", list(ClassKind))
def test_additional_status_closes_the_course_but_not_the_learners_own_makeup(
    kind: ClassKind,
) -> None:
    barred = {StatusKey(1): [_change(StatusKey(1), False, 0)]}
    group_class = door_of(_class(kind), ADDITIONAL, {1: None})
    makeup = door_of(_class(kind, (5,)), ADDITIONAL, {1: None})
    assert refusal(group_class, barred, 1) is not None
    expect_makeup_closed = kind in (ClassKind.MIDTERM_CONTROL, ClassKind.EXAM)
    assert (refusal(makeup, barred, 1) is not None) is expect_makeup_closed
    assert closes(group_class, StatusKey(1))
    assert not closes(group_class, StatusKey(2))


def test_admitted_or_no_status_opens_every_door() -> None:
    for kind in ClassKind:
        d = door_of(_class(kind, discipline="Право"), POSTGRADUATE, {1: 10})
        assert refusal(d, {}, 1) is None
        cleared = [_change(StatusKey(1, 10), False, 0), _change(StatusKey(1, 10), True, 5, 2)]
        assert refusal(d, {StatusKey(1, 10): cleared}, 6) is None
        assert refusal(d, {StatusKey(1, 10): cleared}, 4) is (
            cleared[0] if kind in (ClassKind.MIDTERM_CONTROL, ClassKind.EXAM) else None
        )


def test_status_in_force_and_during_a_class() -> None:
    key = StatusKey(1, 10)
    history = [_change(key, False, 100, 1), _change(key, True, 200, 2)]
    assert status_at(history, 50) is None
    assert status_at(history, 100) == history[0]
    assert status_at(history, 250) == history[1]
    assert barred_between(history, 150, 160) == history[0]  # not admitted at the start
    assert barred_between(history, 50, 120) == history[0]  # became so during the class
    assert barred_between(history, 50, 90) is None
    assert barred_between(history, 210, 300) is None  # cleared before it began


def test_marks_not_admitted_is_not_an_absence() -> None:
    marks = class_marks([1, 2], [], 0.0, 3600.0, 7200.0, not_admitted=[1])
    assert [m.mark for m in marks] == [Mark.NOT_ADMITTED, Mark.ABSENT]
    assert marks[0].derived is Mark.ABSENT
    assert Totals({Mark.NOT_ADMITTED: 1, Mark.PRESENT: 1}).percent == 100
    assert Totals({Mark.NOT_ADMITTED: 1}).percent is None


# -- the store and the service ---------------------------------------------------------------------
@dataclass
class Programmes:
    postgraduate: int
    criminal_law: int  # a discipline of the postgraduate programme
    civil_law: int
    additional: int
    pg_group: int
    add_group: int


def _programmes(tt: SqliteTimetable, academy: Academy) -> Programmes:
    institute = tt.institute_of_group(academy.group_id)
    department = tt.group(academy.group_id).department_id
    pg = tt.add_programme("Магистратура: право", ProgrammeKind.POSTGRADUATE, institute.id)
    criminal = tt.add_discipline(pg.id, "Уголовное право", 5, DisciplineFormat.DISTANCE)
    civil = tt.add_discipline(pg.id, "Гражданское право", 5, DisciplineFormat.DISTANCE)
    add = tt.add_programme("Курсы повышения квалификации", ProgrammeKind.ADDITIONAL, institute.id)
    g1 = tt.add_group("М-26-1", department, "ru", "Asia/Almaty", programme_id=pg.id)
    g2 = tt.add_group("ПК-26-1", department, "kk", "Asia/Almaty", programme_id=add.id)
    tt.add_members(g1.id, academy.student_ids[:4])
    tt.add_members(g2.id, academy.student_ids)
    tt.add_teacher(g1.id, academy.teacher_id)
    tt.add_teacher(g2.id, academy.teacher_id)
    if len(academy.student_ids) >= MIN_ADDITIONAL_GROUP:  # its classes need it active
        tt.set_active(g2.id, True)
    return Programmes(pg.id, criminal.id, civil.id, add.id, g1.id, g2.id)


def test_set_status_checks_what_it_is_about(
    timetable: tuple[SqliteTimetable, Academy, object],
) -> None:
    tt, academy, _accounts = timetable
    p = _programmes(tt, academy)
    store = SqliteAdmission(tt._db)
    staff = Who(academy.staff_id, "Жанна Серикбаева")
    learner = academy.student_ids[0]

    def put(key: StatusKey, admitted: bool, learner_id: int = learner) -> tuple[object, bool]:
        reason = None if admitted else NotAdmittedReason.ASSIGNMENTS_INCOMPLETE
        return set_status(
            store, tt, learner_id=learner_id, key=key, admitted=admitted, reason=reason,
            note="Ведомость портала от 01.03", by=staff, at=1000.0,
        )  # fmt: skip

    with pytest.raises(ValueError, match="per discipline"):
        put(StatusKey(p.postgraduate), False)
    with pytest.raises(ValueError, match="whole course"):
        put(StatusKey(p.additional, p.criminal_law), False)
    with pytest.raises(UnknownDiscipline):
        put(StatusKey(p.postgraduate, 999), False)
    with pytest.raises(NotInProgramme):
        put(StatusKey(p.postgraduate, p.criminal_law), False, academy.outsider_id)
    _first, new = put(StatusKey(p.postgraduate, p.criminal_law), False)
    assert new
    _again, new = put(StatusKey(p.postgraduate, p.criminal_law), False)
    assert not new  # the portal may repeat itself: nothing new in the history
    put(StatusKey(p.postgraduate, p.criminal_law), True)
    history = store.history(learner)
    assert [(c.admitted, c.by_name) for c in history] == [
        (False, "Жанна Серикбаева"),
        (True, "Жанна Серикбаева"),
    ]
    assert history[0].at <= history[1].at
    # The history is append-only, in the database itself.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        tt._db.execute("UPDATE admission_changes SET admitted = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        tt._db.execute("DELETE FROM admission_changes")
    # A discipline a status names is not removed from under it.
    with pytest.raises(DisciplineInUse):
        tt.remove_discipline(p.criminal_law)


# -- at the door, over real signaling --------------------------------------------------------------
def _add(
    tt: SqliteTimetable,
    academy: Academy,
    group_id: int,
    kind: ClassKind,
    hours: int,
    discipline: str = "",
    learners: tuple[int, ...] = (),
) -> LiveClass:
    start = datetime.now(UTC) + timedelta(hours=hours)
    return tt.add_class(
        title=f"{kind} {discipline}".strip(), kind=kind, format=ClassFormat.LIVE_ONLINE,
        teacher_id=academy.teacher_id, starts_at=start, ends_at=start + timedelta(minutes=50),
        group_ids=(group_id,), learner_ids=learners, discipline=discipline,
        on_day_off=True,  # the door, whatever the day
    )  # fmt: skip


async def _start(client: Client, tt: SqliteTimetable, class_id: int) -> Peer:
    """The teacher joins, publishes, and the class is live."""
    teacher = await join(client, class_id)
    await publish(teacher)
    await _until_live(tt, class_id)
    return teacher


async def _end(teacher: Peer, tt: SqliteTimetable, class_id: int) -> None:
    """The teacher ends the class and leaves; the class is no longer live."""
    await teacher.send("end_class")
    async with asyncio.timeout(10):
        while tt.get_class(class_id).status is ClassStatus.LIVE:
            await asyncio.sleep(0.05)
    await teacher.close()


async def _until_live(tt: SqliteTimetable, class_id: int) -> None:
    async with asyncio.timeout(10):
        while tt.get_class(class_id).status is not ClassStatus.LIVE:
            await asyncio.sleep(0.05)


async def _record(
    staff: Client, learner_id: int, key: str, status: str, note: str = "Ведомость портала"
) -> int:
    resp = await staff.post(
        f"/learners/{learner_id}/admission",
        data={"key": key, "status": status, "note": note},
        allow_redirects=False,
    )
    return resp.status


async def _joins(client: Client, class_id: int) -> bool:
    """Whether the person gets in: a join token, then a welcome on the signaling socket."""
    resp = await client.post(
        f"/classes/{class_id}/join-token", headers={"Accept": "application/json"}
    )
    body = await resp.json()
    if resp.status == 403:
        assert body["error"]["code"] == "not_admitted", body
        return False
    assert resp.status == 200, body
    peer = await connect(ws_url(client, class_id), body["token"])
    try:
        await peer.wait_for("welcome")
        return True
    finally:
        await peer.close()


async def test_every_class_kind_and_status_at_the_door(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    barred_pg, admitted_pg = academy.student_ids[0], academy.student_ids[1]
    barred_add, admitted_add = academy.student_ids[5], academy.student_ids[6]
    staff = sign_in(academy.staff_id)
    pg_key = f"{p.postgraduate}:{p.criminal_law}"
    assert await _record(staff, barred_pg, pg_key, "assignments_incomplete") == 303
    assert await _record(staff, barred_add, f"{p.additional}:", "intermediate_test_failed") == 303
    hour = iter(range(2, 200))
    cases: list[tuple[LiveClass, int, bool]] = []
    for kind in ClassKind:
        control = kind in (ClassKind.MIDTERM_CONTROL, ClassKind.EXAM)
        c = _add(tt, academy, p.pg_group, kind, next(hour), "Уголовное право")
        cases += [(c, barred_pg, not control), (c, admitted_pg, True)]
        other = _add(tt, academy, p.pg_group, kind, next(hour), "Гражданское право")
        cases.append((other, barred_pg, True))
        course = _add(tt, academy, p.add_group, kind, next(hour))
        cases += [(course, barred_add, False), (course, admitted_add, True)]
        makeup = _add(tt, academy, p.add_group, kind, next(hour), learners=(barred_add,))
        cases.append((makeup, barred_add, not control))
    clients = {u: sign_in(u) for u in (barred_pg, admitted_pg, barred_add, admitted_add)}
    got = [(c.kind, c.id, u, await _joins(clients[u], c.id)) for c, u, _ in cases]
    assert got == [(c.kind, c.id, u, expect) for c, u, expect in cases]
    # Each refusal is logged, and the learner's page lists it.
    store = served.app[keys.ADMISSION]
    refused = [c.id for c, u, expect in cases if not expect]
    logged = {(r.class_id, r.learner_id) for c in refused for r in store.refusals(c)}
    assert logged == {(c.id, u) for c, u, expect in cases if not expect}
    page = await (await clients[barred_pg].get(f"/learners/{barred_pg}/admission")).text()
    assert "midterm_control Уголовное право" in page


async def test_refusal_page_says_why_and_whom_to_ask(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    learner = academy.student_ids[0]
    exam = _add(tt, academy, p.pg_group, ClassKind.EXAM, 3, "уголовное право")  # any case
    staff = sign_in(academy.staff_id)
    await _record(staff, learner, f"{p.postgraduate}:{p.criminal_law}", "assignments_incomplete")
    client = sign_in(learner)
    resp = await client.get(f"/classes/{exam.id}", headers={"Accept-Language": "ru"})
    text = await resp.text()
    assert resp.status == 403
    assert "не выполнены задания на портале" in text  # the reason, in the group's language
    assert "Жанна Серикбаева" in text  # who recorded it: whom to ask
    assert "Серик Ахметов" in text  # the institute's director, for a valid reason
    # The teacher sees on the class page who is not admitted.
    teacher = await (await sign_in(academy.teacher_id).get(f"/classes/{exam.id}")).text()
    listed = re.search(r'<ul class="not-admitted".*?</ul>', teacher, re.S)
    assert listed is not None and "Студент 01" in listed.group(0)
    assert "Студент 02" not in listed.group(0)


async def test_learner_taken_out_of_a_running_control_and_let_back(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    learner = academy.student_ids[0]
    control = _add(tt, academy, p.pg_group, ClassKind.MIDTERM_CONTROL, 100, "Уголовное право")
    teacher = await _start(sign_in(academy.teacher_id), tt, control.id)
    student = await join(sign_in(learner), control.id)
    await student.wait_frames(1)  # in the class, watching the teacher
    staff = sign_in(academy.staff_id)
    key = f"{p.postgraduate}:{p.criminal_law}"
    assert await _record(staff, learner, key, "assignments_incomplete") == 303
    error = await student.wait_for("error")
    assert error["code"] == "not_admitted"
    assert "не выполнены задания" in error["message"]  # the group speaks Russian
    await wait_gone(served.app[keys.MEDIA_NODE], control.id, learner)
    await student.close()
    # The token a learner still holds does not get them back in.
    node = served.app[keys.MEDIA_NODE]
    assert learner not in node.present_user_ids(control.id)
    # Debt cleared: the learner may come back.
    assert await _record(staff, learner, key, "admitted", "Задолженность отработана") == 303
    again = await join(sign_in(learner), control.id)
    assert learner in node.present_user_ids(control.id)
    await again.close()
    await teacher.close()
    await asyncio.sleep(0)


async def test_registers_and_reports_say_not_admitted(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    barred, present = academy.student_ids[0], academy.student_ids[1]
    staff = sign_in(academy.staff_id)
    await _record(staff, barred, f"{p.postgraduate}:{p.criminal_law}", "assignments_incomplete")
    exam = _add(tt, academy, p.pg_group, ClassKind.EXAM, 3, "Уголовное право")
    teacher = await _start(sign_in(academy.teacher_id), tt, exam.id)
    student = await join(sign_in(present), exam.id)
    assert not await _joins(sign_in(barred), exam.id)
    # No attendance row for the learner turned away.
    events = served.app[keys.LEDGER].events(exam.id)
    assert barred not in {le.event.user_id for le in events}
    en = {"Accept-Language": "en"}
    register = await staff.get(f"/classes/{exam.id}/attendance.csv", headers=en)
    rows = {line.split(",")[0]: line for line in (await register.text()).splitlines()}
    assert "not admitted" in rows["Студент 01"]
    assert "absent" in rows["Студент 03"]
    page = await (await staff.get(f"/classes/{exam.id}/attendance", headers=en)).text()
    assert f'data-user="{barred}" data-mark="not_admitted"' in page
    month = exam.starts_at.astimezone(ZoneInfo("Asia/Almaty")).strftime("%Y-%m")
    report = await staff.get(f"/api/v1/reports/groups/{p.pg_group}?month={month}", headers=en)
    body = await report.json()
    assert report.status == 200, body
    column = body["header"].index(next(h for h in body["header"] if h.endswith(exam.title)))
    marks = {r[0]: r[column] for r in body["rows"]}
    assert marks["Студент 01"] == "not admitted"
    assert marks["Студент 02"] == "present"
    assert marks["Студент 03"] == "absent"
    await student.close()
    await teacher.close()


async def test_only_staff_record_and_the_page_is_private(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    learner = academy.student_ids[0]
    key = f"{p.postgraduate}:{p.criminal_law}"
    assert await _record(sign_in(academy.teacher_id), learner, key, "assignments_incomplete") == 403
    assert await _record(sign_in(learner), learner, key, "admitted") == 403
    other = sign_in(academy.student_ids[1])
    assert (await other.get(f"/learners/{learner}/admission")).status == 403
    assert (await sign_in(learner).get(f"/learners/{learner}/admission")).status == 200
    teacher = await sign_in(academy.teacher_id).get(f"/learners/{learner}/admission")
    assert teacher.status == 200  # the learner's teacher reads it
    staff = sign_in(academy.staff_id)
    for bad in (
        {"key": "x", "status": "admitted", "note": "n"},
        {"key": key, "status": "maybe", "note": "n"},
        {"key": key, "status": "admitted", "note": " "},
        {"key": key, "status": "admitted", "note": "n" * 1001},
        {"key": f"{p.additional}:{p.criminal_law}", "status": "admitted", "note": "n"},
        {"key": "9" * 18 + ":", "status": "admitted", "note": "n"},
        {"key": f"{p.postgraduate}:", "status": "admitted", "note": "n"},
    ):
        resp = await staff.post(f"/learners/{learner}/admission", data=bad)
        assert resp.status == 400, (bad, await resp.text())
    assert served.app[keys.ADMISSION].history(learner) == []
    assert (await staff.get(f"/learners/{'9' * 18}/admission")).status == 404


async def test_a_change_becomes_a_webhook_event(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    hooks = served.app[keys.WEBHOOKS]
    hooks.add("https://portal.example/hooks", academy.staff_id)
    staff = sign_in(academy.staff_id)
    learner = academy.student_ids[5]
    assert await _record(staff, learner, f"{p.additional}:", "intermediate_test_failed") == 303
    assert await _record(staff, learner, f"{p.additional}:", "admitted", "Пересдал") == 303
    hooks.collect(time.time())
    bodies = [
        json.loads(r[0])
        for r in served.app[keys.DB].execute(
            "SELECT body FROM webhook_outbox WHERE event = 'admission.changed' ORDER BY id"
        )
    ]
    assert [
        (b["data"]["learner_id"], b["data"]["admitted"], b["data"]["reason"]) for b in bodies
    ] == [
        (learner, False, "intermediate_test_failed"),
        (learner, True, None),
    ]
    assert served.app[keys.ADMISSION].history(learner)[0].by_name == "Жанна Серикбаева"


async def test_a_control_names_one_of_the_programmes_disciplines(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    staff = sign_in(academy.staff_id)
    day = working_day(tt.academy_calendar(), (datetime.now(UTC) + timedelta(days=30)).date())
    plan = {
        "title": "Рубежный контроль", "kind": "midterm_control", "group_id": p.pg_group,
        "teacher_id": academy.teacher_id, "day": day.isoformat(), "start": "09:00",
        "end": "10:00",
    }  # fmt: skip
    refused = await staff.post("/api/v1/classes", json=plan)
    body = await refused.json()
    assert refused.status == 400, body
    assert "Гражданское право, Уголовное право" in body["error"]["message"]
    made = await staff.post("/api/v1/classes", json=plan | {"discipline": " уголовное ПРАВО "})
    assert made.status == 201, await made.text()
    assert (await made.json())["classes"][0]["discipline"] == "Уголовное право"
    lecture = plan | {"kind": "lecture", "start": "11:00", "end": "12:00"}
    assert (await staff.post("/api/v1/classes", json=lecture)).status == 201  # no rule for them


async def test_a_makeup_control_keeps_the_door_and_a_control_naming_nothing_fails_closed(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    learner = academy.student_ids[0]
    staff = sign_in(academy.staff_id)
    await _record(staff, learner, f"{p.postgraduate}:{p.criminal_law}", "assignments_incomplete")
    excuses = served.app[keys.EXCUSES]
    today = datetime.now(UTC).date()
    r = excuses.file(
        learner_id=learner, group_id=p.pg_group, reason=ExcuseReason.ILLNESS, first_day=today,
        last_day=today, document="Справка № 7", details="", by_id=academy.staff_id,
        by_name="Жанна Серикбаева", at=time.time(),
    )  # fmt: skip
    director = tt.institute_of_group(p.pg_group).director_id
    assert director is not None
    excuses.decide(r.id, True, director, "Серик Ахметов", "", time.time())
    form = {
        "title": "Пересдача", "kind": "exam", "teacher_id": str(academy.teacher_id),
        "day": working_day(tt.academy_calendar(), today + timedelta(days=3)).isoformat(),
        "start": "10:00", "end": "11:00",
    }  # fmt: skip
    refused = await staff.post(f"/excuses/{r.id}/makeup", data=form, allow_redirects=False)
    assert refused.status == 400 and "Уголовное право" in await refused.text()
    planned = await staff.post(
        f"/excuses/{r.id}/makeup", data=form | {"discipline": "уголовное право"},
        allow_redirects=False,
    )  # fmt: skip
    assert planned.status == 303, await planned.text()
    (makeup,) = [c for c in tt.classes_of_learner(learner) if c.individual]
    assert makeup.discipline == "Уголовное право"
    client = sign_in(learner)
    assert not await _joins(client, makeup.id)  # the debt comes first
    # Planned around the pages, naming no discipline (or one spelt otherwise): still closed.
    unnamed = _add(tt, academy, p.pg_group, ClassKind.MIDTERM_CONTROL, 30)
    spaced = _add(tt, academy, p.pg_group, ClassKind.EXAM, 31, "Уголовное\u00a0  ПРАВО")
    assert not await _joins(client, unnamed.id)
    assert not await _joins(client, spaced.id)
    assert await _joins(sign_in(academy.student_ids[1]), unnamed.id)  # others are admitted


async def test_a_class_over_is_the_learners_to_look_back_on(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """Today's status does not close a class already held, nor turn an absence in it into
    "not admitted"; a status recorded after the class ended changes nothing of it."""
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    learner = academy.student_ids[0]
    exam = _add(tt, academy, p.pg_group, ClassKind.EXAM, 5, "Уголовное право")
    teacher = await _start(sign_in(academy.teacher_id), tt, exam.id)
    await _end(teacher, tt, exam.id)
    staff = sign_in(academy.staff_id)
    await _record(staff, learner, f"{p.postgraduate}:{p.criminal_law}", "assignments_incomplete")
    page = await sign_in(learner).get(f"/classes/{exam.id}")
    assert page.status == 200
    assert served.app[keys.ADMISSION].refusals(exam.id) == []
    register = await staff.get(
        f"/classes/{exam.id}/attendance.csv", headers={"Accept-Language": "en"}
    )
    rows = {line.split(",")[0]: line for line in (await register.text()).splitlines()}
    assert "absent" in rows["Студент 01"] and "not admitted" not in rows["Студент 01"]


async def test_api_says_a_note_is_missing(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    staff = sign_in(academy.staff_id)
    resp = await staff.post(
        f"/api/v1/learners/{academy.student_ids[0]}/admission",
        json={"programme_id": p.postgraduate, "discipline_id": p.criminal_law,
              "admitted": False, "reason": "assignments_incomplete", "note": "   "},
    )  # fmt: skip
    body = await resp.json()
    assert resp.status == 400 and body["error"]["code"] == "note_missing"


async def test_a_class_held_while_the_learner_was_barred_stays_closed_to_them(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    p = _programmes(tt, academy)
    barred, other = academy.student_ids[5], academy.student_ids[6]
    staff = sign_in(academy.staff_id)
    await _record(staff, barred, f"{p.additional}:", "intermediate_test_failed")
    lecture = _add(tt, academy, p.add_group, ClassKind.LECTURE, 7)
    teacher = await _start(sign_in(academy.teacher_id), tt, lecture.id)
    await _end(teacher, tt, lecture.id)
    await _record(staff, barred, f"{p.additional}:", "admitted", "Пересдал")
    # Admitted again now, but the lecture ran while they were barred: its page (and its
    # recordings) stay closed; a classmate looks back on it freely.
    closed = await sign_in(barred).get(f"/classes/{lecture.id}")
    assert closed.status == 403 and "промежуточные тестовые" in await closed.text()
    assert (await sign_in(other).get(f"/classes/{lecture.id}")).status == 200
    assert served.app[keys.ADMISSION].refusals(lecture.id) == []  # looking back is no join


def test_a_control_of_several_programmes_is_decided_by_the_discipline_it_names(
    timetable: tuple[SqliteTimetable, Academy, object],
) -> None:
    tt, academy, _accounts = timetable
    p = _programmes(tt, academy)
    institute = tt.institute_of_group(academy.group_id).id
    department = tt.group(academy.group_id).department_id
    other = tt.add_programme("Докторантура", ProgrammeKind.POSTGRADUATE, institute)
    economics = tt.add_discipline(other.id, "Экономика", 5, DisciplineFormat.DISTANCE)
    g = tt.add_group("Д-26-1", department, "ru", "Asia/Almaty", programme_id=other.id)
    learner = academy.student_ids[2]
    tt.add_members(g.id, [learner])
    tt.add_teacher(g.id, academy.teacher_id)
    store = SqliteAdmission(tt._db)
    set_status(
        store, tt, learner_id=learner, key=StatusKey(other.id, economics.id), admitted=False,
        reason=NotAdmittedReason.ASSIGNMENTS_INCOMPLETE, note="Ведомость",
        by=Who(academy.staff_id, "Жанна Серикбаева"), at=1000.0,
    )  # fmt: skip
    day = working_day(tt.academy_calendar(), (datetime.now(UTC) + timedelta(days=3)).date())
    start = datetime(day.year, day.month, day.day, 4, tzinfo=UTC)  # 09:00 in Almaty
    both = tt.add_class(
        title="Рубежный контроль", kind=ClassKind.MIDTERM_CONTROL, format=ClassFormat.LIVE_ONLINE,
        teacher_id=academy.teacher_id, starts_at=start, ends_at=start + timedelta(hours=1),
        group_ids=(p.pg_group, g.id), discipline="Уголовное право",
    )  # fmt: skip
    assert turned_away(store, tt, learner, both, time.time()) is None  # a debt elsewhere
    unnamed = tt.add_class(
        title="Рубежный контроль", kind=ClassKind.MIDTERM_CONTROL, format=ClassFormat.LIVE_ONLINE,
        teacher_id=academy.teacher_id, starts_at=start + timedelta(hours=2),
        ends_at=start + timedelta(hours=3), group_ids=(p.pg_group, g.id),
    )  # fmt: skip
    assert turned_away(store, tt, learner, unnamed, time.time()) is not None  # fails closed
