"""The scheduler's ``HeldEvidence`` port (was a class held?) answered from the attendance
ledger: the wiring DESIGN.md's "Packages" describes, where a lower package asks a higher one."""

from __future__ import annotations

from admission.guests import GuestStatus
from admission.sqlite_guests import SqliteGuests
from attendance.presence import held
from attendance.sqlite_ledger import SqliteLedger
from scheduler.models import LiveClass
from scheduler.sqlite_store import SqliteTimetable


class LedgerHeldEvidence:
    """``scheduler.service.HeldEvidence`` answered from the attendance ledger."""

    def __init__(
        self,
        ledger: SqliteLedger,
        timetable: SqliteTimetable,
        min_live_seconds: float,
        guests: SqliteGuests | None = None,
    ) -> None:
        self._ledger = ledger
        self._timetable = timetable
        self._min = min_live_seconds
        self._guests = guests

    def was_held(self, live_class: LiveClass) -> bool:
        """The teacher — or a guest who presents — was live long enough, and a learner came."""
        presenters = (
            [
                -g.id  # a guest is in the ledger as the request, negated
                for g in self._guests.of_classes([live_class.id])
                if g.presents and g.status is not GuestStatus.PENDING
            ]
            if self._guests is not None
            else []
        )
        return held(
            self._ledger.events(live_class.id),
            self._timetable.learners(live_class),
            (live_class.teacher_id, *presenters),
            self._min,
            self._ledger.now(),
        )
