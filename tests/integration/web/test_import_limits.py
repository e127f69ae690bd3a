"""A member import is read off the event loop, in a worker process with a deadline, within
limits on the file's size, its unpacked size, its rows, columns and texts: a spreadsheet bomb is
refused with the limit named, and no live class stalls while it is (issue 18, item 3)."""

from __future__ import annotations

import asyncio
import io
import os
import time
import zipfile
from xml.sax.saxutils import escape

import pytest
from aiohttp.test_utils import TestServer

from control.import_worker import parse_in_worker
from scheduler import roster
from scheduler.roster import FileProblem, RosterFileError, parse
from tests.conftest import Academy, SignIn
from tests.integration.attendance.test_reports import english
from tests.integration.scheduler.test_groups import csv_bytes, upload
from tests.peers import join, publish

_OOXML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_RELATION = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Types xmlns="{_PACKAGE}/content-types">'
    '<Default Extension="rels"'
    ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_OOXML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_OOXML}.worksheet+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_OOXML}.sharedStrings+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{_PACKAGE}/relationships">'
    f'<Relationship Id="rId1" Type="{_RELATION}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    f' xmlns:r="{_RELATION}">'
    '<sheets><sheet name="Слушатели" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{_PACKAGE}/relationships">'
    f'<Relationship Id="rId1" Type="{_RELATION}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_RELATION}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def workbook(
    rows: list[list[str]], filler: int = 0, padding: int = 0, unpacked: int | None = None
) -> bytes:
    """An XLSX whose cells are shared strings, written by hand so that its parts can be made
    as large as a test needs: ``filler`` more one-letter strings that no cell uses (the bomb of
    the issue is 1.4 M of them), ``padding`` bytes of an XML comment in the sheet, or
    ``unpacked``: the padding that makes the parts add up to exactly that many bytes."""
    texts = [text for row in rows for text in row]
    sheet_rows = "".join(
        f'<row r="{r + 1}">'
        + "".join(
            f'<c r="{_column(c)}{r + 1}" t="s"><v>{sum(len(x) for x in rows[:r]) + c}</v></c>'
            for c in range(len(row))
        )
        + "</row>"
        for r, row in enumerate(rows)
    )
    strings = "".join(f"<si><t>{escape(t)}</t></si>" for t in texts) + "<si><t>a</t></si>" * filler
    shared = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<sst xmlns="{_MAIN}" count="{len(texts) + filler}" uniqueCount="{len(texts) + filler}">'
        f"{strings}</sst>"
    ).encode()

    def sheet(pad: int) -> bytes:
        comment = f"<!--{'x' * (pad - 7)}-->" if pad else ""
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<worksheet xmlns="{_MAIN}"><sheetData>{sheet_rows}</sheetData>{comment}</worksheet>'
        ).encode()

    parts = {
        "[Content_Types].xml": _CONTENT_TYPES.encode(),
        "_rels/.rels": _RELS.encode(),
        "xl/workbook.xml": _WORKBOOK.encode(),
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS.encode(),
        "xl/sharedStrings.xml": shared,
        "xl/worksheets/sheet1.xml": sheet(padding),
    }
    if unpacked is not None:
        rest = unpacked - sum(len(p) for p in parts.values())
        assert rest >= 8, "the parts are already larger than asked"
        parts["xl/worksheets/sheet1.xml"] = sheet(padding + rest)
        assert sum(len(p) for p in parts.values()) == unpacked
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return buf.getvalue()


def bomb() -> bytes:
    """The issue's file: ~60 KB that unpack to ~23 MB of 1.4 M shared strings."""
    data = workbook([["login", "full name"], ["aigerim.n", "Әйгерім"]], filler=1_400_000)
    assert len(data) < 64 * 1024
    return data


LEARNERS = [["login", "full name"], ["aigerim.n", "Әйгерім Ғалымқызы"], ["oral.u", "Өрал Үсенов"]]


def problem_of(data: bytes) -> FileProblem:
    with pytest.raises(RosterFileError) as refused:
        parse(data)
    return refused.value.problem


