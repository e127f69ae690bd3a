"""The timetable in SQLite: one store over the academy's connection that answers for every
aggregate of the scheduler. Each aggregate has its own module (``sqlite_<aggregate>.py``) and
the rules they apply are in ``planning``; ``SqliteTimetable`` puts them together for callers
that need more than one."""

from __future__ import annotations

from .planning import SABAQ, Actor, ClassSpec, same_name
from .sqlite_alerts import Alert, SqliteAlerts
from .sqlite_base import programme_of
from .sqlite_disciplines import SqliteDisciplines
from .sqlite_migrations import MIGRATIONS
from .sqlite_switches import SqliteSwitches

__all__ = [
    "MIGRATIONS",
    "SABAQ",
    "Actor",
    "Alert",
    "ClassSpec",
    "SqliteTimetable",
    "programme_of",
    "same_name",
]


class SqliteTimetable(SqliteSwitches, SqliteAlerts, SqliteDisciplines):
    """The academy's structure and its classes: institutes, departments and programmes
    (``SqliteStructure``), disciplines and the credit mix (``SqliteDisciplines``), groups with
    their members and teachers (``SqliteMembership``), classes and their conflicts
    (``SqliteClasses``), emergency switches (``SqliteSwitches``), the guarantee's view and
    alerts (``SqliteAlerts``) and the change log (``SqliteChangeLog``), over one connection and
    one clock."""
