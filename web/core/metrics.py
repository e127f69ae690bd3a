"""``/metrics`` in Prometheus's text format, on every process (the single process, the control
node, each media node).

Each application has a registry of its own (several applications in one process — the tests —
do not collide). What the media plane counts on its hot path are plain integers
(``streaming.stats``), read by a collector when Prometheus scrapes; nothing there calls the
metrics library per packet. What needs Redis (the control node's stream) is read just before
the text is made.

Served to clients on this machine only, never through the TLS front (a request that carries a
proxy's forwarding headers came through one); with ``SABAQ_METRICS_TOKEN`` set, to whoever sends
that token as a Bearer token, and to nobody else."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import math
from collections.abc import Coroutine, Iterator
from typing import Any, Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from access.models import ClassRole
from attendance.sqlite_dead_events import SqliteDeadEvents
from streaming.media_ports import CountsForwarding
from streaming.node import MediaNode
from streaming.stats import Histogram

from . import keys

Role = Literal["serve", "control", "media"]

# The event loop is woken this often to see how late it wakes (the loop's lag).
LOOP_LAG_EVERY = 0.1
LOOP_LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
FORWARDED_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


class Snapshot:
    """What the collector cannot read synchronously (the control node asks Redis), refreshed
    before each scrape; None where it cannot be said."""

    def __init__(self) -> None:
        self.stream_waiting: float | None = None
        self.stream_unacknowledged: int | None = None
        self.dead_on_nodes = 0

    async def refresh(self, app: web.Application) -> None:
        cluster = app.get(keys.CLUSTER)
        if cluster is None:
            return
        self.stream_waiting = await cluster.events_waiting()
        self.stream_unacknowledged = await cluster.events_unacknowledged()
        self.dead_on_nodes = sum((await cluster.dead_events_of_nodes()).values())


class SabaqCollector(Collector):
    """Sabaq's own metrics, read from the application's state at scrape time."""

    def __init__(self, app: web.Application, role: Role, snapshot: Snapshot) -> None:
        self._app = app
        self._role = role
        self._snapshot = snapshot
        self.loop_lag = Histogram(LOOP_LAG_BUCKETS)

    def collect(self) -> Iterator[Metric]:
        app = self._app
        settings = app[keys.SETTINGS]
        info = GaugeMetricFamily(
            "sabaq_info", "This Sabaq process: its role and media node", labels=["role", "node"]
        )
        info.add_metric([self._role, settings.node_id if self._role != "control" else ""], 1)
        yield info
        yield _histogram(
            "sabaq_event_loop_lag_seconds",
            f"How late the event loop wakes a task that sleeps {LOOP_LAG_EVERY:g} s",
            self.loop_lag,
        )
        node = app.get(keys.MEDIA_NODE)
        if node is not None:
            yield from _media(node)
        yield from self._events(node)
        if keys.DB in app:
            yield _gauge(
                "sabaq_webhook_queue",
                "Webhook events waiting to be delivered to the portal (retried ones included)",
                app[keys.WEBHOOKS].waiting(),
            )
            yield _gauge(
                "sabaq_mail_queue",
                "E-mails in the outbox not yet accepted by the mail server (0 without SMTP)",
                app[keys.MAIL].waiting(),
            )

    def _events(self, node: MediaNode | None) -> Iterator[Metric]:
        """The events on their way to the ledger: held, set aside, and how long the oldest
        has waited."""
        app, snapshot = self._app, self._snapshot
        clock = app[keys.SETTINGS].clock
        if self._role == "control":
            pending: float = _or_nan(snapshot.stream_unacknowledged)
            lag = _or_nan(snapshot.stream_waiting)
            if snapshot.stream_waiting is None and snapshot.stream_unacknowledged == 0:
                lag = 0.0
            dead = SqliteDeadEvents(app[keys.DB]).count() + snapshot.dead_on_nodes
        else:
            assert node is not None
            agent = app.get(keys.AGENT)
            pending = node.outbox.pending + (agent.buffered if agent is not None else 0)
            waiting = [node.outbox.oldest, agent.oldest_buffered if agent is not None else None]
            oldest = min((t for t in waiting if t is not None), default=None)
            lag = 0.0 if oldest is None else max(0.0, clock() - oldest)
            dead = (
                SqliteDeadEvents(app[keys.DB]).count()
                if keys.DB in app
                else node.outbox.dead_letters
            )
        yield _gauge(
            "sabaq_events_pending",
            "Attendance events not yet committed to the ledger (on a media node: its outbox and"
            " its disk buffer; on the control node: the stream's unacknowledged entries)",
            pending,
        )
        yield _gauge(
            "sabaq_events_dead_lettered",
            "Attendance events the ledger could not store, set aside for an administrator",
            dead,
        )
        yield _gauge(
            "sabaq_ingest_lag_seconds",
            "How long the oldest event not yet committed to the ledger has waited (0: none)",
            lag,
        )


def _media(node: MediaNode) -> Iterator[Metric]:
    live = [r for r in node.rooms.values() if not r.ended]
    yield _gauge("sabaq_rooms", "Live class rooms on this media node", len(live))
    by_role = dict.fromkeys((r.value for r in ClassRole), 0)
    for room in live:
        for p in room.participants.values():
            by_role[p.role.value] = by_role.get(p.role.value, 0) + 1
    people = GaugeMetricFamily(
        "sabaq_participants", "Participants in the live rooms, by role", labels=["role"]
    )
    for role, n in sorted(by_role.items()):
        people.add_metric([role], n)
    yield people
    yield _histogram(
        "sabaq_join_latency_seconds",
        "From a participant's join (or rejoin) message to its welcome",
        node.join_latency,
    )
    if not isinstance(node.media, CountsForwarding):
        return
    counts = node.media.tally.counts()
    for name, doc, value in (
        ("sabaq_forwarded_packets", "RTP packets forwarded to viewers", counts.packets),
        ("sabaq_forwarded_bytes", "RTP payload bytes forwarded to viewers", counts.octets),
        (
            "sabaq_send_errors",
            "Failures sending to a viewer (that viewer's connection is dropped)",
            counts.send_errors,
        ),
        (
            "sabaq_backlog_skips",
            "Frames skipped for a viewer whose socket had too much queued",
            counts.skipped,
        ),
        (
            "sabaq_keyframe_requests",
            "Keyframe requests (PLI) sent to publishers, after coalescing",
            counts.keyframe_requests,
        ),
        ("sabaq_nacks", "Packets viewers asked to have sent again (NACK)", counts.nacks),
        (
            "sabaq_retransmitted_packets",
            "Packets sent again on a viewer's NACK",
            counts.retransmitted,
        ),
    ):
        yield CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _histogram(name: str, doc: str, h: Histogram) -> HistogramMetricFamily:
    buckets = [(_bound(b), float(n)) for b, n in h.cumulative()]
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=h.sum)


def _bound(b: float) -> str:
    return "+Inf" if b == math.inf else repr(b)


async def _measure_lag(histogram: Histogram, every: float) -> None:
    """Wake every ``every`` seconds; how much later than asked the loop woke is its lag."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + every
        await asyncio.sleep(every)
        histogram.observe(max(0.0, loop.time() - asked))


