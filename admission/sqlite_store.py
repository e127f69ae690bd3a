"""Excuse requests and their history in SQLite. A request's status moves once, from pending to
a decision; its history only grows."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from .errors import AlreadyDecided, RequestNotFound
from .guests import (
    GuestAction,
    GuestRequest,
    GuestStatus,
    GuestStep,
    check_fields,
    new_token,
    token_hash,
)
from .models import ExcuseAction, ExcuseReason, ExcuseRequest, ExcuseStatus, ExcuseStep
from .status import AdmissionChange, NotAdmittedReason, StatusKey, check_change

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "admission_0001_excuse_requests",
        """
        CREATE TABLE excuse_requests (
            id INTEGER PRIMARY KEY,
            learner_id INTEGER NOT NULL REFERENCES users(id),
            group_id INTEGER NOT NULL REFERENCES groups(id),
            reason TEXT NOT NULL,
            first_day TEXT NOT NULL,
            last_day TEXT NOT NULL,
            document TEXT NOT NULL,
            details TEXT NOT NULL,
            status TEXT NOT NULL,
            filed_by INTEGER NOT NULL REFERENCES users(id),
            filed_at REAL NOT NULL
        );
        CREATE INDEX excuse_requests_learner ON excuse_requests(learner_id, status);
        CREATE INDEX excuse_requests_status ON excuse_requests(status, filed_at);
        CREATE TABLE excuse_steps (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES excuse_requests(id),
            at REAL NOT NULL,
            actor_id INTEGER NOT NULL REFERENCES users(id),
            actor_name TEXT NOT NULL,
            action TEXT NOT NULL,
            comment TEXT NOT NULL,
            class_id INTEGER REFERENCES classes(id)
        );
        CREATE INDEX excuse_steps_request ON excuse_steps(request_id, id);
        -- No update or delete of a request's history.
        CREATE TRIGGER excuse_steps_no_update BEFORE UPDATE ON excuse_steps
        BEGIN SELECT RAISE(ABORT, 'the history of a request is append-only'); END;
        CREATE TRIGGER excuse_steps_no_delete BEFORE DELETE ON excuse_steps
        BEGIN SELECT RAISE(ABORT, 'the history of a request is append-only'); END;
        """,
    ),
    (
        "admission_0002_guest_requests",
        """
        CREATE TABLE guest_requests (
            id INTEGER PRIMARY KEY,
            class_id INTEGER NOT NULL REFERENCES classes(id),
            filed_by INTEGER NOT NULL REFERENCES users(id),
            guest_name TEXT NOT NULL,
            organisation TEXT NOT NULL,
            position TEXT NOT NULL,
            contact TEXT NOT NULL,
            topic TEXT NOT NULL,
            justification TEXT NOT NULL,
            presents INTEGER NOT NULL,
            status TEXT NOT NULL,
            filed_at REAL NOT NULL,
            token_hash TEXT UNIQUE,  -- SHA-256 of the invite; the invite itself is not kept
            bound_device TEXT  -- SHA-256 of the browser that redeemed it first
        );
        CREATE INDEX guest_requests_class ON guest_requests(class_id);
        CREATE INDEX guest_requests_status ON guest_requests(status, filed_at);
        CREATE TABLE guest_steps (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES guest_requests(id),
            at REAL NOT NULL,
            actor_id INTEGER REFERENCES users(id),
            actor_name TEXT NOT NULL,
            action TEXT NOT NULL,
            comment TEXT NOT NULL
        );
        CREATE INDEX guest_steps_request ON guest_steps(request_id, id);
        CREATE TRIGGER guest_steps_no_update BEFORE UPDATE ON guest_steps
        BEGIN SELECT RAISE(ABORT, 'the history of a request is append-only'); END;
        CREATE TRIGGER guest_steps_no_delete BEFORE DELETE ON guest_steps
        BEGIN SELECT RAISE(ABORT, 'the history of a request is append-only'); END;
        """,
    ),
    (
        "admission_0003_admission_status",
        """
        -- A learner's admission status per discipline (postgraduate) or course (additional
        -- education), as the history of its changes: the status is the latest.
        CREATE TABLE admission_changes (
            id INTEGER PRIMARY KEY,
            learner_id INTEGER NOT NULL REFERENCES users(id),
            programme_id INTEGER NOT NULL REFERENCES programmes(id),
            discipline_id INTEGER REFERENCES disciplines(id),
            admitted INTEGER NOT NULL,
            reason TEXT,
            note TEXT NOT NULL,
            by_id INTEGER REFERENCES users(id),
            by_name TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX admission_changes_learner ON admission_changes(learner_id, id);
        CREATE TRIGGER admission_changes_no_update BEFORE UPDATE ON admission_changes
        BEGIN SELECT RAISE(ABORT, 'the admission history is append-only'); END;
        CREATE TRIGGER admission_changes_no_delete BEFORE DELETE ON admission_changes
        BEGIN SELECT RAISE(ABORT, 'the admission history is append-only'); END;
        -- Every time a learner was turned away at the door of a class.
        CREATE TABLE admission_refusals (
            id INTEGER PRIMARY KEY,
            class_id INTEGER NOT NULL REFERENCES classes(id),
            learner_id INTEGER NOT NULL REFERENCES users(id),
            change_id INTEGER NOT NULL REFERENCES admission_changes(id),
            at REAL NOT NULL
        );
        CREATE INDEX admission_refusals_class ON admission_refusals(class_id, learner_id);
        CREATE INDEX admission_refusals_learner ON admission_refusals(learner_id, id);
        """,
    ),
)


def _request(row: sqlite3.Row) -> ExcuseRequest:
    return ExcuseRequest(
        id=row["id"],
        learner_id=row["learner_id"],
        group_id=row["group_id"],
        reason=ExcuseReason(row["reason"]),
        first_day=date.fromisoformat(row["first_day"]),
        last_day=date.fromisoformat(row["last_day"]),
        document=row["document"],
        details=row["details"],
        status=ExcuseStatus(row["status"]),
        filed_by=row["filed_by"],
        filed_at=row["filed_at"],
    )


class SqliteExcuses:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def file(
        self,
        *,
        learner_id: int,
        group_id: int,
        reason: ExcuseReason,
        first_day: date,
        last_day: date,
        document: str,
        details: str,
        by_id: int,
        by_name: str,
        at: float,
    ) -> ExcuseRequest:
        ExcuseRequest(
            0, learner_id, group_id, reason, first_day, last_day, document, details,
            ExcuseStatus.PENDING, by_id, at,
        )  # fmt: skip
        with self._db:
            cur = self._db.execute(
                "INSERT INTO excuse_requests (learner_id, group_id, reason, first_day, last_day,"
                " document, details, status, filed_by, filed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    learner_id,
                    group_id,
                    reason.value,
                    first_day.isoformat(),
                    last_day.isoformat(),
                    document,
                    details,
                    ExcuseStatus.PENDING.value,
                    by_id,
                    at,
                ),
            )
            assert cur.lastrowid is not None
            self._step(cur.lastrowid, at, by_id, by_name, ExcuseAction.FILED, details)
        return self.get(cur.lastrowid)

    def _step(
        self,
        request_id: int,
        at: float,
        actor_id: int,
        actor_name: str,
        action: ExcuseAction,
        comment: str,
        class_id: int | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO excuse_steps (request_id, at, actor_id, actor_name, action, comment,"
            " class_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (request_id, at, actor_id, actor_name, action.value, comment, class_id),
        )

    def get(self, request_id: int) -> ExcuseRequest:
        row = self._db.execute(
            "SELECT * FROM excuse_requests WHERE id = ?", (request_id,)
        ).fetchone()
        if row is None:
            raise RequestNotFound(f"No excuse request with id {request_id}")
        return _request(row)

    def steps(self, request_id: int) -> list[ExcuseStep]:
        rows = self._db.execute(
            "SELECT * FROM excuse_steps WHERE request_id = ? ORDER BY id", (request_id,)
        )
        return [
            ExcuseStep(
                request_id=r["request_id"],
                at=r["at"],
                actor_id=r["actor_id"],
                actor_name=r["actor_name"],
                action=ExcuseAction(r["action"]),
                comment=r["comment"],
                class_id=r["class_id"],
            )
            for r in rows.fetchall()
        ]

    def decide(
        self, request_id: int, approve: bool, by_id: int, by_name: str, comment: str, at: float
    ) -> ExcuseRequest:
        """Approve or reject a pending request, once; the decision joins its history."""
        status = ExcuseStatus.APPROVED if approve else ExcuseStatus.REJECTED
        action = ExcuseAction.APPROVED if approve else ExcuseAction.REJECTED
        with self._db:
            cur = self._db.execute(
                "UPDATE excuse_requests SET status = ? WHERE id = ? AND status = ?",
                (status.value, request_id, ExcuseStatus.PENDING.value),
            )
            if cur.rowcount != 1:
                current = self.get(request_id)
                raise AlreadyDecided(f"Request {request_id} is already {current.status}")
            self._step(request_id, at, by_id, by_name, action, comment)
        return self.get(request_id)

    def makeup_planned(
        self, request_id: int, class_id: int, by_id: int, by_name: str, at: float
    ) -> None:
        with self._db:
            self._step(request_id, at, by_id, by_name, ExcuseAction.MAKEUP_PLANNED, "", class_id)

    def makeup_class_ids(self, request_id: int) -> list[int]:
        rows = self._db.execute(
            "SELECT class_id FROM excuse_steps WHERE request_id = ? AND action = ? ORDER BY id",
            (request_id, ExcuseAction.MAKEUP_PLANNED.value),
        )
        return [r[0] for r in rows]

    def listed(
        self,
        *,
        status: ExcuseStatus | None = None,
        learner_id: int | None = None,
        group_ids: Collection[int] | None = None,
        limit: int = 500,
    ) -> list[ExcuseRequest]:
        """Requests, newest first, narrowed by status, learner and groups."""
        where, params = ["1"], list[object]()
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        if learner_id is not None:
            where.append("learner_id = ?")
            params.append(learner_id)
        if group_ids is not None:
            ids = [int(g) for g in group_ids] or [0]
            where.append(f"group_id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        rows = self._db.execute(
            f"SELECT * FROM excuse_requests WHERE {' AND '.join(where)}"  # noqa: S608
            " ORDER BY filed_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [_request(r) for r in rows.fetchall()]

    def approved_for(self, learner_ids: Collection[int]) -> list[ExcuseRequest]:
        """The approved requests of these learners."""
        ids = list(dict.fromkeys(learner_ids))
        out: list[ExcuseRequest] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self._db.execute(
                "SELECT * FROM excuse_requests WHERE status = ? AND learner_id IN"  # noqa: S608
                f" ({','.join('?' * len(chunk))})",
                (ExcuseStatus.APPROVED.value, *chunk),
            )
            out.extend(_request(r) for r in rows.fetchall())
        return out

    def steps_after(self, position: int, limit: int = 500) -> list[tuple[int, int, ExcuseStep]]:
        """(position, learner, step) of the steps taken after ``position``, oldest first (for
        those who follow the requests: the webhook outbox)."""
        rows = self._db.execute(
            "SELECT s.*, x.learner_id FROM excuse_steps s"
            " JOIN excuse_requests x ON x.id = s.request_id WHERE s.id > ? ORDER BY s.id LIMIT ?",
            (position, limit),
        )
        return [
            (
                r["id"],
                r["learner_id"],
                ExcuseStep(
                    request_id=r["request_id"],
                    at=r["at"],
                    actor_id=r["actor_id"],
                    actor_name=r["actor_name"],
                    action=ExcuseAction(r["action"]),
                    comment=r["comment"],
                    class_id=r["class_id"],
                ),
            )
            for r in rows.fetchall()
        ]

    def last_step_id(self) -> int:
        """The position of the newest step (0: none)."""
        return int(self._db.execute("SELECT MAX(id) FROM excuse_steps").fetchone()[0] or 0)


def _guest(row: sqlite3.Row) -> GuestRequest:
    return GuestRequest(
        id=row["id"],
        class_id=row["class_id"],
        filed_by=row["filed_by"],
        guest_name=row["guest_name"],
        organisation=row["organisation"],
        position=row["position"],
        contact=row["contact"],
        topic=row["topic"],
        justification=row["justification"],
        presents=bool(row["presents"]),
        status=GuestStatus(row["status"]),
        filed_at=row["filed_at"],
        bound=row["bound_device"] is not None,
    )


class SqliteGuests:
    """Guest requests, their invites (hashed) and their history."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def file(
        self,
        *,
        class_id: int,
        guest_name: str,
        organisation: str,
        position: str,
        contact: str,
        topic: str,
        justification: str,
        presents: bool,
        by_id: int,
        by_name: str,
        at: float,
    ) -> GuestRequest:
        check_fields(guest_name, organisation, position, contact, topic, justification)
        with self._db:
            cur = self._db.execute(
                "INSERT INTO guest_requests (class_id, filed_by, guest_name, organisation,"
                " position, contact, topic, justification, presents, status, filed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    class_id, by_id, guest_name, organisation, position, contact, topic,
                    justification, int(presents), GuestStatus.PENDING.value, at,
                ),
            )  # fmt: skip
            assert cur.lastrowid is not None
            self._step(cur.lastrowid, at, by_id, by_name, GuestAction.FILED, "")
        return self.get(cur.lastrowid)

    def _step(
        self,
        request_id: int,
        at: float,
        actor_id: int | None,
        actor_name: str,
        action: GuestAction,
        comment: str,
    ) -> None:
        self._db.execute(
            "INSERT INTO guest_steps (request_id, at, actor_id, actor_name, action, comment)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (request_id, at, actor_id, actor_name, action.value, comment),
        )

    def get(self, request_id: int) -> GuestRequest:
        row = self._db.execute(
            "SELECT * FROM guest_requests WHERE id = ?", (request_id,)
        ).fetchone()
        if row is None:
            raise RequestNotFound(f"No guest request with id {request_id}")
        return _guest(row)

    def by_token(self, token: str) -> tuple[GuestRequest, str | None] | None:
        """The request an invite belongs to and the browser it is bound to, or None."""
        row = self._db.execute(
            "SELECT * FROM guest_requests WHERE token_hash = ?", (token_hash(token),)
        ).fetchone()
        return None if row is None else (_guest(row), row["bound_device"])

    def steps(self, request_id: int) -> list[GuestStep]:
        rows = self._db.execute(
            "SELECT * FROM guest_steps WHERE request_id = ? ORDER BY id", (request_id,)
        )
        return [
            GuestStep(
                r["request_id"], r["at"], r["actor_id"], r["actor_name"],
                GuestAction(r["action"]), r["comment"],
            )
            for r in rows.fetchall()
        ]  # fmt: skip

    def _move(
        self,
        request_id: int,
        old: GuestStatus,
        new: GuestStatus,
        action: GuestAction,
        by_id: int,
        by_name: str,
        comment: str,
        at: float,
        token: str | None = None,
    ) -> GuestRequest:
        with self._db:
            cur = self._db.execute(
                "UPDATE guest_requests SET status = ?, token_hash = COALESCE(?, token_hash)"
                " WHERE id = ? AND status = ?",
                (new.value, token_hash(token) if token else None, request_id, old.value),
            )
            if cur.rowcount != 1:
                current = self.get(request_id)
                raise AlreadyDecided(f"Guest request {request_id} is {current.status}")
            self._step(request_id, at, by_id, by_name, action, comment)
        return self.get(request_id)

    def approve(
        self, request_id: int, by_id: int, by_name: str, comment: str, at: float
    ) -> tuple[GuestRequest, str]:
        """Approve a pending request; returns it and the invite (shown once, kept hashed)."""
        token = new_token()
        r = self._move(
            request_id, GuestStatus.PENDING, GuestStatus.APPROVED, GuestAction.APPROVED,
            by_id, by_name, comment, at, token,
        )  # fmt: skip
        return r, token

    def reject(
        self, request_id: int, by_id: int, by_name: str, comment: str, at: float
    ) -> GuestRequest:
        return self._move(
            request_id, GuestStatus.PENDING, GuestStatus.REJECTED, GuestAction.REJECTED,
            by_id, by_name, comment, at,
        )  # fmt: skip

    def revoke(
        self, request_id: int, by_id: int, by_name: str, comment: str, at: float
    ) -> GuestRequest:
        return self._move(
            request_id, GuestStatus.APPROVED, GuestStatus.REVOKED, GuestAction.REVOKED,
            by_id, by_name, comment, at,
        )  # fmt: skip

    def bind(self, request_id: int, device: str, at: float) -> bool:
        """Bind the invite to the first browser that redeems it (atomically: of two at once,
        one wins); True if it is now bound to ``device``."""
        digest = token_hash(device)
        with self._db:
            cur = self._db.execute(
                "UPDATE guest_requests SET bound_device = ? WHERE id = ? AND bound_device IS NULL"
                " AND status = ?",
                (digest, request_id, GuestStatus.APPROVED.value),
            )
            if cur.rowcount == 1:
                self._step(request_id, at, None, "", GuestAction.REDEEMED, "")
                return True
        row = self._db.execute(
            "SELECT bound_device FROM guest_requests WHERE id = ?", (request_id,)
        ).fetchone()
        return row is not None and row[0] == digest

    def reset(self, request_id: int, by_id: int, by_name: str, at: float) -> GuestRequest:
        """Let another browser redeem the invite (the guest changed computers)."""
        with self._db:
            self._db.execute(
                "UPDATE guest_requests SET bound_device = NULL WHERE id = ?", (request_id,)
            )
            self._step(request_id, at, by_id, by_name, GuestAction.RESET, "")
        return self.get(request_id)

    def of_classes(self, class_ids: Collection[int]) -> list[GuestRequest]:
        ids = [int(c) for c in class_ids] or [0]
        rows = self._db.execute(
            f"SELECT * FROM guest_requests WHERE class_id IN ({','.join('?' * len(ids))})"  # noqa: S608
            " ORDER BY filed_at, id",
            ids,
        )
        return [_guest(r) for r in rows.fetchall()]

    def listed(self, limit: int = 1000) -> list[GuestRequest]:
        """Every request: the pending first, then the newest."""
        rows = self._db.execute(
            "SELECT * FROM guest_requests ORDER BY status != ?, filed_at DESC, id DESC LIMIT ?",
            (GuestStatus.PENDING.value, limit),
        )
        return [_guest(r) for r in rows.fetchall()]

    def pending(self) -> list[GuestRequest]:
        rows = self._db.execute(
            "SELECT * FROM guest_requests WHERE status = ? ORDER BY filed_at, id",
            (GuestStatus.PENDING.value,),
        )
        return [_guest(r) for r in rows.fetchall()]

    def steps_after(self, position: int, limit: int = 500) -> list[tuple[int, int, GuestStep]]:
        """(position, class, step) of the steps taken after ``position``, oldest first (for
        those who follow the requests: the webhook outbox)."""
        rows = self._db.execute(
            "SELECT s.*, g.class_id FROM guest_steps s"
            " JOIN guest_requests g ON g.id = s.request_id WHERE s.id > ? ORDER BY s.id LIMIT ?",
            (position, limit),
        )
        return [
            (
                r["id"], r["class_id"],
                GuestStep(
                    r["request_id"], r["at"], r["actor_id"], r["actor_name"],
                    GuestAction(r["action"]), r["comment"],
                ),
            )
            for r in rows.fetchall()
        ]  # fmt: skip

    def last_step_id(self) -> int:
        """The position of the newest step (0: none)."""
        return int(self._db.execute("SELECT MAX(id) FROM guest_steps").fetchone()[0] or 0)


