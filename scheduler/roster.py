"""A group's members from a spreadsheet: CSV (UTF-8, with or without a BOM; comma, semicolon or
tab) or XLSX. The first row names the columns — login, full name and, optionally, the agency
that sent the learner — in English, Russian or Kazakh. Every row is checked before anything is
written, and checked again when the import is confirmed.

Cells are text: one that starts with ``= + - @`` is a name like any other, never a formula (an
XLSX is read for its stored values only, and nothing here evaluates anything).

A file is refused, naming the limit, when it is larger than ``MAX_FILE``, when its cells run past
``MAX_COLUMNS`` or its rows past ``MAX_ROWS``, and an XLSX when its parts unpack to more than
``MAX_UNPACKED`` bytes (a zip of a few kilobytes can hold gigabytes: the sizes its directory
declares are checked first, and the bytes are counted again as they are inflated, since a
directory can lie) or when it holds more than ``MAX_STRINGS`` texts. Within these limits reading
any file takes a few seconds at most; it is still the caller's to do it away from anything that
must not wait (the web application reads in a worker process with a deadline).
"""

from __future__ import annotations

import contextlib
import csv
import enum
import io
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from access.models import LOGIN_RE, MAX_AGENCY, Role, User

MAX_ROWS = 2000  # rows of learners in one file
MAX_SHEET_ROWS = 2 * MAX_ROWS + 1  # rows of a sheet read at most, blank ones included
MAX_COLUMNS = 30  # columns of a row; a cell further right refuses the file
MAX_NAME = 200
MAX_FILE = 64 * 1024  # bytes of the file as uploaded
MAX_UNPACKED = 4 * 1024 * 1024  # bytes of an XLSX's parts, unpacked, all together
MAX_STRINGS = 10 * MAX_ROWS  # texts in an XLSX's table of shared strings: ten a learner
_CHUNK = 64 * 1024

_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary Excel format
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _key(text: str) -> str:
    """A header cell reduced to its letters and digits: "Ф.И.О." → "фио"."""
    return re.sub(r"[\W_]+", "", text.casefold().replace("ё", "е"))


# Header names that mean each column (compared through ``_key``).
_NAMES = {
    "login": (
        "login", "username", "user name", "логин", "учетная запись", "есептік жазба",
        "пайдаланушы логині",
    ),
    "full_name": (
        "full_name", "full name", "name", "fio", "ФИО", "Ф.И.О.", "фамилия имя отчество",
        "полное имя", "имя", "аты-жөні", "толық аты-жөні", "Т.А.Ә.", "тегі аты әкесінің аты",
    ),
    "agency": ("agency", "ведомство", "орган", "мекеме", "ведомство (орган)", "жіберген орган"),
    # read for an import of teachers and staff (web/pages/people_import.py), ignored by a group's
    "role": ("role", "роль", "рөл", "рөлі", "должность", "лауазым"),
    "department": ("department", "кафедра", "department name", "подразделение", "бөлім"),
    "email": (
        "email", "e-mail", "e-mail address", "почта", "эл. почта", "электронная почта",
        "электрондық пошта", "эл. пошта",
    ),
}  # fmt: skip
HEADERS: dict[str, frozenset[str]] = {
    column: frozenset(_key(n) for n in names) for column, names in _NAMES.items()
}


class FileProblem(enum.StrEnum):
    """Why a whole file is refused."""

    ENCODING = "encoding"  # not UTF-8
    OLD_EXCEL = "old_excel"  # .xls
    UNREADABLE = "unreadable"
    EMPTY = "empty"
    HEADER = "header"  # no row naming the login and full name columns
    TOO_MANY_ROWS = "too_many_rows"
    TOO_MANY_COLUMNS = "too_many_columns"
    TOO_LARGE = "too_large"  # more than MAX_FILE bytes
    UNPACKED_TOO_LARGE = "unpacked_too_large"  # an XLSX that unpacks to more than MAX_UNPACKED
    TOO_MANY_STRINGS = "too_many_strings"  # an XLSX with more than MAX_STRINGS texts
    TOO_SLOW = "too_slow"  # reading it took longer than the reader's deadline