def install(app: web.Application, role: Role) -> Coroutine[Any, Any, None]:
    """The application's registry and its collectors, under ``keys.METRICS``; returns the
    loop-lag measurement, to run while the application runs."""
    registry = CollectorRegistry(auto_describe=False)
    snapshot = Snapshot()
    collector = SabaqCollector(app, role, snapshot)
    registry.register(collector)
    ProcessCollector(registry=registry)  # CPU, memory, open files of this process
    app[keys.METRICS] = registry
    app[keys.METRICS_REFRESH] = lambda: snapshot.refresh(app)
    return _measure_lag(collector.loop_lag, LOOP_LAG_EVERY)


def local_peer(remote: str | None) -> bool:
    """Whether a client at ``remote`` is on this machine (an IPv4 client of a dual-stack
    socket included)."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # a dual-stack socket's IPv4 client
    return address.is_loopback


def refusal(request: web.Request, token: str) -> web.Response | None:
    """Why this request may not read the metrics (a 401 or 403 saying what to do), or None."""
    if token:
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() != "bearer ":
            return web.Response(
                status=401,
                text="/metrics needs the metrics token (SABAQ_METRICS_TOKEN) as a Bearer token.\n",
                headers={"WWW-Authenticate": 'Bearer realm="sabaq-metrics"'},
            )
        if not hmac.compare_digest(auth[7:].strip().encode(), token.encode()):
            return web.Response(status=403, text="The metrics token is not right.\n")
        return None
    if not local_peer(request.remote) or any(h in request.headers for h in FORWARDED_HEADERS):
        return web.Response(
            status=403,
            text="/metrics is served to this machine only (not through a proxy); to scrape it"
            " from elsewhere, set SABAQ_METRICS_TOKEN and send it as a Bearer token.\n",
        )
    return None


async def metrics_view(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text exposition of this process."""
    app = request.app
    refused = refusal(request, app[keys.SETTINGS].metrics_token)
    if refused is not None:
        return refused
    await app[keys.METRICS_REFRESH]()
    body = generate_latest(app[keys.METRICS])
    return web.Response(
        body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
    )
