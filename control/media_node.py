"""A media node's wiring, for as long as the application runs (``web.core.contexts`` stores what
it yields in the application): the node of ``sabaq serve`` beside its control plane
(``local_node``: the ledger its sink, the gate its timetable), the node of a cluster's
``sabaq media`` (``cluster_node``: events to the stream, registered with its agent), and the
practice rooms' echoes (``practice_rooms``). Each reads the settings through ``NodeSettings``."""

from __future__ import annotations

import contextlib
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from access.tokens import TokenSigner
from admission.sqlite_guests import SqliteGuests
from attendance.heads_folder import HeadsFolder
from attendance.sqlite_dead_events import SqliteDeadEvents
from attendance.sqlite_heartbeats import SqliteHeartbeats
from attendance.sqlite_ledger import SqliteLedger
from scheduler.sqlite_store import SqliteTimetable
from streaming.aiortc_media import AiortcBackend, advertise_host_addresses
from streaming.cluster import MediaAgent
from streaming.node import MediaNode, MediaSettings
from streaming.practice import Echoes
from streaming.redis_events import DiskBuffer, RedisStreamSink
from streaming.room import MediaBackend

from .changes import Changes
from .database import connect
from .evidence import LedgerHeldEvidence
from .gate import LocalGate
from .ingest import LedgerSink, recover_node
from .runtime import node_lock, redis_client

log = logging.getLogger("sabaq.web.app")  # the name its log lines always had


class NodeSettings(Protocol):
    """What a media node reads of the application's settings (``web.core.settings``)."""

    @property
    def node_id(self) -> str: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def database_path(self) -> Path: ...
    @property
    def recordings_dir(self) -> Path: ...
    @property
    def ice_addresses(self) -> tuple[str, ...]: ...
    @property
    def ice_servers(self) -> tuple[str, ...]: ...
    @property
    def reconnect_grace_seconds(self) -> float: ...
    @property
    def node_heartbeat_seconds(self) -> float: ...
    @property
    def active_speaker_hold_seconds(self) -> float: ...
    @property
    def publisher_silence_seconds(self) -> float: ...
    @property
    def held_min_live_seconds(self) -> float: ...
    @property
    def event_buffer_events(self) -> int: ...
    @property
    def redis_url(self) -> str: ...
    @property
    def media_url(self) -> str: ...
    @property
    def watch_url(self) -> str: ...
    @property
    def node_capacity(self) -> int: ...
    @property
    def clock(self) -> Callable[[], float]: ...


@dataclass(frozen=True, slots=True)
class LedgerStores:
    """The stores a node's events are recorded in, on the control plane."""

    db: sqlite3.Connection
    ledger: SqliteLedger
    timetable: SqliteTimetable
    guests: SqliteGuests
    heads: HeadsFolder
    changes: Changes


def media_settings(settings: NodeSettings, node_id: str) -> MediaSettings:
    return MediaSettings(
        node_id=node_id,
        ice_addresses=settings.ice_addresses,
        ice_servers=settings.ice_servers,
        reconnect_grace=settings.reconnect_grace_seconds,
        node_heartbeat=settings.node_heartbeat_seconds,
        active_speaker_hold=settings.active_speaker_hold_seconds,
        clock=settings.clock,
    )


def aiortc(settings: NodeSettings) -> AiortcBackend:
    return AiortcBackend(
        settings.ice_servers, settings.recordings_dir, settings.publisher_silence_seconds
    )


def ledger_sink(
    settings: NodeSettings,
    stores: LedgerStores,
    heartbeats: SqliteHeartbeats,
    committer: SqliteLedger | None = None,
) -> LedgerSink:
    """Events into the ledger on this process (acknowledged on commit; with ``committer``, on
    a worker thread of its own connection)."""
    evidence = LedgerHeldEvidence(
        stores.ledger, stores.timetable, settings.held_min_live_seconds, stores.guests
    )
    return LedgerSink(
        stores.ledger, stores.timetable, evidence, heartbeats, stores.heads, stores.changes,
        SqliteDeadEvents(stores.db, settings.clock), committer,
    )  # fmt: skip


