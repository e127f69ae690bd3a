"""``/metrics`` in Prometheus's text format, on every process (the single process, the control
node, each media node); what it counts is ``control.metrics``'s collector, read from this
application's state.

Each application has a registry of its own (several applications in one process — the tests —
do not collide).

Served to clients on this machine only, never through the TLS front (a request that carries a
proxy's forwarding headers came through one); with ``SABAQ_METRICS_TOKEN`` set, to whoever sends
that token as a Bearer token, and to nobody else."""

from __future__ import annotations

import hmac
from collections.abc import Coroutine
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector

from attendance.sqlite_dead_events import SqliteDeadEvents
from control.environment import local_peer
from control.metrics import (
    LOOP_LAG_EVERY,
    ProcessState,
    Role,
    SabaqCollector,
    Snapshot,
    measure_lag,
)

from . import keys

FORWARDED_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def install(app: web.Application, role: Role) -> Coroutine[Any, Any, None]:
    """The application's registry and its collectors, under ``keys.METRICS``; returns the
    loop-lag measurement, to run while the application runs."""
    registry = CollectorRegistry(auto_describe=False)
    snapshot = Snapshot()
    settings = app[keys.SETTINGS]
    collector = SabaqCollector(
        lambda: _process(app), role, settings.node_id, settings.clock, snapshot
    )
    registry.register(collector)
    ProcessCollector(registry=registry)  # CPU, memory, open files of this process
    app[keys.METRICS] = registry
    app[keys.METRICS_REFRESH] = lambda: snapshot.refresh(app.get(keys.CLUSTER))
    return measure_lag(collector.loop_lag, LOOP_LAG_EVERY)


def _process(app: web.Application) -> ProcessState:
    db = keys.DB in app
    return ProcessState(
        app.get(keys.MEDIA_NODE),
        app.get(keys.AGENT),
        SqliteDeadEvents(app[keys.DB]) if db else None,
        app[keys.WEBHOOKS] if db else None,
        app[keys.MAIL] if db else None,
    )


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
