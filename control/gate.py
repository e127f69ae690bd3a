"""The single process's ``streaming.node.ClassGate``: what the media node must not forget
across a restart, kept by the control plane (DESIGN.md: the media plane is soft state). The
people taken out of a class (a guest revoked, a learner not admitted) and the join tokens spent
are in the database; that a class ended, the timetable knows (the ledger's ``class_ended``
moves the class out of planned and live)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable

from scheduler.errors import ClassNotFound
from scheduler.models import LiveClass, TimetableAction, closed_code
from scheduler.sqlite_store import SqliteTimetable

# Named from when this lived in web/: a database knows its applied migrations by name.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "web_0004_media_gate",
        """
        CREATE TABLE media_barred (
            class_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            code TEXT NOT NULL,
            message TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (class_id, user_id)
        );
        CREATE TABLE spent_join_tokens (
            token_id TEXT PRIMARY KEY,
            until REAL NOT NULL  -- the token's expiry: after it, it admits nobody anyway
        );
        CREATE INDEX spent_join_tokens_until ON spent_join_tokens(until);
        """,
    ),
    (
        # The teacher's removals apart from the control plane's bars: each lifts only its own.
        "control_0001_media_removed",
        """
        CREATE TABLE media_removed (
            class_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (class_id, user_id)
        );
        INSERT INTO media_removed SELECT class_id, user_id, at FROM media_barred
            WHERE code = 'removed';
        DELETE FROM media_barred WHERE code = 'removed';
        """,
    ),
)


def cancel_reason(timetable: SqliteTimetable, class_id: int) -> str:
    """Why the class was cancelled, as the timetable's log keeps it ("" if it gave none)."""
    for change in timetable.changes(class_id=class_id):
        if change.action is TimetableAction.CANCELLED:
            return change.reason
    return ""


def why_closed(timetable: SqliteTimetable, c: LiveClass) -> tuple[str, str] | None:
    """``closed_code`` with the timetable's reason for a cancelled class ("" for the others)."""
    code = closed_code(c)
    if code is None:
        return None
    return code, cancel_reason(timetable, c.id) if code == "class_cancelled" else ""


class LocalGate:
    def __init__(
        self,
        db: sqlite3.Connection,
        timetable: SqliteTimetable,
        clock: Callable[[], float] = time.time,  # the one that stamps the tokens' expiry
        spends: sqlite3.Connection | None = None,
    ) -> None:
        """``spends``: a connection of the gate's own, on which spent join tokens are written
        on a worker thread (a join must not wait for the disk, nor for another writer's lock,
        on the event loop that carries the media); without it, on ``db``."""
        self._db = db
        self._timetable = timetable
        self._clock = clock
        self._spends = spends
        self._spends_lock = threading.Lock()  # one transaction at a time on that connection

    def refuses_joins(self) -> bool:
        return False  # events are committed in this process: there is no backlog to refuse on

    async def hosts(self, class_id: int) -> bool:
        return True  # one node: every class is here

    async def barred(self, class_id: int) -> dict[int, str] | None:
        return self.taken_out(class_id)

    def taken_out(self, class_id: int) -> dict[int, str]:
        """Who is kept out of the class → the code they are refused with ("removed" when the
        teacher removed them, whatever else keeps them out)."""
        rows = self._db.execute(
            "SELECT user_id, code FROM media_barred WHERE class_id = ?", (class_id,)
        )
        out = {int(r[0]): str(r[1]) for r in rows}
        removed = self._db.execute(
            "SELECT user_id FROM media_removed WHERE class_id = ?", (class_id,)
        )
        out.update((int(r[0]), "removed") for r in removed)
        return out

    async def keep_out(self, class_id: int, user_id: int, code: str, message: str) -> None:
        """The teacher removed the person (the node's ``keep_out``): kept apart from the
        control plane's bars, so that its ``readmit`` does not lift it. Written on the gate's
        own connection off the event loop, as spent tokens are (the media must not wait for
        the disk, nor for another writer's lock)."""
        if self._spends is None:
            self._keep_out(self._db, class_id, user_id)
        else:
            await asyncio.to_thread(self._locked, self._keep_out, self._spends, class_id, user_id)

    def _keep_out(self, db: sqlite3.Connection, class_id: int, user_id: int) -> bool:
        with db:
            db.execute(
                "INSERT OR REPLACE INTO media_removed VALUES (?, ?, ?)",
                (class_id, user_id, self._clock()),
            )
        return True

    async def closed(self, class_id: int) -> tuple[str, str] | None:
        try:
            return why_closed(self._timetable, self._timetable.get_class(class_id))
        except ClassNotFound:
            return None  # no such class: the token named it; nothing to keep it out for

    async def spend(self, token_id: str, until: float) -> bool:
        """Whether the token was not spent yet; it is, on disk, when this returns (the node's
        memory refuses a second use meanwhile)."""
        if self._spends is None:
            return self._spend(self._db, token_id, until)
        return await asyncio.to_thread(self._locked, self._spend, self._spends, token_id, until)

    def _spend(self, db: sqlite3.Connection, token_id: str, until: float) -> bool:
        with db:
            db.execute("DELETE FROM spent_join_tokens WHERE until < ?", (self._clock(),))
            cur = db.execute(
                "INSERT OR IGNORE INTO spent_join_tokens (token_id, until) VALUES (?, ?)",
                (token_id, until),
            )
        return cur.rowcount == 1

    async def unspend(self, token_id: str) -> None:
        if self._spends is None:
            self._unspend(self._db, token_id)
        else:
            await asyncio.to_thread(self._locked, self._unspend, self._spends, token_id)

    def _unspend(self, db: sqlite3.Connection, token_id: str) -> bool:
        with db:
            db.execute("DELETE FROM spent_join_tokens WHERE token_id = ?", (token_id,))
        return True

    def _locked(self, write: Callable[..., bool], *args: object) -> bool:
        with self._spends_lock:
            return write(*args)

    # -- what the control plane decides -----------------------------------------------------------
    def bar(self, class_id: int, user_id: int, code: str, message: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO media_barred VALUES (?, ?, ?, ?, ?)",
                (class_id, user_id, code, message, self._clock()),
            )

    def readmit(self, class_id: int, user_id: int) -> None:
        """Lift the control plane's bar (admitted again); a removal by the teacher stays."""
        with self._db:
            self._db.execute(
                "DELETE FROM media_barred WHERE class_id = ? AND user_id = ?", (class_id, user_id)
            )

    def let_back(self, class_id: int, user_id: int) -> None:
        """Lift the teacher's removal; a bar of the control plane (not admitted) stays."""
        with self._db:
            self._db.execute(
                "DELETE FROM media_removed WHERE class_id = ? AND user_id = ?", (class_id, user_id)
            )
