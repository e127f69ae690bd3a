"""The control node's side of the cluster's event flow: it reads the media nodes' events from the
Redis Stream with a consumer group and acknowledges each only after it is committed to the
ledger; on start it first finishes the entries it had read but not acknowledged. Ingestion is
idempotent by event id, so an entry delivered twice is one row."""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from streaming.events import EventSink, MediaEvent, PartlyDelivered, Unstorable
from streaming.redis_events import STREAM, decode

log = logging.getLogger("sabaq.control.redis_ingest")

GROUP = "control"
UNREAD_COUNTED = 10_000  # entries counted one by one at most, when Redis cannot say its lag


async def ensure_group(redis: Redis) -> None:
    """The control nodes' consumer group, reading the stream from its beginning."""
    try:
        await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def ingest_once(
    redis: Redis,
    sink: EventSink,
    consumer: str,
    block_ms: int | None = None,
    count: int = 500,
    pending: bool = True,
    within: float = 0.0,
) -> int:
    """Commit what is waiting, then acknowledge it: first this consumer's pending entries (read
    before a restart, never acknowledged; ``pending=False`` skips them once there are none), then
    new ones. Returns how many were ingested.

    What one read returns is committed as one batch (``deliver_many``: one transaction) and
    acknowledged after the commit; a batch the sink committed only in part (``PartlyDelivered``)
    acknowledges that part, the rest stays pending. An event the ledger can never store is set
    aside in the sink's dead letters (the events behind it flow on); an entry that is not an
    event is logged and acknowledged, so neither can stop the flow.

    A full read is followed by the next (pending entries until none is left; new ones for
    ``within`` seconds): each batch's acknowledgement then goes with the next read, in one
    round trip (and one sync of Redis's append-only file)."""
    done = 0
    settled: list[Any] = []  # entry ids committed or set aside, not yet acknowledged
    until = time.monotonic() + within
    try:
        for start in ("0", ">") if pending else (">",):
            while True:
                block = block_ms if start == ">" else None
                entries = await _read(redis, consumer, start, count, block, settled)
                done += await _commit(sink, _events(entries, settled), settled)
                if len(entries) < count or (start == ">" and time.monotonic() >= until):
                    break
    finally:
        if settled:
            await redis.xack(STREAM, GROUP, *settled)
    return done


async def _read(
    redis: Redis, consumer: str, start: str, count: int, block: int | None, settled: list[Any]
) -> list[Any]:
    """One XREADGROUP's entries; ``settled`` acknowledged in the same round trip, and emptied."""
    if not settled:
        answer = await redis.xreadgroup(GROUP, consumer, {STREAM: start}, count=count, block=block)
    else:
        pipe = redis.pipeline(transaction=False)
        pipe.xack(STREAM, GROUP, *settled)
        pipe.xreadgroup(GROUP, consumer, {STREAM: start}, count=count, block=block)
        _acknowledged, answer = await pipe.execute()
        settled.clear()
    return [entry for _stream, entries in answer or [] for entry in entries]


def _events(entries: list[Any], settled: list[Any]) -> list[tuple[Any, MediaEvent]]:
    """The entries' events, each with its entry id; what is not an event is settled at once."""
    out = []
    for entry_id, fields in entries:
        if not fields:  # deleted from the stream meanwhile
            settled.append(entry_id)
            continue
        try:
            out.append((entry_id, decode(fields)))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("stream entry %s is not an event (%s): skipped", entry_id, exc)
            settled.append(entry_id)
    return out


async def _commit(sink: EventSink, batch: list[tuple[Any, MediaEvent]], settled: list[Any]) -> int:
    """Commit ``batch`` in one delivery, adding the ids of what is committed to ``settled``;
    returns how many were committed. An unstorable event in a batch sends the batch one event
    at a time, to commit those around it and set it alone aside."""
    if not batch:
        return 0
    try:
        await sink.deliver_many([event for _id, event in batch])
    except PartlyDelivered as exc:
        settled.extend(entry_id for entry_id, _event in batch[: exc.done])
        if not isinstance(exc.error, Unstorable):
            raise exc.error from exc
        return exc.done + await _commit(sink, batch[exc.done :], settled)
    except Unstorable as exc:
        if len(batch) > 1:
            return sum([await _commit(sink, [one], settled) for one in batch])
        entry_id, event = batch[0]
        await sink.dead_letter(event, str(exc))  # raises if it cannot: the entry stays pending
        log.error("event %s can never be stored: set aside (%s)", event.id, exc)
        settled.append(entry_id)
        return 0
    settled.extend(entry_id for entry_id, _event in batch)
    return len(batch)


def _entry_id(raw: object) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


async def oldest_unacknowledged(redis: Redis) -> float | None:
    """How long ago (by Redis's clock, which stamped the entry ids) the oldest entry not yet
    committed entered the stream: read and not acknowledged, or not read yet; None if none."""
    if not await redis.exists(STREAM):
        return None
    secs, micros = await redis.time()
    now_ms = int(secs) * 1000 + int(micros) // 1000
    oldest: tuple[int, int] | None = None
    groups = await redis.xinfo_groups(STREAM)
    ours = next((g for g in groups if g.get("name") in (GROUP, GROUP.encode())), None)
    if ours is None:  # no control node has read anything yet: all of it waits
        first = await redis.xrange(STREAM, count=1)
        oldest = _entry_id(first[0][0]) if first else None
    else:
        summary = await redis.xpending(STREAM, GROUP)
        if summary.get("pending") and summary.get("min") is not None:
            oldest = _entry_id(summary["min"])
        last = ours["last-delivered-id"]
        last = last.decode() if isinstance(last, bytes) else str(last)
        unread = await redis.xrange(STREAM, min=f"({last}", count=1)
        if unread:
            oldest = min(oldest or _entry_id(unread[0][0]), _entry_id(unread[0][0]))
    if oldest is None:
        return None
    return max(0.0, (now_ms - oldest[0]) / 1000)


async def unacknowledged(redis: Redis) -> int:
    """How many entries of the stream are not yet committed: read and not acknowledged, or not
    read yet."""
    if not await redis.exists(STREAM):
        return 0
    groups = await redis.xinfo_groups(STREAM)
    ours = next((g for g in groups if g.get("name") in (GROUP, GROUP.encode())), None)
    if ours is None:  # no control node has read anything yet: all of it waits
        return int(await redis.xlen(STREAM))
    lag = ours.get("lag")
    if lag is None:  # Redis cannot say how far behind the group is (entries were deleted)
        last = ours["last-delivered-id"]
        last = last.decode() if isinstance(last, bytes) else str(last)
        lag = len(await redis.xrange(STREAM, min=f"({last}", count=UNREAD_COUNTED))
    return int(ours.get("pending") or 0) + int(lag)


async def trim(redis: Redis, keep_seconds: float, now: float) -> int:
    """Drop entries older than ``keep_seconds`` that the control node has read and
    acknowledged (never one it has not read, nor one pending); returns how many went."""
    groups = await redis.xinfo_groups(STREAM)
    ours = next((g for g in groups if g.get("name") in (GROUP, GROUP.encode())), None)
    if ours is None:
        return 0
    last_ms, last_seq = _entry_id(ours["last-delivered-id"])
    floor = min((int((now - keep_seconds) * 1000), 0), (last_ms, last_seq + 1))
    summary = await redis.xpending(STREAM, GROUP)
    if summary.get("pending") and summary.get("min") is not None:
        floor = min(floor, _entry_id(summary["min"]))
    removed: int = await redis.xtrim(STREAM, minid=f"{floor[0]}-{floor[1]}", approximate=False)
    return removed
