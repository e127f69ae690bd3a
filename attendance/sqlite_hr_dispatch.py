"""The HR services' mail in SQLite: the schedule staff set (``hr_mail_schedule``) and the log
of every mail queued for an agency (``hr_dispatches``). A change of the schedule and a mail sent
by hand are recorded in the audit trail in the same transaction."""

from __future__ import annotations

import json
import sqlite3

from access.audit import Action, Actor, ObjectKind, changed
from access.sqlite_audit import now_record, write

from .hr_dispatch import DEFAULT_RULES, Dispatch, DispatchKind, DispatchReason, DispatchRule
from .sqlite_base import SqliteStore

SCHEDULE_LABEL = "HR mail schedule"


def _fields(rules: dict[DispatchKind, DispatchRule]) -> dict[str, object]:
    """The schedule as the audit trail sees it."""
    out: dict[str, object] = {}
    for kind, rule in rules.items():
        out[f"{kind.value}_day"] = rule.day
        out[f"{kind.value}_hour"] = rule.hour
        out[f"{kind.value}_enabled"] = rule.enabled
    return out


def _dispatch(row: sqlite3.Row) -> Dispatch:
    return Dispatch(
        id=row["id"], agency_id=row["agency_id"], kind=DispatchKind(row["kind"]),
        month=row["month"], at=row["at"], recipients=tuple(json.loads(row["recipients"])),
        mail_key=row["mail_key"], reason=DispatchReason(row["reason"]),
        by_user_id=row["by_user_id"], by_name=row["by_name"],
    )  # fmt: skip


class SqliteHrDispatch(SqliteStore):
    # -- the schedule ----------------------------------------------------------------------------
    def schedule(self) -> dict[DispatchKind, DispatchRule]:
        """The rule of each kind: the one staff set, or the default."""
        rules = dict(DEFAULT_RULES)
        for r in self._db.execute("SELECT * FROM hr_mail_schedule"):
            kind = DispatchKind(r["kind"])
            rules[kind] = DispatchRule(kind, r["day"], r["hour"], bool(r["enabled"]))
        return rules

    def set_schedule(self, rules: list[DispatchRule], actor: Actor | None = None) -> None:
        """Set the rules given (the others stay); with ``actor``, what changed is recorded."""
        with self._db:
            before = self.schedule()
            for rule in rules:
                self._db.execute(
                    "INSERT INTO hr_mail_schedule (kind, day, hour, enabled) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (kind) DO UPDATE SET day = excluded.day, hour = excluded.hour,"
                    " enabled = excluded.enabled",
                    (rule.kind.value, rule.day, rule.hour, int(rule.enabled)),
                )
            old, new = changed(_fields(before), _fields(self.schedule()))
            if actor is not None and new:
                write(self._db, now_record(
                    self._clock, actor, Action.CHANGED, ObjectKind.SETTINGS, None, old, new,
                    SCHEDULE_LABEL,
                ))  # fmt: skip

    # -- the log ---------------------------------------------------------------------------------
    def logged(self, mail_key: str) -> bool:
        row = self._db.execute("SELECT 1 FROM hr_dispatches WHERE mail_key = ?", (mail_key,))
        return row.fetchone() is not None

    def log(
        self,
        agency_id: int,
        kind: DispatchKind,
        month: str,
        recipients: tuple[str, ...],
        mail_key: str,
        reason: DispatchReason,
        actor: Actor | None = None,
        agency_name: str = "",
    ) -> Dispatch | None:
        """Log a mail queued under ``mail_key`` (None if it is logged already: another run got
        there first). With ``actor`` (a mail sent by hand), it is recorded in the audit trail in
        the same transaction."""
        with self._db:
            by_id, by_name = (actor.id, actor.name) if actor else (None, "")
            cur = self._db.execute(
                "INSERT OR IGNORE INTO hr_dispatches (agency_id, kind, month, at, recipients,"
                " mail_key, reason, by_user_id, by_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    agency_id, kind.value, month, self._clock(), json.dumps(list(recipients)),
                    mail_key, reason.value, by_id, by_name,
                ),
            )  # fmt: skip
            if cur.rowcount != 1:
                return None
            assert cur.lastrowid is not None
            if actor is not None:
                after = {
                    "kind": kind.value, "month": month, "recipients": list(recipients),
                    "reason": reason.value,
                }  # fmt: skip
                write(self._db, now_record(
                    self._clock, actor, Action.SENT, ObjectKind.AGENCY, agency_id, after=after,
                    label=agency_name,
                ))  # fmt: skip
            return self.dispatch(cur.lastrowid)

    def dispatch(self, dispatch_id: int) -> Dispatch | None:
        row = self._db.execute("SELECT * FROM hr_dispatches WHERE id = ?", (dispatch_id,))
        found = row.fetchone()
        return None if found is None else _dispatch(found)

    def dispatches(self, agency_id: int, limit: int = 100) -> list[Dispatch]:
        """An agency's mails, newest first."""
        rows = self._db.execute(
            "SELECT * FROM hr_dispatches WHERE agency_id = ? ORDER BY at DESC, id DESC LIMIT ?",
            (agency_id, limit),
        )
        return [_dispatch(r) for r in rows]
