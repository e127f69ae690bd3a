"""Classes in SQLite: planning them (under the planning rules and the conflict rule), moving,
cancelling, their status, and reading them by teacher, learner, group and time."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from access.sqlite_search import like, matches, searchable

from .errors import ClassConflict, ClassNotFound
from .models import (
    OCCUPYING,
    ClassFormat,
    ClassKind,
    ClassStatus,
    LiveClass,
    TimetableAction,
    check_transition,
)
from .planning import (
    SABAQ,
    Actor,
    ClassSpec,
    check_class,
    check_group_day,
    check_movable,
    conflict_window,
    first_conflict,
    moved,
)
from .sqlite_base import dt, ts
from .sqlite_calendar import SqliteCalendar
from .sqlite_changes import SqliteChangeLog
from .sqlite_membership import SqliteMembership
from .workdays import AcademyCalendar


@dataclass(frozen=True, slots=True)
class ClassScope:
    """The classes one viewer may see, as SQL asks it (the rule is
    ``admission.visibility.may_see_class``; ``web.core.policy.class_scope`` builds this from
    it): every class (``academy``), or those they teach, those of a group of ``institutes``,
    their own individual classes, and the group classes of ``groups`` (taught or learnt in)."""

    academy: bool = False
    user_id: int = 0
    institutes: frozenset[int] = frozenset()
    groups: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class ClassQuery:
    """Which classes: those ``scope`` lets one see, with the search in the title, the teacher's
    name or a group's name."""

    scope: ClassScope
    search: str = ""


def _ids(ids: frozenset[int]) -> str:
    return ",".join("?" * len(ids))


def scope_clause(scope: ClassScope) -> tuple[str, list[object]]:
    """The SQL (over ``classes c``) of the classes ``scope`` lets one see, and its arguments."""
    if scope.academy:
        return "1", []
    individual = "EXISTS (SELECT 1 FROM class_learners l WHERE l.class_id = c.id)"
    clauses = [
        "c.teacher_id = ?",
        f"({individual} AND EXISTS (SELECT 1 FROM class_learners l"  # noqa: S608
        " WHERE l.class_id = c.id AND l.user_id = ?))",
    ]
    args: list[object] = [scope.user_id, scope.user_id]
    if scope.institutes:
        clauses.append(
            "EXISTS (SELECT 1 FROM class_groups cg JOIN groups g ON g.id = cg.group_id"  # noqa: S608
            " JOIN departments d ON d.id = g.department_id WHERE cg.class_id = c.id"
            f" AND d.institute_id IN ({_ids(scope.institutes)}))"
        )
        args += sorted(scope.institutes)
    if scope.groups:
        clauses.append(
            f"(NOT {individual} AND EXISTS (SELECT 1 FROM class_groups cg"  # noqa: S608
            f" WHERE cg.class_id = c.id AND cg.group_id IN ({_ids(scope.groups)})))"
        )
        args += sorted(scope.groups)
    return "(" + " OR ".join(clauses) + ")", args


