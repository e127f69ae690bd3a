"""Teachers and staff from a spreadsheet, like a group's members: the file read in a worker
process (the same limits and deadline), a sealed preview that writes nothing and names what is
wrong in each row, then — only when no row is wrong — every account made in one transaction.
All or nothing: a row that went wrong since the preview (a login taken meanwhile) refuses the
whole import and shows the preview again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from aiohttp import web

from access.errors import LoginTaken
from access.labels import role_labels
from access.models import User
from access.people import (
    IMPORTED_ROLES,
    MAX_NAME,
    CheckedPerson,
    ImportProblem,
    PersonRow,
    check_people,
    manageable_roles,
)
from access.sealed import import_key, seal, unseal
from access.sqlite_people import NewPerson
from control.import_worker import parse_in_worker
from scheduler.import_previews import people_payload, people_rows_of
from scheduler.roster import RosterFileError

from ..core import keys, policy
from ..core.http import MAX_BODY, PageError, actor, gettext_of, render
from .group_import import TOO_LARGE, file_message
from .people import require_steward

log = logging.getLogger("sabaq.web.people")
routes = web.RouteTableDef()


def problem_message(_: Callable[[str], str], c: CheckedPerson) -> str:
    match c.problem:
        case None:
            return ""
        case ImportProblem.NO_LOGIN:
            return _("The login is missing.")
        case ImportProblem.BAD_LOGIN:
            return _(
                "The login must be 2 to 63 characters: Latin letters a-z, digits, dots, hyphens"
                " and underscores, starting with a letter or a digit."
            )
        case ImportProblem.DUPLICATE:
            return _("The same login is on line {line}.").replace("{line}", str(c.first_line))
        case ImportProblem.TAKEN:
            return _("This login is taken.")
        case ImportProblem.NO_NAME:
            return _("The full name is missing.")
        case ImportProblem.LONG_NAME:
            return _("The full name is longer than {n} characters.").replace("{n}", str(MAX_NAME))
        case ImportProblem.BAD_ROLE:
            return _("The role must be a teacher or a staff member.")
        case ImportProblem.UNKNOWN_DEPARTMENT:
            return _("There is no department of this name.")
        case ImportProblem.NOT_ALLOWED:
            return _("You may not give this role in this department.")
        case ImportProblem.BAD_EMAIL:
            return _("{address} is not an e-mail address.").replace("{address}", c.row.email)


def _key(request: web.Request) -> bytes:
    return import_key(request.app[keys.SETTINGS].secret_key + b"/people")


def _require_importer(request: web.Request) -> User:
    _ = gettext_of(request)
    user = require_steward(request)
    if not manageable_roles(policy.steward(request, user)) & IMPORTED_ROLES:
        raise PageError(403, _("Accounts are managed by staff and administrators."), "forbidden")
    return user


def _check(request: web.Request, user: User, rows: Sequence[PersonRow]) -> list[CheckedPerson]:
    names = {d.name.casefold(): d.id for d in policy.departments(request)}
    taken = request.app[keys.PEOPLE].taken({r.login for r in rows if r.login})
    return check_people(policy.steward(request, user), rows, taken, names)


def _page(
    request: web.Request,
    checked: Sequence[CheckedPerson] = (),
    *,
    token: str = "",
    error: str | None = None,
    made: int | None = None,
    status: int = 200,
) -> web.Response:
    _ = gettext_of(request)
    labels = role_labels(_)
    names = {d.id: d.name for d in policy.departments(request)}
    rows = [
        {
            "row": c.row,
            "role": labels[c.role] if c.role else c.row.role,
            "department": names.get(c.department_id or 0, c.row.department),
            "message": problem_message(_, c),
        }
        for c in checked
    ]
    return render(
        request,
        "people_import.html",
        {
            "rows": rows,
            "errors": sum(1 for c in checked if c.problem is not None),
            "token": token,
            "error": error,
            "made": made,
        },
        status=status,
    )


@routes.get("/people/import")
async def import_form(request: web.Request) -> web.Response:
    _require_importer(request)
    return _page(request)


@routes.post("/people/import")
async def import_preview(request: web.Request) -> web.Response:
    """What the file would make, row by row; nothing is written."""
    _ = gettext_of(request)
    user = _require_importer(request)
    upload = (await request.post()).get("file")
    if not isinstance(upload, web.FileField):
        return _page(request, error=_("Choose a CSV or XLSX file."), status=400)
    try:
        # Reading holds the interpreter: it happens in a worker process, killed at a deadline.
        parsed = await parse_in_worker(upload.file.read(MAX_BODY + 1))
    except RosterFileError as exc:
        log.info("people import refused: %s", exc)
        status = 413 if exc.problem in TOO_LARGE else 400
        return _page(request, error=file_message(_, exc.problem), status=status)
    rows = [PersonRow(r.line, r.login, r.full_name, r.role, r.department, r.email) for r in parsed]
    checked = _check(request, user, rows)
    token = seal(_key(request), people_payload(user.id, time.time(), rows))
    return _page(request, checked, token=token)


@routes.post("/people/import/confirm")
async def import_confirm(request: web.Request) -> web.Response:
    """The preview's rows, checked again; all made in one transaction, or none."""
    _ = gettext_of(request)
    user = _require_importer(request)
    token = str((await request.post()).get("rows", ""))
    rows = people_rows_of(unseal(_key(request), token), user.id, time.time())
    if rows is None:
        raise PageError(
            400, _("This import cannot be confirmed any more: upload the file again."), "bad_import"
        )
    # No await from the check to the write: nothing changes the accounts in between.
    checked = _check(request, user, rows)
    if any(c.problem is not None for c in checked):
        return _page(
            request,
            checked,
            error=_("Nobody was imported: correct the rows in error and upload the file again."),
            status=409,
        )
    people = [
        NewPerson(c.row.login, c.row.full_name, c.role, c.department_id, c.row.email or None)
        for c in checked
        if c.role is not None
    ]
    try:
        made = request.app[keys.PEOPLE].create_many(people, actor(user))
    except LoginTaken:
        return _page(request, checked, error=_("This login is taken."), status=409)
    log.info("user %s imported %d accounts", user.id, len(made))
    return _page(request, made=len(made))
