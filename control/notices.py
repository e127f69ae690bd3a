"""Notices in SQLite: one row per recipient, and the collector that makes them.

The collector follows the same append-only records the webhook outbox follows
(``control.webhook_sources``): the timetable's change log, the steps of guest requests and of
excuse requests. It reads each source after its cursor, asks the rules (``admission.notices``)
who is told of each record, and keeps the notices and the cursor in one transaction; a notice
is unique by (source, position, recipient), so a collector restarted mid-way, or two running
at once, never keeps one twice. The cursors start at the migration: what happened before
notices existed is not told.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from access.errors import UserNotFound
from access.models import Role
from access.sqlite_store import SqliteAccounts
from admission import guest_service, service
from admission.errors import RequestNotFound
from admission.guests import GuestStep
from admission.models import ExcuseStatus, ExcuseStep
from admission.notices import (
    CLASS_KINDS,
    Addressed,
    Notice,
    NoticeKind,
    class_changed,
    excuse_step,
    guest_step,
)
from admission.sqlite_excuses import SqliteExcuses
from admission.sqlite_guests import SqliteGuests
from admission.visibility import INSTITUTE, ClassFacts, Viewer
from scheduler.errors import SchedulerError
from scheduler.models import TimetableChange
from scheduler.sqlite_store import SqliteTimetable

from .webhook_sources import BATCH

log = logging.getLogger("sabaq.control.notices")

SOURCES = ("timetable", "guests", "excuses")

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "control_0002_notices",
        """
        CREATE TABLE notices (
            id INTEGER PRIMARY KEY,
            recipient_id INTEGER NOT NULL REFERENCES users(id),
            kind TEXT NOT NULL,
            params TEXT NOT NULL,  -- JSON: what the notice says, rendered in the reader's language
            source TEXT NOT NULL,  -- the record it was made of, once per recipient
            position INTEGER NOT NULL,
            created_at REAL NOT NULL,  -- when it happened, UTC seconds
            read_at REAL,
            UNIQUE (source, position, recipient_id)
        );
        CREATE INDEX notices_recipient ON notices(recipient_id, id);
        CREATE INDEX notices_unread ON notices(recipient_id) WHERE read_at IS NULL;
        -- How far the collector has read each source; what came before notices is not told.
        CREATE TABLE notice_cursors (
            source TEXT PRIMARY KEY,
            position INTEGER NOT NULL
        );
        INSERT INTO notice_cursors
            SELECT 'timetable', COALESCE(MAX(id), 0) FROM timetable_log;
        INSERT INTO notice_cursors SELECT 'guests', COALESCE(MAX(id), 0) FROM guest_steps;
        INSERT INTO notice_cursors SELECT 'excuses', COALESCE(MAX(id), 0) FROM excuse_steps;
        """,
    ),
)

PAGE = 20  # notices on a page


@dataclass(frozen=True, slots=True)
class Waiting:
    """Decisions waiting, for a home page: guest and excuse requests."""

    guests: int
    excuses: int

    @property
    def total(self) -> int:
        return self.guests + self.excuses


class Notices:
    """The notices kept for each person, and the collector that makes them."""

    def __init__(
        self,
        db: sqlite3.Connection,
        timetable: SqliteTimetable,
        accounts: SqliteAccounts,
        guests: SqliteGuests,
        excuses: SqliteExcuses,
        clock: Callable[[], float],
    ) -> None:
        self._db = db
        self._tt = timetable
        self._accounts = accounts
        self._guests = guests
        self._excuses = excuses
        self._clock = clock

    # -- reading --------------------------------------------------------------------------------
    def unread(self, user_id: int) -> int:
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM notices WHERE recipient_id = ? AND read_at IS NULL",
                (user_id,),
            ).fetchone()[0]
        )

    def count(self, user_id: int) -> int:
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM notices WHERE recipient_id = ?", (user_id,)
            ).fetchone()[0]
        )

    def page(self, user_id: int, page: int = 1, per_page: int = PAGE) -> list[Notice]:
        """A page (from 1) of the person's notices, newest first."""
        rows = self._db.execute(
            "SELECT * FROM notices WHERE recipient_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
            (user_id, per_page, (max(1, page) - 1) * per_page),
        ).fetchall()
        return [_notice(r) for r in rows]

    def after(self, notice_id: int, limit: int = BATCH) -> list[Notice]:
        """Every person's notices kept after ``notice_id``, oldest first (for those who follow
        them with a cursor of their own: the e-mail queue). Ids only grow."""
        rows = self._db.execute(
            "SELECT * FROM notices WHERE id > ? ORDER BY id LIMIT ?", (notice_id, limit)
        ).fetchall()
        return [_notice(r) for r in rows]

    def get(self, notice_id: int) -> Notice | None:
        row = self._db.execute("SELECT * FROM notices WHERE id = ?", (notice_id,)).fetchone()
        return None if row is None else _notice(row)

    def mark_read(self, user_id: int, notice_id: int | None = None) -> int:
        """Mark one of the person's notices read (or all of them); returns how many were
        unread. Another person's notice is not touched."""
        where, params = "recipient_id = ? AND read_at IS NULL", [user_id]
        if notice_id is not None:
            where += " AND id = ?"
            params.append(notice_id)
        with self._db:
            cur = self._db.execute(
                f"UPDATE notices SET read_at = ? WHERE {where}",  # noqa: S608
                (self._clock(), *params),
            )
        return cur.rowcount

    def waiting(self, user_id: int) -> Waiting:
        """For a director: the guest and excuse requests waiting for their decision; for a
        head of department: their guest requests waiting for the director's."""
        user = self._accounts.get(user_id)
        if user.role is Role.HEAD_OF_DEPARTMENT:
            return Waiting(sum(r.filed_by == user_id for r in self._guests.pending()), 0)
        if user.role is not Role.DIRECTOR:
            return Waiting(0, 0)
        guests = 0
        for r in self._guests.pending():
            try:
                c = self._tt.get_class(r.class_id)
                guests += guest_service.director_id(self._tt, c) == user_id
            except SchedulerError:
                continue
        excuses = sum(
            service.decider_id(self._tt, r) == user_id
            for r in self._excuses.listed(
                status=ExcuseStatus.PENDING,
                group_ids=self._tt.groups_of_director(user_id),
                limit=100_000,
            )
        )
        return Waiting(guests, excuses)

    # -- collecting -----------------------------------------------------------------------------
    def collect(self) -> int:
        """New records of every source into notices; returns how many notices were added."""
        added = 0
        for source in SOURCES:
            while True:
                position = self._cursor(source)
                records = self._records(source, position)
                if not records:
                    break
                with self._db:
                    for pos, at, addressed in records:
                        for a in addressed:
                            cur = self._db.execute(
                                "INSERT OR IGNORE INTO notices (recipient_id, kind, params,"
                                " source, position, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                                (
                                    a.recipient_id,
                                    a.kind.value,
                                    json.dumps(dict(a.params), ensure_ascii=False),
                                    source,
                                    pos,
                                    at,
                                ),
                            )
                            added += cur.rowcount
                    self._db.execute(
                        "UPDATE notice_cursors SET position = MAX(position, ?) WHERE source = ?",
                        (records[-1][0], source),
                    )
        return added

    def _cursor(self, source: str) -> int:
        row = self._db.execute(
            "SELECT position FROM notice_cursors WHERE source = ?", (source,)
        ).fetchone()
        return int(row[0]) if row is not None else 0

    def _records(self, source: str, position: int) -> list[tuple[int, float, list[Addressed]]]:
        """(position, when it happened, the notices) of the source's next records."""
        viewers = _ViewerCache(self._tt, self._accounts)
        if source == "timetable":
            by_group = self._tt.institutes_by_group()  # once a batch
            return [
                (p, change.at, _safely(source, p, self._class_notices, change, viewers, by_group))
                for p, change in self._tt.changes_after(position, BATCH)
            ]
        if source == "guests":
            return [
                (p, step.at, _safely(source, p, self._guest_notices, class_id, step, viewers))
                for p, class_id, step in self._guests.steps_after(position, BATCH)
            ]
        return [
            (p, step.at, _safely(source, p, self._excuse_notices, learner_id, step, viewers))
            for p, learner_id, step in self._excuses.steps_after(position, BATCH)
        ]

    def _guest_notices(
        self, class_id: int, step: GuestStep, viewers: _ViewerCache
    ) -> list[Addressed]:
        try:
            r = self._guests.get(step.request_id)
            c = self._tt.get_class(class_id)
            group = self._tt.group(c.group_ids[0])
            director = guest_service.director_id(self._tt, c)
        except (RequestNotFound, SchedulerError):
            return []
        return guest_step(step, r, c, group, director, viewers)

    def _excuse_notices(
        self, learner_id: int, step: ExcuseStep, viewers: _ViewerCache
    ) -> list[Addressed]:
        try:
            x = self._excuses.get(step.request_id)
            name = self._accounts.get(learner_id).full_name
            decider = service.decider_id(self._tt, x)
        except (RequestNotFound, UserNotFound, SchedulerError):
            return []
        return excuse_step(step, x, name, decider, viewers)

    def _class_notices(
        self, change: TimetableChange, viewers: _ViewerCache, by_group: Mapping[int, int]
    ) -> list[Addressed]:
        if change.class_id is None or change.action not in CLASS_KINDS:
            return []  # planned, say: nobody is told (and nothing is read for it)
        try:
            c = self._tt.get_class(change.class_id)
            group = self._tt.group(c.group_ids[0])
        except SchedulerError:
            return []
        facts = ClassFacts(
            teacher_id=c.teacher_id,
            group_ids=frozenset(c.group_ids),
            institute_ids=frozenset(by_group[g] for g in c.group_ids if g in by_group),
            learner_ids=frozenset(c.learner_ids),
        )
        return class_changed(change, c, group, facts, self._tt.learners(c), viewers)


