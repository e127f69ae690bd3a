"""Events the media plane reports to the control plane, and the outbox that delivers them.

The media node keeps every event until the sink acknowledges it (in one process: until it is
committed to SQLite). Delivery is in order; a failing sink is retried with backoff and nothing
is dropped, however long the failure lasts (a full buffer, an unreachable Redis, a locked
database). Only an event the sink says it can never store (``Unstorable``: its content is bad)
is handed to the sink's dead letters, with the error, and the rest flows on behind it. What is
still undelivered when the node stops is written to the spool on disk and delivered at the next
start.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from access.events import EventKind
from access.ids import uuid7

log = logging.getLogger("sabaq.streaming.events")


@dataclass(frozen=True, slots=True)
class MediaEvent:
    id: str
    kind: EventKind
    class_id: int
    node: str
    seq: int
    origin_time: float
    user_id: int | None = None
    participant_id: str | None = None
    role: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class NotRecorded(Exception):
    """An event was not made durable in time (or was set aside): nobody may be told it happened."""


class Unstorable(Exception):
    """The sink can never store this event (its content is bad, not the sink unavailable): it
    goes to the dead letters rather than hold up the events behind it."""


class PartlyDelivered(Exception):
    """``deliver_many`` made its first ``done`` events durable, then failed with ``error``
    (they must not be retried alone or set aside: their waiters are told they are durable)."""

    def __init__(self, done: int, error: Exception) -> None:
        super().__init__(f"{done} events delivered, then: {error}")
        self.done = done
        self.error = error


class EventSink(Protocol):
    """Where the events go. ``deliver`` returns only once the event is durable;
    ``deliver_many`` once all of them are (in one transaction where the sink has them).

    A failure says what it is: ``Unstorable`` for an event that can never be stored (anything
    else is retried until it succeeds); ``PartlyDelivered`` when the first events of a batch
    were made durable before it.

    ``heartbeat`` says the node is alive (operational, not an event of any class): when a node
    stops abruptly, what it left open is closed at its last heartbeat."""

    async def deliver(self, event: MediaEvent) -> None: ...

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None: ...

    async def heartbeat(self, node: str, at: float) -> None: ...

    async def dead_letter(self, event: MediaEvent, error: str) -> None:
        """Keep aside, durably and with the error, an event ``deliver`` said is unstorable."""
        ...


class Spool(Protocol):
    """Where the outbox keeps what it could not deliver before it stopped (a file, synced)."""

    def events(self) -> list[MediaEvent]: ...

    def replace(self, events: Sequence[MediaEvent]) -> None: ...

    def clear(self) -> None: ...


class EventOutbox:
    """Stamps events with id, node and sequence, and delivers them to the sink in order."""

    def __init__(
        self,
        sink: EventSink,
        node: str,
        *,
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
        clock: Callable[[], float] = time.time,
        spool: Spool | None = None,
    ) -> None:
        self._sink = sink
        self._clock = clock  # events' origin_time
        self.node = node
        self._seq = itertools.count(1)
        self._pending: deque[MediaEvent] = deque()
        self._spool = spool
        self._spooled: set[str] = set()  # ids of a previous run's events, still to deliver
        self._pending_ids: set[str] = set()
        # Those waiting for an event to be durable (a welcome waits for its join).
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self.batch = 500  # events delivered (committed) together at most
        self.durable_within = 10.0  # how long a client's answer may wait for its event
        self.dead_letters = 0  # events set aside in this run
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._task: asyncio.Task[None] | None = None
        # Told of each event as it is emitted, before it is durable (a cluster's live roster).
        self.listeners: list[Callable[[MediaEvent], None]] = []

    def emit(
        self,
        kind: EventKind,
        class_id: int,
        *,
        user_id: int | None = None,
        participant_id: str | None = None,
        role: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> MediaEvent:
        event = MediaEvent(
            id=str(uuid7()),
            kind=kind,
            class_id=class_id,
            node=self.node,
            seq=next(self._seq),
            origin_time=self._clock(),
            user_id=user_id,
            participant_id=participant_id,
            role=role,
            data=data or {},
        )
        self._pending.append(event)
        self._pending_ids.add(event.id)
        self._idle.clear()
        self._wakeup.set()
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                log.exception("a listener of event %s failed", event.id)
        log.info(
            "event %s class=%s user=%s participant=%s",
            kind.value,
            class_id,
            user_id,
            participant_id,
            extra={"event_kind": kind.value, "class_id": class_id, "user_id": user_id},
        )
        return event

    async def durable(self, event: MediaEvent) -> None:
        """Return once ``event`` is durable (the sink acknowledged it, so a client may be told
        it happened); raise ``NotRecorded`` if it was set aside or ``durable_within`` seconds
        passed first."""
        timeout = self.durable_within
        if event.id not in self._pending_ids:
            return
        waiter = self._waiters.get(event.id)
        if waiter is None:
            waiter = self._waiters[event.id] = asyncio.get_running_loop().create_future()
            # Retrieved here, so that a set-aside nobody waits for any more is not reported.
            waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(waiter)
        except TimeoutError:
            raise NotRecorded(f"event {event.id} is not durable after {timeout:g} s") from None

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def oldest(self) -> float | None:
        """When the oldest event not yet delivered happened."""
        return self._pending[0].origin_time if self._pending else None

    def renamed(self, node: str) -> None:
        """Stamp what comes next as another node, numbered from 1 (a node declared dead comes
        back as a new one); what is pending keeps the name it was emitted under."""
        self.node = node
        self._seq = itertools.count(1)

    def start(self) -> None:
        if self._task is None:
            self._load_spool()
            self._task = asyncio.create_task(self._run(), name="sabaq-event-outbox")

    def _load_spool(self) -> None:
        """What a previous run could not deliver goes first (the file stays until delivered)."""
        if self._spool is None:
            return
        kept = [e for e in self._spool.events() if e.id not in self._spooled]
        if not kept:
            return
        log.warning("%d events of an earlier run are delivered first", len(kept))
        self._spooled.update(e.id for e in kept)
        self._pending_ids.update(e.id for e in kept)
        self._pending.extendleft(reversed(kept))
        self._idle.clear()
        self._wakeup.set()

    async def deliver_spooled(self) -> None:
        """Before the node starts: deliver what an earlier run left on disk (a failure leaves it
        there, for the outbox to retry once it runs)."""
        if self._spool is None:
            return
        for event in self._spool.events():
            try:
                await self._sink.deliver(event)
            except Exception:
                log.exception("an event of an earlier run (%s) is not delivered yet", event.id)
                return
        self._spool.clear()

    async def stop(self, flush_timeout: float = 5.0) -> None:
        """Deliver what is pending (bounded by ``flush_timeout``), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_timeout):
                await self.flush()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if not self._pending:
            return
        if self._spool is None:
            log.error("outbox stopped with %d undelivered events", len(self._pending))
            return
        try:
            self._spool.replace(list(self._pending))
        except Exception:
            log.exception("outbox stopped with %d undelivered events", len(self._pending))
            return
        log.warning(
            "outbox stopped with %d undelivered events: kept on disk, delivered at the next start",
            len(self._pending),
        )

    async def flush(self) -> None:
        """Wait until every event emitted so far is delivered (bound it with asyncio.timeout)."""
        await self._idle.wait()

    async def _run(self) -> None:
        delay = self._retry_initial
        alone = False  # a batch held an unstorable event: the head goes alone to find it
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            # Everything pending goes in one delivery (one commit): a burst of joins is one
            # transaction, and what comes meanwhile is the next.
            batch = (
                [self._pending[0]] if alone else list(itertools.islice(self._pending, self.batch))
            )
            try:
                await self._sink.deliver_many(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = exc
                if isinstance(exc, PartlyDelivered):
                    for event in batch[: exc.done]:  # durable: never retried or set aside
                        self._delivered(event)
                    batch, error = batch[exc.done :], exc.error
                if isinstance(error, Unstorable) and batch:
                    if len(batch) > 1:
                        alone = True  # find the event that fails, so the others are not held
                        continue
                    event = batch[0]
                    if await self._set_aside(event, error):
                        delay, alone = self._retry_initial, False
                        self._delivered(event, NotRecorded(f"event {event.id} was set aside"))
                        continue
                log.error(
                    "delivering event %s failed; retrying in %.1fs",
                    batch[0].id if batch else "-",
                    delay,
                    exc_info=error,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            delay, alone = self._retry_initial, False
            for event in batch:
                self._delivered(event)

    def _delivered(self, event: MediaEvent, failed: Exception | None = None) -> None:
        self._pending.popleft()
        self._pending_ids.discard(event.id)
        waiter = self._waiters.pop(event.id, None)
        if waiter is not None and not waiter.done():
            if failed is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(failed)
        if self._spooled:
            self._spooled.discard(event.id)
            if not self._spooled and self._spool is not None:
                self._spool.clear()

    async def _set_aside(self, event: MediaEvent, exc: Exception) -> bool:
        """The sink can never store the event: into its dead letters (True), so the events
        behind it flow on; False if even that failed (it is retried, never dropped)."""
        error = f"{type(exc).__name__}: {exc}"
        try:
            await self._sink.dead_letter(event, error)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event %s could not be set aside either", event.id)
            return False
        self.dead_letters += 1
        log.error(
            "event %s (%s, class %s) set aside, it can never be stored: %s",
            event.id,
            event.kind.value,
            event.class_id,
            error,
            extra={"event_kind": event.kind.value, "class_id": event.class_id},
        )
        return True
