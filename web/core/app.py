"""The application factory: every resource is a cleanup context, wired in one place."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Literal

from aiohttp import web
from redis.asyncio import Redis

from access.api_keys import SqliteApiKeys
from access.passwords import Passwords
from access.sqlite_store import SqliteAccounts
from access.throttle import Limits
from access.tokens import TokenSigner
from admission.sqlite_excuses import SqliteExcuses
from admission.sqlite_guests import SqliteGuests
from admission.sqlite_status import SqliteAdmission
from attendance.heads_folder import HeadsFolder
from attendance.marks import MarkRules
from attendance.sqlite_dead_events import SqliteDeadEvents
from attendance.sqlite_heartbeats import SqliteHeartbeats
from attendance.sqlite_ledger import SqliteLedger
from attendance.sqlite_mark_rules import SqliteMarkRules
from control.changes import Changes
from control.cluster import Cluster as ClusterView
from control.cluster import ClusterIngest, run_control
from control.commands import LocalMediaControl
from control.database import connect
from control.evidence import LedgerHeldEvidence
from control.gate import LocalGate
from control.idempotency import Idempotency
from control.ingest import LedgerSink, events_delayed, recover_node, write_digests
from control.lock import ControlLock, ControlLockHeld
from control.webhook_delivery import running
from control.webhook_sources import Sources
from control.webhooks import Webhooks
from scheduler.guarantee import Guarantee, GuaranteeRules
from scheduler.models import Group
from scheduler.sqlite_store import SqliteTimetable
from streaming.aiortc_media import AiortcBackend, advertise_host_addresses
from streaming.cluster import MediaAgent
from streaming.node import MediaNode, MediaSettings
from streaming.practice import Echoes
from streaming.redis_events import UNREACHABLE, DiskBuffer, RedisStreamSink
from streaming.room import MediaBackend
from streaming.signaling import create_signaling_app

from ..api import admission as admission_api
from ..api import classes as classes_api
from ..api import excuses as excuses_api
from ..api import groups as groups_api
from ..api import guests as guests_api
from ..api import openapi as openapi_api
from ..api import reports as reports_api
from ..api import timetable as timetable_api
from ..pages import attendance, group_import, health, home, invites, planning, signin
from ..pages.admission import routes as admission_routes
from ..pages.apikeys import routes as apikey_routes
from ..pages.classes import routes as class_routes
from ..pages.excuses import routes as excuse_routes
from ..pages.groups import routes as group_routes
from ..pages.guests import routes as guest_routes
from ..pages.ical import routes as ical_routes
from ..pages.practice import routes as practice_routes
from ..pages.programmes import routes as programme_routes
from ..pages.reports import routes as report_routes
from ..pages.timetable import GUARANTEE_TITLE
from ..pages.timetable import routes as timetable_routes
from . import keys
from .http import MAX_BODY, templates
from .i18n import load_catalogues
from .middlewares import body_deadline, middlewares, server_limits
from .settings import ConfigError, Settings

log = logging.getLogger("sabaq.web.app")
STATIC = Path(__file__).parents[1] / "static"
# Every route of the application, in the order they are added; the API's document is built
# from its routes (web/openapi.py).
ROUTE_TABLES = (
    health.routes, signin.routes, home.routes, class_routes, attendance.routes, report_routes,
    reports_api.routes, excuse_routes, excuses_api.routes, admission_routes, admission_api.routes,
    practice_routes, timetable_routes, planning.routes, timetable_api.routes, openapi_api.routes,
    group_routes, group_import.routes, programme_routes, guest_routes, invites.routes,
    apikey_routes, classes_api.routes, groups_api.routes, guests_api.routes, ical_routes,
)  # fmt: skip
Role = Literal["serve", "control"]


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = connect(settings.database_path)
    app[keys.DB] = db
    app[keys.ACCOUNTS] = SqliteAccounts(db, settings.clock)
    app[keys.API_KEYS] = SqliteApiKeys(db, settings.clock)
    app[keys.TIMETABLE] = SqliteTimetable(db, settings.clock)
    app[keys.EXCUSES] = SqliteExcuses(db, settings.clock)
    app[keys.GUESTS] = SqliteGuests(db, settings.clock)
    app[keys.ADMISSION] = SqliteAdmission(db, settings.clock)
    app[keys.IDEMPOTENCY] = Idempotency(db)
    app[keys.LEDGER] = SqliteLedger(db, settings.clock)
    app[keys.WEBHOOKS] = Webhooks(
        db,
        Sources(
            app[keys.TIMETABLE],
            app[keys.LEDGER],
            app[keys.GUESTS],
            app[keys.EXCUSES],
            app[keys.ADMISSION],
        ),
        frozenset(settings.webhook_allowed_hosts),
    )
    app[keys.HEADS] = HeadsFolder(settings.heads_dir)
    app[keys.MARK_RULES] = SqliteMarkRules(
        db,
        MarkRules(
            late_after_seconds=settings.late_after_minutes * 60,
            present_share=min(1.0, settings.present_percent / 100),
            grace_seconds=settings.reconnect_grace_seconds,
        ),
        settings.clock,
    )
    yield
    db.close()


@contextlib.contextmanager
def _node_lock(settings: Settings) -> Iterator[None]:
    """One process per media node and data folder: a second one started by mistake must not
    take the running node for dead and close its classes' presence."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = settings.data_dir / f"node-{settings.node_id}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"Media node {settings.node_id} is already running from {settings.data_dir}"
            " (another `sabaq serve` or `sabaq media`?). Stop it first, or give this one its"
            " own SABAQ_NODE_ID."
        ) from None
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


