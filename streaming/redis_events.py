"""The durable event flow of a cluster (DESIGN.md, "Events and commands between the planes"):
a media node appends its attendance events to a Redis Stream, each batch its outbox delivers as
one entry; the control node reads them with a consumer group and acknowledges an entry only once
all its events are in the ledger (``control.redis_ingest``).

When Redis cannot be reached the media node keeps its classes going and writes the events to a
buffer on its own disk (appended and synced, one JSON line each), in order: once anything is
buffered, later events go behind it until the buffer has been replayed into the stream. A replay
cut short repeats events already sent; the ledger ingests by event id, so nothing is doubled.
When the buffer nears its bound the node refuses new joins (``DiskBuffer.nearly_full``) rather
than drop events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from access.events import MEDIA_KINDS, EventKind

from .events import MediaEvent, PartlyDelivered, Unstorable

log = logging.getLogger("sabaq.streaming.redis_events")

STREAM = "sabaq:events"
HEARTBEATS = "sabaq:heartbeats"
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


FIELDS = tuple(f.name for f in fields(MediaEvent))


def _doc(event: MediaEvent) -> dict[str, Any]:
    """The event as JSON takes it (``asdict`` without its deep copy: a node's hot path)."""
    doc = {name: getattr(event, name) for name in FIELDS}
    doc["kind"] = event.kind.value
    return doc


# One encoder for all (``json.dumps`` with options makes a new one per call: a node's hot path).
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(event: MediaEvent) -> dict[str, str]:
    """One event as an entry of its own (how nodes of earlier versions wrote every event)."""
    return {"event": _JSON.encode(_doc(event))}


def encode_batch(events: Sequence[MediaEvent]) -> dict[str, bytes]:
    """Events delivered together as one entry: Redis stores and syncs one entry for the batch,
    and the control node reads and parses one. ``n`` says how many events it holds (the
    register counts events, not entries). Raises ``UnicodeEncodeError`` if an event holds text
    UTF-8 cannot carry."""
    return {
        "n": str(len(events)).encode(),
        "events": _JSON.encode([_doc(e) for e in events]).encode("utf-8"),
    }


def _line(event: MediaEvent) -> str:
    """One event as a line of a file: as in the stream, or escaped if it holds text UTF-8 cannot
    carry (it must still be kept, to be set aside where it fails)."""
    text = encode(event)["event"]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(_doc(event), separators=(",", ":"))
    return text


def _event(doc: dict[str, Any]) -> MediaEvent:
    kind = EventKind(doc["kind"])
    if kind not in MEDIA_KINDS:
        raise ValueError(f"{kind.value} is not an event a media node reports")
    doc["kind"] = kind
    return MediaEvent(**doc)


def _text(raw: object) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode()
    if not isinstance(raw, str):
        raise ValueError("a stream entry without an event")
    return raw


def decode(fields: Mapping[Any, Any]) -> MediaEvent:
    """The event of an entry that holds one (``encode``)."""
    return _event(json.loads(_text(fields.get("event", fields.get(b"event")))))


def decode_entry(fields: Mapping[Any, Any]) -> list[MediaEvent | ValueError]:
    """The events of an entry, in order: a batch (``encode_batch``) or one event (``encode``,
    as nodes of earlier versions wrote them). In a batch, an event that is not one a media node
    may report is its error, in its place; an entry that is not events at all raises
    (``ValueError``, ``KeyError`` or ``TypeError``)."""
    raw = fields.get(b"events", fields.get("events"))
    if raw is None:
        return [decode(fields)]
    docs = json.loads(_text(raw))
    if not isinstance(docs, list):
        raise ValueError("a stream entry whose events are not a list")
    out: list[MediaEvent | ValueError] = []
    for doc in docs:
        try:
            out.append(_event(doc))
        except ValueError as exc:
            out.append(exc)
        except (KeyError, TypeError) as exc:
            out.append(ValueError(f"{type(exc).__name__}: {exc}"))
    return out


class DiskBuffer:
    """Events waiting for Redis, on the node's disk: one JSON line each, synced as written."""

    def __init__(self, path: Path, bound: int = 100_000) -> None:
        self.path = path
        self.bound = bound
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = self.events()  # what a node stopped with is still to be sent
        self._count = len(kept)
        self.oldest: float | None = min((e.origin_time for e in kept), default=None)

    @property
    def size(self) -> int:
        return self._count

    @property
    def nearly_full(self) -> bool:
        """Nine tenths of the bound: joins are refused from here, so no event is ever dropped."""
        return self._count >= self.bound * 9 // 10

    def full(self) -> OSError:
        return OSError(f"the event buffer {self.path} is full ({self.bound} events)")

    def append(self, event: MediaEvent) -> None:
        if not self.extend((event,)):
            raise self.full()

    def extend(self, events: Sequence[MediaEvent]) -> int:
        """Append as many of ``events`` as the bound leaves room for, in order, with one sync;
        returns how many were taken (all durable once this returns)."""
        taken = list(events[: max(0, self.bound - self._count)])
        if not taken:
            return 0
        with self.path.open("a", encoding="utf-8") as f:
            f.writelines(_line(e) + "\n" for e in taken)
            f.flush()
            os.fsync(f.fileno())
        self._count += len(taken)
        first = min(e.origin_time for e in taken)
        if self.oldest is None or first < self.oldest:
            self.oldest = first
        return len(taken)

    def replace(self, events: Sequence[MediaEvent]) -> None:
        """Hold exactly ``events`` (all written and synced, or the old content kept)."""
        if not events:
            self.clear()
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.writelines(_line(e) + "\n" for e in events)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._count = len(events)
        self.oldest = min(e.origin_time for e in events)

    def events(self) -> list[MediaEvent]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as f:
            return [decode({"event": line}) for line in f if line.strip()]

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._count = 0
        self.oldest = None


class RedisStreamSink:
    """The media node's ``EventSink`` in a cluster: the stream, or the disk when Redis is away.
    ``deliver`` returns once the event is durable in one of the two."""

    def __init__(self, redis: Redis, buffer: DiskBuffer, retry_every: float = 1.0) -> None:
        """``redis`` should be made with short socket timeouts: an unreachable Redis must cost
        an event a moment, not a minute (``Redis.from_url(url, socket_connect_timeout=1,
        socket_timeout=2)``)."""
        self._redis = redis
        self.buffer = buffer
        self._retry_every = retry_every
        self._next_try = 0.0
        # Events set aside in the dead-letter file: those of earlier runs too.
        self.dead_letters = self._count_dead()
        # The outbox delivers one batch at a time, but a node also replays on its own clock (when no
        # event comes): one lock keeps an event from landing on disk behind a replay's back.
        self._lock = asyncio.Lock()

    async def deliver(self, event: MediaEvent) -> None:
        await self.deliver_many((event,))

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None:
        """All durable (the stream, or the synced disk buffer), in order: one stream entry for
        the lot (Redis stores and syncs its AOF once), or one sync of the buffer. A failure
        after some of them says how many (``PartlyDelivered``): an unstorable event stops the
        batch at itself; a full buffer at what it took."""
        storable, bad = list(events), None
        try:
            entry = encode_batch(storable)
        except UnicodeEncodeError:  # rare: find the first event UTF-8 cannot carry
            for n, event in enumerate(events):
                try:
                    encode(event)["event"].encode("utf-8")
                except UnicodeEncodeError as exc:
                    storable, bad = storable[:n], exc
                    break
            entry = encode_batch(storable)
        if storable:
            async with self._lock:
                await self._deliver(storable, entry)
        if bad is not None:
            # Neither Redis nor the control node's ledger could ever take it: not buffered
            # (where a replay would stop on it), set aside.
            unstorable = Unstorable(f"{type(bad).__name__}: {bad}")
            if storable:
                raise PartlyDelivered(len(storable), unstorable) from bad
            raise unstorable from bad

    async def flush_buffer(self) -> bool:
        """Replay what the disk holds now (a quiet node's buffer is not left waiting for its
        next event); True once the buffer is empty."""
        if not self.buffer.size:
            return True
        async with self._lock:
            return await self.replay()

    async def _deliver(self, events: list[MediaEvent], entry: dict[str, bytes]) -> None:
        if self.buffer.size and not await self._replay_due():
            self._buffer(events)  # behind the others, in order
            return
        try:
            await self._redis.xadd(STREAM, entry)  # type: ignore[arg-type]
        except UNREACHABLE:
            # Some may have reached the stream before the connection failed: they are sent
            # again with the buffer, and the ledger ingests by event id.
            log.warning("Redis unreachable: %d events kept on disk", len(events))
            self._buffer(events)
            self._next_try = time.monotonic() + self._retry_every

    def _buffer(self, events: list[MediaEvent]) -> None:
        taken = self.buffer.extend(events)
        if taken < len(events):
            full = self.buffer.full()
            if taken:
                raise PartlyDelivered(taken, full) from full
            raise full

    async def _replay_due(self) -> bool:
        """Replay, at most once per ``retry_every`` while Redis stays away."""
        now = time.monotonic()
        if now < self._next_try:
            return False
        if await self.replay():
            return True
        self._next_try = now + self._retry_every
        return False

    async def replay(self, batch: int = 500, trip: int = 4) -> bool:
        """Send what the disk holds, in order, ``batch`` events an entry and ``trip`` entries a
        round trip; True once the buffer is empty."""
        pending = self.buffer.events()
        try:
            for start in range(0, len(pending), batch * trip):
                pipe = self._redis.pipeline(transaction=False)
                for at in range(start, min(start + batch * trip, len(pending)), batch):
                    pipe.xadd(STREAM, encode_batch(pending[at : at + batch]))  # type: ignore[arg-type]
                await pipe.execute()
        except UNREACHABLE:
            return False
        if pending:
            log.info("replayed %d buffered events into the stream", len(pending))
        self.buffer.clear()
        return True

    async def dead_letter(self, event: MediaEvent, error: str) -> None:
        """An event that can never be sent (``Unstorable``): kept aside in a file next to the
        buffer, one JSON line each, with the error."""
        line = json.dumps({"event": json.loads(_line(event)), "error": error, "at": time.time()})
        with self.dead_path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.dead_letters += 1

    @property
    def dead_path(self) -> Path:
        """The dead-letter file: ``events-<node>.dead.jsonl`` beside the disk buffer."""
        return self.buffer.path.with_name(self.buffer.path.stem + ".dead.jsonl")

    def _count_dead(self) -> int:
        try:
            with self.dead_path.open("rb") as f:
                return sum(1 for line in f if line.strip())
        except FileNotFoundError:
            return 0

    async def heartbeat(self, node: str, at: float) -> None:
        """Operational, not an event: while Redis is away nobody is judged by it."""
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.hset(HEARTBEATS, node, str(at))  # type: ignore[misc]  # redis-py types sync and async alike