# -- a live class goes on while bombs are refused ------------------------------------------------
async def test_four_bomb_uploads_do_not_stall_a_live_class(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    viewer = await join(sign_in(academy.student_ids[0]), academy.class_id)
    await viewer.wait_frames(15)
    gaps: list[float] = []
    watching = True

    async def watch() -> None:
        # The longest time between two decoded frames of the viewer while the uploads run.
        seen, last = viewer.frames, time.monotonic()
        while watching:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            if viewer.frames != seen:
                seen, last = viewer.frames, now
            gaps.append(now - last)

    watcher = asyncio.create_task(watch())
    staff = english(sign_in(academy.staff_id), served)
    data = bomb()
    url = f"/groups/{academy.group_id}/import"
    started = time.monotonic()
    answers = await asyncio.gather(
        *(staff.post(url, data=upload(data, "b.xlsx")) for _ in range(4))
    )
    took = time.monotonic() - started
    frames = viewer.frames
    await asyncio.sleep(1.0)  # and the class still runs after them
    watching = False
    await watcher
    try:
        for resp in answers:
            text = await resp.text()
            assert resp.status == 413, resp.status
            assert "unpacks to more than 4 MB" in text
        assert viewer.frames > frames
        assert max(gaps) < 0.5, f"the viewer's video stopped for {max(gaps):.2f} s"
        assert took < 10, f"the uploads took {took:.1f} s"
    finally:
        for p in (viewer, teacher):
            await p.close()


# -- each limit at its edge ------------------------------------------------------------------------
def test_a_file_of_the_largest_size_is_read_and_one_byte_more_is_refused() -> None:
    rows = [list(r) for r in LEARNERS]
    rows[-1][1] += " " * (roster.MAX_FILE - len(csv_bytes(rows)))  # spaces a name is cleaned of
    largest = csv_bytes(rows)
    assert len(largest) == roster.MAX_FILE
    assert [r.full_name for r in parse(largest)] == ["Әйгерім Ғалымқызы", "Өрал Үсенов"]
    assert problem_of(largest + b" ") is FileProblem.TOO_LARGE


def test_a_workbook_that_unpacks_to_the_limit_is_read_and_one_byte_more_is_refused() -> None:
    largest = workbook(LEARNERS, unpacked=roster.MAX_UNPACKED)
    assert len(largest) < 32 * 1024  # small to upload: only its unpacked size is at the limit
    assert [r.login for r in parse(largest)] == ["aigerim.n", "oral.u"]
    over = workbook(LEARNERS, unpacked=roster.MAX_UNPACKED + 1)
    assert problem_of(over) is FileProblem.UNPACKED_TOO_LARGE


def test_a_workbook_whose_directory_lies_about_its_sizes_is_refused_without_reading_on() -> None:
    data = bytearray(workbook(LEARNERS, filler=600_000))  # ~10 MB of strings, declared 1 KB
    name = b"xl/sharedStrings.xml"
    for signature, size_at in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        at = data.find(signature)
        while at != -1:
            name_at = at + (46 if signature == b"PK\x01\x02" else 30)
            if data[name_at : name_at + len(name)] == name:
                data[at + size_at : at + size_at + 4] = (1000).to_bytes(4, "little")
            at = data.find(signature, at + 4)
    lying = bytes(data)
    assert sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(lying)).infolist()) < 8000
    started = time.monotonic()
    assert problem_of(lying) in (FileProblem.UNREADABLE, FileProblem.UNPACKED_TOO_LARGE)
    assert time.monotonic() - started < 2.0


def test_a_workbook_of_the_most_texts_is_read_and_one_text_more_is_refused() -> None:
    texts = sum(len(r) for r in LEARNERS)
    most = workbook(LEARNERS, filler=roster.MAX_STRINGS - texts)
    assert [r.login for r in parse(most)] == ["aigerim.n", "oral.u"]
    assert problem_of(workbook(LEARNERS, filler=roster.MAX_STRINGS - texts + 1)) is (
        FileProblem.TOO_MANY_STRINGS
    )