def _media_settings(settings: Settings, node_id: str) -> MediaSettings:
    return MediaSettings(
        node_id=node_id,
        ice_addresses=settings.ice_addresses,
        ice_servers=settings.ice_servers,
        reconnect_grace=settings.reconnect_grace_seconds,
        node_heartbeat=settings.node_heartbeat_seconds,
        clock=settings.clock,
    )


def _aiortc(settings: Settings) -> AiortcBackend:
    return AiortcBackend(
        settings.ice_servers, settings.recordings_dir, settings.publisher_silence_seconds
    )


def _ledger_sink(
    app: web.Application, heartbeats: SqliteHeartbeats, committer: SqliteLedger | None = None
) -> LedgerSink:
    """Events into the ledger on this process (acknowledged on commit; with ``committer``, on
    a worker thread of its own connection)."""
    settings = app[keys.SETTINGS]
    evidence = LedgerHeldEvidence(
        app[keys.LEDGER], app[keys.TIMETABLE], settings.held_min_live_seconds, app[keys.GUESTS]
    )
    return LedgerSink(
        app[keys.LEDGER], app[keys.TIMETABLE], evidence, heartbeats, app[keys.HEADS],
        app[keys.CHANGES], SqliteDeadEvents(app[keys.DB], settings.clock), committer,
    )  # fmt: skip


def _spool(settings: Settings, name: str) -> DiskBuffer:
    """The node's events still undelivered when it stopped, delivered at its next start."""
    return DiskBuffer(settings.data_dir / f"outbox-{name}.jsonl", settings.event_buffer_events)


