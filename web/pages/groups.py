"""Groups and their members: staff create groups (and programmes), assign teachers, and import
members from CSV or XLSX — first a preview that writes nothing and says what would happen to
each row, then a confirmation that checks every row again and writes them in one transaction.

The preview hands its rows to the confirmation in a hidden field, compressed and signed with
the application's secret (bound to the group, the staff member and an hour), so nothing is kept
in memory between the two and a forged confirmation is refused; the rows are checked again on
confirmation anyway, so even a signed one cannot make anything but students of valid rows."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import sqlite3
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from aiohttp import web

from access.models import MAX_AGENCY, Role, User
from scheduler.models import DEFAULT_TIMEZONE, Group, ProgrammeKind, check_day, zone
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
    make_row,
)
from scheduler.sqlite_groups import SqliteGroups

from ..core import keys
from ..core.http import MAX_BODY, PageError, gettext_of, redirect, render, require_role
from ..core.i18n import LANGUAGE_NAMES
from ..import_worker import DEADLINE, parse_in_worker

log = logging.getLogger("sabaq.web.groups")
routes = web.RouteTableDef()

MANAGERS = frozenset({Role.STAFF, Role.ADMIN})
GROUP_LANGUAGES = ("kk", "ru")  # languages of instruction (clause 16)
MAX_GROUP_NAME = 100
MAX_PROGRAMME_NAME = 200
MAX_ZONE = 64
GROUP_FIELDS = (
    "name", "department_id", "programme_id", "language", "timezone", "starts_on", "ends_on",
)  # fmt: skip
PROGRAMME_FIELDS = ("programme_name", "kind", "institute_id", "distance")
IMPORT_TTL = 3600.0  # seconds a preview may be confirmed in
MAX_SEALED = 4 * 1024 * 1024  # the rows of a preview, uncompressed


def kind_labels(_: Callable[[str], str]) -> dict[ProgrammeKind, str]:
    return {
        ProgrammeKind.POSTGRADUATE: _("Postgraduate education"),
        ProgrammeKind.ADDITIONAL: _("Additional education"),
    }


def status_labels(_: Callable[[str], str]) -> dict[RowStatus, str]:
    return {
        RowStatus.NEW: _("New student"),
        RowStatus.EXISTING: _("Existing student"),
        RowStatus.MEMBER: _("Already in the group"),
        RowStatus.ERROR: _("Error"),
    }


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


def _require_manager(request: web.Request) -> User:
    _ = gettext_of(request)
    return require_role(request, MANAGERS, _("Groups are managed by staff."))


def _store(request: web.Request) -> SqliteGroups:
    return SqliteGroups(request.app[keys.DB])


def _period(group: Group) -> str:
    if group.starts_on is None and group.ends_on is None:
        return ""
    first = f"{group.starts_on:%d.%m.%Y}" if group.starts_on else "…"
    last = f"{group.ends_on:%d.%m.%Y}" if group.ends_on else "…"
    return f"{first} — {last}"


# -- the list -------------------------------------------------------------------------------------
@routes.get("/groups")
async def groups_index(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    _require_manager(request)
    tt, store = request.app[keys.TIMETABLE], _store(request)
    programmes = {p.id: p for p in store.programmes()}
    departments = {d.id: d for d in store.departments()}
    counts = store.member_counts()
    kinds = kind_labels(_)
    rows = []
    for g in tt.groups():
        programme = programmes.get(g.programme_id) if g.programme_id else None
        rows.append(
            {
                "g": g,
                "programme": programme,
                "kind": kinds[programme.kind] if programme else "",
                "department": departments[g.department_id].name,
                "language": LANGUAGE_NAMES.get(g.language, g.language),
                "period": _period(g),
                "flags": tt.flags(g),
                "members": counts.get(g.id, 0),
            }
        )
    return render(request, "groups.html", {"rows": rows})


# -- a new group, a new programme -----------------------------------------------------------------
def _new_form(
    request: web.Request,
    values: Mapping[str, str],
    error: str | None = None,
    status: int = 200,
    programme_error: str | None = None,
    programme_values: Mapping[str, str] | None = None,
) -> web.Response:
    _ = gettext_of(request)
    store = _store(request)
    kinds = kind_labels(_)
    return render(
        request,
        "groups_new.html",
        {
            "values": values,
            "error": error,
            "departments": store.departments(),
            "institutes": store.institutes(),
            "programmes": [(p, kinds[p.kind]) for p in store.programmes()],
            "kinds": list(kinds.items()),
            "group_languages": [(c, LANGUAGE_NAMES[c]) for c in GROUP_LANGUAGES],
            "programme_error": programme_error,
            "programme_values": programme_values or dict.fromkeys(PROGRAMME_FIELDS, ""),
            "max_name": MAX_GROUP_NAME,
            "max_programme_name": MAX_PROGRAMME_NAME,
        },
        status,
    )


class FormError(Exception):
    """A form that cannot be saved, with the message to show."""


def _day(raw: str) -> date | None:
    if not raw.strip():
        return None
    day = date.fromisoformat(raw.strip())
    check_day(day)
    return day


def _choice(raw: str, allowed: Sequence[int]) -> int | None:
    """The id chosen in a select, if it is one of those offered."""
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value in allowed else None


def _group_from(request: web.Request, values: Mapping[str, str]) -> Group:
    """The group a form describes, checked (its id is 0)."""
    _ = gettext_of(request)
    store = _store(request)
    name = values["name"].strip()
    if not name or len(name) > MAX_GROUP_NAME:
        raise FormError(
            _("Give the group a name (at most {n} characters).").replace("{n}", str(MAX_GROUP_NAME))
        )
    department_id = _choice(values["department_id"], [d.id for d in store.departments()])
    if department_id is None:
        raise FormError(_("Choose the department."))
    programme_id: int | None = None
    if values["programme_id"].strip():
        programme_id = _choice(values["programme_id"], [p.id for p in store.programmes()])
        if programme_id is None:
            raise FormError(_("Choose the programme."))
    if values["language"] not in GROUP_LANGUAGES:
        raise FormError(_("Choose the language of instruction."))
    tz = values["timezone"].strip() or DEFAULT_TIMEZONE
    try:
        if len(tz) > MAX_ZONE:
            raise ValueError(tz)
        zone(tz)
    except ValueError:
        raise FormError(
            _("Unknown time zone {zone}: give one like Asia/Almaty.").replace(
                "{zone}", tz[:MAX_ZONE]
            )
        ) from None
    try:
        starts_on, ends_on = _day(values["starts_on"]), _day(values["ends_on"])
    except ValueError:
        raise FormError(_("Give the days of the study period as YYYY-MM-DD.")) from None
    if starts_on and ends_on and ends_on < starts_on:
        raise FormError(_("The study period ends after it starts."))
    if store.name_taken(name):
        raise FormError(
            _("A group named {name} already exists: choose another name.").replace("{name}", name)
        )
    return Group(0, name, department_id, values["language"], tz, programme_id, starts_on, ends_on)


@routes.get("/groups/new")
async def new_group_form(request: web.Request) -> web.Response:
    _require_manager(request)
    values = dict.fromkeys(GROUP_FIELDS, "") | {
        "timezone": DEFAULT_TIMEZONE,
        "language": "ru",
        "programme_id": request.query.get("programme", "")[:20],
    }
    return _new_form(request, values)


@routes.post("/groups/new")
async def create_group(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _require_manager(request)
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in GROUP_FIELDS}
    tt = request.app[keys.TIMETABLE]
    try:
        draft = _group_from(request, values)
        try:
            group = tt.add_group(
                draft.name, draft.department_id, draft.language, draft.timezone,
                programme_id=draft.programme_id, starts_on=draft.starts_on,
                ends_on=draft.ends_on,
            )  # fmt: skip
        except sqlite3.IntegrityError:  # the name, taken since it was checked
            raise FormError(
                _("A group named {name} already exists: choose another name.").replace(
                    "{name}", draft.name
                )
            ) from None
    except FormError as exc:
        return _new_form(request, values, str(exc), 400)
    log.info("staff %s created group %s (%s)", user.id, group.id, group.name)
    return redirect(f"/groups/{group.id}")


@routes.post("/programmes")
async def create_programme(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _require_manager(request)
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in PROGRAMME_FIELDS}
    values["distance"] = values["distance"] or "1"  # Sabaq's programmes are distance ones
    store = _store(request)
    name = values["programme_name"].strip()
    error: str | None = None
    institute_id = _choice(values["institute_id"], [i.id for i in store.institutes()])
    if not name or len(name) > MAX_PROGRAMME_NAME:
        error = _("Give the programme a name (at most {n} characters).").replace(
            "{n}", str(MAX_PROGRAMME_NAME)
        )
    elif values["kind"] not in {k.value for k in ProgrammeKind}:
        error = _("Choose the kind of programme.")
    elif institute_id is None:
        error = _("Choose the institute.")
    elif values["distance"] not in ("1", "0"):
        error = _("Say whether the programme is a distance programme.")
    if error is not None or institute_id is None:
        group_values = dict.fromkeys(GROUP_FIELDS, "") | {
            "timezone": DEFAULT_TIMEZONE,
            "language": "ru",
        }
        return _new_form(
            request, group_values, None, 400, programme_error=error, programme_values=values
        )
    programme = request.app[keys.TIMETABLE].add_programme(
        name, ProgrammeKind(values["kind"]), institute_id, distance=values["distance"] == "1"
    )
    log.info("staff %s created programme %s", user.id, programme.id)
    return redirect(f"/groups/new?programme={programme.id}")


# -- one group: members, teachers, the import form ------------------------------------------------
def _detail(
    request: web.Request,
    group: Group,
    *,
    error: str | None = None,
    import_error: str | None = None,
    status: int = 200,
) -> web.Response:
    _ = gettext_of(request)
    tt, accounts, store = request.app[keys.TIMETABLE], request.app[keys.ACCOUNTS], _store(request)
    members = sorted(
        accounts.many(tt.members(group.id)).values(),
        key=lambda u: (u.full_name.casefold(), u.id),
    )
    teacher_ids = tt.teachers(group.id)
    teachers = sorted(
        accounts.many(teacher_ids).values(), key=lambda u: (u.full_name.casefold(), u.id)
    )
    programme = tt.programme(group.programme_id) if group.programme_id else None
    return render(
        request,
        "groups_detail.html",
        {
            "g": group,
            "programme": programme,
            "kind": kind_labels(_)[programme.kind] if programme else "",
            "department": tt.department(group.department_id).name,
            "language": LANGUAGE_NAMES.get(group.language, group.language),
            "period": _period(group),
            "flags": tt.flags(group),
            "members": members,
            "teachers": teachers,
            "candidates": [
                t for t in store.users_with_role(Role.TEACHER) if t.id not in teacher_ids
            ],
            "error": error,
            "import_error": import_error,
            "max_kb": MAX_BODY // 1024,
        },
        status,
    )


def _group_of(request: web.Request) -> Group:
    return request.app[keys.TIMETABLE].group(int(request.match_info["group_id"]))


@routes.get("/groups/{group_id:\\d{1,18}}")
async def group_page(request: web.Request) -> web.Response:
    _require_manager(request)
    return _detail(request, _group_of(request))


@routes.post("/groups/{group_id:\\d{1,18}}/teachers")
async def add_teacher(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _require_manager(request)
    group = _group_of(request)
    form = await request.post()
    teachers = [t.id for t in _store(request).users_with_role(Role.TEACHER)]
    teacher_id = _choice(str(form.get("teacher_id", "")), teachers)
    if teacher_id is None:
        return _detail(request, group, error=_("Choose a teacher."), status=400)
    request.app[keys.TIMETABLE].add_teacher(group.id, teacher_id)
    log.info("staff %s made user %s a teacher of group %s", user.id, teacher_id, group.id)
    return redirect(f"/groups/{group.id}")


# -- the import -----------------------------------------------------------------------------------
def _import_key(request: web.Request) -> bytes:
    return import_key(request.app[keys.SETTINGS].secret_key)


def import_key(secret: bytes) -> bytes:
    """The key that signs previews (derived, so it signs nothing else)."""
    return hmac.new(secret, b"sabaq/group-import/v1", hashlib.sha256).digest()


def seal(key: bytes, payload: Mapping[str, Any]) -> str:
    """A payload as text for a hidden field: compressed JSON, base64, an HMAC-SHA256."""
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    blob = base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode()
    return f"{blob}.{hmac.new(key, blob.encode(), hashlib.sha256).hexdigest()}"


def unseal(key: bytes, token: str) -> Any:
    """The payload of a sealed token; None when it was not sealed with this key."""
    blob, _, sig = token.partition(".")
    expected = hmac.new(key, blob.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sig.encode(), expected.encode()):
        return None
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.urlsafe_b64decode(blob), MAX_SEALED)
        if inflate.unconsumed_tail:
            return None
        return json.loads(raw)
    except (binascii.Error, zlib.error, ValueError):
        return None


def _rows_of(payload: Any, group_id: int, user_id: int) -> list[RosterRow] | None:
    """The rows of a confirmed preview, if it is this group's and this person's and fresh."""
    if not isinstance(payload, dict):
        return None
    at = payload.get("t")
    if payload.get("g") != group_id or payload.get("u") != user_id:
        return None
    if not isinstance(at, int | float) or not -60 < time.time() - at < IMPORT_TTL:
        return None
    rows = payload.get("rows")
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        return None
    out = []
    for item in rows:
        if not (
            isinstance(item, list)
            and len(item) == 4
            and isinstance(item[0], int)
            and all(isinstance(x, str) for x in item[1:])
        ):
            return None
        out.append(make_row(item[0], item[1], item[2], item[3]))
    return out


def _check(request: web.Request, group: Group, rows: Sequence[RosterRow]) -> list[CheckedRow]:
    existing = _store(request).users_by_login(r.login for r in rows if r.login)
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
    user = _require_manager(request)
    group = _group_of(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return _detail(request, group, import_error=_("Choose a CSV or XLSX file."), status=400)
    data = upload.file.read(MAX_BODY + 1)
    try:
        # Reading holds the interpreter: it happens in a worker process, killed at a deadline.
        rows = await parse_in_worker(data)
    except RosterFileError as exc:
        log.info("import into group %s refused: %s", group.id, exc)
        status = 413 if exc.problem in TOO_LARGE else 400
        return _detail(request, group, import_error=file_message(_, exc.problem), status=status)
    checked = _check(request, group, rows)
    token = seal(
        _import_key(request),
        {
            "g": group.id,
            "u": user.id,
            "t": time.time(),
            "rows": [[r.line, r.login, r.full_name, r.agency] for r in rows],
        },
    )
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
            "filename": upload.filename,
        },
    )


@routes.post("/groups/{group_id:\\d{1,18}}/import/confirm")
async def import_confirm(request: web.Request) -> web.Response:
    """The preview's rows, checked again against the accounts and members as they are now,
    written in one transaction; rows in error are skipped and listed."""
    _ = gettext_of(request)
    user = _require_manager(request)
    group = _group_of(request)
    form = await request.post()
    payload = unseal(_import_key(request), str(form.get("rows", "")))
    rows = _rows_of(payload, group.id, user.id)
    if rows is None:
        raise PageError(
            400,
            _("This import cannot be confirmed any more: upload the file again."),
            "bad_import",
        )
    # No await from the check to the write: nothing changes the accounts in between.
    checked = _check(request, group, rows)
    done = _store(request).import_members(group.id, checked)
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