class SqliteClasses(SqliteMembership, SqliteChangeLog, SqliteCalendar):
    # -- planning -----------------------------------------------------------------------------
    def add_class(
        self,
        *,
        title: str,
        kind: ClassKind,
        format: ClassFormat,
        teacher_id: int,
        starts_at: datetime,
        ends_at: datetime,
        group_ids: tuple[int, ...],
        learner_ids: tuple[int, ...] = (),
        discipline: str = "",
        by: Actor = SABAQ,
        reason: str = "",
        on_day_off: bool = False,
    ) -> LiveClass:
        """Plan a class; refused (``ClassConflict``) if it would put its teacher, a group or a
        learner in two classes at once. ``learner_ids`` makes it an individual class."""
        spec = ClassSpec(
            title, kind, format, teacher_id, starts_at, ends_at, group_ids, learner_ids, discipline
        )
        return self.add_classes([spec], by=by, reason=reason, on_day_off=on_day_off)[0]

    def add_classes(
        self,
        specs: Sequence[ClassSpec],
        *,
        by: Actor = SABAQ,
        reason: str = "",
        on_day_off: bool = False,
        proposed: bool = False,
    ) -> list[LiveClass]:
        """Plan classes together (a recurring series): all of them, or — at the first refusal
        or conflict, with the timetable or among themselves — none. Each class's groups must be
        active and have it within their study period (``GroupInactive``,
        ``OutsideStudyPeriod``); a class on a non-working day of the academy calendar is
        refused (``NonWorkingDay``) unless ``on_day_off`` confirms it. An in-person class in
        the days of an emergency switch in force for its groups is planned live online.
        ``proposed``: the monthly guarantee's, awaiting a person's confirmation."""
        drafts = self.check_classes(specs, on_day_off=on_day_off)
        at = self._clock()
        ids: list[int] = []
        with self._db:
            for d in drafts:
                cid = self._insert(d, ids[0] if ids and len(drafts) > 1 else None, proposed)
                if not ids and len(drafts) > 1:
                    self._db.execute("UPDATE classes SET series_id = ? WHERE id = ?", (cid, cid))
                ids.append(cid)
                self._log(at, TimetableAction.PLANNED, by, cid, d.group_ids[0], reason)
            self._apply_switches(ids, at, by)
        return [self.get_class(i) for i in ids]

    def check_classes(
        self,
        specs: Sequence[ClassSpec],
        *,
        on_day_off: bool = False,
        others: Sequence[LiveClass] = (),
    ) -> list[LiveClass]:
        """The drafts ``add_classes`` would write, checked and refused as it refuses them, with
        nothing written; ``others`` are classes about to be planned besides the timetable's."""
        drafts = [check_class(spec, self._teaches, self.members_of) for spec in specs]
        calendar = self.academy_calendar()
        for d in drafts:
            self._check_day(d, calendar, on_day_off)
        for i, d in enumerate(drafts):
            conflict = self.find_conflict(
                teacher_id=d.teacher_id,
                group_ids=d.group_ids,
                learner_ids=d.learner_ids,
                starts_at=d.starts_at,
                ends_at=d.ends_at,
                others=[*others, *drafts[:i]],
            )
            if conflict is not None:
                raise conflict
        return drafts

    def _apply_switches(self, class_ids: Sequence[int], at: float, by: Actor) -> None:
        """The emergency switches in force apply to classes just planned or moved (in the
        caller's transaction); ``SqliteSwitches`` keeps them."""

    def _insert(self, d: LiveClass, series_id: int | None, proposed: bool = False) -> int:
        """Write a checked class, its groups and learners (in the caller's transaction)."""
        cur = self._db.execute(
            "INSERT INTO classes (title, kind, format, teacher_id, starts_at, ends_at,"
            " status, discipline, series_id, proposed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                d.title,
                d.kind.value,
                d.format.value,
                d.teacher_id,
                ts(d.starts_at),
                ts(d.ends_at),
                ClassStatus.PLANNED.value,
                d.discipline,
                series_id,
                int(proposed),
            ),
        )
        assert cur.lastrowid is not None
        cid = cur.lastrowid
        self._db.executemany(
            "INSERT INTO class_groups (class_id, group_id) VALUES (?, ?)",
            [(cid, g) for g in d.group_ids],
        )
        self._db.executemany(
            "INSERT INTO class_learners (class_id, user_id) VALUES (?, ?)",
            [(cid, u) for u in dict.fromkeys(d.learner_ids)],
        )
        return cid

    def _check_day(self, d: LiveClass, calendar: AcademyCalendar, on_day_off: bool) -> None:
        """The class's groups are active and it falls in their study periods and, unless
        confirmed, not on a non-working day (in each group's zone)."""
        for g in d.group_ids:
            calendar.check(check_group_day(self.group(g), d.starts_at), confirmed=on_day_off)

    def _teaches(self, teacher_id: int, group_id: int) -> bool:
        """The group exists (else ``GroupNotFound``) and the person teaches it."""
        self.group(group_id)
        return self.is_teacher_of(teacher_id, group_id)

    def find_conflict(
        self,
        *,
        teacher_id: int,
        group_ids: tuple[int, ...],
        learner_ids: tuple[int, ...],
        starts_at: datetime,
        ends_at: datetime,
        ignore_id: int | None = None,
        others: Sequence[LiveClass] = (),
    ) -> ClassConflict | None:
        """The first class (planned, live or held; or one of ``others`` about to be planned)
        that overlaps the given time and shares its teacher, one of its groups, or a learner
        (a student in two groups, or the learner of an individual class)."""
        # Only classes that could clash come back: the teacher's, those of the groups that share
        # a member with the new class's (its own among them), and individual ones (or, for an
        # individual class, every class then: its learner may be in any).
        # ("+status": the time range, not the status, picks the index.)
        related = self.related_groups(group_ids)
        marks = ",".join("?" * len(related)) or "NULL"
        after, before = conflict_window(starts_at, ends_at)
        rows = self._db.execute(
            "SELECT * FROM classes c WHERE starts_at > ? AND starts_at < ? AND id != ?"  # noqa: S608
            f" AND +status IN ({','.join('?' * len(OCCUPYING))}) AND (? OR teacher_id = ?"
            f" OR EXISTS (SELECT 1 FROM class_groups cg WHERE cg.class_id = c.id"
            f" AND cg.group_id IN ({marks}))"
            " OR EXISTS (SELECT 1 FROM class_learners cl WHERE cl.class_id = c.id))"
            " ORDER BY starts_at, id",
            (
                ts(after),
                ts(before),
                ignore_id or 0,
                *(s.value for s in OCCUPYING),
                int(bool(learner_ids)),
                teacher_id,
                *related,
            ),
        ).fetchall()
        candidates = [self._class(r) for r in rows]
        candidates += [o for o in others if o.overlaps(starts_at, ends_at)]
        return first_conflict(
            candidates,
            teacher_id=teacher_id,
            group_ids=group_ids,
            learner_ids=learner_ids,
            starts_at=starts_at,
            ends_at=ends_at,
            members=self.members_of,
            learners=self.learners,
        )

    def move_class(
        self,
        class_id: int,
        starts_at: datetime,
        ends_at: datetime,
        *,
        by: Actor,
        reason: str,
        on_day_off: bool = False,
    ) -> LiveClass:
        """Move a planned class to another time, under the same checks as planning it; the
        switches in force apply at its new time."""
        current = self.get_class(class_id)
        check_movable(current)
        new = moved(current, starts_at, ends_at)
        self._check_day(new, self.academy_calendar(), on_day_off)
        conflict = self.find_conflict(
            teacher_id=new.teacher_id,
            group_ids=new.group_ids,
            learner_ids=new.learner_ids,
            starts_at=new.starts_at,
            ends_at=new.ends_at,
            ignore_id=class_id,
        )
        if conflict is not None:
            raise conflict
        at = self._clock()
        with self._db:
            # Moved by a person: the guarantee's proposal is theirs now (confirmed).
            self._db.execute(
                "UPDATE classes SET starts_at = ?, ends_at = ?,"
                " proposed = proposed AND ? WHERE id = ? AND status = ?",
                (
                    ts(new.starts_at),
                    ts(new.ends_at),
                    int(by == SABAQ),
                    class_id,
                    ClassStatus.PLANNED.value,
                ),
            )
            self._log(
                at,
                TimetableAction.MOVED,
                by,
                class_id,
                current.group_ids[0],
                reason or f"from {ts(current.starts_at)}",
            )
            self._apply_switches([class_id], at, by)
        return self.get_class(class_id)

    def confirm_class(self, class_id: int, *, by: Actor, reason: str = "") -> LiveClass:
        """Confirm a class the guarantee proposed (``ClassNotFound`` if there is none); a class
        not proposed, or confirmed already, is left as it is."""
        current = self.get_class(class_id)
        if not current.proposed:
            return current
        with self._db:
            done = self._db.execute(
                "UPDATE classes SET proposed = 0 WHERE id = ? AND proposed = 1", (class_id,)
            ).rowcount
            if done:
                self._log(
                    self._clock(),
                    TimetableAction.CONFIRMED,
                    by,
                    class_id,
                    current.group_ids[0] if current.group_ids else None,
                    reason,
                )
        return self.get_class(class_id)

    def proposed_before(self, moment: datetime) -> list[LiveClass]:
        """Planned classes still proposed that start by ``moment``."""
        rows = self._db.execute(
            "SELECT * FROM classes WHERE proposed = 1 AND starts_at <= ? AND +status = ?"
            " ORDER BY starts_at, id",
            (ts(moment), ClassStatus.PLANNED.value),
        )
        return [self._class(r) for r in rows.fetchall()]

    def cancel_class(self, class_id: int, *, by: Actor, reason: str) -> LiveClass:
        current = self.get_class(class_id)
        check_transition(current.status, ClassStatus.CANCELLED)
        with self._db:
            self._db.execute(
                "UPDATE classes SET status = ? WHERE id = ? AND status = ?",
                (ClassStatus.CANCELLED.value, class_id, current.status.value),
            )
            self._log(
                self._clock(), TimetableAction.CANCELLED, by, class_id, current.group_ids[0], reason
            )
        return self.get_class(class_id)

    def set_status(self, class_id: int, status: ClassStatus) -> LiveClass:
        """Move a class to a new status; the transition must be allowed."""
        current = self.get_class(class_id)
        if current.status == status:
            return current
        check_transition(current.status, status)
        with self._db:
            self._db.execute(
                "UPDATE classes SET status = ? WHERE id = ? AND status = ?",
                (status.value, class_id, current.status.value),
            )
        return self.get_class(class_id)

    # -- reading ------------------------------------------------------------------------------
    def get_class(self, class_id: int) -> LiveClass:
        row = self._db.execute("SELECT * FROM classes WHERE id = ?", (class_id,)).fetchone()
        if row is None:
            raise ClassNotFound(f"No class with id {class_id}")
        return self._class(row)

    def _class(self, row: sqlite3.Row) -> LiveClass:
        groups = self._db.execute(
            "SELECT group_id FROM class_groups WHERE class_id = ? ORDER BY group_id", (row["id"],)
        )
        return LiveClass(
            id=row["id"],
            title=row["title"],
            kind=ClassKind(row["kind"]),
            format=ClassFormat(row["format"]),
            teacher_id=row["teacher_id"],
            starts_at=dt(row["starts_at"]),
            ends_at=dt(row["ends_at"]),
            status=ClassStatus(row["status"]),
            group_ids=tuple(g[0] for g in groups.fetchall()),
            learner_ids=tuple(
                r[0]
                for r in self._db.execute(
                    "SELECT user_id FROM class_learners WHERE class_id = ? ORDER BY user_id",
                    (row["id"],),
                )
            ),
            discipline=row["discipline"],
            series_id=row["series_id"],
            proposed=bool(row["proposed"]),
        )

    def classes_of_teacher(self, teacher_id: int) -> list[LiveClass]:
        rows = self._db.execute(
            "SELECT * FROM classes WHERE teacher_id = ? ORDER BY starts_at, id", (teacher_id,)
        )
        return [self._class(r) for r in rows.fetchall()]

    def classes_of_learner(self, user_id: int) -> list[LiveClass]:
        rows = self._db.execute(
            "SELECT DISTINCT c.* FROM classes c JOIN class_groups cg ON cg.class_id = c.id"
            " JOIN group_members m ON m.group_id = cg.group_id WHERE m.user_id = ?"
            " AND (NOT EXISTS (SELECT 1 FROM class_learners WHERE class_id = c.id)"
            " OR EXISTS (SELECT 1 FROM class_learners WHERE class_id = c.id AND user_id = ?))"
            " ORDER BY c.starts_at, c.id",
            (user_id, user_id),
        )
        return [self._class(r) for r in rows.fetchall()]

    def classes_of_group(
        self, group_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> list[LiveClass]:
        """The group's classes that start in [start, end), in time order."""
        rows = self._db.execute(
            "SELECT c.* FROM classes c JOIN class_groups cg ON cg.class_id = c.id"
            " WHERE cg.group_id = ? AND c.starts_at >= ? AND c.starts_at < ?"
            " ORDER BY c.starts_at, c.id",
            (
                group_id,
                ts(start) if start else "",
                ts(end) if end else "9999",
            ),
        )
        return [self._class(r) for r in rows.fetchall()]

    def classes_between(self, start: datetime, end: datetime) -> list[LiveClass]:
        """Every class that starts in [start, end), in time order."""
        rows = self._db.execute(
            "SELECT * FROM classes WHERE starts_at >= ? AND starts_at < ? ORDER BY starts_at, id",
            (ts(start), ts(end)),
        )
        return [self._class(r) for r in rows.fetchall()]

    def find_classes(self, q: ClassQuery, limit: int, offset: int) -> tuple[list[LiveClass], int]:
        """A page of the classes ``q`` names, the latest first, and how many there are in all."""
        where, args = scope_clause(q.scope)
        if q.search.strip():
            searchable(self._db)
            where += (
                f" AND ({matches('c.title')}"  # noqa: S608
                f" OR EXISTS (SELECT 1 FROM users u WHERE u.id = c.teacher_id"
                f" AND {matches('u.full_name')})"
                " OR EXISTS (SELECT 1 FROM class_groups cg JOIN groups g ON g.id = cg.group_id"
                f" WHERE cg.class_id = c.id AND {matches('g.name')}))"
            )
            args += [like(q.search)] * 3
        total = self._db.execute(f"SELECT count(*) FROM classes c WHERE {where}", args).fetchone()  # noqa: S608
        rows = self._db.execute(
            f"SELECT c.* FROM classes c WHERE {where}"  # noqa: S608
            " ORDER BY c.starts_at DESC, c.id DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return [self._class(r) for r in rows.fetchall()], int(total[0])

    def all_classes(self, limit: int = 200) -> list[LiveClass]:
        rows = self._db.execute(
            "SELECT * FROM classes ORDER BY starts_at DESC, id DESC LIMIT ?", (limit,)
        )
        return [self._class(r) for r in rows.fetchall()]

    def learners(self, live_class: LiveClass) -> list[int]:
        """Every member of every group of the class, once each; an individual class's own."""
        if live_class.learner_ids:
            return list(live_class.learner_ids)
        seen: dict[int, None] = {}
        for g in live_class.group_ids:
            for u in self.members(g):
                seen.setdefault(u, None)
        return list(seen)

    def is_learner(self, user_id: int, live_class: LiveClass) -> bool:
        if live_class.learner_ids:
            return user_id in live_class.learner_ids
        marks = ",".join("?" * len(live_class.group_ids))
        row = self._db.execute(
            f"SELECT 1 FROM group_members WHERE user_id = ? AND group_id IN ({marks})",  # noqa: S608
            (user_id, *live_class.group_ids),
        ).fetchone()
        return row is not None