async def _media(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    advertise_host_addresses(settings.ice_addresses)
    with (
        _node_lock(settings),
        contextlib.closing(connect(settings.database_path)) as commits,
        contextlib.closing(connect(settings.database_path)) as spends,
    ):
        heartbeats = SqliteHeartbeats(app[keys.DB], settings.clock)
        # Spent join tokens are written off the event loop, on a connection of their own.
        gate = LocalGate(app[keys.DB], app[keys.TIMETABLE], settings.clock, spends)
        node = MediaNode(
            _media_settings(settings, settings.node_id),
            app[keys.SIGNER],
            # The media's events are committed off the event loop, on a connection of their own
            # (a welcome waits for its join's commit; the media must not wait for the disk).
            _ledger_sink(app, heartbeats, SqliteLedger(commits, settings.clock)),
            app[keys.MEDIA_BACKEND] or _aiortc(settings),
            gate,
            spool=_spool(settings, settings.node_id),
        )
        # What the last run could not deliver is in the ledger before what it left open is
        # closed (its departures recorded at a stop are then not taken for a crash's).
        await node.outbox.deliver_spooled()
        recover_node(app[keys.LEDGER], heartbeats, settings.node_id)
        app[keys.MEDIA_NODE] = node
        app[keys.MEDIA_CONTROL] = LocalMediaControl(node, gate)
        await node.start()
        try:
            yield
        finally:
            await node.close()


async def _practice(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    advertise_host_addresses(settings.ice_addresses)  # the control node's echo too
    app[keys.PRACTICE] = Echoes(settings.ice_servers)
    try:
        yield
    finally:
        await app[keys.PRACTICE].close_all()


def _redis(settings: Settings, read_timeout: float) -> Redis:
    # Short timeouts: an unreachable Redis costs a moment, not a minute.
    return Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=read_timeout)


def _redis_where(settings: Settings) -> str:
    """The Redis address without its password, for messages."""
    url = settings.redis_url
    return url.split("@", 1)[1] if "@" in url else url.split("://", 1)[-1]


async def _control(app: web.Application) -> AsyncIterator[None]:
    """`sabaq control`: take the control lock, ingest the event stream, watch the nodes,
    follow their rosters; commands go to the node that hosts a class."""
    settings = app[keys.SETTINGS]
    redis = _redis(settings, read_timeout=5)
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    lock = ControlLock(redis, holder, settings.control_lock_seconds)
    try:
        await lock.acquire()
    except ControlLockHeld as exc:
        await redis.aclose()
        raise ConfigError(
            f"Another control node ({exc.holder}) holds the control lock: a cluster has exactly"
            " one. Stop it first; if it was killed, its lock lapses after"
            f" {settings.control_lock_seconds:g} s."
        ) from None
    except UNREACHABLE as exc:
        await redis.aclose()
        raise ConfigError(f"Redis at {_redis_where(settings)} cannot be reached: {exc}") from None
    heartbeats = SqliteHeartbeats(app[keys.DB], settings.clock)
    cluster = ClusterView(
        redis,
        app[keys.LEDGER],
        heartbeats,
        app[keys.CHANGES],
        dead_after=settings.node_dead_after_seconds,
    )
    app[keys.CLUSTER] = cluster
    app[keys.MEDIA_CONTROL] = cluster
    ingest = ClusterIngest(_ledger_sink(app, heartbeats), cluster)
    stop = app.get(keys.STOP) or (lambda: log.critical("this control node should stop now"))
    every = settings.node_heartbeat_seconds
    tasks = [
        asyncio.create_task(lock.keep(stop), name="sabaq-control-lock"),
        asyncio.create_task(run_control(redis, cluster, ingest, every, lock), name="sabaq-ingest"),
        asyncio.create_task(cluster.follow_rosters(every), name="sabaq-rosters"),
    ]
    log.info("control node %s holds the control lock", holder)
    try:
        yield
    finally:
        cluster.stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=5)  # bounded: see MediaAgent.stop
        await lock.release()
        await redis.aclose()


async def _cluster_media(app: web.Application) -> AsyncIterator[None]:
    """`sabaq media`: rooms and signaling; events go to the stream (or the disk while Redis
    is away); the node registers, heart-beats and answers commands."""
    settings = app[keys.SETTINGS]
    advertise_host_addresses(settings.ice_addresses)
    with _node_lock(settings):
        redis = _redis(settings, read_timeout=2)
        buffer = DiskBuffer(
            settings.data_dir / f"events-{settings.node_id}.jsonl", settings.event_buffer_events
        )
        if buffer.size:
            log.warning("%d events of an earlier run wait on disk for Redis", buffer.size)
        sink = RedisStreamSink(redis, buffer)
        node_id = f"{settings.node_id}.{secrets.token_hex(4)}"  # new each start
        node = MediaNode(
            _media_settings(settings, node_id),
            app[keys.SIGNER],
            sink,
            app[keys.MEDIA_BACKEND] or _aiortc(settings),
            spool=_spool(settings, settings.node_id),
        )
        agent = MediaAgent(
            redis,
            node,
            sink,
            name=settings.node_id,
            url=settings.media_url,
            capacity=settings.node_capacity,
            every=settings.node_heartbeat_seconds,
        )
        node.gate = agent
        app[keys.MEDIA_NODE] = node
        app[keys.AGENT] = agent
        await node.start()
        await agent.start()
        log.info("media node %s (%s) serves %s", settings.node_id, node_id, settings.media_url)
        try:
            yield
        finally:
            await agent.stop()
            await node.close()
            await redis.aclose()


