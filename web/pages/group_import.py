"""A group's members from a spreadsheet: the file parsed in a worker process, a sealed preview
of its rows with what is wrong in each, the import confirmed within the hour."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from access.errors import LoginTaken
from access.models import MAX_AGENCY, User
from access.sealed import import_key, seal, unseal
from control.import_worker import DEADLINE, parse_in_worker
from scheduler.import_previews import roster_payload, roster_rows_of
from scheduler.models import Group
from scheduler.roster import (
    MAX_COLUMNS,
    MAX_FILE,
    MAX_NAME,
    MAX_ROWS,
    MAX_STRINGS,
    MAX_UNPACKED,
    CheckedRow,
    FileProblem,
    RosterFileError,
    RosterRow,
    RowProblem,
    RowStatus,
    check,
)

from ..core import keys
from ..core.http import MAX_BODY, PageError, actor, gettext_of, render
from ..core.offload import off_loop
from .groups import detail, group_of, groups_store, require_manager, status_labels

log = logging.getLogger("sabaq.web.groups")
routes = web.RouteTableDef()


def row_message(_: Callable[[str], str], checked: CheckedRow) -> str:
    """Why a row is skipped, in the staff member's language."""
    match checked.problem:
        case None:
            return ""
        case RowProblem.NO_LOGIN:
            return _("The login is missing.")
        case RowProblem.BAD_LOGIN:
            return _(
                "The login must be 2 to 63 characters: Latin letters a-z, digits, dots, hyphens"
                " and underscores, starting with a letter or a digit."
            )
        case RowProblem.DUPLICATE:
            return _("The same login is on line {line}.").replace("{line}", str(checked.first_line))
        case RowProblem.NO_NAME:
            return _("The full name is missing.")
        case RowProblem.LONG_NAME:
            return _("The full name is longer than {n} characters.").replace("{n}", str(MAX_NAME))
        case RowProblem.LONG_AGENCY:
            return _("The agency's name is longer than {n} characters.").replace(
                "{n}", str(MAX_AGENCY)
            )
        case RowProblem.NOT_STUDENT:
            return _("This login belongs to an account that is not a student's.")


