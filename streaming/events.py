"""Events the media plane reports to the control plane, and the outbox that delivers them.

The media node keeps every event until the sink acknowledges it (in one process: until it is
committed to SQLite). Delivery is in order; a failing sink is retried with backoff and nothing
is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from access.ids import uuid7

log = logging.getLogger("sabaq.streaming.events")


class MediaEventKind(enum.StrEnum):
    CLASS_STARTED = "class_started"
    CLASS_ENDED = "class_ended"
    JOINED = "joined"
    LEFT = "left"
    DISCONNECTED = "disconnected"
    RECONNECTED = "reconnected"
    REMOVED = "removed"
    RECORDING_STARTED = "recording_started"
    RECORDING_STOPPED = "recording_stopped"
    CHAT_MESSAGE = "chat_message"


@dataclass(frozen=True, slots=True)
class MediaEvent:
    id: str
    kind: MediaEventKind
    class_id: int
    node: str
    seq: int
    origin_time: float
    user_id: int | None = None
    participant_id: str | None = None
    role: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class EventSink(Protocol):
    """Where the events go. ``deliver`` returns only once the event is durable.

    ``heartbeat`` says the node is alive (operational, not an event of any class): when a node
    stops abruptly, what it left open is closed at its last heartbeat."""

    async def deliver(self, event: MediaEvent) -> None: ...

    async def heartbeat(self, node: str, at: float) -> None: ...


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
    ) -> None:
        self._sink = sink
        self._clock = clock  # events' origin_time
        self.node = node
        self._seq = itertools.count(1)
        self._pending: deque[MediaEvent] = deque()
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
        kind: MediaEventKind,
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
            self._task = asyncio.create_task(self._run(), name="sabaq-event-outbox")

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
        if self._pending:
            log.error("outbox stopped with %d undelivered events", len(self._pending))

    async def flush(self) -> None:
        """Wait until every event emitted so far is delivered (bound it with asyncio.timeout)."""
        await self._idle.wait()

    async def _run(self) -> None:
        delay = self._retry_initial
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            event = self._pending[0]
            try:
                await self._sink.deliver(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivering event %s failed; retrying in %.1fs", event.id, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            delay = self._retry_initial
            self._pending.popleft()
