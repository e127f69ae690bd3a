"""The academy calendar in SQLite: the days staff set (off or worked); the public holidays are
the library's (``workdays``)."""

from __future__ import annotations

from datetime import date

from .planning import Actor
from .sqlite_base import SqliteStore
from .workdays import AcademyCalendar, CalendarDay, DayKind


class SqliteCalendar(SqliteStore):
    def set_day(self, day: date, kind: DayKind, name: str, *, by: Actor) -> CalendarDay:
        """Set ``day`` off or worked, with why; a day set before is replaced."""
        checked = CalendarDay(day, DayKind(kind), name.strip(), by.name, self._clock())
        with self._db:
            self._db.execute(
                "INSERT INTO calendar_days (day, kind, name, by_id, by_name, at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(day) DO UPDATE SET kind = excluded.kind,"
                " name = excluded.name, by_id = excluded.by_id, by_name = excluded.by_name,"
                " at = excluded.at",
                (day.isoformat(), checked.kind.value, checked.name, by.id, by.name, checked.at),
            )
        return checked

    def unset_day(self, day: date) -> bool:
        """Forget what staff set for ``day`` (it is as the law has it again); False if nothing
        was set."""
        with self._db:
            cur = self._db.execute("DELETE FROM calendar_days WHERE day = ?", (day.isoformat(),))
        return cur.rowcount > 0

    def calendar_days(self) -> dict[date, CalendarDay]:
        rows = self._db.execute(
            "SELECT day, kind, name, by_name, at FROM calendar_days ORDER BY day"
        ).fetchall()
        return {
            date.fromisoformat(r["day"]): CalendarDay(
                date.fromisoformat(r["day"]), DayKind(r["kind"]), r["name"], r["by_name"], r["at"]
            )
            for r in rows
        }

    def academy_calendar(self) -> AcademyCalendar:
        """The calendar as it stands now (the library's years computed once per store)."""
        years = self.__dict__.setdefault("_holiday_years", {})
        return AcademyCalendar(self.calendar_days(), years)
