"""The emergency switch (clause 3) in SQLite: a period's planned in-person classes of some
groups go live online, and back when it is undone."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo

from .errors import ClassNotFound, InvalidTransition
from .models import ClassFormat, ClassStatus, EmergencySwitch, LiveClass, TimetableAction, zone
from .planning import Actor, check_switch, covers, days_span, switchable
from .sqlite_classes import SqliteClasses


class SqliteSwitches(SqliteClasses):
    def switch_online(
        self,
        first_day: date,
        last_day: date,
        group_ids: Sequence[int],
        *,
        by: Actor,
        reason: str,
    ) -> EmergencySwitch:
        """Every planned in-person class of the groups (none given: every group) on those days
        (in each group's zone) becomes a live online class; the switch can be undone."""
        check_switch(first_day, last_day, reason)
        groups = [self.group(g) for g in group_ids] if group_ids else self.groups()
        now = datetime.fromtimestamp(self._clock(), UTC)
        affected: dict[int, LiveClass] = {}
        for g in groups:
            start, end = days_span(first_day, last_day, zone(g.timezone))
            for c in self.classes_of_group(g.id, start, end):
                if switchable(c, now):
                    affected.setdefault(c.id, c)
        at = self._clock()
        with self._db:
            cur = self._db.execute(
                "INSERT INTO emergency_switches (first_day, last_day, reason, by_id, by_name, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (first_day.isoformat(), last_day.isoformat(), reason, by.id, by.name, at),
            )
            assert cur.lastrowid is not None
            sid = cur.lastrowid
            self._db.executemany(
                "INSERT INTO emergency_switch_groups (switch_id, group_id) VALUES (?, ?)",
                [(sid, g) for g in dict.fromkeys(group_ids)],
            )
            for c in affected.values():
                self._db.execute(
                    "UPDATE classes SET format = ? WHERE id = ?",
                    (ClassFormat.LIVE_ONLINE.value, c.id),
                )
                self._db.execute(
                    "INSERT INTO emergency_switch_classes (switch_id, class_id) VALUES (?, ?)",
                    (sid, c.id),
                )
                self._log(at, TimetableAction.SWITCHED_ONLINE, by, c.id, c.group_ids[0], reason)
        return self.switch(sid)

    def undo_switch(self, switch_id: int, *, by: Actor) -> EmergencySwitch:
        """Classes the switch moved online and still planned go back to in person."""
        sw = self.switch(switch_id)
        if not sw.active:
            raise InvalidTransition(f"Emergency switch {switch_id} is already undone")
        at = self._clock()
        others = [o for o in self.switches(limit=10_000) if o.active and o.id != switch_id]
        with self._db:
            for cid in sw.class_ids:
                c = self.get_class(cid)
                holder = next((o for o in others if covers(o, c, self._zone_of)), None)
                if holder is not None:  # another switch in force holds it online from now on
                    self._db.execute(
                        "INSERT OR IGNORE INTO emergency_switch_classes (switch_id, class_id)"
                        " VALUES (?, ?)",
                        (holder.id, cid),
                    )
                    continue
                if c.status is ClassStatus.PLANNED and c.format is ClassFormat.LIVE_ONLINE:
                    self._db.execute(
                        "UPDATE classes SET format = ? WHERE id = ?",
                        (ClassFormat.IN_PERSON.value, cid),
                    )
                    self._log(at, TimetableAction.SWITCH_UNDONE, by, cid, c.group_ids[0], sw.reason)
            self._db.execute(
                "UPDATE emergency_switches SET undone_at = ?, undone_by_name = ? WHERE id = ?",
                (at, by.name, switch_id),
            )
        return self.switch(switch_id)

    def _zone_of(self, group_id: int) -> tzinfo:
        return zone(self.group(group_id).timezone)

    def switch(self, switch_id: int) -> EmergencySwitch:
        row = self._db.execute(
            "SELECT * FROM emergency_switches WHERE id = ?", (switch_id,)
        ).fetchone()
        if row is None:
            raise ClassNotFound(f"No emergency switch with id {switch_id}")
        return self._switch(row)

    def _switch(self, row: sqlite3.Row) -> EmergencySwitch:
        sid = row["id"]
        groups = self._db.execute(
            "SELECT group_id FROM emergency_switch_groups WHERE switch_id = ? ORDER BY group_id",
            (sid,),
        )
        classes = self._db.execute(
            "SELECT class_id FROM emergency_switch_classes WHERE switch_id = ? ORDER BY class_id",
            (sid,),
        )
        return EmergencySwitch(
            id=sid,
            first_day=date.fromisoformat(row["first_day"]),
            last_day=date.fromisoformat(row["last_day"]),
            group_ids=tuple(r[0] for r in groups),
            reason=row["reason"],
            by_name=row["by_name"],
            at=row["at"],
            class_ids=tuple(r[0] for r in classes),
            undone_at=row["undone_at"],
            undone_by_name=row["undone_by_name"],
        )

    def switches(self, limit: int = 100) -> list[EmergencySwitch]:
        rows = self._db.execute(
            "SELECT * FROM emergency_switches ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [self._switch(r) for r in rows.fetchall()]

    def switches_for(self, group_ids: Sequence[int], today: date) -> list[EmergencySwitch]:
        """Switches in force (not undone, not over) that cover any of the groups."""
        wanted = set(group_ids)
        rows = self._db.execute(
            "SELECT * FROM emergency_switches WHERE undone_at IS NULL AND last_day >= ?"
            " ORDER BY first_day",
            (today.isoformat(),),
        )
        out = []
        for r in rows.fetchall():
            sw = self._switch(r)
            if not sw.group_ids or wanted.intersection(sw.group_ids):
                out.append(sw)
        return out
