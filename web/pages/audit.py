"""The audit trail for staff and administrators: every administrative change (accounts, roles,
the structure, API keys, webhooks, settings) with who made it, when, and the changed fields
before and after — newest first, a page at a time, filtered by who, the kind of object, the
action and a date range (days in the academy's zone), and exported as CSV or XLSX (cells
escaped against formulas, as every report is)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

from access.audit import AuditQuery, AuditRecord
from access.audit_view import (
    FilterProblem,
    FilterRefused,
    Filters,
    Names,
    audit_query,
    fields_text,
    group_ids_in,
    people_ids_in,
)
from access.labels import (
    actor_name,
    audit_action_labels,
    audit_kind_labels,
    field_labels,
    role_labels,
)
from access.models import User
from attendance.export import Cell, csv_row, escape_cell, xlsx_of
from scheduler.errors import SchedulerError
from scheduler.models import DEFAULT_TIMEZONE

from ..core import keys, policy
from ..core.http import LANG_KEY, XLSX, PageError, gettext_of, render, require_session
from ..core.i18n import format_time
from ..core.offload import in_worker
from ..core.paging import fetch_page, page_number, pager

routes = web.RouteTableDef()

MAX_EXPORT = 50_000  # records in one file
ZONE = DEFAULT_TIMEZONE  # the academy's


def names_for(request: web.Request, records: Sequence[AuditRecord]) -> Names:
    _ = gettext_of(request)
    people_ids = people_ids_in(records)
    tt = request.app[keys.TIMETABLE]
    groups: dict[int, str] = {}
    for gid in group_ids_in(records):
        try:
            groups[gid] = tt.group(gid).name
        except SchedulerError:
            continue
    return Names(
        people={i: u.full_name for i, u in request.app[keys.ACCOUNTS].many(people_ids).items()},
        departments={d.id: d.name for d in policy.departments(request)},
        institutes={i.id: i.name for i in tt.institutes()},
        groups=groups,
        roles={r.value: label for r, label in role_labels(_).items()},
        yes=_("Yes"),
        no=_("No"),
    )


def read_filters(request: web.Request) -> tuple[Filters, AuditQuery]:
    """The filters of the query string, checked (400 naming what is wrong)."""
    _ = gettext_of(request)
    q = request.query
    f = Filters(
        q.get("who", "")[:40], q.get("kind", "")[:40], q.get("action", "")[:40],
        q.get("from", "")[:10], q.get("to", "")[:10],
    )  # fmt: skip
    try:
        return f, audit_query(f, ZONE)
    except FilterRefused as exc:
        if exc.problem is FilterProblem.DAYS_ORDER:
            raise PageError(
                400, _("The first day comes after the last one."), "bad_filter"
            ) from None
        raise PageError(
            400,
            _("Choose who, what and the action from the lists, and give days as YYYY-MM-DD."),
            "bad_filter",
        ) from None


def require_reader(request: web.Request) -> User:
    """A signed-in member of staff or administrator (403 for anyone else)."""
    _ = gettext_of(request)
    user = require_session(request).user
    if not policy.reads_audit(user):
        raise PageError(403, _("The audit trail is read by staff and administrators."), "forbidden")
    return user


@routes.get("/audit")
async def audit_page(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    require_reader(request)
    filters, query = read_filters(request)
    store = request.app[keys.AUDIT]
    found, total, page = fetch_page(
        lambda limit, offset: store.find(query, limit, offset),
        page_number(request.query.get("page", "1")),
    )
    actions, kinds = audit_action_labels(_), audit_kind_labels(_)
    names = names_for(request, found)
    return render(
        request,
        "audit.html",
        {
            "records": [
                {
                    "when": datetime.fromtimestamp(r.at, UTC),
                    "who": actor_name(_, r.actor),
                    "action": actions[r.action],
                    "kind": kinds[r.kind],
                    "object": r.object_label or ("" if r.object_id is None else f"#{r.object_id}"),
                    "object_id": r.object_id,
                    "before": fields_text(r.before, field_labels(_, r.kind), names),
                    "after": fields_text(r.after, field_labels(_, r.kind), names),
                }
                for r in found
            ],
            "actors": [(a.ref, actor_name(_, a)) for a in store.actors()],
            "kinds": [(k.value, label) for k, label in kinds.items()],
            "actions": [(a.value, label) for a, label in actions.items()],
            "f": filters,
            "total": total,
            "pager": pager("/audit", filters.params(), page, total),
            "zone": ZONE,
            "export": urlencode(filters.params()),
        },
    )


def export_lines(
    _: Callable[[str], str], records: Sequence[AuditRecord], lang: str, names: Names
) -> list[list[Cell]]:
    """The records as a file's rows, a header first; every cell escaped."""
    actions, kinds = audit_action_labels(_), audit_kind_labels(_)
    header = [
        _("When ({zone})").replace("{zone}", ZONE), _("Who"), _("Action"), _("Object"),
        _("Id"), _("Name"), _("Before"), _("After"),
    ]  # fmt: skip
    lines: list[list[Cell]] = [list(header)]
    for r in records:
        labels = field_labels(_, r.kind)
        when = format_time(datetime.fromtimestamp(r.at, UTC), ZONE, lang, "yyyy-MM-dd HH:mm:ss")
        lines.append([
            when, actor_name(_, r.actor), actions[r.action], kinds[r.kind], r.object_id,
            r.object_label, fields_text(r.before, labels, names),
            fields_text(r.after, labels, names),
        ])  # fmt: skip
    return [[escape_cell(c) for c in line] for line in lines]


def to_csv(lines: Sequence[Sequence[Cell]]) -> bytes:
    """UTF-8 with a BOM (for Excel), each line made safe by the reports' ``csv_row``."""
    return ("\ufeff" + "".join(csv_row(line) for line in lines)).encode("utf-8")


def to_xlsx(lines: Sequence[Sequence[Cell]], sheet: str) -> bytes:
    return xlsx_of(lines, sheet, widths=((0, 0, 20), (1, 5, 18), (6, 7, 50)))


@routes.get("/audit.{fmt:(csv|xlsx)}")
async def audit_download(request: web.Request) -> web.Response:
    require_reader(request)
    # Reading and encoding many thousand rows takes a while: in a worker process (the media
    # shares this event loop), from one moment of the database.
    return await in_worker(request, _export)


def _export(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    _filters, query = read_filters(request)
    fmt = request.match_info["fmt"]
    records = list(request.app[keys.AUDIT].each(query, MAX_EXPORT))
    lines = export_lines(_, records, request.get(LANG_KEY, "en"), names_for(request, records))
    if fmt == "csv":
        body, ctype = to_csv(lines), "text/csv; charset=utf-8"
    else:
        body, ctype = to_xlsx(lines, _("Audit")), XLSX
    return web.Response(
        body=body,
        headers={
            "Content-Type": ctype,
            "Content-Disposition": f'attachment; filename="audit.{fmt}"',
            "Cache-Control": "no-store",
        },
    )
