"""The application's resources, each a cleanup context: the database and its stores, the media
plane (or a cluster's control node or media node), the practice rooms, and the background jobs
(recording retention, chain digests, the monthly guarantee, webhook and mail delivery,
notices, the HR services' monthly mail)."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from attendance.sqlite_heartbeats import SqliteHeartbeats
from control import jobs
from control.commands import LocalMediaControl
from control.database import connect
from control.evidence import LedgerHeldEvidence
from control.guarantee_run import titles
from control.jobs import OffLoop
from control.mail_delivery import Security, SmtpServer
from control.mail_delivery import running as mail_running
from control.media_node import LedgerStores, cluster_node, ledger_sink, local_node
from control.media_node import practice_rooms as practice_rooms_of
from control.metrics import Role
from control.notice_mail import NoticeMailer
from control.runtime import ControlNodeRules
from control.runtime import control_node as control_node_of
from control.tasks import running as task_running
from control.webhook_delivery import running
from scheduler.guarantee import Guarantee

from . import keys
from .hr_mail import hr_mailer
from .metrics import install
from .offload import off_loop
from .settings import Settings
from .stores import open_stores

log = logging.getLogger("sabaq.web.app")


async def open_database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Each thread that uses the stores gets a connection of its own (control.workers).
    db = connect(settings.database_path, per_thread=True)
    app[keys.DB] = db
    open_stores(app, db, settings)
    yield
    db.close()


def _stores(app: web.Application) -> LedgerStores:
    return LedgerStores(
        app[keys.DB], app[keys.LEDGER], app[keys.TIMETABLE], app[keys.GUESTS], app[keys.HEADS],
        app[keys.CHANGES],
    )  # fmt: skip


async def media_plane(app: web.Application) -> AsyncIterator[None]:
    """`sabaq serve`'s media node (``control.media_node.local_node``)."""
    plane = local_node(app[keys.SETTINGS], _stores(app), app[keys.SIGNER], app[keys.MEDIA_BACKEND])
    async with plane as (node, gate):
        app[keys.MEDIA_NODE] = node
        app[keys.MEDIA_CONTROL] = LocalMediaControl(node, gate)
        yield


async def practice_rooms(app: web.Application) -> AsyncIterator[None]:
    async with practice_rooms_of(app[keys.SETTINGS]) as echoes:
        app[keys.PRACTICE] = echoes
        yield


async def control_node(app: web.Application) -> AsyncIterator[None]:
    """`sabaq control` (``control.runtime.control_node``): the control lock, the event
    stream's ingestion, the nodes' watch and rosters."""
    settings = app[keys.SETTINGS]
    heartbeats = SqliteHeartbeats(app[keys.DB], settings.clock)
    rules = ControlNodeRules(
        settings.control_lock_seconds,
        settings.node_dead_after_seconds,
        settings.node_heartbeat_seconds,
    )
    stop = app.get(keys.STOP) or (lambda: log.critical("this control node should stop now"))
    sink = ledger_sink(settings, _stores(app), heartbeats)
    plane = control_node_of(
        settings.redis_url, rules, app[keys.LEDGER], heartbeats, app[keys.CHANGES], sink, stop
    )
    async with plane as cluster:
        app[keys.CLUSTER] = cluster
        app[keys.MEDIA_CONTROL] = cluster
        yield


async def cluster_media_node(app: web.Application) -> AsyncIterator[None]:
    """`sabaq media` (``control.media_node.cluster_node``)."""
    plane = cluster_node(app[keys.SETTINGS], app[keys.SIGNER], app[keys.MEDIA_BACKEND])
    async with plane as (node, agent):
        app[keys.MEDIA_NODE] = node
        app[keys.AGENT] = agent
        yield


