"""Reports as files staff can hand on: CSV (UTF-8 with BOM, for Excel) and XLSX.

Every cell a spreadsheet could take for a formula (one starting with ``= + - @``, a tab or a
carriage return) is written with a leading apostrophe, so a name like ``=HYPERLINK(...)`` stays
text. A CSV is safe whichever list separator the spreadsheet splits on: Excel in Russian and
Kazakh locales splits a comma-separated file on ``;`` (and on line breaks inside a cell), so a
cell ``Ли;=cmd|...`` would give a bare ``=cmd|...`` there; within a CSV cell, what follows a
``;`` or a line break is marked as text with an apostrophe too. Every file ends with the
ledger's chain heads it was built from (rows marked ``sabaq-chain-head``: class, number of
events, hash of the last), so ``sabaq verify --report`` can tell whether the ledger still
agrees with it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]

CHAIN_MARK = "sabaq-chain-head"
_HASH = re.compile(r"[0-9a-f]{64}")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | None


def escape_cell(value: Cell) -> Cell:
    """A string a spreadsheet would run as a formula becomes plain text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


# Where a spreadsheet splitting a comma-separated file on ";" starts a cell within one of ours.
_RESPLIT = re.compile(r"(?<=[;\r\n])(?=[=+\-@\t\r\"])")
_QUOTED_BY_CSV = re.compile(r"[,\"\r\n]")


def csv_safe(value: str) -> str:
    """A cell's text (escaped already) that starts no formula in a comma-separated file read
    with either "," or ";" as the separator.

    A ";" or line break in the cell starts a new cell for a reader splitting on ";": what
    follows must not be a formula, nor a quote (which would start a quoted cell there). A
    cell the CSV writer quotes ends in a quote: a ";" or line break just before it would
    start a quoted cell running into the rest of the line."""
    value = _RESPLIT.sub("'", value)
    if value.endswith((";", "\r", "\n")) and _QUOTED_BY_CSV.search(value):
        value += "'"
    return value


def csv_row(cells: Sequence[object]) -> str:
    """One CSV line (CRLF) of cells made safe with ``csv_safe``."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(
        ["" if c is None else csv_safe(c) if isinstance(c, str) else c for c in cells]
    )
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class ChainHead:
    class_id: int
    count: int
    hash: str


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    heads: Sequence[ChainHead] = ()
    heads_title: str = "Attendance ledger chain heads"
    notes: Sequence[str] = field(default_factory=tuple)

    def lines(self) -> list[list[Cell]]:
        """The table as rows of cells, escaped, chain heads last."""
        out: list[list[Cell]] = [[self.title]]
        out.extend([[n] for n in self.notes])
        out.append(list(self.header))
        out.extend(list(r) for r in self.rows)
        out.append([])
        out.append([self.heads_title])
        out.extend([CHAIN_MARK, h.class_id, h.count, h.hash] for h in self.heads)
        return [[escape_cell(c) for c in line] for line in out]


def to_csv(table: Table) -> bytes:
    text = "".join(csv_row(line) for line in table.lines())
    return ("\ufeff" + text).encode("utf-8")


def xlsx_of(
    lines: Sequence[Sequence[Cell]],
    sheet: str,
    *,
    bold_rows: Collection[int] = (0,),
    freeze: tuple[int, int] = (1, 0),
    widths: Sequence[tuple[int, int, int]] = (),
) -> bytes:
    """A workbook of one sheet: text stays text (no formulas, links or numbers guessed from
    strings), numbers are numbers; ``bold_rows`` in bold, panes frozen at ``freeze``, column
    ranges (first, last, width) as given."""
    buf = io.BytesIO()
    book: Any = xlsxwriter.Workbook(
        buf,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    ws = book.add_worksheet(sheet[:31])
    bold = book.add_format({"bold": True})
    for r, line in enumerate(lines):
        for c, value in enumerate(line):
            if value is None:
                continue
            if isinstance(value, str):
                ws.write_string(r, c, value, bold if r in bold_rows else None)
            else:
                ws.write_number(r, c, value)
    ws.freeze_panes(*freeze)
    for first, last, width in widths:
        ws.set_column(first, last, width)
    book.close()
    return buf.getvalue()


def to_xlsx(table: Table, sheet: str = "Attendance") -> bytes:
    header_row = 1 + len(table.notes)
    return xlsx_of(
        table.lines(),
        sheet,
        bold_rows=(0, header_row),
        freeze=(header_row + 1, 1),
        widths=((0, 0, 32), (1, max(1, len(table.header) - 1), 16)),
    )


def read_heads(path: Path) -> list[ChainHead]:
    """The chain heads written into a report file (CSV or XLSX)."""
    rows: list[list[Any]] = []
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        for ws in book.worksheets:
            rows.extend(list(r) for r in ws.iter_rows(values_only=True))
        book.close()
    else:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows.extend(csv.reader(f))
    heads = []
    for row in rows:
        cells = [c for c in row if c not in (None, "")]
        # A head row is exactly: the mark, class, count, a SHA-256 hash (and, in class-ended
        # files, the time). A learner who happens to be named like the mark is not one.
        if cells[:1] != [CHAIN_MARK] or len(cells) not in (4, 5):
            continue
        if not _HASH.fullmatch(str(cells[3])):
            continue
        try:
            heads.append(ChainHead(int(cells[1]), int(cells[2]), str(cells[3])))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a chain head in {path.name} is malformed: {row}") from exc
    return heads
