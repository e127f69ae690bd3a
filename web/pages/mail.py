"""The e-mail outbox for staff and administrators: what was sent, what waits (and when it is
tried next, with the mail server's last answer), what was given up and why."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from control.mail import MailState
from scheduler.models import DEFAULT_TIMEZONE

from ..core import keys
from ..core.http import gettext_of, render, require_role
from .classes import EDITORS

routes = web.RouteTableDef()
SHOWN = 200  # the newest messages listed


def _at(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


@routes.get("/mail")
async def mail_queue(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    require_role(request, EDITORS, _("The mail queue is for staff and administrators."))
    settings = request.app[keys.SETTINGS]
    raw = request.query.get("state", "")
    state = MailState(raw) if raw in set(MailState) else None
    labels = {
        MailState.PENDING: _("Waiting"),
        MailState.SENT: _("Sent"),
        MailState.FAILED: _("Not delivered"),
    }
    rows = [
        {
            "mail": m,
            "label": labels[m.state],
            "created": _at(m.created_at),
            "sent": _at(m.sent_at),
            "failed": _at(m.failed_at),
            "next": _at(m.next_attempt_at),
        }
        for m in request.app[keys.MAIL].recent(SHOWN, state)
    ]
    response = render(
        request,
        "mail.html",
        {
            "rows": rows,
            "state": state.value if state else "",
            "states": list(labels.items()),
            "enabled": settings.mail_enabled,
            "server": f"{settings.smtp_host}:{settings.smtp_port}",
            "sender": settings.smtp_from,
            "zone": DEFAULT_TIMEZONE,
            "shown": SHOWN,
        },
    )
    response.headers["Cache-Control"] = "no-store"  # addresses of people
    return response