def spool(settings: NodeSettings, name: str) -> DiskBuffer:
    """The node's events still undelivered when it stopped, delivered at its next start."""
    return DiskBuffer(settings.data_dir / f"outbox-{name}.jsonl", settings.event_buffer_events)


@contextlib.asynccontextmanager
async def local_node(
    settings: NodeSettings,
    stores: LedgerStores,
    signer: TokenSigner,
    backend: MediaBackend | None,
) -> AsyncIterator[tuple[MediaNode, LocalGate]]:
    """`sabaq serve`'s media node (``backend``, or aiortc's) and the gate it admits through."""
    advertise_host_addresses(settings.ice_addresses)
    with (
        node_lock(settings.data_dir, settings.node_id),
        contextlib.closing(connect(settings.database_path)) as commits,
        contextlib.closing(connect(settings.database_path)) as spends,
    ):
        heartbeats = SqliteHeartbeats(stores.db, settings.clock)
        # Spent join tokens are written off the event loop, on a connection of their own.
        gate = LocalGate(stores.db, stores.timetable, settings.clock, spends)
        # The media's events are committed off the event loop, on a connection of their own
        # (a welcome waits for its join's commit; the media must not wait for the disk).
        sink = ledger_sink(settings, stores, heartbeats, SqliteLedger(commits, settings.clock))
        try:
            node = MediaNode(
                media_settings(settings, settings.node_id),
                signer,
                sink,
                backend or aiortc(settings),
                gate,
                spool=spool(settings, settings.node_id),
            )
            # What the last run could not deliver is in the ledger before what it left open is
            # closed (its departures recorded at a stop are then not taken for a crash's).
            await node.outbox.deliver_spooled()
            recover_node(stores.ledger, heartbeats, settings.node_id)
            await node.start()
            try:
                yield node, gate
            finally:
                await node.close()
        finally:
            await sink.close()  # before its connections close: none under a statement


@contextlib.asynccontextmanager
async def cluster_node(
    settings: NodeSettings, signer: TokenSigner, backend: MediaBackend | None
) -> AsyncIterator[tuple[MediaNode, MediaAgent]]:
    """`sabaq media`: rooms and signaling; events go to the stream (or the disk while Redis
    is away); the node registers, heart-beats and answers commands."""
    advertise_host_addresses(settings.ice_addresses)
    with node_lock(settings.data_dir, settings.node_id):
        redis = redis_client(settings.redis_url, read_timeout=2)
        buffer = DiskBuffer(
            settings.data_dir / f"events-{settings.node_id}.jsonl", settings.event_buffer_events
        )
        if buffer.size:
            log.warning("%d events of an earlier run wait on disk for Redis", buffer.size)
        sink = RedisStreamSink(redis, buffer)
        node_id = f"{settings.node_id}.{secrets.token_hex(4)}"  # new each start
        node = MediaNode(
            media_settings(settings, node_id),
            signer,
            sink,
            backend or aiortc(settings),
            spool=spool(settings, settings.node_id),
        )
        agent = MediaAgent(
            redis,
            node,
            sink,
            name=settings.node_id,
            url=settings.media_url,
            watch=settings.watch_url,
            capacity=settings.node_capacity,
            every=settings.node_heartbeat_seconds,
        )
        node.gate = agent
        await node.start()
        await agent.start()
        log.info("media node %s (%s) serves %s", settings.node_id, node_id, settings.media_url)
        try:
            yield node, agent
        finally:
            await agent.stop()
            await node.close()
            await redis.aclose()


@contextlib.asynccontextmanager
async def practice_rooms(settings: NodeSettings) -> AsyncIterator[Echoes]:
    """The practice rooms' echoes (the control node's too)."""
    advertise_host_addresses(settings.ice_addresses)
    echoes = Echoes(settings.ice_servers)
    try:
        yield echoes
    finally:
        await echoes.close_all()
