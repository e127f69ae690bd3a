"""The notice collector over a real SQLite database: moving, cancelling and switching a class,
deciding a guest request and an excuse request each make exactly the right notices, once —
also when the collector is run again, restarted, or has lost its cursor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from access.models import Role
from access.sqlite_store import SqliteAccounts
from admission.models import ExcuseReason
from admission.sqlite_excuses import SqliteExcuses
from admission.sqlite_guests import SqliteGuests
from control.database import connect, migrate
from control.notices import Notices
from scheduler.models import DEFAULT_TIMEZONE, ClassFormat, ClassKind
from scheduler.planning import Actor
from scheduler.sqlite_store import SqliteTimetable
from tests.conftest import Academy, Clock, seed_into


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2027, 3, 10, 9, 0, tzinfo=ZoneInfo(DEFAULT_TIMEZONE)))


class World:
    def __init__(self, clock: Clock) -> None:
        self.db = connect(":memory:")
        self.clock = clock
        self.accounts = SqliteAccounts(self.db, clock)
        self.tt = SqliteTimetable(self.db, clock)
        self.a: Academy = seed_into(self.accounts, self.tt, 3, clock, clock.zone)
        self.guests = SqliteGuests(self.db, clock)
        self.excuses = SqliteExcuses(self.db, clock)
        self.director = self.accounts.by_login("director")[0].id
        self.head = self.accounts.by_login("head")[0].id
        # Another institute, its director and head: told of nothing here.
        self.other_director = self.accounts.create_user(
            login="dir2", full_name="Басқа Директор", role=Role.DIRECTOR
        ).id
        self.other_head = self.accounts.create_user(
            login="head2", full_name="Басқа Меңгеруші", role=Role.HEAD_OF_DEPARTMENT
        ).id
        inst = self.tt.add_institute("Басқа институт", self.other_director)
        self.tt.add_department(inst.id, "Басқа кафедра", self.other_head)

    def notices(self) -> Notices:
        """The store as a (re)started process opens it."""
        return Notices(self.db, self.tt, self.accounts, self.guests, self.excuses, self.clock)

    def all(self) -> list[tuple[int, str]]:
        rows = self.db.execute("SELECT recipient_id, kind FROM notices ORDER BY id").fetchall()
        return [(r[0], r[1]) for r in rows]

    def kinds_of(self, since: int) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for uid, kind in self.all()[since:]:
            out.setdefault(uid, []).append(kind)
        return out


@pytest.fixture
def world(clock: Clock) -> Iterator[World]:
    w = World(clock)
    yield w
    w.db.close()


def guest_fields() -> dict[str, str | bool]:
    return {
        "guest_name": "Ержан Тоқтаров", "organisation": "Бас прокуратура",
        "position": "прокурор", "contact": "+7 701 000 00 00", "topic": "Қылмыстық іс",
        "justification": "Тәжірибемен бөлісу", "presents": True,
    }  # fmt: skip


def test_a_class_moved_cancelled_and_switched_online_is_told_to_its_people_once(
    world: World,
) -> None:
    w, a = world, world.a
    staff = Actor(a.staff_id, "Жанна Серикбаева")
    store = w.notices()
    assert store.collect() == 0  # nothing happened since notices began
    c = w.tt.get_class(a.class_id)
    w.tt.move_class(
        c.id, c.starts_at + timedelta(days=1), c.ends_at + timedelta(days=1), by=staff, reason=""
    )
    class_people = {*a.student_ids, a.teacher_id}
    assert store.collect() == 4
    assert w.kinds_of(0) == {u: ["class_moved"] for u in class_people}
    # Run again, restarted, or with its cursor lost: nobody is told twice.
    assert store.collect() == 0
    assert w.notices().collect() == 0
    w.db.execute("UPDATE notice_cursors SET position = 0")
    w.db.commit()
    assert w.notices().collect() == 0
    assert len(w.all()) == 4

    w.tt.cancel_class(c.id, by=staff, reason="болезнь преподавателя")
    # An in-person class next week, switched online in an emergency (clause 3).
    start = datetime.fromtimestamp(w.clock(), UTC) + timedelta(days=7)
    later = w.tt.add_class(
        title="Криминалистика", kind=ClassKind.SEMINAR, format=ClassFormat.IN_PERSON,
        teacher_id=a.teacher_id, starts_at=start, ends_at=start + timedelta(minutes=90),
        group_ids=(a.group_id,),
    )  # fmt: skip
    day = start.astimezone(ZoneInfo(DEFAULT_TIMEZONE)).date()
    w.tt.switch_online(day, day, [a.group_id], by=staff, reason="карантин")
    assert w.notices().collect() == 8
    assert w.kinds_of(4) == {u: ["class_cancelled", "class_switched_online"] for u in class_people}
    switched = w.notices().page(a.student_ids[0])[0]
    assert switched.params["class_id"] == later.id
    assert switched.params["reason"] == "карантин"
    # The other group's student and teacher, staff, directors and heads: nothing.
    told = {u for u, _ in w.all()}
    assert told == class_people
    assert a.outsider_id not in told and a.other_teacher_id not in told


def test_a_teacher_who_moves_their_own_class_is_not_told_of_it(world: World) -> None:
    w, a = world, world.a
    c = w.tt.get_class(a.class_id)
    w.tt.move_class(
        c.id, c.starts_at + timedelta(hours=3), c.ends_at + timedelta(hours=3),
        by=Actor(a.teacher_id, "Марат Искаков"), reason="конференция",
    )  # fmt: skip
    w.notices().collect()
    assert {u for u, _ in w.all()} == set(a.student_ids)


def test_guest_requests_waiting_and_decided_are_told_to_the_director_and_the_head(
    world: World,
) -> None:
    w, a = world, world.a
    now = w.clock()
    ok = w.guests.file(class_id=a.class_id, by_id=w.head, by_name="Гаухар", at=now,
                       **guest_fields())  # type: ignore[arg-type]  # fmt: skip
    no = w.guests.file(class_id=a.class_id, by_id=w.head, by_name="Гаухар", at=now,
                       **guest_fields())  # type: ignore[arg-type]  # fmt: skip
    store = w.notices()
    assert store.collect() == 2
    assert w.kinds_of(0) == {w.director: ["guest_waiting", "guest_waiting"]}
    assert store.waiting(w.director).guests == 2
    assert store.waiting(w.head).guests == 2  # the head's requests wait for the director
    assert store.waiting(w.other_director).total == 0
    assert store.waiting(w.other_head).total == 0
    w.guests.approve(ok.id, w.director, "Серик Ахметов", "", now)
    w.guests.reject(no.id, w.director, "Серик Ахметов", "тема не по программе", now)
    assert store.collect() == 2
    assert w.kinds_of(2) == {w.head: ["guest_approved", "guest_refused"]}
    assert store.waiting(w.director).guests == 0
    refused = store.page(w.head)[0]
    assert refused.params["comment"] == "тема не по программе"
    assert w.notices().collect() == 0
    # Who follows every notice (the e-mail queue) reads them in order, each once.
    followed = store.after(0)
    assert [(n.recipient_id, n.kind.value) for n in followed] == w.all()
    assert store.after(followed[-1].id) == []
    assert [n.id for n in store.after(followed[0].id, limit=1)] == [followed[1].id]


def test_an_excuse_request_waiting_and_decided_is_told_to_the_director_and_the_learner(
    world: World,
) -> None:
    w, a = world, world.a
    learner = a.student_ids[0]
    r = w.excuses.file(
        learner_id=learner, group_id=a.group_id, reason=ExcuseReason.ILLNESS,
        first_day=date(2027, 3, 1), last_day=date(2027, 3, 3), document="справка № 12",
        details="", by_id=a.staff_id, by_name="Жанна", at=w.clock(),
    )  # fmt: skip
    store = w.notices()
    assert store.collect() == 1
    assert w.kinds_of(0) == {w.director: ["excuse_waiting"]}
    assert store.waiting(w.director).excuses == 1
    assert store.waiting(w.other_director).excuses == 0
    w.excuses.decide(r.id, True, w.director, "Серик Ахметов", "", w.clock())
    assert store.collect() == 1
    assert w.kinds_of(1) == {learner: ["excuse_approved"]}
    assert store.waiting(w.director).excuses == 0
    assert w.notices().collect() == 0


def test_reading_and_marking_read_touch_only_ones_own_notices(world: World) -> None:
    w, a = world, world.a
    c = w.tt.get_class(a.class_id)
    w.tt.cancel_class(c.id, by=Actor(a.staff_id, "Жанна"), reason="")
    store = w.notices()
    store.collect()
    mine, other = a.student_ids[0], a.student_ids[1]
    theirs = store.page(other)[0]
    assert store.mark_read(mine, theirs.id) == 0  # not mine: untouched
    assert store.unread(other) == 1
    assert store.mark_read(mine) == 1
    assert (store.unread(mine), store.unread(other)) == (0, 1)


def test_what_happened_before_notices_began_is_not_told(world: World) -> None:
    w, a = world, world.a
    w.tt.cancel_class(a.class_id, by=Actor(a.staff_id, "Жанна"), reason="")
    # A database from before notices: their migration comes with an upgrade.
    w.db.executescript(
        "DROP TABLE notices; DROP TABLE notice_cursors;"
        " DELETE FROM schema_migrations WHERE name = 'control_0002_notices';"
    )
    assert migrate(w.db) == ["control_0002_notices"]
    store = w.notices()
    assert store.collect() == 0
    at = w.clock()
    w.excuses.file(
        learner_id=a.student_ids[0], group_id=a.group_id, reason=ExcuseReason.ILLNESS,
        first_day=date(2027, 3, 1), last_day=date(2027, 3, 1), document="справка", details="",
        by_id=a.staff_id, by_name="Жанна", at=at,
    )  # fmt: skip
    assert store.collect() == 1
    assert store.page(w.director)[0].created_at == at  # when it happened