def metrics(role: Role) -> Callable[[web.Application], AsyncIterator[None]]:
    """/metrics: the application's registry (``web.core.metrics``) and the loop-lag task."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async with task_running("loop-lag", install(app, role)):
            yield

    return context


def _off_loop(app: web.Application) -> OffLoop:
    return functools.partial(off_loop, app)


async def recording_retention(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    days = settings.recording_retention_days
    async with jobs.recording_retention(settings.recordings_dir, days, _off_loop(app)):
        yield


async def chain_digests(app: web.Application) -> AsyncIterator[None]:
    clock = app[keys.SETTINGS].clock
    async with jobs.chain_digests(app[keys.LEDGER], app[keys.HEADS], clock, _off_loop(app)):
        yield


async def monthly_guarantee(app: web.Application) -> AsyncIterator[None]:
    """The monthly guarantee (clause 9), on the control node: marks unstarted classes missed,
    plans a live class where a group-month lacks one, raises alerts where it cannot; switched
    off by SABAQ_GUARANTEE_INTERVAL_SECONDS=0."""
    settings = app[keys.SETTINGS]
    evidence = LedgerHeldEvidence(
        app[keys.LEDGER], app[keys.TIMETABLE], settings.held_min_live_seconds, app[keys.GUESTS]
    )
    titled = titles(app[keys.CATALOGUES])
    job = app[keys.GUARANTEE] = Guarantee(
        app[keys.TIMETABLE], settings.guarantee_rules, titled, evidence
    )
    every = settings.guarantee_interval_seconds
    async with jobs.monthly_guarantee(job, every, settings.clock, _off_loop(app)):
        yield


async def webhook_delivery(app: web.Application) -> AsyncIterator[None]:
    """Signed webhooks to the portal, collected from the records and sent with retries."""
    every = app[keys.SETTINGS].webhook_interval_seconds
    if not every:
        yield
        return
    async with running(app[keys.WEBHOOKS], every):
        yield


def smtp_server(settings: Settings) -> SmtpServer:
    security: Security = (
        "tls" if settings.smtp_security == "tls"
        else "none" if settings.smtp_security == "none" else "starttls"
    )  # fmt: skip
    return SmtpServer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        security=security,
        user=settings.smtp_user,
        password=settings.smtp_password,
    )


async def mail_delivery(app: web.Application) -> AsyncIterator[None]:
    """The e-mail outbox sent over SMTP, with retries; nothing without SABAQ_SMTP_HOST."""
    settings = app[keys.SETTINGS]
    if not settings.mail_enabled or not settings.smtp_interval_seconds:
        yield
        return
    server = smtp_server(settings)
    async with mail_running(app[keys.MAIL], server, settings.smtp_interval_seconds, settings.clock):
        yield


async def notice_mail(app: web.Application) -> AsyncIterator[None]:
    """New notices queued for e-mail as they are made; nothing without SABAQ_SMTP_HOST."""
    settings = app[keys.SETTINGS]
    every = settings.notice_interval_seconds if settings.mail_enabled else 0
    mailer = NoticeMailer(
        app[keys.NOTICES], app[keys.ACCOUNTS], app[keys.MAIL], app[keys.CATALOGUES],
        settings.default_language, settings.public_url, settings.clock,
    )  # fmt: skip
    async with jobs.every("notice-mail", mailer.run_once, every, _off_loop(app)):
        yield


async def hr_mail(app: web.Application) -> AsyncIterator[None]:
    """The agencies' HR services' monthly mail (clauses 18, 19); nothing without
    SABAQ_SMTP_HOST."""
    settings = app[keys.SETTINGS]
    every = settings.hr_mail_interval_seconds if settings.mail_enabled else 0
    async with jobs.hr_mail(hr_mailer(app), every, _off_loop(app)):
        yield


async def notice_collector(app: web.Application) -> AsyncIterator[None]:
    """Notices made of what happens in the timetable and to requests, every few seconds."""
    every = app[keys.SETTINGS].notice_interval_seconds
    async with jobs.every("notices", app[keys.NOTICES].collect, every, _off_loop(app)):
        yield


async def disconnect_participants(app: web.Application) -> None:
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