def sweep_recordings(folder: Path, retention_days: float, now: float | None = None) -> int:
    """Delete recordings older than the retention period; returns how many went."""
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    removed = 0
    for path in folder.glob("*/*.webm"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    if removed:
        log.info("removed %d recordings past their retention", removed)
    return removed


@contextlib.asynccontextmanager
async def _hourly(
    name: str, job: Callable[[], object], every: float = 3600.0
) -> AsyncIterator[None]:
    """Runs ``job`` now and every ``every`` seconds (an hour) while the application runs; a
    failing run is logged and the next one tried."""

    async def loop() -> None:
        while True:
            try:
                job()
            except Exception:
                log.exception("%s failed; trying again in %.0f s", name, every)
            await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name=f"sabaq-{name}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _retention(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    async with _hourly(
        "recording-retention",
        lambda: sweep_recordings(settings.recordings_dir, settings.recording_retention_days),
    ):
        yield


async def _digests(app: web.Application) -> AsyncIterator[None]:
    """Publishes each finished day's chain heads (UTC)."""
    clock = app[keys.SETTINGS].clock
    async with _hourly(
        "chain-digest", lambda: write_digests(app[keys.LEDGER], app[keys.HEADS], clock())
    ):
        yield


async def _guarantee(app: web.Application) -> AsyncIterator[None]:
    """The monthly guarantee (clause 9), on the control node: marks unstarted classes missed,
    plans a live class where a group-month lacks one, raises alerts where it cannot."""
    settings = app[keys.SETTINGS]
    start, end = (dt.time.fromisoformat(t) for t in settings.working_hours)
    rules = GuaranteeRules(
        working_days=frozenset(settings.working_days),
        day_starts=start,
        day_ends=end,
        notice_days=settings.guarantee_notice_days,
        months_ahead=settings.guarantee_months_ahead,
    )
    catalogues = app[keys.CATALOGUES]

    def title(group: Group) -> str:
        return catalogues[group.language].gettext(GUARANTEE_TITLE)

    evidence = LedgerHeldEvidence(
        app[keys.LEDGER], app[keys.TIMETABLE], settings.held_min_live_seconds, app[keys.GUESTS]
    )
    job = Guarantee(app[keys.TIMETABLE], rules, title, evidence)
    app[keys.GUARANTEE] = job
    if not settings.guarantee_interval_seconds:
        yield  # switched off (SABAQ_GUARANTEE_INTERVAL_SECONDS=0)
        return

    def run() -> None:
        report = job.run(dt.datetime.fromtimestamp(settings.clock(), dt.UTC))
        if report.planned or report.alerts or report.missed:
            log.info(
                "guarantee: planned %s, alerts %s, missed %s",
                report.planned,
                report.alerts,
                report.missed,
            )

    async with _hourly("monthly-guarantee", run, settings.guarantee_interval_seconds):
        yield


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """Signed webhooks to the portal, collected from the records and sent with retries."""
    every = app[keys.SETTINGS].webhook_interval_seconds
    if not every:
        yield
        return
    async with running(app[keys.WEBHOOKS], every):
        yield


async def _disconnect_participants(app: web.Application) -> None:
    # On shutdown aiohttp waits for running handlers; WebSockets end only when closed, so the
    # media node closes them first (clients are told, and reconnect to a node that is up). In a
    # cluster the node leaves the registry and frees its classes first: they are placed on
    # another node when their people reconnect.
    if keys.CHANGES in app:
        app[keys.CHANGES].close()  # live pages' streams end
    if keys.AGENT in app:
        await app[keys.AGENT].stop()
    if keys.MEDIA_NODE in app:
        await app[keys.MEDIA_NODE].disconnect_all()