class RosterFileError(ValueError):
    """A file that cannot be read as a list of learners."""

    def __init__(self, problem: FileProblem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem


class RowProblem(enum.StrEnum):
    NO_LOGIN = "no_login"
    BAD_LOGIN = "bad_login"
    DUPLICATE = "duplicate"  # the login appears on an earlier line of the same file
    NO_NAME = "no_name"
    LONG_NAME = "long_name"
    LONG_AGENCY = "long_agency"
    NOT_STUDENT = "not_student"  # the login is an account of a teacher, staff member, …


class RowStatus(enum.StrEnum):
    NEW = "new"  # a student account is created
    EXISTING = "existing"  # a student account with this login is added
    MEMBER = "member"  # already in the group: nothing to do
    ERROR = "error"  # skipped


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One learner as the file gives them (cells cleaned, nothing checked yet)."""

    line: int  # the row's number in the file (the header is a row too)
    login: str
    full_name: str
    agency: str = ""
    role: str = ""  # an import of teachers and staff only
    department: str = ""  # an import of teachers and staff only
    email: str = ""  # an import of teachers and staff only


@dataclass(frozen=True, slots=True)
class CheckedRow:
    row: RosterRow
    status: RowStatus
    problem: RowProblem | None = None
    user: User | None = None  # the existing account of the login
    first_line: int | None = None  # DUPLICATE: where the login appeared first

    @property
    def importable(self) -> bool:
        return self.status is not RowStatus.ERROR


def make_row(line: int, login: str, full_name: str, agency: str = "") -> RosterRow:
    """A row with its cells cleaned: whitespace collapsed, control characters dropped, the
    login in lower case."""
    return RosterRow(line, _clean(login).lower(), _clean(full_name), _clean(agency))


def _clean(text: str) -> str:
    """Whitespace collapsed, control characters dropped."""
    kept = "".join(ch if unicodedata.category(ch) != "Cc" else " " for ch in text)
    return " ".join(kept.split())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _csv_lines(data: bytes) -> Iterator[tuple[int, list[str]]]:
    if data.startswith(_UTF16_BOMS):
        raise RosterFileError(FileProblem.ENCODING, "UTF-16")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterFileError(FileProblem.ENCODING, str(exc)) from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((";", ",", "\t"), key=first.count) if first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        for cells in reader:
            yield reader.line_num, _within_columns(cells)
    except csv.Error as exc:
        raise RosterFileError(FileProblem.UNREADABLE, str(exc)) from None


def _within_columns(cells: Sequence[str]) -> list[str]:
    """The first MAX_COLUMNS cells; blank ones past them (trailing separators) are no matter."""
    if any(_clean(c) for c in cells[MAX_COLUMNS:]):
        raise RosterFileError(FileProblem.TOO_MANY_COLUMNS)
    return list(cells[:MAX_COLUMNS])


def _count_strings(part: bytes) -> None:
    """Refuses a part that is a table of shared strings (root ``sst``) of more than MAX_STRINGS
    texts (``si``); any other part is left alone after its first element."""
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    depth = strings = 0
    for start in range(0, len(part), _CHUNK):
        parser.feed(part[start : start + _CHUNK])
        for item in parser.read_events():
            event, element = item[0], item[-1]
            if not isinstance(element, Element):
                continue
            if event == "end":
                depth -= 1
                element.clear()
                continue
            depth += 1
            name = str(element.tag).rpartition("}")[2]
            if depth == 1 and name != "sst":
                return
            if depth == 2 and name == "si":
                strings += 1
                if strings > MAX_STRINGS:
                    raise RosterFileError(FileProblem.TOO_MANY_STRINGS, f"over {MAX_STRINGS}")


def _unpacked(data: bytes) -> bytes:
    """An XLSX's parts inflated within MAX_UNPACKED bytes and its shared strings counted, packed
    again (stored, with sizes that are true) for the spreadsheet reader.

    The sizes the zip's directory declares are added up first; then every byte inflated is
    counted as it comes, so a directory that lies does not make it read further."""
    try:
        source = zipfile.ZipFile(io.BytesIO(data))
        parts = [p for p in source.infolist() if not p.is_dir()]
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError) as exc:
        raise RosterFileError(FileProblem.UNREADABLE, repr(exc)) from None
    declared = sum(p.file_size for p in parts)
    if declared > MAX_UNPACKED:
        raise RosterFileError(FileProblem.UNPACKED_TOO_LARGE, f"{declared} bytes declared")
    if len({p.filename for p in parts}) != len(parts):
        raise RosterFileError(FileProblem.UNREADABLE, "a part is in the archive twice")
    out = io.BytesIO()
    total = 0
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as clean:
        for info in parts:
            chunks: list[bytes] = []
            try:
                with source.open(info) as f:
                    while chunk := f.read(_CHUNK):
                        total += len(chunk)
                        if total > MAX_UNPACKED:
                            raise RosterFileError(
                                FileProblem.UNPACKED_TOO_LARGE, f"over {MAX_UNPACKED} bytes read"
                            )
                        chunks.append(chunk)
            except RosterFileError:
                raise
            except Exception as exc:  # a bad CRC, an unknown method, a password, …: all unreadable
                raise RosterFileError(FileProblem.UNREADABLE, repr(exc)) from None
            part = b"".join(chunks)
            if info.filename.lower().endswith(".xml"):
                # A part that is not XML after all is the spreadsheet reader's to refuse.
                with contextlib.suppress(ParseError):
                    _count_strings(part)
            clean.writestr(info.filename, part)
    return out.getvalue()


def _xlsx_lines(data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    workbook = _unpacked(data)
    try:
        # data_only: a formula cell gives the value Excel stored for it; nothing is evaluated.
        book = load_workbook(io.BytesIO(workbook), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a broken file; all mean the same
        raise RosterFileError(FileProblem.UNREADABLE, repr(exc)) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            return
        # Blank rows count too: a cell far down a sheet must not make openpyxl walk a million.
        rows = sheet.iter_rows(
            max_row=MAX_SHEET_ROWS + 1, max_col=MAX_COLUMNS + 1, values_only=True
        )
        for number, values in enumerate(rows, start=1):
            if number > MAX_SHEET_ROWS:
                raise RosterFileError(FileProblem.TOO_MANY_ROWS)
            yield number, _within_columns([_cell(v) for v in values])
    except RosterFileError:
        raise
    except Exception as exc:
        raise RosterFileError(FileProblem.UNREADABLE, repr(exc)) from None
    finally:
        book.close()


def _lines(data: bytes) -> Iterator[tuple[int, list[str]]]:
    if data.startswith(_XLSX_MAGIC):
        return _xlsx_lines(data)
    if data.startswith(_XLS_MAGIC):
        raise RosterFileError(FileProblem.OLD_EXCEL)
    return _csv_lines(data)


def columns_of(header: Sequence[str]) -> dict[str, int]:
    """Which column holds what, from the header row (the first of each name wins)."""
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = _key(cell)
        for column, names in HEADERS.items():
            if key in names:
                found.setdefault(column, index)
    if "login" not in found or "full_name" not in found:
        raise RosterFileError(FileProblem.HEADER, f"header {list(header)!r}")
    return found


def parse(data: bytes) -> list[RosterRow]:
    """The learners listed in a CSV or XLSX file; blank rows are skipped."""
    if len(data) > MAX_FILE:
        raise RosterFileError(FileProblem.TOO_LARGE, f"{len(data)} bytes")
    if not data.strip():
        raise RosterFileError(FileProblem.EMPTY)
    out: list[RosterRow] = []
    columns: dict[str, int] | None = None
    for number, raw in _lines(data):
        cells = [_clean(c) for c in raw]
        if not any(cells):
            continue
        if columns is None:
            columns = columns_of(cells)
            continue
        if len(out) == MAX_ROWS:
            raise RosterFileError(FileProblem.TOO_MANY_ROWS)
        login, full_name, agency, role, department, email = (
            _pick(cells, columns, c)
            for c in ("login", "full_name", "agency", "role", "department", "email")
        )
        out.append(RosterRow(number, login.lower(), full_name, agency, role, department, email))
    if not out:
        raise RosterFileError(FileProblem.EMPTY)
    return out


def _pick(cells: Sequence[str], columns: Mapping[str, int], column: str) -> str:
    index = columns.get(column)
    return cells[index] if index is not None and index < len(cells) else ""


def check(
    rows: Iterable[RosterRow], existing: Mapping[str, User], members: Collection[int]
) -> list[CheckedRow]:
    """Each row's fate: a new student, an existing one, already a member, or an error.

    ``existing`` holds the accounts of the rows' logins, ``members`` the group's members."""
    first: dict[str, int] = {}
    out: list[CheckedRow] = []
    for row in rows:
        problem: RowProblem | None = None
        first_line: int | None = None
        user = existing.get(row.login)
        if not row.login:
            problem = RowProblem.NO_LOGIN
        elif not LOGIN_RE.match(row.login):
            problem = RowProblem.BAD_LOGIN
        elif row.login in first:
            problem, first_line = RowProblem.DUPLICATE, first[row.login]
        if row.login and problem is not RowProblem.DUPLICATE:
            first.setdefault(row.login, row.line)
        if problem is None:
            if not row.full_name:
                problem = RowProblem.NO_NAME
            elif len(row.full_name) > MAX_NAME:
                problem = RowProblem.LONG_NAME
            elif len(row.agency) > MAX_AGENCY:
                problem = RowProblem.LONG_AGENCY
            elif user is not None and user.role is not Role.STUDENT:
                problem = RowProblem.NOT_STUDENT
        if problem is not None:
            out.append(CheckedRow(row, RowStatus.ERROR, problem, user, first_line))
        elif user is None:
            out.append(CheckedRow(row, RowStatus.NEW))
        elif user.id in members:
            out.append(CheckedRow(row, RowStatus.MEMBER, user=user))
        else:
            out.append(CheckedRow(row, RowStatus.EXISTING, user=user))
    return out
