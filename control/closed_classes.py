"""A cluster's media nodes have no timetable: the control node tells them, through Redis
(``streaming.cluster_keys.closed_key``), which classes take nobody because the timetable says
so — cancelled, held in person, marked missed — so that a join token minted before the change
is refused in the words the class page uses (``control.gate.why_closed``, as in one process).
It follows the timetable's log; a class that ended on a node, the nodes keep themselves
(``ended_key``)."""

from __future__ import annotations

import asyncio
import json
import logging

from redis.asyncio import Redis

from scheduler.errors import ClassNotFound
from scheduler.models import TimetableAction
from scheduler.sqlite_store import SqliteTimetable
from streaming.cluster_keys import BARRED_FOR, closed_key
from streaming.redis_events import UNREACHABLE

from .gate import why_closed

log = logging.getLogger("sabaq.control.closed_classes")

# The changes that can close a class to joins, or open it again (a switch online); a class
# the guarantee marked missed is told as ended (it never ran on a node to say so).
CLOSING = frozenset(
    {
        TimetableAction.CANCELLED,
        TimetableAction.SWITCHED_ONLINE,
        TimetableAction.SWITCH_UNDONE,
        TimetableAction.MISSED,
    }
)
# At the start, the last changes looked at again (a join token lives minutes: what changed
# before a control node restart is among them).
LOOK_BACK = 1000


class ClosedClasses:
    def __init__(self, redis: Redis, timetable: SqliteTimetable) -> None:
        self._redis = redis
        self._timetable = timetable
        self._position = max(0, timetable.last_change_id() - LOOK_BACK)

    async def tell_once(self) -> None:
        """Tell the nodes of each class the log changed since the last time (Redis written
        before the position moves on: a failure is told again)."""
        while changes := self._timetable.changes_after(self._position):
            touched = {ch.class_id for _, ch in changes if ch.action in CLOSING}
            for class_id in touched:
                if class_id is not None:
                    await self._tell(class_id)
            self._position = changes[-1][0]

    async def _tell(self, class_id: int) -> None:
        try:
            closed = why_closed(self._timetable, self._timetable.get_class(class_id))
        except ClassNotFound:
            return
        if closed is None:  # online again (switched back)
            await self._redis.delete(closed_key(class_id))
            return
        code, reason = closed
        words = json.dumps({"code": code, "reason": reason}, ensure_ascii=False)
        await self._redis.set(closed_key(class_id), words, ex=int(BARRED_FOR))

    async def following(self, every: float) -> None:
        """``tell_once`` every ``every`` seconds until cancelled."""
        while True:
            try:
                await self.tell_once()
            except UNREACHABLE:
                log.warning("Redis cannot be reached: closed classes are told later")
            except Exception:
                log.exception("telling the nodes of closed classes failed; going on")
            await asyncio.sleep(every)
