"""The API's reports: a group's register for a month, a learner's history, as JSON tables."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from access.api_keys import Scope
from attendance.export import Table

from ..core.http import api_caller
from ..core.offload import in_worker
from ..pages.reports import group_report, keep_group_digests, learner_report
from . import models as api_models
from .openapi import operation, query

routes = web.RouteTableDef()


# -- the portal's reports (JSON, scope "reports") ----------------------------------------------
def _table_json(table: Table) -> dict[str, Any]:
    return {
        "title": table.title,
        "notes": list(table.notes),
        "header": list(table.header),
        "rows": [list(r) for r in table.rows],
        "chain_heads": [
            {"class_id": h.class_id, "events": h.count, "hash": h.hash} for h in table.heads
        ],
    }


@routes.get("/api/v1/reports/groups/{group_id:\\d{1,18}}")
@operation(
    "groupReport",
    "A group's month: learners × classes with totals and the chain heads it was built from"
    " (scope: reports)",
    answers={200: ("The report", api_models.Report)},
    errors=(400, 401, 403, 404),
    query=(query("month", api_models.Month),),
)
async def group_report_json(request: web.Request) -> web.Response:
    """A group's month, as the page shows it, with the chain heads (scope: reports)."""
    api_caller(request, Scope.REPORTS)  # refused here, before a worker is asked
    return await in_worker(request, _group_json, _keep_group_digests)


def _keep_group_digests(request: web.Request) -> None:
    keep_group_digests(request, portal=api_caller(request, Scope.REPORTS).user is None)


def _group_json(request: web.Request) -> web.Response:
    caller = api_caller(request, Scope.REPORTS)
    table = group_report(request, portal=caller.user is None)[0]
    return web.json_response(_table_json(table))


@routes.get("/api/v1/reports/learners/{user_id:\\d{1,18}}")
@operation(
    "learnerReport",
    "A learner's history, the digital footprint (scope: reports)",
    answers={200: ("The report", api_models.Report)},
    errors=(401, 403, 404),
)
async def learner_report_json(request: web.Request) -> web.Response:
    """A learner's history (scope: reports)."""
    api_caller(request, Scope.REPORTS)  # refused here, before a worker is asked
    return await in_worker(request, _learner_json)


def _learner_json(request: web.Request) -> web.Response:
    caller = api_caller(request, Scope.REPORTS)
    table = learner_report(request, portal=caller.user is None)[0]
    return web.json_response(_table_json(table))
