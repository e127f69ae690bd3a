"""The database file from outside a running Sabaq (``sabaq admin create``, ``verify``,
``guarantee``, ``backup``): opened to be read and checked only (``read_only``: no migration, no
WAL checkpoint), its ledger's chains verified (``verify``, ``verify_at``), the monthly guarantee
run or tried (``guarantee``), an administrator created (``create_admin``), and copied while
Sabaq runs (``copy``, ``backup``: SQLite's online backup, the write-ahead log included, checked
before it is put in place). Each command's work answers the lines it prints, or refuses with
``Refused`` (its message and exit status); ``web.cli`` reads the arguments and prints."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from access.audit import Actor
from access.errors import LoginTaken
from access.models import Role
from access.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    PasswordProblem,
    Passwords,
    password_problem,
)
from access.sqlite_store import SqliteAccounts
from attendance.export import ChainHead, read_heads
from attendance.sqlite_ledger import SqliteLedger
from scheduler.guarantee import Guarantee, GuaranteeRules
from scheduler.sqlite_store import SqliteTimetable

from .database import connect
from .guarantee_run import lines, run_now, titles
from .words import Catalogues


class Refused(Exception):
    """A command refused or failed: its message (``sabaq: `` before it, on the standard error)
    and its exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def create_admin(data_dir: Path, login: str, name: str, password: str) -> str:
    """An administrator created in the database of ``data_dir``: the line the command prints."""
    problem = password_problem(password, login)
    if problem is not None:
        reasons = {
            PasswordProblem.TOO_SHORT: f"needs at least {MIN_PASSWORD_LENGTH} characters",
            PasswordProblem.TOO_LONG: f"has at most {MAX_PASSWORD_LENGTH} characters",
            PasswordProblem.COMMON: "is on the list of common passwords",
            PasswordProblem.IS_LOGIN: "must not be the login",
        }
        raise Refused(f"the password {reasons[problem]}")
    pw_hash = Passwords().hash(password)
    db = connect(data_dir / "sabaq.sqlite3")
    try:
        user = SqliteAccounts(db).create_user(
            login=login, full_name=name, role=Role.ADMIN, password_hash=pw_hash, actor=Actor.cli()
        )
    except LoginTaken:
        raise Refused(f"the login {login!r} is taken") from None
    except ValueError as exc:
        raise Refused(str(exc)) from None
    finally:
        db.close()
    return f"Created admin {user.login} (id {user.id})."


def _existing(data_dir: Path) -> Path:
    path = data_dir / "sabaq.sqlite3"
    if not path.exists():
        raise Refused(f"there is no database at {path} (set SABAQ_DATA_DIR)")
    return path


def read_only(path: Path) -> sqlite3.Connection:
    """The database at ``path`` for reading: checking must not change what it checks."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def verify(db: sqlite3.Connection, heads: Sequence[ChainHead]) -> tuple[int, list[str]]:
    """The command's exit status (0: all agree, 1: not) and its lines: each of ``heads`` (a
    report's) checked against the ledger, or without any, every class's chain verified."""
    ledger = SqliteLedger(db)
    if heads:
        problems = [p for h in heads if (p := ledger.check_head(h.class_id, h.count, h.hash))]
        if problems:
            return 1, [f"MISMATCH {problem}" for problem in problems]
        return 0, [f"The report agrees with the ledger: {len(heads)} chain head(s) verified."]
    breaks = ledger.verify_all()
    if breaks:
        return 1, [
            f"BROKEN class {b.class_id}: first broken link at event seq {b.seq}: {b.reason}"
            for b in breaks
        ]
    return 0, [f"All {len(ledger.class_ids())} class chain(s) verified; no link is broken."]


def verify_at(data_dir: Path, report: Path | None) -> tuple[int, list[str]]:
    """``sabaq verify``: the database of ``data_dir`` checked (``verify``), against the chain
    heads of ``report`` when one is given."""
    heads = []
    if report is not None:
        try:
            heads = read_heads(report)
        except (OSError, ValueError) as exc:
            raise Refused(f"cannot read the report: {exc}") from None
        if not heads:
            raise Refused(f"{report} carries no chain heads to check")
    db = read_only(_existing(data_dir))
    try:
        return verify(db, heads)
    except sqlite3.DatabaseError as exc:
        raise Refused(f"the database cannot be read: {exc}") from None
    finally:
        db.close()


def guarantee(
    data_dir: Path, rules: GuaranteeRules, catalogues: Catalogues, now: dt.datetime, dry_run: bool
) -> list[str]:
    """``sabaq guarantee``: the monthly guarantee at ``now``, on a read-only connection for a
    dry run (nothing can be written); its lines, the last one its sum."""
    path = _existing(data_dir)
    db = read_only(path) if dry_run else connect(path)
    try:
        tt = SqliteTimetable(db, lambda: now.timestamp())
        job = Guarantee(tt, rules, titles(catalogues))
        groups = {g.id: g for g in tt.groups()}
        outcome = run_now(job, groups, now, dry_run=dry_run, gettext=lambda s: s)
    except sqlite3.DatabaseError as exc:
        raise Refused(f"the database cannot be used: {exc}") from None
    finally:
        db.close()
    n, a = len(outcome.classes), len(outcome.alerts)
    if dry_run:
        said = (f"Dry run at {now:%Y-%m-%d %H:%M} UTC: would plan {n} class(es), raise {a}"
                " alert(s); nothing was written.")  # fmt: skip
    else:
        said = f"Ran at {now:%Y-%m-%d %H:%M} UTC: planned {n} class(es), raised {a} alert(s)."
    return [*lines(outcome), said]


@dataclass(frozen=True, slots=True)
class Copied:
    size: int  # bytes
    events: int  # in the ledger


class CopyFailed(Refused):
    """The copy was not made (nothing is left at its place); ``status`` is the command's exit
    status: 1 when the copy failed its integrity check, 2 when the database cannot be read."""


def copy(source: Path, dest: Path) -> Copied:
    """A consistent copy of ``source`` at ``dest`` (a new file), checked before it is there."""
    partial = dest.with_name(f".{dest.name}.partial")
    src = sqlite3.connect(source, timeout=30)
    try:
        out = sqlite3.connect(partial)
        try:
            src.backup(out, pages=1024)  # in steps: Sabaq's writers wait only for one step
            checked = out.execute("PRAGMA integrity_check").fetchone()[0]
            events = out.execute("SELECT COUNT(*) FROM ledger_events").fetchone()[0]
        finally:
            out.close()
        if checked != "ok":
            partial.unlink(missing_ok=True)
            raise CopyFailed(f"the copy failed its integrity check: {checked}", 1)
        partial.rename(dest)
    except sqlite3.DatabaseError as exc:
        partial.unlink(missing_ok=True)
        raise CopyFailed(f"the database cannot be copied: {exc}", 2) from None
    finally:
        src.close()
    return Copied(dest.stat().st_size, events)


def backup(data_dir: Path, dest: Path) -> str:
    """``sabaq backup``: the database of ``data_dir`` copied to ``dest`` (``copy``); the line
    the command prints."""
    source = _existing(data_dir)
    if dest.exists():
        raise Refused(f"{dest} exists; give a new file name")
    if not dest.parent.is_dir():
        raise Refused(f"there is no folder {dest.parent}")
    copied = copy(source, dest)
    return (
        f"Backed up {source} to {dest}: {copied.size} bytes, {copied.events} ledger events,"
        " integrity ok."
    )
