"""The emergency switch (clause 3) in SQLite: a period's planned in-person classes of some
groups go live online, and back when it is lifted. While in force a switch is a rule: an
in-person class planned or moved into its days for its groups goes online too, and a class it
holds online moved out of every switch's days goes back to in person. Each change is logged
with the switch that made it (notices and webhooks follow the log)."""

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
            self._log(at, TimetableAction.SWITCH_MADE, by, None, None, reason, sid)
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
                self._log(
                    at, TimetableAction.SWITCHED_ONLINE, by, c.id, c.group_ids[0], reason, sid
                )
        return self.switch(sid)

    def undo_switch(self, switch_id: int, *, by: Actor) -> EmergencySwitch:
        """Lift the switch: the classes it holds online (it changed them) and still planned go
        back to in person, unless another switch in force covers them; classes made live
        online by hand stay so."""
        sw = self.switch(switch_id)
        if not sw.active:
            raise InvalidTransition(f"Emergency switch {switch_id} is already undone")
        at = self._clock()
        others = [o for o in self.switches_in_force() if o.id != switch_id]
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
                    self._log(
                        at,
                        TimetableAction.SWITCH_UNDONE,
                        by,
                        cid,
                        c.group_ids[0],
                        sw.reason,
                        switch_id,
                    )
            self._db.execute(
                "UPDATE emergency_switches SET undone_at = ?, undone_by_name = ? WHERE id = ?",
                (at, by.name, switch_id),
            )
            self._log(at, TimetableAction.SWITCH_LIFTED, by, None, None, sw.reason, switch_id)
        return self.switch(switch_id)

    def _apply_switches(self, class_ids: Sequence[int], at: float, by: Actor) -> None:
        """Classes just planned or moved (in the caller's transaction): an in-person one yet to
        begin in the days of a switch in force for its groups goes live online, by that switch;
        one a switch holds online that no switch in force covers any more goes back to in
        person."""
        in_force = self.switches_in_force()
        if not in_force:
            return
        now = datetime.fromtimestamp(at, UTC)
        for cid in class_ids:
            c = self.get_class(cid)
            cover = next((sw for sw in in_force if covers(sw, c, self._zone_of)), None)
            held = [sw for sw in in_force if cid in sw.class_ids]
            if cover is not None and switchable(c, now):
                self._set_format(cid, ClassFormat.LIVE_ONLINE)
                self._hold(cover.id, cid)
                switcher = Actor(cover.by_id, cover.by_name)
                self._log(
                    at,
                    TimetableAction.SWITCHED_ONLINE,
                    switcher,
                    cid,
                    c.group_ids[0],
                    cover.reason,
                    cover.id,
                )
            elif held and c.status is ClassStatus.PLANNED and c.format is ClassFormat.LIVE_ONLINE:
                if cover is not None and cover in held:
                    continue
                self._db.executemany(  # the lifted switches keep their history
                    "DELETE FROM emergency_switch_classes WHERE switch_id = ? AND class_id = ?",
                    [(sw.id, cid) for sw in held],
                )
                if cover is not None:  # moved into another switch's days: it holds it now
                    self._hold(cover.id, cid)
                    continue
                self._set_format(cid, ClassFormat.IN_PERSON)
                self._log(
                    at,
                    TimetableAction.SWITCH_UNDONE,
                    by,
                    cid,
                    c.group_ids[0],
                    held[0].reason,
                    held[0].id,
                )

    def _set_format(self, class_id: int, format: ClassFormat) -> None:
        self._db.execute("UPDATE classes SET format = ? WHERE id = ?", (format.value, class_id))

    def _hold(self, switch_id: int, class_id: int) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO emergency_switch_classes (switch_id, class_id) VALUES (?, ?)",
            (switch_id, class_id),
        )

    def switches_in_force(self) -> list[EmergencySwitch]:
        """Switches not lifted, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM emergency_switches WHERE undone_at IS NULL ORDER BY id"
        )
        return [self._switch(r) for r in rows.fetchall()]

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
            by_id=row["by_id"],
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
