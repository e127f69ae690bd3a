"""Emergency switches in force (clause 3) over a real SQLite database, on a fixed day: while a
switch is in force, an in-person class planned or moved into its days for its groups is live
online, logged as switched by that switch (its people are told); a class it holds moved out of
its days is in person again; lifting it returns only the classes it changed; the guarantee
plans online in a switched range."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from access.sqlite_store import SqliteAccounts
from admission.sqlite_excuses import SqliteExcuses
from admission.sqlite_guests import SqliteGuests
from control.database import connect
from control.notices import Notices
from scheduler.guarantee import Guarantee, GuaranteeRules
from scheduler.models import (
    DEFAULT_TIMEZONE,
    ClassFormat,
    ClassKind,
    LiveClass,
    TimetableAction,
)
from scheduler.planning import Actor
from scheduler.sqlite_store import ClassSpec, SqliteTimetable
from tests.conftest import Academy, Clock, seed_into

ALMATY = ZoneInfo(DEFAULT_TIMEZONE)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of September 2027 in Almaty (UTC+5)."""
    return datetime(2027, 9, day, hour, minute, tzinfo=ALMATY)


class World:
    def __init__(self) -> None:
        # Wednesday 8 September 2027, 09:00 in Almaty (a working week follows).
        self.clock = Clock(local(8, 9))
        self.db = connect(":memory:")
        self.accounts = SqliteAccounts(self.db, self.clock)
        self.tt = SqliteTimetable(self.db, self.clock)
        self.a: Academy = seed_into(self.accounts, self.tt, 3, self.clock, self.clock.zone)
        self.other = self.tt.groups_of_member(self.a.outsider_id)[0].id
        self.staff = Actor(self.a.staff_id, "Жанна Серикбаева")

    def plan(
        self, start: datetime, fmt: ClassFormat = ClassFormat.IN_PERSON, group: int = 0
    ) -> LiveClass:
        group = group or self.a.group_id
        teacher = self.a.teacher_id if group == self.a.group_id else self.a.other_teacher_id
        return self.tt.add_class(
            title="Криминалистика", kind=ClassKind.SEMINAR, format=fmt, teacher_id=teacher,
            starts_at=start, ends_at=start + timedelta(minutes=80), group_ids=(group,),
            by=self.staff,
        )  # fmt: skip

    def notices(self) -> Notices:
        return Notices(
            self.db,
            self.tt,
            self.accounts,
            SqliteGuests(self.db, self.clock),
            SqliteExcuses(self.db, self.clock),
            self.clock,
        )


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    yield w
    w.db.close()


def actions(tt: SqliteTimetable, class_id: int) -> list[tuple[TimetableAction, int | None]]:
    """The class's log, oldest first: what and by which switch."""
    return [(ch.action, ch.switch_id) for ch in reversed(tt.changes(class_id=class_id))]


