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
from streaming.redis_events import STREAM, decode_entry

log = logging.getLogger("sabaq.control.redis_ingest")

GROUP = "control"
COUNTED = 1_000  # entries whose events are counted at most (of those read, and of those not)
COMMIT_MOST = 500  # events a transaction takes entries until it holds (a read may hold more)

# How many events the entries not yet committed hold: those read and not acknowledged by group
# ARGV[1] (their ids from XPENDING; none without a group) and those not read yet (after id
# ARGV[3]), ARGV[2] entries of each at most. An entry of one event (as nodes of earlier versions
# wrote them) has no ``n``; one deleted from the stream counts as one. Returns the events and
# the entries counted.
COUNT_EVENTS = """
local function events(entry)
  local f = entry[2]
  for i = 1, #f, 2 do
    if f[i] == 'n' then return tonumber(f[i + 1]) or 1 end
  end
  return 1
end
local total, counted = 0, 0
if ARGV[1] ~= '' then
  for _, p in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', ARGV[2])) do
    local found = redis.call('XRANGE', KEYS[1], p[1], p[1])
    total = total + (found[1] and events(found[1]) or 1)
    counted = counted + 1
  end
end
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '(' .. ARGV[3], '+', 'COUNT', ARGV[2])) do
  total = total + events(entry)
  counted = counted + 1
end
return {total, counted}
"""


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
    count: int = 64,
    pending: bool = True,
    within: float = 0.0,
) -> int:
    """Commit what is waiting, then acknowledge it: first this consumer's pending entries (read
    before a restart, never acknowledged; ``pending=False`` skips them once there are none), then
    new ones. Returns how many were ingested.

    One read takes ``count`` entries (a media node's batch is one entry, of up to 500 events: a
    read holds tens of thousands at most, however long the backlog). Its events are committed
    ``COMMIT_MOST`` at a time (``deliver_many``: one transaction), and an entry is acknowledged
    once all its events are committed; a batch the sink committed only in part
    (``PartlyDelivered``) acknowledges the entries that part completes, the rest stays
    pending. An event the ledger can never store is set aside in the sink's dead letters (the
    events behind it flow on); an entry that is not an event is logged and acknowledged, so
    neither can stop the flow.

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
                batch: list[tuple[Any, MediaEvent]] = []
                for at, entry in enumerate(entries):
                    # Decoded as they are committed: a read's events are not all held at once
                    # (the garbage collector would walk them again and again).
                    batch.extend(_events(entry, settled))
                    if len(batch) >= COMMIT_MOST or at == len(entries) - 1:
                        done += await _commit(sink, batch, settled)
                        batch = []
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


def _events(entry: Any, settled: list[Any]) -> list[tuple[Any, MediaEvent]]:
    """An entry's events in order, the last one with the entry's id (the entry is settled once
    that one is: its events go in order) and the others with None. What is not an event is
    logged and skipped; an entry with no event left is settled at once."""
    entry_id, fields = entry
    if not fields:  # deleted from the stream meanwhile
        settled.append(entry_id)
        return []
    try:
        decoded = decode_entry(fields)
    except (ValueError, KeyError, TypeError) as exc:
        decoded = [ValueError(f"{type(exc).__name__}: {exc}")]
    events: list[tuple[Any, MediaEvent]] = []
    for n, one in enumerate(decoded):
        if isinstance(one, MediaEvent):
            events.append((None, one))
        else:
            log.error("stream entry %s (event %d) is not an event (%s): skipped", entry_id, n, one)
    if not events:
        settled.append(entry_id)
        return []
    events[-1] = (entry_id, events[-1][1])
    return events


async def _commit(sink: EventSink, batch: list[tuple[Any, MediaEvent]], settled: list[Any]) -> int:
    """Commit ``batch`` in one delivery, adding the ids of the entries it completes to
    ``settled``; returns how many events were committed. An unstorable event in a batch sends
    the batch one event at a time, to commit those around it and set it alone aside."""
    if not batch:
        return 0
    try:
        await sink.deliver_many([event for _id, event in batch])
    except PartlyDelivered as exc:
        _settle(batch[: exc.done], settled)
        if not isinstance(exc.error, Unstorable):
            raise exc.error from exc
        return exc.done + await _commit(sink, batch[exc.done :], settled)
    except Unstorable as exc:
        if len(batch) > 1:
            return sum([await _commit(sink, [one], settled) for one in batch])
        _id, event = batch[0]
        await sink.dead_letter(event, str(exc))  # raises if it cannot: the entry stays pending
        log.error("event %s can never be stored: set aside (%s)", event.id, exc)
        _settle(batch, settled)
        return 0
    _settle(batch, settled)
    return len(batch)


def _settle(batch: list[tuple[Any, MediaEvent]], settled: list[Any]) -> None:
    settled.extend(entry_id for entry_id, _event in batch if entry_id is not None)


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
    """How many events the stream holds that are not yet committed: read and not acknowledged,
    or not read yet. Counted entry by entry up to ``COUNTED`` entries of each; beyond that,
    each entry is taken to hold as many as those counted did on average."""
    if not await redis.exists(STREAM):
        return 0
    groups = await redis.xinfo_groups(STREAM)
    ours = next((g for g in groups if g.get("name") in (GROUP, GROUP.encode())), None)
    if ours is None:  # no control node has read anything yet: all of it waits
        group, last, pending, lag = "", "0-0", 0, int(await redis.xlen(STREAM))
    else:
        group, last = GROUP, ours["last-delivered-id"]
        last = last.decode() if isinstance(last, bytes) else str(last)
        pending, lag = int(ours.get("pending") or 0), ours.get("lag")
    answer = await redis.eval(COUNT_EVENTS, 1, STREAM, group, COUNTED, last)  # type: ignore[misc]
    total, counted = int(answer[0]), int(answer[1])
    # Redis cannot say how far behind the group is when entries were deleted: those counted.
    entries = pending + (int(lag) if lag is not None else 0)
    if entries > counted and counted:
        total += round((entries - counted) * total / counted)
    return total


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
