"""Health: `/healthz` (the process answers) and `/readyz` (it can take people and the register
keeps up) — for the single process, the control node and, through ``media_readyz``, a media node."""

from __future__ import annotations

from aiohttp import web

from attendance.sqlite_dead_events import SqliteDeadEvents
from control.ingest import events_delayed

from ..core import keys

routes = web.RouteTableDef()


# -- health -----------------------------------------------------------------------------------
@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        request.app[keys.DB].execute("SELECT 1").fetchone()
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": str(exc)}, status=503)
    if keys.CLUSTER in request.app:  # a control node: Redis carries the cluster
        if not request.app[keys.CLUSTER].reachable:
            return web.json_response({"status": "unavailable", "redis": "unreachable"}, status=503)
        # Set aside: in the control's database, and in the live media nodes' dead-letter files.
        on_nodes = await request.app[keys.CLUSTER].dead_events_of_nodes()
        dead = SqliteDeadEvents(request.app[keys.DB]).count() + sum(on_nodes.values())
        doc = {"role": "control", "dead_events": dead, "dead_events_on_nodes": on_nodes}
        waited = await request.app[keys.CLUSTER].events_waiting()  # in the stream, uncommitted
        if waited is not None and waited > request.app[keys.SETTINGS].event_delay_bound_seconds:
            doc |= {"status": "unavailable", "oldest_event_age": round(waited, 3)}
            return web.json_response({**doc, "events": "events_delayed"}, status=503)
        return web.json_response({"status": "ready", **doc})
    node = request.app[keys.MEDIA_NODE]
    doc = {
        "rooms": len(node.rooms),
        "pending_events": node.outbox.pending,
        # Events the register could not store, set aside (an administrator looks at them).
        "dead_events": SqliteDeadEvents(request.app[keys.DB]).count(),
    }
    return _media_answer(request, doc, [node.outbox.oldest])


async def media_readyz(request: web.Request) -> web.Response:
    """A cluster's media node: ready while it takes people and what it reports reaches Redis."""
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
    if agent.refuses_joins() and node.accepting:
        return web.json_response({"status": "unavailable", "media": "backlog", **doc}, status=503)
    # Not delivered yet: in the outbox, or on the node's disk while Redis is away.
    return _media_answer(request, doc, [node.outbox.oldest, agent.oldest_buffered])


def _media_answer(
    request: web.Request, doc: dict[str, object], waiting: list[float | None]
) -> web.Response:
    """Not ready while the node stops or the oldest event not yet delivered is older than the
    bound (the register is behind)."""
    if not request.app[keys.MEDIA_NODE].accepting:
        return web.json_response({"status": "unavailable", "media": "stopping", **doc}, status=503)
    settings = request.app[keys.SETTINGS]
    oldest = min((t for t in waiting if t is not None), default=None)
    delayed = events_delayed(oldest, settings.event_delay_bound_seconds, settings.clock())
    if delayed is not None:
        head = {"status": "unavailable", "media": "events_delayed", "oldest_event_age": delayed}
        return web.json_response({**head, **doc}, status=503)
    return web.json_response({"status": "ready", **doc})
