"""The API's audit trail: the administrative changes, newest first, a page at a time, filtered
like the page (who, kind of object, action, days in the academy's zone). Staff and
administrators signed in, or a key with the scope ``audit`` (only staff and administrators make
keys)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from access.api_keys import Scope
from access.audit import AuditRecord

from ..core import keys, policy
from ..core.http import PageError, api_caller, gettext_of
from ..pages.audit import read_filters
from . import admin_models
from . import models as api_models
from .openapi import operation, query

routes = web.RouteTableDef()


def record_json(r: AuditRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "at": datetime.fromtimestamp(r.at, UTC).isoformat(),
        "actor": {"kind": r.actor.kind.value, "id": r.actor.id, "name": r.actor.name},
        "action": r.action.value,
        "object_kind": r.kind.value,
        "object_id": r.object_id,
        "object_label": r.object_label,
        "before": r.before,
        "after": r.after,
    }


@routes.get("/api/v1/audit")
@operation(
    "audit",
    "Administrative changes, newest first (scope: audit; staff and administrators)",
    answers={200: ("A page of the audit trail", admin_models.AuditPage)},
    errors=(400, 401, 403),
    query=(
        query("who", admin_models.AuditWho),
        query("kind", api_models.ObjectKindValue),
        query("action", api_models.ActionValue),
        query("from", api_models.Date),
        query("to", api_models.Date),
        query("limit", api_models.PageLimit),
        query("offset", api_models.PageOffset),
    ),
)
async def audit(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    caller = api_caller(request, Scope.AUDIT)
    if caller.user is not None and not policy.reads_audit(caller.user):
        raise PageError(403, _("The audit trail is read by staff and administrators."), "forbidden")
    _filters, q = read_filters(request)
    try:
        limit = int(request.query.get("limit", "50"))
        offset = int(request.query.get("offset", "0"))
        if not (1 <= limit <= api_models.MAX_PAGE and 0 <= offset <= 10**9):
            raise ValueError
    except ValueError:
        raise PageError(
            400,
            _("Give limit from 1 to {n} and offset from 0.").replace(
                "{n}", str(api_models.MAX_PAGE)
            ),
            "bad_page",
        ) from None
    found, total = request.app[keys.AUDIT].find(q, limit, offset)
    more = offset + limit < total
    return web.json_response(
        {
            "items": [record_json(r) for r in found],
            "total": total,
            "next_offset": offset + limit if more else None,
        }
    )
