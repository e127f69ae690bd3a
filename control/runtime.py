"""The control plane's machinery at run time, for as long as the application runs
(``web.core.contexts`` wires each into a cleanup context): one process per media node and data
folder (``node_lock``), the control node of a cluster (``control_node``: the control lock, the
event stream's ingestion, the nodes' rosters), and a job run again and again off the event
loop (``repeating``)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from attendance.sqlite_heartbeats import SqliteHeartbeats
from attendance.sqlite_ledger import SqliteLedger
from scheduler.sqlite_store import SqliteTimetable
from streaming.redis_events import UNREACHABLE

from .changes import Changes
from .closed_classes import ClosedClasses
from .cluster import Cluster, ClusterIngest, run_control
from .environment import ConfigError
from .ingest import LedgerSink
from .lock import ControlLock, ControlLockHeld
from .tasks import running

log = logging.getLogger("sabaq.web.app")  # the name its log lines always had


@contextlib.contextmanager
def node_lock(data_dir: Path, node_id: str) -> Iterator[None]:
    """One process per media node and data folder: a second one started by mistake must not
    take the running node for dead and close its classes' presence."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = data_dir / f"node-{node_id}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"Media node {node_id} is already running from {data_dir}"
            " (another `sabaq serve` or `sabaq media`?). Stop it first, or give this one its"
            " own SABAQ_NODE_ID."
        ) from None
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


def redis_client(url: str, read_timeout: float) -> Redis:
    # Short timeouts: an unreachable Redis costs a moment, not a minute.
    return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=read_timeout)


def redis_where(url: str) -> str:
    """The Redis address without its password, for messages."""
    return url.split("@", 1)[1] if "@" in url else url.split("://", 1)[-1]


@dataclass(frozen=True, slots=True)
class ControlNodeRules:
    lock_seconds: float  # a killed control node's lock lapses after this
    dead_after: float  # a node silent this long (Redis reachable) is declared dead
    every: float  # the nodes' heartbeat: the ingest and the rosters look this often


@contextlib.asynccontextmanager
async def control_node(
    redis_url: str, rules: ControlNodeRules, ledger: SqliteLedger, heartbeats: SqliteHeartbeats,
    changes: Changes, sink: LedgerSink, stop: Callable[[], None], timetable: SqliteTimetable,
) -> AsyncIterator[Cluster]:  # fmt: skip
    """`sabaq control`: take the control lock, ingest the event stream into ``sink``, watch
    the nodes, follow their rosters, tell them the classes the timetable closed (cancelled,
    held in person); the cluster sends commands to the node that hosts a class. ``stop`` is
    called when the lock is lost."""
    redis = redis_client(redis_url, read_timeout=5)
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    lock = ControlLock(redis, holder, rules.lock_seconds)
    try:
        await lock.acquire()
    except ControlLockHeld as exc:
        await redis.aclose()
        raise ConfigError(
            f"Another control node ({exc.holder}) holds the control lock: a cluster has exactly"
            " one. Stop it first; if it was killed, its lock lapses after"
            f" {rules.lock_seconds:g} s."
        ) from None
    except UNREACHABLE as exc:
        await redis.aclose()
        raise ConfigError(f"Redis at {redis_where(redis_url)} cannot be reached: {exc}") from None
    cluster = Cluster(redis, ledger, heartbeats, changes, dead_after=rules.dead_after)
    ingest = ClusterIngest(sink, cluster)
    every = rules.every
    tasks = [
        asyncio.create_task(lock.keep(stop), name="sabaq-control-lock"),
        asyncio.create_task(run_control(redis, cluster, ingest, every, lock), name="sabaq-ingest"),
        asyncio.create_task(cluster.follow_rosters(every), name="sabaq-rosters"),
        asyncio.create_task(ClosedClasses(redis, timetable).following(every), name="sabaq-closed"),
    ]
    log.info("control node %s holds the control lock", holder)
    try:
        yield cluster
    finally:
        cluster.stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=5)  # bounded: see MediaAgent.stop
        await cluster.close()
        await lock.release()
        await redis.aclose()


@contextlib.asynccontextmanager
async def repeating(
    name: str,
    job: Callable[[], object],
    every: float,
    off_loop: Callable[[Callable[[], object]], Awaitable[object]],
) -> AsyncIterator[None]:
    """Runs ``job`` now and every ``every`` seconds while the context lasts, through
    ``off_loop`` (on a worker thread: the media's event loop never waits for it); a failing
    run is logged and the next one tried."""

    async def loop() -> None:
        while True:
            try:
                await off_loop(job)
            except Exception:
                log.exception("%s failed; trying again in %.0f s", name, every)
            await asyncio.sleep(every)

    async with running(name, loop()):
        yield