def test_a_file_of_the_most_people_is_read_and_one_more_is_refused() -> None:
    header = [["login", "name"]]
    most = [[f"u{i:04d}", "N"] for i in range(roster.MAX_ROWS)]
    one_more = [*most, ["u9999", "N"]]
    assert len(parse(csv_bytes(header + most))) == roster.MAX_ROWS
    assert len(parse(workbook(header + most))) == roster.MAX_ROWS
    assert problem_of(csv_bytes(header + one_more)) is FileProblem.TOO_MANY_ROWS
    assert problem_of(workbook(header + one_more)) is FileProblem.TOO_MANY_ROWS


def test_a_row_of_the_most_columns_is_read_and_a_cell_further_right_is_refused() -> None:
    width = roster.MAX_COLUMNS
    header = ["login", "full name"] + [f"note {c}" for c in range(3, width + 1)]
    widest = [header, ["aigerim.n", "Әйгерім"] + ["x"] * (width - 2)]
    assert [r.login for r in parse(csv_bytes(widest))] == ["aigerim.n"]
    assert [r.login for r in parse(workbook(widest))] == ["aigerim.n"]
    # Empty cells past the last column (trailing separators) are no matter.
    assert [r.login for r in parse(csv_bytes([[*r, "", " "] for r in widest]))] == ["aigerim.n"]
    wider = [header, ["aigerim.n", "Әйгерім"] + ["x"] * (width - 1)]
    assert problem_of(csv_bytes(wider)) is FileProblem.TOO_MANY_COLUMNS
    assert problem_of(workbook(wider)) is FileProblem.TOO_MANY_COLUMNS


# -- the worker ----------------------------------------------------------------------------------
def _workers() -> list[int]:
    """The import workers that are children of this process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rpartition(")")[2].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read()
        except OSError:
            continue
        if parent == os.getpid() and b"control.import_worker" in command:
            found.append(int(entry))
    return found


async def test_the_worker_reads_a_file_and_one_past_its_deadline_is_killed() -> None:
    rows = await parse_in_worker(workbook(LEARNERS))
    assert [(r.line, r.login, r.full_name) for r in rows] == [
        (2, "aigerim.n", "Әйгерім Ғалымқызы"),
        (3, "oral.u", "Өрал Үсенов"),
    ]
    with pytest.raises(RosterFileError) as refused:
        await parse_in_worker(csv_bytes([["login", "ФИО"]]))
    assert refused.value.problem is FileProblem.EMPTY
    with pytest.raises(RosterFileError) as slow:
        await parse_in_worker(workbook(LEARNERS, filler=roster.MAX_STRINGS - 6), deadline=0.05)
    assert slow.value.problem is FileProblem.TOO_SLOW
    assert _workers() == []  # killed and waited for, not left running


async def test_each_limit_is_named_to_the_staff_member(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = english(sign_in(academy.staff_id), served)
    url = f"/groups/{academy.group_id}/import"
    wide = [["login", "name"] + ["n"] * roster.MAX_COLUMNS]
    texts = sum(len(r) for r in LEARNERS)
    for data, status, message in (
        (workbook(LEARNERS, unpacked=roster.MAX_UNPACKED + 1), 413, "unpacks to more than 4 MB"),
        (workbook(LEARNERS, filler=roster.MAX_STRINGS - texts + 1), 400,
         f"holds more than {roster.MAX_STRINGS} texts"),
        (csv_bytes([*wide, ["a.b", "Ann"]]), 400, "at most 30 columns"),
        (csv_bytes([["login", "name"], ["a.b", "A" * roster.MAX_FILE]]), 413, "at most 64 KB"),
    ):  # fmt: skip
        resp = await staff.post(url, data=upload(data, "list.xlsx"))
        assert resp.status == status and message in await resp.text(), message
    # A valid workbook still gets its preview.
    ok = await staff.post(url, data=upload(workbook(LEARNERS), "list.xlsx"))
    assert ok.status == 200 and "New students: 2." in await ok.text()
