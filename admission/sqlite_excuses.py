"""Excuse requests and their history in SQLite. A request's status moves once, from pending to
a decision; its history only grows."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

from access.sqlite_search import like, matches, searchable

from .documents import DocumentKind, ExcuseDocument
from .errors import AlreadyDecided, RequestNotFound
from .models import ExcuseAction, ExcuseReason, ExcuseRequest, ExcuseStatus, ExcuseStep
from .sqlite_base import SqliteStore


@dataclass(frozen=True, slots=True)
class ExcuseQuery:
    """Which requests: a learner's own (``learner_id``), those of ``group_ids`` (a director's),
    or every one (both None); with a search in the learner's name and the group's name, and
    pending or decided ones only (``pending``; None: both)."""

    search: str = ""
    pending: bool | None = None
    learner_id: int | None = None
    group_ids: frozenset[int] | None = None


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


class SqliteExcuses(SqliteStore):
    """Excuse requests and their history."""

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
        documents: Sequence[ExcuseDocument] = (),
    ) -> ExcuseRequest:
        """A new pending request, its first step and its documents, in one transaction."""
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
            self._db.executemany(
                "INSERT INTO excuse_documents (request_id, n, name, kind, size, sha256,"
                " stored_as) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (cur.lastrowid, n, d.name, d.kind.value, d.size, d.sha256, d.stored_as)
                    for n, d in enumerate(documents, 1)
                ],
            )
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

    def documents(self, request_id: int) -> list[ExcuseDocument]:
        """The request's documents, in the order they were attached."""
        rows = self._db.execute(
            "SELECT * FROM excuse_documents WHERE request_id = ? ORDER BY n", (request_id,)
        )
        return [
            ExcuseDocument(
                request_id=r["request_id"],
                n=r["n"],
                name=r["name"],
                kind=DocumentKind(r["kind"]),
                size=r["size"],
                sha256=r["sha256"],
                stored_as=r["stored_as"],
            )
            for r in rows.fetchall()
        ]

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

    def find(self, q: ExcuseQuery, limit: int, offset: int) -> tuple[list[ExcuseRequest], int]:
        """A page of the requests ``q`` names — the pending first, then the newest — and how
        many there are in all."""
        clauses, args = ["1"], list[object]()
        if q.learner_id is not None:
            clauses.append("x.learner_id = ?")
            args.append(q.learner_id)
        if q.group_ids is not None:
            ids = sorted(q.group_ids)
            clauses.append(f"x.group_id IN ({','.join('?' * len(ids))})" if ids else "0")
            args += ids
        if q.pending is not None:
            clauses.append("x.status = ?" if q.pending else "x.status != ?")
            args.append(ExcuseStatus.PENDING.value)
        if q.search.strip():
            searchable(self._db)
            clauses.append(
                "(EXISTS (SELECT 1 FROM users u WHERE u.id = x.learner_id"  # noqa: S608
                f" AND {matches('u.full_name')})"
                " OR EXISTS (SELECT 1 FROM groups g WHERE g.id = x.group_id"
                f" AND {matches('g.name')}))"
            )
            args += [like(q.search)] * 2
        where = " AND ".join(clauses)
        total = self._db.execute(
            f"SELECT count(*) FROM excuse_requests x WHERE {where}",  # noqa: S608
            args,
        ).fetchone()[0]
        rows = self._db.execute(
            f"SELECT x.* FROM excuse_requests x WHERE {where}"  # noqa: S608
            " ORDER BY x.status != ?, x.filed_at DESC, x.id DESC LIMIT ? OFFSET ?",
            [*args, ExcuseStatus.PENDING.value, limit, offset],
        )
        return [_request(r) for r in rows.fetchall()], int(total)

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
