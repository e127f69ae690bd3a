"""The application's stores over one connection to the database, under their keys."""

from __future__ import annotations

import sqlite3

from aiohttp import web

from access.api_keys import SqliteApiKeys
from access.sqlite_audit import SqliteAudit
from access.sqlite_people import SqlitePeople
from access.sqlite_store import SqliteAccounts
from admission.sqlite_excuses import SqliteExcuses
from admission.sqlite_guests import SqliteGuests
from admission.sqlite_status import SqliteAdmission
from attendance.heads_folder import HeadsFolder
from attendance.marks import MarkRules
from attendance.sqlite_hr_dispatch import SqliteHrDispatch
from attendance.sqlite_introduction import SqliteIntroduction
from attendance.sqlite_ledger import SqliteLedger
from attendance.sqlite_mark_rules import SqliteMarkRules
from control.idempotency import Idempotency
from control.mail import Mailbox
from control.notices import Notices
from control.webhook_sources import Sources
from control.webhooks import Webhooks
from scheduler.sqlite_store import SqliteTimetable

from . import keys
from .settings import Settings


def open_stores(app: web.Application, db: sqlite3.Connection, settings: Settings) -> None:
    """Every store over ``db``, on the settings' clock (the application's, or a report
    worker's: ``web.core.offload``)."""
    app[keys.DB] = db
    app[keys.ACCOUNTS] = SqliteAccounts(db, settings.clock)
    app[keys.API_KEYS] = SqliteApiKeys(db, settings.clock)
    app[keys.PEOPLE] = SqlitePeople(db, settings.clock)
    app[keys.AUDIT] = SqliteAudit(db, settings.clock)
    app[keys.TIMETABLE] = SqliteTimetable(db, settings.clock)
    app[keys.EXCUSES] = SqliteExcuses(db, settings.clock)
    app[keys.GUESTS] = SqliteGuests(db, settings.clock)
    app[keys.ADMISSION] = SqliteAdmission(db, settings.clock)
    app[keys.IDEMPOTENCY] = Idempotency(db)
    app[keys.MAIL] = Mailbox(
        db,
        settings.clock,
        enabled=settings.mail_enabled,
        domain=settings.smtp_from.rpartition("@")[2] or "sabaq.invalid",
        backoff_base=settings.smtp_retry_seconds,
    )
    app[keys.LEDGER] = SqliteLedger(db, settings.clock)
    app[keys.WEBHOOKS] = Webhooks(
        db,
        Sources(
            app[keys.TIMETABLE],
            app[keys.LEDGER],
            app[keys.GUESTS],
            app[keys.EXCUSES],
            app[keys.ADMISSION],
        ),
        frozenset(settings.webhook_allowed_hosts),
        settings.clock,
    )
    app[keys.NOTICES] = Notices(
        db, app[keys.TIMETABLE], app[keys.ACCOUNTS], app[keys.GUESTS], app[keys.EXCUSES],
        settings.clock,
    )  # fmt: skip
    app[keys.HEADS] = HeadsFolder(settings.heads_dir)
    app[keys.HR_DISPATCH] = SqliteHrDispatch(db, settings.clock)
    app[keys.INTRODUCTION] = SqliteIntroduction(db, settings.clock)
    app[keys.MARK_RULES] = SqliteMarkRules(
        db,
        MarkRules(
            late_after_seconds=settings.late_after_minutes * 60,
            present_share=min(1.0, settings.present_percent / 100),
            grace_seconds=settings.reconnect_grace_seconds,
        ),
        settings.clock,
    )