def _change(row: sqlite3.Row) -> AdmissionChange:
    return AdmissionChange(
        id=row["id"],
        learner_id=row["learner_id"],
        key=StatusKey(row["programme_id"], row["discipline_id"]),
        admitted=bool(row["admitted"]),
        reason=NotAdmittedReason(row["reason"]) if row["reason"] is not None else None,
        note=row["note"],
        by_id=row["by_id"],
        by_name=row["by_name"],
        at=row["at"],
    )


@dataclass(frozen=True, slots=True)
class Refusal:
    class_id: int
    learner_id: int
    change_id: int
    at: float


class SqliteAdmission:
    """Admission statuses as their append-only history, and the refusals at the door."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def record(
        self,
        *,
        learner_id: int,
        key: StatusKey,
        admitted: bool,
        reason: NotAdmittedReason | None,
        note: str,
        by_id: int | None,
        by_name: str,
        at: float,
    ) -> AdmissionChange:
        """Append a change. Its time is never before the learner's previous change, so the
        history's order and its times agree even if the clock steps back."""
        check_change(admitted, reason, note)
        with self._db:
            last = self._db.execute(
                "SELECT MAX(at) FROM admission_changes WHERE learner_id = ?", (learner_id,)
            ).fetchone()[0]
            at = max(at, last) if last is not None else at
            cur = self._db.execute(
                "INSERT INTO admission_changes (learner_id, programme_id, discipline_id,"
                " admitted, reason, note, by_id, by_name, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    learner_id, key.programme_id, key.discipline_id, int(admitted),
                    reason.value if reason else None, note, by_id, by_name, at,
                ),
            )  # fmt: skip
        return AdmissionChange(
            cur.lastrowid or 0, learner_id, key, admitted, reason, note, by_id, by_name, at
        )

    def history(self, learner_id: int) -> list[AdmissionChange]:
        """Every change of the learner's statuses, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM admission_changes WHERE learner_id = ? ORDER BY id", (learner_id,)
        )
        return [_change(r) for r in rows]

    def histories(
        self, learner_ids: Collection[int]
    ) -> dict[int, dict[StatusKey, list[AdmissionChange]]]:
        """learner → status key → its changes, oldest first (learners with none left out)."""
        out: dict[int, dict[StatusKey, list[AdmissionChange]]] = {}
        ids = sorted(set(learner_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self._db.execute(
                "SELECT * FROM admission_changes WHERE learner_id IN"  # noqa: S608
                f" ({','.join('?' * len(chunk))}) ORDER BY id",
                chunk,
            )
            for r in rows:
                c = _change(r)
                out.setdefault(c.learner_id, {}).setdefault(c.key, []).append(c)
        return out

    def refused(self, class_id: int, learner_id: int, change_id: int, at: float) -> None:
        """Log a refusal at the door; one a minute per learner and class is enough (a page
        reloaded, a join retried)."""
        with self._db:
            recent = self._db.execute(
                "SELECT 1 FROM admission_refusals WHERE class_id = ? AND learner_id = ?"
                " AND change_id = ? AND at > ?",
                (class_id, learner_id, change_id, at - 60),
            ).fetchone()
            if recent is not None:
                return
            self._db.execute(
                "INSERT INTO admission_refusals (class_id, learner_id, change_id, at)"
                " VALUES (?, ?, ?, ?)",
                (class_id, learner_id, change_id, at),
            )

    def refusals(self, class_id: int) -> list[Refusal]:
        rows = self._db.execute(
            "SELECT * FROM admission_refusals WHERE class_id = ? ORDER BY id", (class_id,)
        )
        return [Refusal(r["class_id"], r["learner_id"], r["change_id"], r["at"]) for r in rows]

    def refusals_of(self, learner_id: int, limit: int = 200) -> list[Refusal]:
        """The learner's latest refusals, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM admission_refusals WHERE learner_id = ? ORDER BY id DESC LIMIT ?",
            (learner_id, limit),
        ).fetchall()
        return [
            Refusal(r["class_id"], r["learner_id"], r["change_id"], r["at"]) for r in reversed(rows)
        ]

    def changes_after(self, position: int, limit: int = 500) -> list[AdmissionChange]:
        """The changes recorded after ``position`` (their id), oldest first (for those who
        follow the history: the webhook outbox)."""
        rows = self._db.execute(
            "SELECT * FROM admission_changes WHERE id > ? ORDER BY id LIMIT ?", (position, limit)
        )
        return [_change(r) for r in rows]

    def last_change_id(self) -> int:
        """The id of the newest change (0: none)."""
        return int(self._db.execute("SELECT MAX(id) FROM admission_changes").fetchone()[0] or 0)