def create_app(
    settings: Settings, media: MediaBackend | None = None, role: Role = "serve"
) -> web.Application:
    """The application: ``serve`` holds both planes; ``control`` is a cluster's control node
    (its media nodes are ``create_media_app``). ``media`` replaces the forwarding backend
    (benchmarks compare)."""
    if role == "control" and not settings.redis_url:
        raise ConfigError(
            "`sabaq control` runs a cluster: set REDIS_URL (or run `sabaq serve`, one process)."
        )
    app = web.Application(
        middlewares=middlewares(settings),
        client_max_size=MAX_BODY,
        handler_args=server_limits(settings),
    )
    app[keys.SETTINGS] = settings
    app[keys.MEDIA_BACKEND] = media
    app[keys.PASSWORDS] = Passwords()
    app[keys.SIGNER] = TokenSigner(settings.secret_key, settings.clock)
    app[keys.TEMPLATES] = templates()
    app[keys.CHANGES] = Changes()
    app[keys.LIMITS] = Limits.of(
        max(1, settings.signin_attempts),
        settings.signin_window_seconds,
        max(1, settings.join_tokens_per_minute),
        settings.signin_wait_seconds,
    )
    app[keys.CATALOGUES] = load_catalogues(settings.languages)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_control if role == "control" else _media)
    app.cleanup_ctx.append(_practice)
    app.cleanup_ctx.append(_retention)
    app.cleanup_ctx.append(_digests)
    app.cleanup_ctx.append(_guarantee)
    app.cleanup_ctx.append(_webhooks)
    app.on_shutdown.append(_disconnect_participants)
    for table in ROUTE_TABLES:
        app.add_routes(table)
    if role == "serve":
        app.add_subapp("/media/", create_signaling_app())
    app.router.add_static("/static", STATIC, name="static", append_version=True)
    return app


async def _media_ready(request: web.Request) -> web.Response:
    node = request.app[keys.MEDIA_NODE]
    agent = request.app[keys.AGENT]
    doc = {
        "node": node.settings.node_id,
        "rooms": len(node.rooms),
        "participants": node.participants,
        "pending_events": node.outbox.pending,
        "buffered_events": agent.buffered,
        "dead_events": node.outbox.dead_letters,  # set aside in this run (see the node's log)
    }
    if not node.accepting:
        return web.json_response({"status": "unavailable", "media": "stopping", **doc}, status=503)
    if agent.refuses_joins():
        return web.json_response({"status": "unavailable", "media": "backlog", **doc}, status=503)
    settings = request.app[keys.SETTINGS]
    # Not delivered yet: in the outbox, or on the node's disk while Redis is away.
    waiting = [t for t in (node.outbox.oldest, agent.oldest_buffered) if t is not None]
    delayed = events_delayed(
        min(waiting, default=None), settings.event_delay_bound_seconds, settings.clock()
    )
    if delayed is not None:
        return web.json_response(
            {
                "status": "unavailable",
                "media": "events_delayed",
                "oldest_event_age": delayed,
                **doc,
            },
            status=503,
        )
    return web.json_response({"status": "ready", **doc})


async def _alive(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_media_app(settings: Settings, media: MediaBackend | None = None) -> web.Application:
    """`sabaq media`: a cluster's media node — rooms and signaling, no database."""
    if not settings.redis_url:
        raise ConfigError(
            "`sabaq media` runs a cluster: set REDIS_URL (or run `sabaq serve`, one process)."
        )
    if not settings.media_url:
        raise ConfigError(
            "`sabaq media` needs SABAQ_MEDIA_URL: the address browsers reach this node's"
            " signaling at (like https://sabaq.example.edu/nodes/media-1/media)."
        )
    app = web.Application(
        middlewares=[body_deadline(settings.body_timeout_seconds)],
        client_max_size=MAX_BODY,
        handler_args=server_limits(settings),
    )
    app[keys.SETTINGS] = settings
    app[keys.MEDIA_BACKEND] = media
    app[keys.SIGNER] = TokenSigner(settings.secret_key, settings.clock)
    app.cleanup_ctx.append(_cluster_media)
    app.cleanup_ctx.append(_retention)
    app.on_shutdown.append(_disconnect_participants)
    app.router.add_get("/healthz", _alive)
    app.router.add_get("/readyz", _media_ready)
    app.add_subapp("/media/", create_signaling_app())
    return app
