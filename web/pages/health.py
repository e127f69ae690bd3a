"""TODO"""

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
    if not node.accepting:
        return web.json_response({"status": "unavailable", "media": "stopping", **doc}, status=503)
    settings = request.app[keys.SETTINGS]
    delayed = events_delayed(
        node.outbox.oldest, settings.event_delay_bound_seconds, settings.clock()
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
