"""Event ingestion in one process (DESIGN.md, "Events and commands between the planes"): the
media node's events committed to the ledger, and what follows a commit (live pages, the chain
head, the timetable); the ledger's upkeep at start (a node's open intervals, the daily digests)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import ParamSpec, TypeVar

from access.events import EventKind
from attendance.export import ChainHead
from attendance.heads_folder import HeadsFolder
from attendance.models import IncomingEvent, counts
from attendance.sqlite_dead_events import SqliteDeadEvents
from attendance.sqlite_heartbeats import SqliteHeartbeats
from attendance.sqlite_ledger import SqliteLedger
from scheduler import service
from scheduler.errors import SchedulerError
from scheduler.sqlite_store import SqliteTimetable
from streaming.events import MediaEvent, Unstorable

from .changes import Changes
from .evidence import LedgerHeldEvidence

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("sabaq.control.ingest")

# What the ledger raises for an event it can never store: text SQLite cannot encode, data JSON
# cannot carry, a value a constraint refuses.
UNSTORABLE = (ValueError, TypeError, sqlite3.IntegrityError, sqlite3.InterfaceError)


class LedgerSink:
    """``streaming.events.EventSink`` for one process: an event is acknowledged on commit.

    With ``committer`` (the ledger on a connection of its own) commits run on a worker thread,
    off the event loop that carries the media: a burst of events is one transaction there, and
    the loop goes on while the disk syncs. That thread is the sink's own and does one thing at a
    time (a commit, a heartbeat, a dead letter, what follows a commit); ``close`` waits for the
    one under way, which a cancelled caller cannot stop: a connection closed under it would be
    closed under a running statement."""

    def __init__(
        self,
        ledger: SqliteLedger,
        timetable: SqliteTimetable,
        evidence: LedgerHeldEvidence,
        heartbeats: SqliteHeartbeats,
        heads: HeadsFolder,
        changes: Changes,
        dead: SqliteDeadEvents | None = None,
        committer: SqliteLedger | None = None,
    ) -> None:
        self._changes = changes
        self._dead = dead
        self._committer = committer
        self._ledger = ledger
        self._timetable = timetable
        self._evidence = evidence
        self._heartbeats = heartbeats
        self._heads = heads
        self._worker = (
            None
            if committer is None
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="sabaq-commits")
        )

    async def close(self) -> None:
        """Wait for the work under way on the sink's thread, and take no more."""
        if self._worker is not None:
            await asyncio.to_thread(self._worker.shutdown, wait=True)

    async def _off_loop(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn`` on the sink's thread when commits are (``committer``), else here."""
        if self._worker is not None:
            call = functools.partial(fn, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(self._worker, call)
        return fn(*args, **kwargs)

    async def heartbeat(self, node: str, at: float) -> None:
        await self._off_loop(self._heartbeats.beat, node, at)

    async def dead_letter(self, event: MediaEvent, error: str) -> None:
        if self._dead is None:
            raise RuntimeError("this sink keeps no dead letters: the event stays pending")
        doc = dataclasses.asdict(event)
        doc["kind"] = event.kind.value
        await self._off_loop(
            self._dead.add,
            event.id,
            event.class_id,
            event.kind.value,
            event.node,
            event.origin_time,
            doc,
            error,
            time.time(),
        )

    async def deliver(self, event: MediaEvent) -> None:
        await self.deliver_many((event,))

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None:
        incoming = [
            IncomingEvent(
                id=event.id,
                kind=event.kind,
                class_id=event.class_id,
                node=event.node,
                node_seq=event.seq,
                origin_time=event.origin_time,
                user_id=event.user_id,
                participant_id=event.participant_id,
                role=event.role,
                data=dict(event.data),
            )
            for event in events
        ]
        committer = self._committer or self._ledger
        try:
            stored = await self._off_loop(committer.append_many, incoming)
        except UNSTORABLE as exc:
            # The event's content, not the database: no retry will store it. (A locked or full
            # database is an OperationalError, retried until it passes.)
            raise Unstorable(f"{type(exc).__name__}: {exc}") from exc
        # Applied on a replay too (both steps are idempotent): a delivery that failed after the
        # commit is retried, and the timetable must still learn that the class started or ended.
        follow = [
            (ev, le.received_time, new)
            for (le, new), ev in zip(stored, incoming, strict=True)
            if ev.kind in (EventKind.CLASS_STARTED, EventKind.CLASS_ENDED)
        ]
        if follow:
            await self._off_loop(self._follow, follow)
        # Live pages last: what they read again is all applied.
        for (_le, new), ev in zip(stored, incoming, strict=True):
            if new:
                self._changes.notify(ev.class_id)

    def _follow(self, events: Sequence[tuple[IncomingEvent, float, bool]]) -> None:
        """What follows a class's start or end once committed: the chain head, the timetable."""
        for incoming, received, new in events:
            self._follow_one(incoming, received, new)

    def _follow_one(self, incoming: IncomingEvent, received: float, new: bool) -> None:
        if new and incoming.kind is EventKind.CLASS_ENDED:
            self._publish_head(incoming.class_id, received)
        if not counts(incoming.data):
            return  # kept in the record; the timetable does not follow it
        try:
            if incoming.kind is EventKind.CLASS_STARTED:
                service.class_started(self._timetable, incoming.class_id)
            elif incoming.kind is EventKind.CLASS_ENDED:
                service.class_ended(self._timetable, incoming.class_id, self._evidence)
        except SchedulerError as exc:
            # The ledger has the fact; the timetable refusing a transition must not lose it.
            log.warning("class %s: %s", incoming.class_id, exc)

    def _publish_head(self, class_id: int, at: float) -> None:
        # The class's record is committed; publishing it is on top, and a full disk or a
        # missing folder must not undo the class's end. The daily digest carries it anyway.
        try:
            self._heads.class_ended(ChainHead(class_id, *self._ledger.chain_head(class_id)), at)
        except OSError:
            log.exception("class %s: its chain head could not be published", class_id)


def events_delayed(oldest: float | None, bound: float, now: float) -> float | None:
    """How long the oldest undelivered event has waited at ``now`` (the clock that stamped it),
    when that is longer than ``bound`` (the register is behind: ``/readyz`` says so)."""
    if oldest is None:
        return None
    age = now - oldest
    return round(age, 3) if age > bound else None


def write_digests(ledger: SqliteLedger, heads: HeadsFolder, now: float, days: int = 31) -> int:
    """Write the daily digest of every finished day (UTC) of the last ``days`` that has events
    and no digest yet; returns how many were written."""
    first = ledger.first_received()
    if first is None:
        return 0
    today = datetime.fromtimestamp(now, UTC).date()
    day = max(datetime.fromtimestamp(first, UTC).date(), today - timedelta(days=days))
    written = 0
    while day < today:
        start = datetime.combine(day, dt_time.min, UTC).timestamp()
        if not heads.digest_path(day).exists():
            changed = ledger.heads_changed_between(start, start + 86400)
            if changed and heads.write_digest(day, [ChainHead(*h) for h in changed]):
                written += 1
        day += timedelta(days=1)
    return written


def recover_node(ledger: SqliteLedger, heartbeats: SqliteHeartbeats, node: str) -> int:
    """Before a node starts: close what it left open if it stopped abruptly, at its last
    heartbeat; then mark it started. Returns how many intervals were closed."""
    closed = ledger.close_after_stop(node, heartbeats.last_seen(node))
    if closed:
        log.warning(
            "node %s had stopped abruptly: closed %d open intervals at its last heartbeat",
            node,
            len(closed),
        )
    heartbeats.started(node, ledger.now())
    return len(closed)