def _safely(
    source: str, position: int, notices: Callable[..., list[Addressed]], *args: Any
) -> list[Addressed]:
    """A record's notices; one that cannot be made is logged and skipped, so that it never
    holds back the notices of the records after it."""
    try:
        return notices(*args)
    except Exception:
        log.exception("notices of %s record %s could not be made: skipped", source, position)
        return []


class _ViewerCache:
    """Who a person is for the visibility rule (as ``web.core.policy.viewer`` reads it for a
    request), read once per batch; None for a deactivated or unknown account."""

    def __init__(self, tt: SqliteTimetable, accounts: SqliteAccounts) -> None:
        self._tt = tt
        self._accounts = accounts
        self._cache: dict[int, Viewer | None] = {}

    def __call__(self, user_id: int) -> Viewer | None:
        if user_id not in self._cache:
            self._cache[user_id] = self._read(user_id)
        return self._cache[user_id]

    def _read(self, user_id: int) -> Viewer | None:
        try:
            user = self._accounts.get(user_id)
        except UserNotFound:
            return None
        if not user.active:
            return None
        return Viewer(
            user_id=user.id,
            role=user.role,
            institutes=frozenset(self._tt.institutes_of_person(user.id))
            if user.role in INSTITUTE
            else frozenset(),
            teaches=frozenset(self._tt.groups_of_teacher(user.id)),
            member_of=frozenset(g.id for g in self._tt.groups_of_member(user.id)),
        )


def _notice(r: sqlite3.Row) -> Notice:
    return Notice(
        r["id"],
        r["recipient_id"],
        NoticeKind(r["kind"]),
        json.loads(r["params"]),
        r["created_at"],
        r["read_at"],
    )
