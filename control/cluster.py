"""The control node's side of a cluster (DESIGN.md, "Two deployments"), put together: the node
registry and its dead-node watch (``control.registry``), the placement of classes
(``control.redis_placement`` over the pure ``control.placement``), commands by pub/sub and the
live roster (``control.redis_commands``); and the loop that ingests the event stream and
watches the nodes while the control lock (``control.lock``) is surely held."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from access.events import EventKind
from access.models import ClassRole, RoomMode
from attendance.models import IGNORED, NODE_DECLARED_DEAD
from attendance.sqlite_heartbeats import SqliteHeartbeats
from attendance.sqlite_ledger import SqliteLedger
from streaming.cluster_keys import NodeInfo
from streaming.events import EventSink, MediaEvent, PartlyDelivered
from streaming.redis_events import UNREACHABLE

from .changes import Changes
from .lock import ControlLock, LockUnsure
from .node_watch import NodeWatch
from .placement import may_be_relayed
from .redis_commands import LiveRoster, RedisMediaControl
from .redis_ingest import ensure_group, ingest_once, oldest_unacknowledged, trim, unacknowledged
from .redis_placement import RedisPlacement
from .registry import NodeRegistry

log = logging.getLogger("sabaq.control.cluster")

CONSUMER = "control"  # one control node: a new one finishes what the last one had read
KEEP_IN_STREAM = 3600.0  # committed events stay in the stream an hour (to look into), then go
TRIM_EVERY = 60.0
INGEST_FOR = 0.25  # a backlog is read this long at a time (in full reads), then the nodes watched


class Cluster:
    """The control node's view of the media nodes: registry and watch, placement, commands,
    roster; also its ``control.commands.MediaControl``."""

    def __init__(
        self,
        redis: Redis,
        ledger: SqliteLedger,
        heartbeats: SqliteHeartbeats,
        changes: Changes,
        *,
        dead_after: float,
        answer_within: float = 3.0,
    ) -> None:
        self._redis = redis
        self.roster = LiveRoster(changes)
        self.registry = NodeRegistry(
            redis, ledger, heartbeats, changes, dead_after=dead_after, freed=self._freed
        )
        self.placement = RedisPlacement(
            redis, self.registry, lambda class_id: len(self.roster.present(class_id))
        )
        self.commands = RedisMediaControl(redis, self.roster, answer_within)
        self.stopping = False  # the control node is shutting down: its loops end
        # The nodes' processes, watched (a killed one is declared dead at once, not in
        # ``dead_after``); ``look_now``: one was found gone, the loop watches at once.
        self.node_watch = NodeWatch(woken=self._wake)
        self.look_now = False

    def _wake(self) -> None:
        self.look_now = True

    async def close(self) -> None:
        """Stop watching the nodes (the control node stops)."""
        await self.node_watch.close()

    def _freed(self, class_ids: list[int]) -> None:
        self.roster.forget(class_ids)
        self.placement.forget(class_ids)

    # -- registry and watch --------------------------------------------------------------------
    @property
    def dead(self) -> dict[str, float]:
        """Node id → the heartbeat its stays were closed at."""
        return self.registry.dead

    @property
    def reachable(self) -> bool:
        return self.registry.reachable

    async def events_waiting(self) -> float | None:
        """How long the oldest event in the stream not yet committed to the ledger has waited
        (the register's lag; None: none waits, or Redis cannot say)."""
        try:
            return await oldest_unacknowledged(self._redis)
        except UNREACHABLE:
            return None

    async def events_unacknowledged(self) -> int | None:
        """How many events in the stream are not yet committed to the ledger (None: Redis
        cannot say)."""
        try:
            return await unacknowledged(self._redis)
        except UNREACHABLE:
            return None

    @property
    def connect_sources(self) -> str:
        """The media nodes' origins, for the pages' Content-Security-Policy (connect-src)."""
        return self.registry.connect_sources

    async def nodes(self) -> dict[str, NodeInfo]:
        return await self.registry.nodes()

    async def dead_events_of_nodes(self) -> dict[str, int]:
        """Live media node's name → the events it set aside in its dead-letter file (only nodes
        that have some; none if Redis cannot say)."""
        try:
            nodes = await self.registry.nodes()
        except UNREACHABLE:
            return {}
        out: dict[str, int] = {}
        for n in nodes.values():
            if n.dead_events:
                out[n.name] = out.get(n.name, 0) + n.dead_events
        return out

    def unreachable(self) -> None:
        self.registry.unreachable()

    async def watch_once(self, drain: Callable[[], Awaitable[int]] | None = None) -> list[NodeInfo]:
        self.look_now = False
        dead = await self.registry.watch_once(drain, self.node_watch.gone)
        self.node_watch.follow(self.registry.live)
        return dead

    def close_stays(self, node: str, cut_off: float) -> int:
        return self.registry.close_stays(node, cut_off)

    async def load_dead(self) -> None:
        await self.registry.load_dead()

    # -- placement -----------------------------------------------------------------------------
    async def node_for(self, class_id: int, expected: int) -> NodeInfo:
        return await self.placement.node_for(class_id, expected)

    async def media_node_for(
        self, class_id: int, expected: int, role: ClassRole, mode: RoomMode
    ) -> NodeInfo:
        """The node one joining in ``role`` is sent to: the class's origin, or for a lecture's
        viewer the origin while it has room, else a relay of the class (``may_be_relayed``)."""
        if may_be_relayed(role, mode):
            return await self.placement.viewer_node_for(class_id, expected)
        return await self.placement.publisher_node_for(class_id, expected)

    async def class_ended(self, class_id: int, node: str) -> None:
        self.roster.forget([class_id])
        await self.placement.class_ended(class_id, node)

    # -- commands and the live roster ----------------------------------------------------------
    async def command(self, class_id: int, op: str, **fields: Any) -> dict[str, Any] | None:
        return await self.commands.command(class_id, op, **fields)

    async def remove_user(self, class_id: int, user_id: int, code: str, message: str) -> bool:
        return await self.commands.remove_user(class_id, user_id, code, message)

    async def readmit(self, class_id: int, user_id: int) -> None:
        await self.commands.readmit(class_id, user_id)

    async def let_back(self, class_id: int, user_id: int) -> None:
        await self.commands.let_back(class_id, user_id)

    async def taken_out(self, class_id: int) -> dict[int, str]:
        return await self.commands.taken_out(class_id)

    async def end_class(self, class_id: int, reason: str) -> bool:
        return await self.commands.end_class(class_id, reason)

    async def present_user_ids(self, class_id: int) -> set[int]:
        return await self.commands.present_user_ids(class_id)

    def roster_heard(self, raw: object) -> None:
        self.roster.heard(raw)

    async def follow_rosters(self, retry: float) -> None:
        await self.roster.follow(self._redis, lambda: not self.stopping, retry)


class ClusterIngest:
    """What the stream's events go through on the control node: the ledger (``deliver``
    returns once committed), then the placement of a class that ended is forgotten."""

    def __init__(self, ledger_sink: EventSink, cluster: Cluster) -> None:
        self._sink = ledger_sink
        self._cluster = cluster

    async def deliver(self, event: MediaEvent) -> None:
        cut_off = self._cluster.dead.get(event.node)
        late = cut_off is not None and event.origin_time > cut_off
        if late:
            # The node was declared dead and its stays closed at its cut-off: what it says
            # happened after that (it was cut off from Redis, not dead) is kept, not counted.
            log.warning("event %s from %s, declared dead: kept, not counted", event.id, event.node)
            data = {**event.data, IGNORED: NODE_DECLARED_DEAD, "declared_dead_at": cut_off}
            event = dataclasses.replace(event, data=data)
        await self._sink.deliver(event)
        if cut_off is not None and not late:
            # From before the cut-off, arriving after the node was declared dead: counted, and
            # whatever it opened is closed as the node's other stays were.
            self._cluster.close_stays(event.node, cut_off)
        if cut_off is None:
            await self._forget_if_ended(event)

    async def deliver_many(self, events: Sequence[MediaEvent]) -> None:
        """One commit for the lot, then the placements of the classes that ended are forgotten.
        A batch holding an event of a node declared dead goes one event at a time (each
        committed, then the node's stays closed, before the next, as they came)."""
        if any(event.node in self._cluster.dead for event in events):
            await in_turn(events, self.deliver)
            return
        await self._sink.deliver_many(events)
        # A failure here leaves the rest of the batch to be delivered again: the commit is
        # idempotent, and the placement is forgotten then.
        await in_turn(events, self._forget_if_ended)

    async def _forget_if_ended(self, event: MediaEvent) -> None:
        if event.kind is EventKind.CLASS_ENDED:
            await self._cluster.class_ended(event.class_id, event.node)

    async def dead_letter(self, event: MediaEvent, error: str) -> None:
        await self._sink.dead_letter(event, error)

    async def heartbeat(self, node: str, at: float) -> None:
        await self._sink.heartbeat(node, at)


async def in_turn(
    events: Sequence[MediaEvent], step: Callable[[MediaEvent], Awaitable[None]]
) -> None:
    """``step`` on each event in order; a failure after some of them says how many."""
    for done, event in enumerate(events):
        try:
            await step(event)
        except Exception as exc:
            if done:
                raise PartlyDelivered(done, exc) from exc
            raise


async def run_control(
    redis: Redis,
    cluster: Cluster,
    ingest: EventSink,
    every: float,
    lock: ControlLock | None = None,
    block_ms: int = 200,
) -> None:
    """Ingest the stream (acknowledging each event after its commit) and watch the nodes every
    ``every`` seconds, until cancelled; only while the control lock is surely held."""
    next_watch = next_trim = 0.0
    grouped = False

    async def drain() -> int:
        if lock is not None and not lock.sure:
            raise LockUnsure
        return await ingest_once(redis, ingest, CONSUMER)

    pending = True  # after a start or a failure: finish what was read and not acknowledged
    while not cluster.stopping:
        if lock is not None and not lock.sure:
            pending = True
            cluster.unreachable()  # nobody is judged by heartbeats meanwhile, nor just after
            await asyncio.sleep(min(every, lock.ttl / 6))
            continue
        try:
            if not grouped:
                await ensure_group(redis)
                await cluster.load_dead()
                grouped = True
            # The nodes first: from its start the control node knows them (the pages' policy
            # names them), before it ingests a backlog.
            if cluster.look_now or time.monotonic() >= next_watch:
                next_watch = time.monotonic() + every
                await cluster.watch_once(drain)
            await ingest_once(
                redis, ingest, CONSUMER, block_ms=block_ms, pending=pending, within=INGEST_FOR
            )
            pending = False
            if time.monotonic() >= next_trim:
                next_trim = time.monotonic() + TRIM_EVERY
                await trim(redis, KEEP_IN_STREAM, time.time())
        except asyncio.CancelledError:
            raise
        except (LockUnsure, *UNREACHABLE):
            pending = True
            cluster.unreachable()
            await asyncio.sleep(min(every, 1.0))
        except ResponseError as exc:
            pending = True
            if "NOGROUP" in str(exc):  # Redis came back without its data: make the group anew
                log.error("the event stream's consumer group is gone; making it again")
                grouped = False
                continue
            log.exception("Redis refused a command of the cluster loop; going on")
            await asyncio.sleep(every)
        except Exception:
            pending = True
            log.exception("the control node's cluster loop failed; going on")
            await asyncio.sleep(every)
