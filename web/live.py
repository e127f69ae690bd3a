"""Who is in a class right now, pushed to the teacher's and staff's attendance page as the
ledger changes (Server-Sent Events: one-way, and the browser reconnects by itself)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime

from aiohttp import web

from .core import keys
from .core.http import LANG_KEY
from .core.i18n import format_time
from .views import attendance_class, attendance_now, class_zone, mark_rules

routes = web.RouteTableDef()


def _snapshot(request: web.Request, class_id: int) -> str:
    c = request.app[keys.TIMETABLE].get_class(class_id)
    now = attendance_now(request, c, mark_rules(request, c))
    lang = request.get(LANG_KEY, "en")
    zone = class_zone(request, c)

    def when(moment: datetime | None) -> str:
        return format_time(moment, zone, lang, "medium") if moment else ""

    doc = {
        "here_now": now["here_now"],
        "here_text": now["here_text"],
        "counts": {value: n for value, _label, n in now["counts"]},
        "rows": [
            {
                "user_id": r["user_id"],
                "mark": r["mark"],
                "mark_label": r["mark_label"],
                "here": r["still_here"],
                "joined": when(r["joined"]),
                "left": when(r["left"]),
                "minutes": r["minutes"],
            }
            for r in now["rows"]
        ],
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


@routes.get("/classes/{class_id:\\d{1,18}}/attendance/live")
async def attendance_live(request: web.Request) -> web.StreamResponse:
    """The register as a stream of snapshots: one now, one after every change, and one at
    least every ``live_refresh_seconds`` (minutes present grow while nothing happens)."""
    c, _user = attendance_class(request)
    changes = request.app[keys.CHANGES]
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy in front must not hold the stream back
        }
    )
    await resp.prepare(request)
    last = ""
    with contextlib.suppress(ConnectionResetError):
        while not changes.closing:
            seen = changes.version(c.id)
            snapshot = _snapshot(request, c.id)
            if snapshot != last:
                await resp.write(f"data: {snapshot}\n\n".encode())
                last = snapshot
            else:
                await resp.write(b": still here\n\n")  # finds a gone browser out
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(request.app[keys.SETTINGS].live_refresh_seconds):
                    await changes.wait(c.id, seen)
    return resp
