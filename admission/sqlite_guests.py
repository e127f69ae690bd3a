"""Guest requests in SQLite: the request, its invite (only its hash is kept), the device it is
bound to, and its append-only history."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass

from access.sqlite_search import contains, like, matches, searchable

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
from .sqlite_base import SqliteStore


@dataclass(frozen=True, slots=True)
class GuestQuery:
    """Which requests: those filed by ``filed_by``, or of the classes whose first group is one
    of ``director_groups`` (the director who decides them), or every one (both None); with a
    search in the guest's name, organisation, topic and the class's title, and pending or
    decided ones only (``pending``; None: both)."""

    search: str = ""
    pending: bool | None = None
    filed_by: int | None = None
    director_groups: frozenset[int] | None = None


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


class SqliteGuests(SqliteStore):
    """Guest requests, their invites (hashed) and their history."""

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

    def find(self, q: GuestQuery, limit: int, offset: int) -> tuple[list[GuestRequest], int]:
        """A page of the requests ``q`` names — the pending first, then the newest — and how
        many there are in all."""
        clauses, args = ["1"], list[object]()
        if q.filed_by is not None:
            clauses.append("r.filed_by = ?")
            args.append(q.filed_by)
        if q.director_groups is not None:
            ids = sorted(q.director_groups)
            clauses.append(
                "(SELECT MIN(cg.group_id) FROM class_groups cg WHERE cg.class_id = r.class_id)"  # noqa: S608
                f" IN ({','.join('?' * len(ids))})"
                if ids
                else "0"
            )
            args += ids
        if q.pending is not None:
            clauses.append("r.status = ?" if q.pending else "r.status != ?")
            args.append(GuestStatus.PENDING.value)
        if q.search.strip():
            searchable(self._db)
            clauses.append(
                "(" + contains("r.guest_name", "r.organisation", "r.topic")  # noqa: S608
                + " OR EXISTS (SELECT 1 FROM classes c WHERE c.id = r.class_id"  # noqa: S608
                f" AND {matches('c.title')}))"
            )  # fmt: skip
            args += [like(q.search)] * 4
        where = " AND ".join(clauses)
        total = self._db.execute(
            f"SELECT count(*) FROM guest_requests r WHERE {where}",  # noqa: S608
            args,
        ).fetchone()[0]
        rows = self._db.execute(
            f"SELECT r.* FROM guest_requests r WHERE {where}"  # noqa: S608
            " ORDER BY r.status != ?, r.filed_at DESC, r.id DESC LIMIT ? OFFSET ?",
            [*args, GuestStatus.PENDING.value, limit, offset],
        )
        return [_guest(r) for r in rows.fetchall()], int(total)

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
