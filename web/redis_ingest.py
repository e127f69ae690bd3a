"""The control node's side of the cluster's event flow: it reads the media nodes' events from the
Redis Stream with a consumer group and acknowledges each only after it is committed to the
ledger; on start it first finishes the entries it had read but not acknowledged. Ingestion is
idempotent by event id, so an entry delivered twice is one row."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from streaming.events import EventSink
from streaming.redis_events import STREAM, decode

log = logging.getLogger("sabaq.web.redis_ingest")

GROUP = "control"


async def ensure_group(redis: Redis) -> None:
    """The control nodes' consumer group, reading the stream from its beginning."""
    try:
        await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def ingest_once(
    redis: Redis, sink: EventSink, consumer: str, block_ms: int | None = None, count: int = 200
) -> int:
    """Commit what is waiting, then acknowledge it: first this consumer's pending entries (read
    before a restart, never acknowledged), then new ones. Returns how many were ingested. An
    entry that is not an event is acknowledged and logged, so it cannot stop the flow."""
    done = 0
    for start in ("0", ">"):
        block = block_ms if start == ">" else None
        answer = await redis.xreadgroup(GROUP, consumer, {STREAM: start}, count=count, block=block)
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                if not fields:  # deleted from the stream meanwhile
                    await redis.xack(STREAM, GROUP, entry_id)
                    continue
                try:
                    event = decode(fields)
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("stream entry %s is not an event (%s): skipped", entry_id, exc)
                    await redis.xack(STREAM, GROUP, entry_id)
                    continue
                await sink.deliver(event)  # committed to the ledger when this returns
                await redis.xack(STREAM, GROUP, entry_id)
                done += 1
    return done