def file_message(_: Callable[[str], str], problem: FileProblem) -> str:
    messages = {
        FileProblem.ENCODING: _("Save the file as CSV in UTF-8, or as XLSX."),
        FileProblem.OLD_EXCEL: _("Old Excel files (.xls) are not read: save the file as XLSX."),
        FileProblem.UNREADABLE: _("The file cannot be read: upload a CSV or XLSX file."),
        FileProblem.EMPTY: _("The file lists nobody."),
        FileProblem.HEADER: _(
            "The first row must name the columns: login, full name and, if you like, agency"
            " (for example: login; ФИО; ведомство)."
        ),
        FileProblem.TOO_MANY_ROWS: _("A file lists at most {n} people.").replace(
            "{n}", str(MAX_ROWS)
        ),
        FileProblem.TOO_MANY_COLUMNS: _("A file has at most {n} columns.").replace(
            "{n}", str(MAX_COLUMNS)
        ),
        FileProblem.TOO_LARGE: _("A file is at most {n} KB.").replace("{n}", str(MAX_FILE // 1024)),
        FileProblem.UNPACKED_TOO_LARGE: _(
            "The workbook unpacks to more than {n} MB: save only the list of people in it."
        ).replace("{n}", str(MAX_UNPACKED // (1024 * 1024))),
        FileProblem.TOO_MANY_STRINGS: _(
            "The workbook holds more than {n} texts: save only the list of people in it."
        ).replace("{n}", str(MAX_STRINGS)),
        FileProblem.TOO_SLOW: _(
            "Reading the file took longer than {n} seconds: upload a smaller file."
        ).replace("{n}", f"{DEADLINE:g}"),
    }
    return messages[problem]


# The file problems that are about its size: answered 413, the others 400.
TOO_LARGE = frozenset({FileProblem.TOO_LARGE, FileProblem.UNPACKED_TOO_LARGE})


# -- the import -----------------------------------------------------------------------------------
def _import_key(request: web.Request) -> bytes:
    return import_key(request.app[keys.SETTINGS].secret_key)


def _check(request: web.Request, group: Group, rows: Sequence[RosterRow]) -> list[CheckedRow]:
    existing = groups_store(request).users_by_login(r.login for r in rows if r.login)
    return check(rows, existing, set(request.app[keys.TIMETABLE].members(group.id)))


def _row_view(_: Callable[[str], str], checked: CheckedRow) -> dict[str, Any]:
    labels = status_labels(_)
    return {
        "row": checked.row,
        "status": checked.status.value,
        "label": labels[checked.status],
        "message": row_message(_, checked),
        "existing_name": checked.user.full_name if checked.user else "",
    }


def _counts(checked: Sequence[CheckedRow]) -> dict[str, int]:
    return {s.value: sum(1 for c in checked if c.status is s) for s in RowStatus}


@routes.post("/groups/{group_id:\\d{1,18}}/import")
async def import_preview(request: web.Request) -> web.Response:
    """What the file would do, row by row; nothing is written."""
    _ = gettext_of(request)
    user = require_manager(request)
    group = group_of(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return detail(request, group, import_error=_("Choose a CSV or XLSX file."), status=400)
    data = upload.file.read(MAX_BODY + 1)
    try:
        # Reading holds the interpreter: it happens in a worker process, killed at a deadline.
        rows = await parse_in_worker(data)
    except RosterFileError as exc:
        log.info("import into group %s refused: %s", group.id, exc)
        status = 413 if exc.problem in TOO_LARGE else 400
        return detail(request, group, import_error=file_message(_, exc.problem), status=status)
    return await off_loop(request.app, _preview, request, group, user.id, rows, upload.filename)


def _preview(
    request: web.Request, group: Group, user_id: int, rows: list[RosterRow], filename: str
) -> web.Response:
    """The preview of ``rows``, checked against the accounts and members as they are now."""
    _ = gettext_of(request)
    checked = _check(request, group, rows)
    token = seal(_import_key(request), roster_payload(group.id, user_id, time.time(), rows))
    return render(
        request,
        "groups_import.html",
        {
            "g": group,
            "rows": [_row_view(_, c) for c in checked],
            "counts": _counts(checked),
            "importable": sum(
                1 for c in checked if c.status in (RowStatus.NEW, RowStatus.EXISTING)
            ),
            "token": token,
            "done": None,
            "filename": filename,
        },
    )


@routes.post("/groups/{group_id:\\d{1,18}}/import/confirm")
async def import_confirm(request: web.Request) -> web.Response:
    """The preview's rows, checked again against the accounts and members as they are now,
    written in one transaction; rows in error are skipped and listed."""
    _ = gettext_of(request)
    user = require_manager(request)
    group = group_of(request)
    form = await request.post()
    payload = unseal(_import_key(request), str(form.get("rows", "")))
    rows = roster_rows_of(payload, group.id, user.id, time.time())
    if rows is None:
        raise PageError(
            400,
            _("This import cannot be confirmed any more: upload the file again."),
            "bad_import",
        )
    try:
        return await off_loop(request.app, _confirm, request, group, user, rows)
    except LoginTaken:
        raise PageError(
            409,
            _("A login in this import was taken meanwhile: upload the file again."),
            "login_taken",
        ) from None


def _confirm(request: web.Request, group: Group, user: User, rows: list[RosterRow]) -> web.Response:
    """``rows`` checked and written, on a worker thread; a login taken between the check and
    the write refuses the whole import (``LoginTaken``), so nothing is half done."""
    _ = gettext_of(request)
    checked = _check(request, group, rows)
    done = groups_store(request).import_members(group.id, checked, actor(user))
    skipped = [c for c in checked if c.status is RowStatus.ERROR]
    log.info(
        "staff %s imported into group %s: %d created, %d added, %d already, %d skipped",
        user.id, group.id, done.created, done.added, done.already, len(skipped),
    )  # fmt: skip
    return render(
        request,
        "groups_import.html",
        {
            "g": group,
            "rows": [_row_view(_, c) for c in skipped],
            "counts": _counts(checked),
            "importable": 0,
            "token": "",
            "done": done,
            "flags": request.app[keys.TIMETABLE].flags(request.app[keys.TIMETABLE].group(group.id)),
            "filename": "",
        },
    )
