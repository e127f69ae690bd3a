"""Notices: what the signed-in person was told of (classes moved, cancelled or switched online,
guest and excuse requests decided or waiting for them), newest first, a page at a time; each
leads to its class or request and is marked read there. Everyone reads only their own."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from control.notice_text import render as notice_text
from control.notices import PAGE
from scheduler.models import DEFAULT_TIMEZONE

from ..core import keys
from ..core.http import PageError, gettext_of, redirect, render, require_session
from ..core.paging import page_number, pager

routes = web.RouteTableDef()


def _page_number(raw: str) -> int | None:
    """A page number, or None (a 400 here: the notices' links are made by the page)."""
    page = page_number(raw)
    return page if str(page) == raw else None


@routes.get("/notices")
async def notices_index(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    user = require_session(request).user
    store = request.app[keys.NOTICES]
    page = _page_number(request.query.get("page", "1"))
    if page is None:
        raise PageError(400, _("There is no such page."), "bad_page")
    total = store.count(user.id)
    rows = []
    for n in store.page(user.id, page):
        title, body, _link = notice_text(n, _)
        rows.append(
            {
                "n": n,
                "title": title,
                "body": body,
                "at": datetime.fromtimestamp(n.created_at, UTC),
                "zone": str(n.params.get("zone") or DEFAULT_TIMEZONE),
            }
        )
    return render(
        request,
        "notices.html",
        {
            "rows": rows,
            "pager": pager("/notices", {}, page, total, PAGE),
        },
    )


@routes.get("/notices/{notice_id:\\d{1,18}}")
async def notice_open(request: web.Request) -> web.Response:
    """The notice's class or request, the notice marked read on the way."""
    _ = gettext_of(request)
    user = require_session(request).user
    store = request.app[keys.NOTICES]
    n = store.get(int(request.match_info["notice_id"]))
    if n is None or n.recipient_id != user.id:  # another's notice is as if there were none
        raise PageError(404, _("There is no such notice."), "not_found")
    store.mark_read(user.id, n.id)
    return redirect(notice_text(n, _)[2])


@routes.post("/notices/read")
async def notices_read(request: web.Request) -> web.Response:
    """Mark every notice of the signed-in person read."""
    user = require_session(request).user
    request.app[keys.NOTICES].mark_read(user.id)
    return redirect("/notices")
