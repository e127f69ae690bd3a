"""Sabaq's own metrics for ``/metrics`` (``web.core.metrics`` serves them), read when
Prometheus scrapes: the process's role, the event loop's lag, the media node's rooms, people,
join latency and forwarding counters, the events on their way to the ledger, the webhook queue
and the mail outbox.

What the media plane counts on its hot path are plain integers (``streaming.stats``), read by
the collector; nothing there calls the metrics library per packet. What needs Redis (the
control node's stream) is read just before the text is made (``Snapshot.refresh``)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from access.models import ClassRole
from attendance.sqlite_dead_events import SqliteDeadEvents
from streaming.cluster import MediaAgent
from streaming.media_ports import CountsForwarding
from streaming.node import MediaNode
from streaming.stats import Histogram

from .cluster import Cluster
from .mail import Mailbox
from .webhooks import Webhooks

Role = Literal["serve", "control", "media"]

# The event loop is woken this often to see how late it wakes (the loop's lag).
LOOP_LAG_EVERY = 0.1
LOOP_LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Snapshot:
    """What the collector cannot read synchronously (the control node asks Redis), refreshed
    before each scrape; None where it cannot be said."""

    def __init__(self) -> None:
        self.stream_waiting: float | None = None
        self.stream_unacknowledged: int | None = None
        self.dead_on_nodes = 0

    async def refresh(self, cluster: Cluster | None) -> None:
        if cluster is None:
            return
        self.stream_waiting = await cluster.events_waiting()
        self.stream_unacknowledged = await cluster.events_unacknowledged()
        self.dead_on_nodes = sum((await cluster.dead_events_of_nodes()).values())


@dataclass(frozen=True, slots=True)
class ProcessState:
    """What this process has at a scrape: its media node and cluster agent (or None), and its
    database's dead-lettered events, webhook queue and mail outbox (None: no database)."""

    node: MediaNode | None
    agent: MediaAgent | None
    dead_events: SqliteDeadEvents | None
    webhooks: Webhooks | None
    mail: Mailbox | None


class SabaqCollector(Collector):
    """Sabaq's own metrics, read from the process's state (``process()``) at scrape time."""

    def __init__(
        self, process: Callable[[], ProcessState], role: Role, node_id: str,
        clock: Callable[[], float], snapshot: Snapshot,
    ) -> None:  # fmt: skip
        self._process = process
        self._role = role
        self._node_id = node_id
        self._clock = clock
        self._snapshot = snapshot
        self.loop_lag = Histogram(LOOP_LAG_BUCKETS)

    def collect(self) -> Iterator[Metric]:
        process = self._process()
        info = GaugeMetricFamily(
            "sabaq_info", "This Sabaq process: its role and media node", labels=["role", "node"]
        )
        info.add_metric([self._role, self._node_id if self._role != "control" else ""], 1)
        yield info
        yield _histogram(
            "sabaq_event_loop_lag_seconds",
            f"How late the event loop wakes a task that sleeps {LOOP_LAG_EVERY:g} s",
            self.loop_lag,
        )
        if process.node is not None:
            yield from _media(process.node)
        yield from self._events(process)
        if process.webhooks is not None and process.mail is not None:
            yield _gauge(
                "sabaq_webhook_queue",
                "Webhook events waiting to be delivered to the portal (retried ones included)",
                process.webhooks.waiting(),
            )
            yield _gauge(
                "sabaq_mail_queue",
                "E-mails in the outbox not yet accepted by the mail server (0 without SMTP)",
                process.mail.waiting(),
            )

    def _events(self, process: ProcessState) -> Iterator[Metric]:
        """The events on their way to the ledger: held, set aside, and how long the oldest
        has waited."""
        snapshot, node, agent = self._snapshot, process.node, process.agent
        if self._role == "control":
            pending: float = _or_nan(snapshot.stream_unacknowledged)
            lag = _or_nan(snapshot.stream_waiting)
            if snapshot.stream_waiting is None and snapshot.stream_unacknowledged == 0:
                lag = 0.0
            assert process.dead_events is not None
            dead = process.dead_events.count() + snapshot.dead_on_nodes
        else:
            assert node is not None
            pending = node.outbox.pending + (agent.buffered if agent is not None else 0)
            waiting = [node.outbox.oldest, agent.oldest_buffered if agent is not None else None]
            oldest = min((t for t in waiting if t is not None), default=None)
            lag = 0.0 if oldest is None else max(0.0, self._clock() - oldest)
            dead = (
                process.dead_events.count()
                if process.dead_events is not None
                else node.outbox.dead_letters
            )
        yield _gauge(
            "sabaq_events_pending",
            "Attendance events not yet committed to the ledger (on a media node: its outbox and"
            " its disk buffer; on the control node: those in the stream not yet acknowledged)",
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
    yield from _cascade(node)
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


def _cascade(node: MediaNode) -> Iterator[Metric]:
    """The links between media nodes: this node as the origin of classes relayed elsewhere,
    and as the relay of classes from their origins."""
    links = node.links
    yield _gauge(
        "sabaq_relay_links", "Links to relay nodes open on this (origin) node", links.links
    )
    yield _gauge(
        "sabaq_relayed_classes", "Classes this node relays from their origins", len(node.relays)
    )
    yield _gauge(
        "sabaq_relayed_viewers",
        "Viewers whose sockets this relay node pipes to their classes' origins",
        node.relayed_viewers,
    )
    yield CounterMetricFamily(
        "sabaq_link_frames",
        "Encoded frames sent over links to other media nodes",
        value=links.frames,
    )
    yield CounterMetricFamily(
        "sabaq_link_bytes", "Bytes sent over links to other media nodes", value=links.octets
    )


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _histogram(name: str, doc: str, h: Histogram) -> HistogramMetricFamily:
    buckets = [(_bound(b), float(n)) for b, n in h.cumulative()]
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=h.sum)


def _bound(b: float) -> str:
    return "+Inf" if b == math.inf else repr(b)


async def measure_lag(histogram: Histogram, every: float) -> None:
    """Wake every ``every`` seconds; how much later than asked the loop woke is its lag."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + every
        await asyncio.sleep(every)
        histogram.observe(max(0.0, loop.time() - asked))