def test_classes_planned_or_moved_into_a_switch_in_force_go_online_and_lifting_returns_them(
    world: World,
) -> None:
    w, tt, a = world, world.tt, world.a
    sw = tt.switch_online(date(2027, 9, 13), date(2027, 9, 16), [a.group_id], by=w.staff,
                          reason="карантин")  # fmt: skip
    assert sw.class_ids == () and sw.by_id == a.staff_id
    # Planned in person inside the days (also just after midnight, local time): live online.
    inside = w.plan(local(14, 10))
    first_minute = w.plan(local(13, 0, 30))  # still 12 September in UTC
    for c in (inside, first_minute):
        assert c.format is ClassFormat.LIVE_ONLINE
        assert actions(tt, c.id) == [
            (TimetableAction.PLANNED, None),
            (TimetableAction.SWITCHED_ONLINE, sw.id),
        ]
        assert tt.changes(class_id=c.id)[0].reason == "карантин"
        assert tt.changes(class_id=c.id)[0].by_name == "Жанна Серикбаева"
    # Another group, or outside the days (Almaty's Thursday ends at 19:00 UTC): in person.
    elsewhere = w.plan(local(14, 10), group=w.other)
    after = w.plan(local(17, 0, 30))
    before = w.plan(local(10, 10))
    for c in (elsewhere, after, before):
        assert tt.get_class(c.id).format is ClassFormat.IN_PERSON
        assert actions(tt, c.id) == [(TimetableAction.PLANNED, None)]
    # Live online by hand: not the switch's.
    by_hand = w.plan(local(15, 10), ClassFormat.LIVE_ONLINE)
    # A weekly series across the days: only those inside go online.
    series = tt.add_classes(
        [
            ClassSpec("Лекция", ClassKind.LECTURE, ClassFormat.IN_PERSON, a.teacher_id,
                      start, start + timedelta(minutes=80), (a.group_id,))
            for start in (local(8, 14), local(15, 14), local(22, 14))
        ],
        by=w.staff,
    )  # fmt: skip
    assert [c.format for c in series] == [
        ClassFormat.IN_PERSON, ClassFormat.LIVE_ONLINE, ClassFormat.IN_PERSON
    ]  # fmt: skip
    # Moved into the days: online; moved out of them (the switch's own class): in person again.
    moved_in = tt.move_class(before.id, local(16, 10), local(16, 11, 20), by=w.staff, reason="")
    assert moved_in.format is ClassFormat.LIVE_ONLINE
    assert actions(tt, before.id)[-2:] == [
        (TimetableAction.MOVED, None),
        (TimetableAction.SWITCHED_ONLINE, sw.id),
    ]
    moved_out = tt.move_class(
        first_minute.id, local(24, 10), local(24, 11, 20), by=w.staff, reason=""
    )
    assert moved_out.format is ClassFormat.IN_PERSON
    assert actions(tt, first_minute.id)[-1] == (TimetableAction.SWITCH_UNDONE, sw.id)
    held = tt.switch(sw.id).class_ids
    assert set(held) == {inside.id, before.id, series[1].id}
    # A move within the days keeps it online, and the switch's.
    tt.move_class(inside.id, local(14, 12), local(14, 13, 20), by=w.staff, reason="")
    assert tt.get_class(inside.id).format is ClassFormat.LIVE_ONLINE
    assert tt.switch(sw.id).class_ids == held

    lifted = tt.undo_switch(sw.id, by=w.staff)
    assert not lifted.active
    for cid in held:
        assert tt.get_class(cid).format is ClassFormat.IN_PERSON
        assert actions(tt, cid)[-1] == (TimetableAction.SWITCH_UNDONE, sw.id)
    assert tt.get_class(by_hand.id).format is ClassFormat.LIVE_ONLINE  # set online by hand
    assert tt.get_class(elsewhere.id).format is ClassFormat.IN_PERSON
    assert tt.changes(limit=1)[0].action is TimetableAction.SWITCH_LIFTED
    made = [ch for ch in tt.changes() if ch.action is TimetableAction.SWITCH_MADE]
    assert [(ch.switch_id, ch.class_id, ch.reason) for ch in made] == [(sw.id, None, "карантин")]
    # Lifted, it is no rule any more.
    assert w.plan(local(16, 13)).format is ClassFormat.IN_PERSON


def test_a_switch_for_every_group_and_a_class_moved_from_one_switch_to_another(
    world: World,
) -> None:
    w, tt = world, world.tt
    week = tt.switch_online(date(2027, 9, 13), date(2027, 9, 16), [], by=w.staff, reason="су")
    later = tt.switch_online(date(2027, 9, 27), date(2027, 9, 29), [w.a.group_id], by=w.staff,
                             reason="карантин")  # fmt: skip
    c = w.plan(local(14, 10), group=w.other)
    assert c.format is ClassFormat.LIVE_ONLINE and tt.switch(week.id).class_ids == (c.id,)
    mine = w.plan(local(14, 10))
    tt.move_class(mine.id, local(28, 10), local(28, 11, 20), by=w.staff, reason="")
    assert tt.get_class(mine.id).format is ClassFormat.LIVE_ONLINE  # now the later switch's
    assert tt.switch(later.id).class_ids == (mine.id,)
    assert tt.switch(week.id).class_ids == (c.id,)
    tt.undo_switch(week.id, by=w.staff)
    assert tt.get_class(mine.id).format is ClassFormat.LIVE_ONLINE
    assert tt.get_class(c.id).format is ClassFormat.IN_PERSON


def test_the_people_of_a_class_planned_into_a_switch_are_told_it_is_online(world: World) -> None:
    w, a = world, world.a
    store = w.notices()
    store.collect()
    already = len(w.db.execute("SELECT id FROM notices").fetchall())
    w.tt.switch_online(date(2027, 9, 13), date(2027, 9, 16), [a.group_id], by=w.staff,
                       reason="карантин")  # fmt: skip
    c = w.plan(local(14, 10))
    store.collect()
    rows = w.db.execute("SELECT recipient_id, kind FROM notices ORDER BY id").fetchall()[already:]
    assert {(r[0], r[1]) for r in rows} == {
        (u, "class_switched_online") for u in (*a.student_ids, a.teacher_id)
    }
    told = w.notices().page(a.student_ids[0])[0]
    assert told.params["class_id"] == c.id and told.params["reason"] == "карантин"


def test_the_guarantee_plans_online_in_a_switched_range(world: World) -> None:
    w, tt = world, world.tt
    for c in tt.all_classes():  # the seeded classes start now; clear the slate
        tt.cancel_class(c.id, by=w.staff, reason="test")
    tt.switch_online(date(2027, 9, 1), date(2027, 10, 31), [], by=w.staff, reason="карантин")
    now = datetime.fromtimestamp(w.clock(), UTC)
    report = Guarantee(tt, GuaranteeRules(months_ahead=1), lambda _g: "Онлайн").run(now)
    assert report.planned and not report.alerts
    for cid in report.planned:
        assert tt.get_class(cid).format is ClassFormat.LIVE_ONLINE
