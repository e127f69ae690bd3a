"""Institutes, departments, groups, members and classes in SQLite."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .errors import (
    ClassConflict,
    ClassNotFound,
    DisciplineInUse,
    DisciplineNameTaken,
    DisciplineNotFound,
    GroupNotFound,
    GroupNotReady,
    InvalidTransition,
)
from .models import (
    LONGEST_CLASS,
    OCCUPYING,
    ClassFormat,
    ClassKind,
    ClassStatus,
    CreditMix,
    CreditMixExceeded,
    Department,
    Discipline,
    DisciplineFormat,
    EmergencySwitch,
    Group,
    Institute,
    LiveClass,
    Programme,
    ProgrammeKind,
    TimetableAction,
    TimetableChange,
    check_day,
    check_transition,
    group_flags,
    zone,
)

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "scheduler_0001_groups_classes",
        """
        CREATE TABLE institutes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            director_id INTEGER REFERENCES users(id)
        );
        CREATE TABLE departments (
            id INTEGER PRIMARY KEY,
            institute_id INTEGER NOT NULL REFERENCES institutes(id),
            name TEXT NOT NULL,
            head_id INTEGER REFERENCES users(id)
        );
        CREATE TABLE groups (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            department_id INTEGER NOT NULL REFERENCES departments(id),
            language TEXT NOT NULL,
            timezone TEXT NOT NULL
        );
        CREATE TABLE group_members (
            group_id INTEGER NOT NULL REFERENCES groups(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            PRIMARY KEY (group_id, user_id)
        );
        CREATE INDEX group_members_user ON group_members(user_id);
        CREATE TABLE group_teachers (
            group_id INTEGER NOT NULL REFERENCES groups(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            PRIMARY KEY (group_id, user_id)
        );
        CREATE TABLE classes (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            kind TEXT NOT NULL,
            format TEXT NOT NULL,
            teacher_id INTEGER NOT NULL REFERENCES users(id),
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            status TEXT NOT NULL
        );
        CREATE INDEX classes_teacher ON classes(teacher_id, starts_at);
        CREATE TABLE class_groups (
            class_id INTEGER NOT NULL REFERENCES classes(id),
            group_id INTEGER NOT NULL REFERENCES groups(id),
            PRIMARY KEY (class_id, group_id)
        );
        CREATE INDEX class_groups_group ON class_groups(group_id);
        """,
    ),
    (
        "scheduler_0002_individual_classes",
        """
        CREATE TABLE class_learners (
            class_id INTEGER NOT NULL REFERENCES classes(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            PRIMARY KEY (class_id, user_id)
        );
        CREATE INDEX class_learners_user ON class_learners(user_id);
        CREATE INDEX classes_starts ON classes(starts_at);
        """,
    ),
    (
        "scheduler_0003_programmes_disciplines_log",
        """
        CREATE TABLE programmes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            institute_id INTEGER NOT NULL REFERENCES institutes(id)
        );
        ALTER TABLE groups ADD COLUMN programme_id INTEGER REFERENCES programmes(id);
        ALTER TABLE groups ADD COLUMN starts_on TEXT;
        ALTER TABLE groups ADD COLUMN ends_on TEXT;
        ALTER TABLE groups ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE classes ADD COLUMN discipline TEXT NOT NULL DEFAULT '';
        ALTER TABLE classes ADD COLUMN series_id INTEGER;
        -- Every change to the timetable: who (or which job of Sabaq's), what, why.
        CREATE TABLE timetable_log (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            action TEXT NOT NULL,
            by_id INTEGER REFERENCES users(id),
            by_name TEXT NOT NULL,
            class_id INTEGER REFERENCES classes(id),
            group_id INTEGER REFERENCES groups(id),
            reason TEXT NOT NULL
        );
        CREATE INDEX timetable_log_class ON timetable_log(class_id, id);
        CREATE INDEX timetable_log_group ON timetable_log(group_id, id);
        """,
    ),
    (
        "scheduler_0004_guarantee_alerts",
        """
        -- A group-month the monthly guarantee could not settle; cleared once it is.
        CREATE TABLE guarantee_alerts (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES groups(id),
            month TEXT NOT NULL,
            reason TEXT NOT NULL,
            raised_at REAL NOT NULL,
            cleared_at REAL
        );
        CREATE UNIQUE INDEX guarantee_alerts_open ON guarantee_alerts(group_id, month)
            WHERE cleared_at IS NULL;
        CREATE INDEX classes_status_end ON classes(status, ends_at);
        """,
    ),
    (
        "scheduler_0005_emergency_switches",
        """
        CREATE TABLE emergency_switches (
            id INTEGER PRIMARY KEY,
            first_day TEXT NOT NULL,
            last_day TEXT NOT NULL,
            reason TEXT NOT NULL,
            by_id INTEGER REFERENCES users(id),
            by_name TEXT NOT NULL,
            at REAL NOT NULL,
            undone_at REAL,
            undone_by_name TEXT
        );
        CREATE TABLE emergency_switch_groups (
            switch_id INTEGER NOT NULL REFERENCES emergency_switches(id),
            group_id INTEGER NOT NULL REFERENCES groups(id),
            PRIMARY KEY (switch_id, group_id)
        );
        CREATE TABLE emergency_switch_classes (
            switch_id INTEGER NOT NULL REFERENCES emergency_switches(id),
            class_id INTEGER NOT NULL REFERENCES classes(id),
            PRIMARY KEY (switch_id, class_id)
        );
        """,
    ),
    (
        "scheduler_0006_disciplines",
        """
        -- A programme's disciplines and their credits: its credit mix (clause 6-1).
        CREATE TABLE disciplines (
            id INTEGER PRIMARY KEY,
            programme_id INTEGER NOT NULL REFERENCES programmes(id),
            name TEXT NOT NULL,
            credits INTEGER NOT NULL,
            format TEXT NOT NULL,
            UNIQUE (programme_id, name)
        );
        ALTER TABLE programmes ADD COLUMN distance INTEGER NOT NULL DEFAULT 1;
        """,
    ),
)


@dataclass(frozen=True, slots=True)
class Alert:
    group_id: int
    month: str
    reason: str
    raised_at: float


@dataclass(frozen=True, slots=True)
class ClassSpec:
    """A class to plan."""

    title: str
    kind: ClassKind
    format: ClassFormat
    teacher_id: int
    starts_at: datetime
    ends_at: datetime
    group_ids: tuple[int, ...]
    learner_ids: tuple[int, ...] = ()
    discipline: str = ""

    def draft(self) -> LiveClass:
        """The class as it would stand (checks its fields)."""
        if self.ends_at - self.starts_at > LONGEST_CLASS:
            raise ValueError("A class lasts at most 12 hours")
        return LiveClass(
            id=0,
            title=self.title,
            kind=self.kind,
            format=self.format,
            teacher_id=self.teacher_id,
            starts_at=self.starts_at.astimezone(UTC),
            ends_at=self.ends_at.astimezone(UTC),
            status=ClassStatus.PLANNED,
            group_ids=self.group_ids,
            learner_ids=self.learner_ids,
            discipline=self.discipline,
        )


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes the timetable: a person, or (id None) a job of Sabaq's own."""

    id: int | None
    name: str


SABAQ = Actor(None, "Sabaq")


def programme_of(row: sqlite3.Row) -> Programme:
    """A row of ``programmes`` as a programme."""
    return Programme(
        id=row["id"],
        name=row["name"],
        kind=ProgrammeKind(row["kind"]),
        institute_id=row["institute_id"],
        distance=bool(row["distance"]),
    )


def same_name(name: str) -> str:
    """A discipline's name as names are compared: letter case and spacing (any kind, any
    amount) aside."""
    return " ".join(name.split()).casefold()


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class SqliteTimetable:
    """The academy's structure and its classes."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock  # what "now" is: histories' times, the past a switch leaves alone

    # -- structure ----------------------------------------------------------------------------
    def add_institute(self, name: str, director_id: int | None) -> Institute:
        with self._db:
            cur = self._db.execute(
                "INSERT INTO institutes (name, director_id) VALUES (?, ?)", (name, director_id)
            )
        assert cur.lastrowid is not None
        return Institute(id=cur.lastrowid, name=name, director_id=director_id)

    def add_department(self, institute_id: int, name: str, head_id: int | None) -> Department:
        with self._db:
            cur = self._db.execute(
                "INSERT INTO departments (institute_id, name, head_id) VALUES (?, ?, ?)",
                (institute_id, name, head_id),
            )
        assert cur.lastrowid is not None
        return Department(id=cur.lastrowid, institute_id=institute_id, name=name, head_id=head_id)

    def add_programme(
        self, name: str, kind: ProgrammeKind, institute_id: int, *, distance: bool = True
    ) -> Programme:
        Programme(0, name, kind, institute_id, distance)
        with self._db:
            cur = self._db.execute(
                "INSERT INTO programmes (name, kind, institute_id, distance) VALUES (?, ?, ?, ?)",
                (name, kind.value, institute_id, int(distance)),
            )
        assert cur.lastrowid is not None
        return Programme(cur.lastrowid, name, kind, institute_id, distance)

    def programme(self, programme_id: int) -> Programme:
        row = self._db.execute("SELECT * FROM programmes WHERE id = ?", (programme_id,)).fetchone()
        if row is None:
            raise GroupNotFound(f"No programme with id {programme_id}")
        return programme_of(row)

    def add_group(
        self,
        name: str,
        department_id: int,
        language: str,
        timezone: str,
        *,
        programme_id: int | None = None,
        starts_on: date | None = None,
        ends_on: date | None = None,
        active: bool = True,
    ) -> Group:
        """A new group; an additional-education group starts inactive (it has no members yet,
        and may be activated with 20)."""
        Group(0, name, department_id, language, timezone, programme_id, starts_on, ends_on)
        if programme_id is not None and self.programme(programme_id).kind is (
            ProgrammeKind.ADDITIONAL
        ):
            active = False
        with self._db:
            cur = self._db.execute(
                "INSERT INTO groups (name, department_id, language, timezone, programme_id,"
                " starts_on, ends_on, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    department_id,
                    language,
                    timezone,
                    programme_id,
                    starts_on.isoformat() if starts_on else None,
                    ends_on.isoformat() if ends_on else None,
                    int(active),
                ),
            )
        assert cur.lastrowid is not None
        return self.group(cur.lastrowid)

    def group(self, group_id: int) -> Group:
        row = self._db.execute("SELECT * FROM groups WHERE id = ?", (group_id,)).fetchone()
        if row is None:
            raise GroupNotFound(f"No group with id {group_id}")
        return self._group(row)

    @staticmethod
    def _group(row: sqlite3.Row) -> Group:
        return Group(
            id=row["id"],
            name=row["name"],
            department_id=row["department_id"],
            language=row["language"],
            timezone=row["timezone"],
            programme_id=row["programme_id"],
            starts_on=date.fromisoformat(row["starts_on"]) if row["starts_on"] else None,
            ends_on=date.fromisoformat(row["ends_on"]) if row["ends_on"] else None,
            active=bool(row["active"]),
        )

    def flags(self, group: Group) -> list[str]:
        """What keeps the group from being activated."""
        programme = self.programme(group.programme_id) if group.programme_id else None
        count = self._db.execute(
            "SELECT COUNT(*) FROM group_members WHERE group_id = ?", (group.id,)
        ).fetchone()[0]
        return group_flags(group, programme, count)

    def set_active(self, group_id: int, active: bool) -> Group:
        group = self.group(group_id)
        if active and (flags := self.flags(group)):
            raise GroupNotReady(f"Group {group.name!r} cannot be activated: {', '.join(flags)}")
        with self._db:
            self._db.execute("UPDATE groups SET active = ? WHERE id = ?", (int(active), group_id))
        return self.group(group_id)

    def add_members(self, group_id: int, user_ids: Iterable[int]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)",
                [(group_id, u) for u in user_ids],
            )

    def add_teacher(self, group_id: int, user_id: int) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO group_teachers (group_id, user_id) VALUES (?, ?)",
                (group_id, user_id),
            )

    def members(self, group_id: int) -> list[int]:
        rows = self._db.execute(
            "SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id", (group_id,)
        )
        return [r[0] for r in rows]

    def groups_of_member(self, user_id: int) -> list[Group]:
        rows = self._db.execute(
            "SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id", (user_id,)
        )
        return [self.group(r[0]) for r in rows.fetchall()]

    def teachers(self, group_id: int) -> list[int]:
        rows = self._db.execute(
            "SELECT user_id FROM group_teachers WHERE group_id = ? ORDER BY user_id", (group_id,)
        )
        return [r[0] for r in rows]

    def groups_of_teacher(self, user_id: int) -> list[int]:
        rows = self._db.execute(
            "SELECT group_id FROM group_teachers WHERE user_id = ? ORDER BY group_id", (user_id,)
        )
        return [r[0] for r in rows]

    def groups_of_director(self, user_id: int) -> list[int]:
        """The groups of the institutes this person directs."""
        rows = self._db.execute(
            "SELECT g.id FROM groups g JOIN departments d ON d.id = g.department_id"
            " JOIN institutes i ON i.id = d.institute_id WHERE i.director_id = ? ORDER BY g.id",
            (user_id,),
        )
        return [r[0] for r in rows]

    def institutes_of_person(self, user_id: int) -> list[int]:
        """The institutes this person directs or heads a department of."""
        rows = self._db.execute(
            "SELECT id FROM institutes WHERE director_id = ?"
            " UNION SELECT institute_id FROM departments WHERE head_id = ? ORDER BY 1",
            (user_id, user_id),
        )
        return [r[0] for r in rows]

    def institutes_by_group(self) -> dict[int, int]:
        """Every group's institute (through its department)."""
        rows = self._db.execute(
            "SELECT g.id, d.institute_id FROM groups g JOIN departments d ON d.id = g.department_id"
        )
        return {r[0]: r[1] for r in rows}

    def department(self, department_id: int) -> Department:
        row = self._db.execute(
            "SELECT * FROM departments WHERE id = ?", (department_id,)
        ).fetchone()
        if row is None:
            raise GroupNotFound(f"No department with id {department_id}")
        return Department(row["id"], row["institute_id"], row["name"], row["head_id"])

    def institute_of_group(self, group_id: int) -> Institute:
        """The institute a group belongs to (through its department)."""
        row = self._db.execute(
            "SELECT i.* FROM institutes i JOIN departments d ON d.institute_id = i.id"
            " JOIN groups g ON g.department_id = d.id WHERE g.id = ?",
            (group_id,),
        ).fetchone()
        if row is None:
            raise GroupNotFound(f"No group with id {group_id}")
        return Institute(row["id"], row["name"], row["director_id"])

    def is_teacher_of(self, user_id: int, group_id: int) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM group_teachers WHERE group_id = ? AND user_id = ?", (group_id, user_id)
        ).fetchone()
        return row is not None

    # -- a programme's disciplines and its credit mix (clause 6-1) ------------------------------
    def disciplines(self, programme_id: int) -> list[Discipline]:
        """The programme's disciplines, by name."""
        self.programme(programme_id)
        rows = self._db.execute("SELECT * FROM disciplines WHERE programme_id = ?", (programme_id,))
        return sorted(
            (self._discipline(r) for r in rows.fetchall()),
            key=lambda d: (d.name.casefold(), d.id),
        )

    def discipline(self, discipline_id: int) -> Discipline:
        row = self._db.execute(
            "SELECT * FROM disciplines WHERE id = ?", (discipline_id,)
        ).fetchone()
        if row is None:
            raise DisciplineNotFound(f"No discipline with id {discipline_id}")
        return self._discipline(row)

    @staticmethod
    def _discipline(row: sqlite3.Row) -> Discipline:
        return Discipline(
            id=row["id"],
            programme_id=row["programme_id"],
            name=row["name"],
            credits=row["credits"],
            format=DisciplineFormat(row["format"]),
        )

    def discipline_named(self, programme_id: int, name: str) -> Discipline | None:
        """The programme's discipline of that name (stripped, letter case aside), if any: the
        discipline a class of the programme's groups names in its ``discipline`` text."""
        found = self._named(programme_id, name)
        return found[0] if found else None

    def _named(self, programme_id: int, name: str) -> list[Discipline]:
        """The programme's disciplines of that name, letter case aside, oldest first."""
        wanted = same_name(name)
        if not wanted:
            return []
        rows = self._db.execute(
            "SELECT * FROM disciplines WHERE programme_id = ? ORDER BY id", (programme_id,)
        )
        return [self._discipline(r) for r in rows.fetchall() if same_name(r["name"]) == wanted]

    def credit_mix(self, programme_id: int) -> CreditMix:
        """In-person and total credits of the programme's disciplines."""
        self.programme(programme_id)
        in_person, total = self._db.execute(
            "SELECT COALESCE(SUM(CASE WHEN format = ? THEN credits ELSE 0 END), 0),"
            " COALESCE(SUM(credits), 0) FROM disciplines WHERE programme_id = ?",
            (DisciplineFormat.IN_PERSON.value, programme_id),
        ).fetchone()
        return CreditMix(in_person, total)

    def credit_mixes(self) -> dict[int, CreditMix]:
        """programme id → its credit mix, for every programme, in one query."""
        rows = self._db.execute(
            "SELECT p.id, COALESCE(SUM(CASE WHEN d.format = ? THEN d.credits ELSE 0 END), 0),"
            " COALESCE(SUM(d.credits), 0) FROM programmes p"
            " LEFT JOIN disciplines d ON d.programme_id = p.id GROUP BY p.id",
            (DisciplineFormat.IN_PERSON.value,),
        )
        return {pid: CreditMix(in_person, total) for pid, in_person, total in rows.fetchall()}

    def add_discipline(
        self, programme_id: int, name: str, credits: int, format: DisciplineFormat
    ) -> Discipline:
        """A new discipline of the programme. Refused: a name the programme has, letter case
        aside (``DisciplineNameTaken``); in a distance programme, a mix past 20 % in person
        (``CreditMixExceeded``, with the mix it would have made)."""
        name = name.strip()
        Discipline(0, programme_id, name, credits, DisciplineFormat(format))
        self.programme(programme_id)
        try:
            # The write opens the transaction; the checks read what it would leave, and a
            # refusal rolls it back.
            with self._db:
                cur = self._db.execute(
                    "INSERT INTO disciplines (programme_id, name, credits, format)"
                    " VALUES (?, ?, ?, ?)",
                    (programme_id, name, credits, DisciplineFormat(format).value),
                )
                assert cur.lastrowid is not None
                if any(d.id != cur.lastrowid for d in self._named(programme_id, name)):
                    raise DisciplineNameTaken(name)
                self._settle(programme_id)
        except sqlite3.IntegrityError as exc:  # the same name exactly: the UNIQUE constraint
            raise DisciplineNameTaken(name) from exc
        return self.discipline(cur.lastrowid)

    def change_discipline(
        self, discipline_id: int, credits: int, format: DisciplineFormat
    ) -> Discipline:
        """New credits and format for a discipline (its name stays). Refused with
        ``CreditMixExceeded`` when a distance programme would go past 20 % in person — also
        by lowering a distance discipline's credits."""
        current = self.discipline(discipline_id)
        Discipline(current.id, current.programme_id, current.name, credits, format)
        with self._db:
            self._db.execute(
                "UPDATE disciplines SET credits = ?, format = ? WHERE id = ?",
                (credits, DisciplineFormat(format).value, discipline_id),
            )
            self._settle(current.programme_id)
        return self.discipline(discipline_id)

    def remove_discipline(self, discipline_id: int) -> None:
        """Remove a discipline. Refused: one that classes of the programme's groups name, or
        that other records refer to (``DisciplineInUse``); in a distance programme, one whose
        going would leave more than 20 % in person (``CreditMixExceeded``)."""
        current = self.discipline(discipline_id)
        try:
            with self._db:
                self._db.execute("DELETE FROM disciplines WHERE id = ?", (discipline_id,))
                naming = self._classes_naming(current.programme_id, current.name)
                if naming:
                    raise DisciplineInUse(current.name, naming)
                self._settle(current.programme_id)
        except sqlite3.IntegrityError as exc:  # a foreign key of another table
            raise DisciplineInUse(current.name, 0) from exc

    def _classes_naming(self, programme_id: int, name: str) -> int:
        """How many classes of the programme's groups name the discipline (stripped, letter
        case aside; a class of any status)."""
        rows = self._db.execute(
            "SELECT c.discipline, COUNT(DISTINCT c.id) FROM classes c"
            " JOIN class_groups cg ON cg.class_id = c.id JOIN groups g ON g.id = cg.group_id"
            " WHERE g.programme_id = ? AND c.discipline != '' GROUP BY c.discipline",
            (programme_id,),
        )
        wanted = same_name(name)
        return sum(n for text, n in rows.fetchall() if same_name(text) == wanted)

    def _settle(self, programme_id: int) -> CreditMix:
        """The programme's mix as the open transaction leaves it; past 20 % in a distance
        programme, ``CreditMixExceeded`` (the caller's ``with`` rolls the change back)."""
        mix = self.credit_mix(programme_id)
        if self.programme(programme_id).distance and not mix.within:
            raise CreditMixExceeded(mix)
        return mix

    # -- classes ------------------------------------------------------------------------------
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
    ) -> LiveClass:
        """Plan a class; refused (``ClassConflict``) if it would put its teacher, a group or a
        learner in two classes at once. ``learner_ids`` makes it an individual class."""
        spec = ClassSpec(
            title, kind, format, teacher_id, starts_at, ends_at, group_ids, learner_ids, discipline
        )
        return self.add_classes([spec], by=by, reason=reason)[0]

    def add_classes(
        self, specs: Sequence[ClassSpec], *, by: Actor = SABAQ, reason: str = ""
    ) -> list[LiveClass]:
        """Plan classes together (a recurring series): all of them, or — at the first conflict,
        with the timetable or among themselves — none."""
        drafts = [self._check(spec) for spec in specs]
        for i, d in enumerate(drafts):
            conflict = self.find_conflict(
                teacher_id=d.teacher_id,
                group_ids=d.group_ids,
                learner_ids=d.learner_ids,
                starts_at=d.starts_at,
                ends_at=d.ends_at,
                others=drafts[:i],
            )
            if conflict is not None:
                raise conflict
        at = self._clock()
        ids: list[int] = []
        with self._db:
            for d in drafts:
                cur = self._db.execute(
                    "INSERT INTO classes (title, kind, format, teacher_id, starts_at, ends_at,"
                    " status, discipline, series_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        d.title,
                        d.kind.value,
                        d.format.value,
                        d.teacher_id,
                        _ts(d.starts_at),
                        _ts(d.ends_at),
                        ClassStatus.PLANNED.value,
                        d.discipline,
                        ids[0] if ids and len(drafts) > 1 else None,
                    ),
                )
                assert cur.lastrowid is not None
                cid = cur.lastrowid
                if not ids and len(drafts) > 1:
                    self._db.execute("UPDATE classes SET series_id = ? WHERE id = ?", (cid, cid))
                ids.append(cid)
                self._db.executemany(
                    "INSERT INTO class_groups (class_id, group_id) VALUES (?, ?)",
                    [(cid, g) for g in d.group_ids],
                )
                self._db.executemany(
                    "INSERT INTO class_learners (class_id, user_id) VALUES (?, ?)",
                    [(cid, u) for u in dict.fromkeys(d.learner_ids)],
                )
                self._log(at, TimetableAction.PLANNED, by, cid, d.group_ids[0], reason)
        return [self.get_class(i) for i in ids]

    def _check(self, spec: ClassSpec) -> LiveClass:
        if not spec.group_ids:
            raise ValueError("A class needs at least one group")
        if len(spec.discipline) > 200 or len(spec.title) > 200:
            raise ValueError("A title or a discipline has at most 200 characters")
        for g in spec.group_ids:
            self.group(g)
            if not self.is_teacher_of(spec.teacher_id, g):
                raise ValueError(f"User {spec.teacher_id} does not teach group {g}")
        members = {u for g in spec.group_ids for u in self.members(g)}
        stray = [u for u in spec.learner_ids if u not in members]
        if stray:
            raise ValueError(f"Users {stray} are not members of the class's groups")
        return spec.draft()

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
        rows = self._db.execute(
            "SELECT * FROM classes c WHERE starts_at > ? AND starts_at < ? AND id != ?"  # noqa: S608
            f" AND +status IN ({','.join('?' * len(OCCUPYING))}) AND (? OR teacher_id = ?"
            f" OR EXISTS (SELECT 1 FROM class_groups cg WHERE cg.class_id = c.id"
            f" AND cg.group_id IN ({marks}))"
            " OR EXISTS (SELECT 1 FROM class_learners cl WHERE cl.class_id = c.id))"
            " ORDER BY starts_at, id",
            (
                _ts(starts_at - LONGEST_CLASS),
                _ts(ends_at),
                ignore_id or 0,
                *(s.value for s in OCCUPYING),
                int(bool(learner_ids)),
                teacher_id,
                *related,
            ),
        ).fetchall()
        candidates = [self._class(r) for r in rows]
        candidates += [o for o in others if o.overlaps(starts_at, ends_at)]
        groups = set(group_ids)
        people: set[int] | None = None
        for other in candidates:
            if other.status not in OCCUPYING or not other.overlaps(starts_at, ends_at):
                continue
            if other.teacher_id == teacher_id:
                return ClassConflict("teacher", other)
            if not learner_ids and not other.individual and groups.intersection(other.group_ids):
                return ClassConflict("group", other)
            if people is None:
                people = set(learner_ids) or {u for g in group_ids for u in self.members(g)}
            if people.intersection(self.learners(other)):
                return ClassConflict("learner", other)
        return None

    def related_groups(self, group_ids: Sequence[int]) -> list[int]:
        """The groups themselves and every group that shares a member with one of them."""
        if not group_ids:
            return []
        marks = ",".join("?" * len(group_ids))
        rows = self._db.execute(
            "SELECT DISTINCT m2.group_id FROM group_members m1"  # noqa: S608
            " JOIN group_members m2 ON m2.user_id = m1.user_id"
            f" WHERE m1.group_id IN ({marks})",
            tuple(group_ids),
        )
        return sorted({*group_ids, *(r[0] for r in rows)})

    def move_class(
        self, class_id: int, starts_at: datetime, ends_at: datetime, *, by: Actor, reason: str
    ) -> LiveClass:
        """Move a planned class to another time, under the same conflict checks."""
        current = self.get_class(class_id)
        if current.status is not ClassStatus.PLANNED:
            raise InvalidTransition(f'Class {class_id} is "{current.status}"; only planned move')
        moved = ClassSpec(
            current.title, current.kind, current.format, current.teacher_id, starts_at,
            ends_at, current.group_ids, current.learner_ids, current.discipline,
        ).draft()  # fmt: skip
        conflict = self.find_conflict(
            teacher_id=moved.teacher_id,
            group_ids=moved.group_ids,
            learner_ids=moved.learner_ids,
            starts_at=moved.starts_at,
            ends_at=moved.ends_at,
            ignore_id=class_id,
        )
        if conflict is not None:
            raise conflict
        with self._db:
            self._db.execute(
                "UPDATE classes SET starts_at = ?, ends_at = ? WHERE id = ? AND status = ?",
                (_ts(moved.starts_at), _ts(moved.ends_at), class_id, ClassStatus.PLANNED.value),
            )
            self._log(
                self._clock(),
                TimetableAction.MOVED,
                by,
                class_id,
                current.group_ids[0],
                reason or f"from {_ts(current.starts_at)}",
            )
        return self.get_class(class_id)

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

    # -- the emergency switch (clause 3) -------------------------------------------------------
    def switch_online(
        self,
        first_day: date,
        last_day: date,
        group_ids: Sequence[int],
        *,
        by: Actor,
        reason: str,
    ) -> EmergencySwitch:
        """Every planned in-person class of the groups (none given: every group) on those days
        (in each group's zone) becomes a live online class; the switch can be undone."""
        check_day(first_day)
        check_day(last_day)
        if last_day < first_day:
            raise ValueError("The period ends before it starts")
        if not reason.strip():
            raise ValueError("An emergency switch needs a reason")
        groups = [self.group(g) for g in group_ids] if group_ids else self.groups()
        now = datetime.fromtimestamp(self._clock(), UTC)
        affected: dict[int, LiveClass] = {}
        for g in groups:
            tz = zone(g.timezone)
            start = datetime.combine(first_day, datetime.min.time(), tz)
            end = datetime.combine(last_day, datetime.min.time(), tz) + timedelta(days=1)
            for c in self.classes_of_group(g.id, start, end):
                # Classes already begun or over stay as they were held.
                if (
                    c.status is ClassStatus.PLANNED
                    and c.format is ClassFormat.IN_PERSON
                    and c.starts_at > now
                ):
                    affected.setdefault(c.id, c)
        at = self._clock()
        with self._db:
            cur = self._db.execute(
                "INSERT INTO emergency_switches (first_day, last_day, reason, by_id, by_name, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (first_day.isoformat(), last_day.isoformat(), reason, by.id, by.name, at),
            )
            assert cur.lastrowid is not None
            sid = cur.lastrowid
            self._db.executemany(
                "INSERT INTO emergency_switch_groups (switch_id, group_id) VALUES (?, ?)",
                [(sid, g) for g in dict.fromkeys(group_ids)],
            )
            for c in affected.values():
                self._db.execute(
                    "UPDATE classes SET format = ? WHERE id = ?",
                    (ClassFormat.LIVE_ONLINE.value, c.id),
                )
                self._db.execute(
                    "INSERT INTO emergency_switch_classes (switch_id, class_id) VALUES (?, ?)",
                    (sid, c.id),
                )
                self._log(at, TimetableAction.SWITCHED_ONLINE, by, c.id, c.group_ids[0], reason)
        return self.switch(sid)

    def undo_switch(self, switch_id: int, *, by: Actor) -> EmergencySwitch:
        """Classes the switch moved online and still planned go back to in person."""
        sw = self.switch(switch_id)
        if not sw.active:
            raise InvalidTransition(f"Emergency switch {switch_id} is already undone")
        at = self._clock()
        others = [o for o in self.switches(limit=10_000) if o.active and o.id != switch_id]
        with self._db:
            for cid in sw.class_ids:
                c = self.get_class(cid)
                holder = next((o for o in others if self._covers(o, c)), None)
                if holder is not None:  # another switch in force holds it online from now on
                    self._db.execute(
                        "INSERT OR IGNORE INTO emergency_switch_classes (switch_id, class_id)"
                        " VALUES (?, ?)",
                        (holder.id, cid),
                    )
                    continue
                if c.status is ClassStatus.PLANNED and c.format is ClassFormat.LIVE_ONLINE:
                    self._db.execute(
                        "UPDATE classes SET format = ? WHERE id = ?",
                        (ClassFormat.IN_PERSON.value, cid),
                    )
                    self._log(at, TimetableAction.SWITCH_UNDONE, by, cid, c.group_ids[0], sw.reason)
            self._db.execute(
                "UPDATE emergency_switches SET undone_at = ?, undone_by_name = ? WHERE id = ?",
                (at, by.name, switch_id),
            )
        return self.switch(switch_id)

    def _covers(self, sw: EmergencySwitch, c: LiveClass) -> bool:
        for g in c.group_ids:
            if sw.group_ids and g not in sw.group_ids:
                continue
            day = c.starts_at.astimezone(zone(self.group(g).timezone)).date()
            if sw.first_day <= day <= sw.last_day:
                return True
        return False

    def switch(self, switch_id: int) -> EmergencySwitch:
        row = self._db.execute(
            "SELECT * FROM emergency_switches WHERE id = ?", (switch_id,)
        ).fetchone()
        if row is None:
            raise ClassNotFound(f"No emergency switch with id {switch_id}")
        return self._switch(row)

    def _switch(self, row: sqlite3.Row) -> EmergencySwitch:
        sid = row["id"]
        groups = self._db.execute(
            "SELECT group_id FROM emergency_switch_groups WHERE switch_id = ? ORDER BY group_id",
            (sid,),
        )
        classes = self._db.execute(
            "SELECT class_id FROM emergency_switch_classes WHERE switch_id = ? ORDER BY class_id",
            (sid,),
        )
        return EmergencySwitch(
            id=sid,
            first_day=date.fromisoformat(row["first_day"]),
            last_day=date.fromisoformat(row["last_day"]),
            group_ids=tuple(r[0] for r in groups),
            reason=row["reason"],
            by_name=row["by_name"],
            at=row["at"],
            class_ids=tuple(r[0] for r in classes),
            undone_at=row["undone_at"],
            undone_by_name=row["undone_by_name"],
        )

    def switches(self, limit: int = 100) -> list[EmergencySwitch]:
        rows = self._db.execute(
            "SELECT * FROM emergency_switches ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [self._switch(r) for r in rows.fetchall()]

    def switches_for(self, group_ids: Sequence[int], today: date) -> list[EmergencySwitch]:
        """Switches in force (not undone, not over) that cover any of the groups."""
        wanted = set(group_ids)
        rows = self._db.execute(
            "SELECT * FROM emergency_switches WHERE undone_at IS NULL AND last_day >= ?"
            " ORDER BY first_day",
            (today.isoformat(),),
        )
        out = []
        for r in rows.fetchall():
            sw = self._switch(r)
            if not sw.group_ids or wanted.intersection(sw.group_ids):
                out.append(sw)
        return out

    # -- the monthly guarantee's view ----------------------------------------------------------
    def live_classes_summary(
        self, start: datetime, end: datetime, group_ids: Sequence[int]
    ) -> dict[int, list[tuple[int, ClassStatus, datetime]]]:
        """group id → (class id, status, start) of its live online classes starting in
        [start, end), in time order; one query for every group."""
        wanted = set(group_ids)
        one = len(wanted) == 1
        rows = self._db.execute(
            "SELECT c.id, c.status, c.starts_at, cg.group_id FROM classes c"
            " JOIN class_groups cg ON cg.class_id = c.id"
            " WHERE c.starts_at >= ? AND c.starts_at < ? AND +c.format = ?"
            " AND (? OR cg.group_id = ?)"
            " AND NOT EXISTS (SELECT 1 FROM class_learners WHERE class_id = c.id)"
            " ORDER BY c.starts_at, c.id",
            (
                _ts(start),
                _ts(end),
                ClassFormat.LIVE_ONLINE.value,
                int(not one),
                next(iter(wanted)) if one else 0,
            ),
        )
        out: dict[int, list[tuple[int, ClassStatus, datetime]]] = {}
        for cid, status, starts, gid in rows:
            if gid in wanted:
                out.setdefault(gid, []).append((cid, ClassStatus(status), _dt(starts)))
        return out

    def groups_with_live_class(
        self, start: datetime, end: datetime, statuses: frozenset[ClassStatus]
    ) -> set[int]:
        """Groups with a live online class (not an individual one) in one of ``statuses``
        starting in [start, end)."""
        rows = self._db.execute(
            "SELECT DISTINCT cg.group_id FROM classes c"  # noqa: S608
            " JOIN class_groups cg ON cg.class_id = c.id"
            " WHERE c.starts_at >= ? AND c.starts_at < ? AND +c.format = ?"
            f" AND +c.status IN ({','.join('?' * len(statuses))})"
            " AND NOT EXISTS (SELECT 1 FROM class_learners WHERE class_id = c.id)",
            (_ts(start), _ts(end), ClassFormat.LIVE_ONLINE.value, *(s.value for s in statuses)),
        )
        return {r[0] for r in rows}

    def live_before(self, moment: datetime) -> list[LiveClass]:
        """Classes still live whose scheduled end was before ``moment``."""
        rows = self._db.execute(
            "SELECT * FROM classes WHERE status = ? AND ends_at <= ? ORDER BY ends_at, id",
            (ClassStatus.LIVE.value, _ts(moment)),
        )
        return [self._class(r) for r in rows.fetchall()]

    def planned_before(self, moment: datetime) -> list[LiveClass]:
        """Classes still planned whose end has passed."""
        rows = self._db.execute(
            "SELECT * FROM classes WHERE status = ? AND ends_at <= ? ORDER BY ends_at, id",
            (ClassStatus.PLANNED.value, _ts(moment)),
        )
        return [self._class(r) for r in rows.fetchall()]

    def open_alerts(self, group_ids: Sequence[int] | None = None) -> dict[tuple[int, str], str]:
        """(group id, month) → reason of every alert not cleared."""
        rows = self._db.execute(
            "SELECT group_id, month, reason FROM guarantee_alerts WHERE cleared_at IS NULL"
        )
        wanted = set(group_ids) if group_ids is not None else None
        return {(g, m): r for g, m, r in rows.fetchall() if wanted is None or g in wanted}

    def alerts(self) -> list[Alert]:
        rows = self._db.execute(
            "SELECT group_id, month, reason, raised_at FROM guarantee_alerts"
            " WHERE cleared_at IS NULL ORDER BY month, group_id"
        )
        return [Alert(*r) for r in rows.fetchall()]

    def raise_alert(self, group_id: int, month: str, reason: str, at: float) -> None:
        with self._db:
            self._db.execute(
                "UPDATE guarantee_alerts SET cleared_at = ? WHERE group_id = ? AND month = ?"
                " AND cleared_at IS NULL",
                (at, group_id, month),
            )
            self._db.execute(
                "INSERT INTO guarantee_alerts (group_id, month, reason, raised_at)"
                " VALUES (?, ?, ?, ?)",
                (group_id, month, reason, at),
            )
            self._log(at, TimetableAction.ALERT, SABAQ, None, group_id, f"{reason}:{month}")

    def clear_alert(self, group_id: int, month: str, at: float) -> None:
        with self._db:
            self._db.execute(
                "UPDATE guarantee_alerts SET cleared_at = ? WHERE group_id = ? AND month = ?"
                " AND cleared_at IS NULL",
                (at, group_id, month),
            )

    def _log(
        self,
        at: float,
        action: TimetableAction,
        by: Actor,
        class_id: int | None,
        group_id: int | None,
        reason: str,
    ) -> None:
        self._db.execute(
            "INSERT INTO timetable_log (at, action, by_id, by_name, class_id, group_id, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (at, action.value, by.id, by.name, class_id, group_id, reason),
        )

    def log(
        self,
        action: TimetableAction,
        *,
        by: Actor,
        reason: str,
        class_id: int | None = None,
        group_id: int | None = None,
    ) -> None:
        with self._db:
            self._log(self._clock(), action, by, class_id, group_id, reason)

    def changes(
        self, *, class_id: int | None = None, group_id: int | None = None, limit: int = 200
    ) -> list[TimetableChange]:
        """The log of changes, newest first, of one class or one group (or all)."""
        where, params = "1", list[object]()
        if class_id is not None:
            where, params = "class_id = ?", [class_id]
        elif group_id is not None:
            where, params = "group_id = ?", [group_id]
        rows = self._db.execute(
            f"SELECT * FROM timetable_log WHERE {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [
            TimetableChange(
                r["at"],
                TimetableAction(r["action"]),
                r["by_id"],
                r["by_name"],
                r["class_id"],
                r["group_id"],
                r["reason"],
            )
            for r in rows.fetchall()
        ]

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
            starts_at=_dt(row["starts_at"]),
            ends_at=_dt(row["ends_at"]),
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
                _ts(start) if start else "",
                _ts(end) if end else "9999",
            ),
        )
        return [self._class(r) for r in rows.fetchall()]

    def classes_between(self, start: datetime, end: datetime) -> list[LiveClass]:
        """Every class that starts in [start, end), in time order."""
        rows = self._db.execute(
            "SELECT * FROM classes WHERE starts_at >= ? AND starts_at < ? ORDER BY starts_at, id",
            (_ts(start), _ts(end)),
        )
        return [self._class(r) for r in rows.fetchall()]

    def groups(self) -> list[Group]:
        rows = self._db.execute("SELECT * FROM groups ORDER BY name")
        return [self._group(r) for r in rows.fetchall()]

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
