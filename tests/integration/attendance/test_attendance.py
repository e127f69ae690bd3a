"""The attendance register: presence intervals, marks, corrections, reports that can be checked
against the ledger, and `sabaq verify` finding a rewritten database."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from access.events import EventKind
from access.ids import uuid7
from attendance.export import CHAIN_MARK, ChainHead, Table, escape_cell, read_heads, to_csv, to_xlsx
from attendance.heads_folder import HeadsFolder
from attendance.marks import Mark, MarkRules, class_marks, class_window
from attendance.models import (
    GENESIS,
    IGNORED,
    NODE_DECLARED_DEAD,
    IncomingEvent,
    LedgerEvent,
    chain_hash,
)
from attendance.presence import intervals_by_user
from attendance.sqlite_ledger import SqliteLedger
from control.database import connect
from control.ingest import write_digests
from tests.conftest import Academy, Clock, SignIn, on_days
from web.core import keys

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "golden"
# A name Excel in Russian and Kazakh locales (";" as the list separator) would split into a
# bare formula cell if it were written as it is.
SEMICOLON_ATTACK = "Ли;=cmd|' /C calc'!A0;"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
KAZAKH = "Әсел Ғалымқызы Қоңырбаева-Өтеғұлова Үмітұлы Һ Іңкәр"


def ev(
    kind: EventKind, user: int | None, t: float, class_id: int = 1, **data: object
) -> IncomingEvent:
    return IncomingEvent(
        id=str(uuid7()), kind=kind, class_id=class_id, node="n", node_seq=0, origin_time=t,
        user_id=user, role="learner", data=dict(data),
    )  # fmt: skip


def stored(events: list[IncomingEvent], tmp_path: Path) -> list[LedgerEvent]:
    ledger = SqliteLedger(connect(tmp_path / "l.sqlite3"))
    for e in events:
        ledger.append(e)
    return ledger.events(1)


def test_a_reconnect_within_the_grace_period_is_one_interval(tmp_path: Path) -> None:
    events = stored(
        [
            ev(EventKind.JOINED, 1, 0),
            ev(EventKind.DISCONNECTED, 1, 100),
            ev(EventKind.RECONNECTED, 1, 130),  # back after 30 s: the same stay
            ev(EventKind.DISCONNECTED, 1, 200),
            ev(EventKind.RECONNECTED, 1, 400),  # back after 200 s: a second stay
            ev(EventKind.LEFT, 1, 500),
            ev(EventKind.JOINED, 2, 0),
            ev(EventKind.JOINED, 2, 50),  # a second tab: not a second person
            ev(EventKind.DISCONNECTED, 2, 300),  # never came back
            ev(EventKind.CLASS_ENDED, None, 600),
        ],
        tmp_path,
    )
    by_user = intervals_by_user(events, grace=60)
    assert [(i.start, i.end) for i in by_user[1]] == [(0, 200), (400, 500)]
    assert [(i.start, i.end) for i in by_user[2]] == [(0, 300)]  # ends at the drop, not later
    # Without a grace period every drop ends a stay.
    assert len(intervals_by_user(events, grace=0)[1]) == 3


def test_marks_from_thresholds_absentees_included(tmp_path: Path) -> None:
    start, end = 1000.0, 1000.0 + 5400  # a 90-minute class
    events = stored(
        [
            ev(EventKind.CLASS_STARTED, None, start),
            ev(EventKind.JOINED, 1, start + 60),  # on time, stays: present
            ev(EventKind.JOINED, 2, start + 15 * 60),  # a quarter of an hour late
            ev(EventKind.JOINED, 3, start),  # leaves after half an hour
            ev(EventKind.LEFT, 3, start + 1800),
            ev(EventKind.JOINED, 5, start - 300),  # early: counted from the start only
            ev(EventKind.LEFT, 5, start + 4200),  # 4200 of 5400 s: under 80 %
            ev(EventKind.CLASS_ENDED, None, end),
        ],
        tmp_path,
    )
    marks = {m.user_id: m for m in class_marks([1, 2, 3, 4, 5], events, start, end, end + 10)}
    assert marks[1].mark is Mark.PRESENT and marks[1].minutes == 89
    assert marks[2].mark is Mark.LATE
    assert marks[3].mark is Mark.LEFT_EARLY and marks[3].minutes == 30
    assert marks[4].mark is Mark.ABSENT and marks[4].seconds == 0
    assert marks[5].mark is Mark.LEFT_EARLY and marks[5].seconds == 4200
    # Thresholds are settings: with 20 minutes allowed for lateness, a quarter of an hour late
    # is on time; leaving 20 minutes before the end is leaving early whatever the share.
    lenient = MarkRules(late_after_seconds=1200, present_share=0.75)
    marks = {m.user_id: m for m in class_marks([2, 5], events, start, end, end, lenient)}
    assert marks[2].mark is Mark.PRESENT and marks[5].mark is Mark.LEFT_EARLY
    # An approved excuse makes an absence excused.
    (absent,) = class_marks([4], events, start, end, end, excused={4})
    assert absent.mark is Mark.EXCUSED and absent.derived is Mark.ABSENT
    with pytest.raises(ValueError, match="share"):
        MarkRules(present_share=1.5)


def test_cells_that_would_run_as_formulas_are_text() -> None:
    for dangerous in ("=1+1", "+7 701", "-5", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("x")'):
        assert escape_cell(dangerous) == "'" + dangerous
    assert (
        escape_cell("Иван =1") == "Иван =1" and escape_cell(-5) == -5 and escape_cell(None) is None
    )


def _table() -> Table:
    return Table(
        title="Посещаемость: Уголовное право",
        notes=("Время указано в часовом поясе Asia/Almaty.",),
        header=["Слушатель", "Отметка", "Пришёл", "Ушёл", "Минут на занятии", "Причина"],
        rows=[
            [KAZAKH, "присутствовал", "2026-11-24 10:01:00", "2026-11-24 11:30:00", 89, ""],
            ['=HYPERLINK("http://evil.example","click")', "отсутствовал", "", "", 0, ""],
            ["Иван Петров", "по уважительной причине", "", "", 0, "-справка 12"],
            [SEMICOLON_ATTACK, "отсутствовал", "", "", 0, 'болен;"=1+1", +7 701;'],
        ],
        heads=[ChainHead(7, 3, "ab" * 32)],
        heads_title="Вершины цепочек журнала посещаемости",
    )


def test_csv_report_matches_the_golden_file(tmp_path: Path) -> None:
    data = to_csv(_table())
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    assert data == (GOLDEN / "attendance.csv").read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[3][0] == KAZAKH
    assert rows[4][0].startswith("'=HYPERLINK")
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    assert read_heads(path) == [ChainHead(7, 3, "ab" * 32)]


def _read_both_ways(data: bytes) -> dict[str, list[list[str]]]:
    text = data.decode("utf-8-sig")
    return {d: list(csv.reader(io.StringIO(text, newline=""), delimiter=d)) for d in ",;"}


def test_no_csv_cell_starts_a_formula_whichever_separator_the_spreadsheet_splits_on() -> None:
    data = to_csv(_table())
    assert data == (GOLDEN / "attendance.csv").read_bytes()
    for delimiter, rows in _read_both_ways(data).items():
        for row in rows:
            for cell in row:
                assert not cell.startswith(FORMULA_START), (delimiter, row)
    # Read as written (comma-separated), every cell is still the text it was, marked as text.
    rows = _read_both_ways(data)[","]
    assert rows[6][0] == "Ли;'=cmd|' /C calc'!A0;" and rows[6][1] == "отсутствовал"
    assert rows[6][5] == """болен;'"=1+1", +7 701;'"""
    assert rows[3][0] == KAZAKH and rows[5][5] == "'-справка 12"


@given(
    st.lists(st.lists(st.text(alphabet=st.sampled_from(';,"=+-@\t\r\n a')), max_size=4), max_size=4)
)
def test_no_cell_of_any_text_starts_a_formula_under_either_separator(
    cells: list[list[str]],
) -> None:
    data = to_csv(Table(title="t", header=["a"], rows=cells))
    for delimiter, rows in _read_both_ways(data).items():
        for row in rows:
            for cell in row:
                assert not cell.startswith(FORMULA_START), (delimiter, cells, row)


def test_xlsx_report_reads_back_as_text(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    path.write_bytes(to_xlsx(_table()))
    book = load_workbook(path)
    ws = book.active
    assert ws is not None
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[3][0] == KAZAKH and values[3][4] == 89
    cell = ws.cell(row=5, column=1)
    assert cell.data_type == "s" and str(cell.value).startswith("'=HYPERLINK")
    assert ws.cell(row=6, column=6).value == "'-справка 12"
    assert [r for r in values if r[0] == CHAIN_MARK] == [[CHAIN_MARK, 7, 3, "ab" * 32, None, None]]
    assert read_heads(path) == [ChainHead(7, 3, "ab" * 32)]


def _sabaq(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"SABAQ_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip


def test_verify_finds_a_rewritten_time_and_a_report_that_no_longer_agrees(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = connect(data_dir / "sabaq.sqlite3")
    ledger = SqliteLedger(db)
    for t in (1.0, 2.0, 3.0):
        ledger.append(ev(EventKind.JOINED, 5, t))
        ledger.append(ev(EventKind.JOINED, 6, t, class_id=2))
    count, head = ledger.chain_head(1)
    report = tmp_path / "report.csv"
    report.write_bytes(to_csv(Table("t", ["a"], [], heads=[ChainHead(1, count, head)])))
    ok = _sabaq(["verify"], data_dir)
    assert ok.returncode == 0 and "All 2 class chain(s) verified" in ok.stdout, ok.stderr
    assert _sabaq(["verify", "--report", str(report)], data_dir).returncode == 0
    ledger.append(ev(EventKind.LEFT, 5, 4.0))  # the ledger grows: the report still agrees
    assert _sabaq(["verify", "--report", str(report)], data_dir).returncode == 0
    # Someone with the file drops the trigger and moves a join earlier.
    db.executescript(
        "DROP TRIGGER ledger_events_no_update;"
        "UPDATE ledger_events SET origin_time = 0.5 WHERE seq = (SELECT seq FROM ledger_events"
        " WHERE class_id = 1 ORDER BY seq LIMIT 1 OFFSET 1);"
    )
    db.close()
    broken = _sabaq(["verify"], data_dir)
    assert broken.returncode == 1
    assert "BROKEN class 1: first broken link at event seq 3" in broken.stdout, broken.stdout
    assert "class 2" not in broken.stdout
    mismatch = _sabaq(["verify", "--report", str(report)], data_dir)
    assert mismatch.returncode == 1 and "MISMATCH class 1" in mismatch.stdout
    missing = _sabaq(["verify", "--report", str(tmp_path / "none.csv")], data_dir)
    assert missing.returncode == 2 and "cannot read the report" in missing.stderr
    assert _sabaq(["verify"], tmp_path / "nowhere").returncode == 2


@on_days
async def test_staff_correct_a_mark_with_a_reason_and_download_the_register(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    c = served.app[keys.TIMETABLE].get_class(academy.class_id)
    start = c.starts_at.timestamp()
    ledger: SqliteLedger = served.app[keys.LEDGER]
    first, second = academy.student_ids[:2]
    for e in (
        ev(EventKind.CLASS_STARTED, None, start, class_id=c.id),
        ev(EventKind.JOINED, first, start + 30, class_id=c.id),
        ev(EventKind.CLASS_ENDED, None, start + 3600, class_id=c.id),
    ):
        ledger.append(e)
    url = f"/classes/{c.id}/attendance"
    staff, teacher = sign_in(academy.staff_id), sign_in(academy.teacher_id)
    page = await (await teacher.get(url)).text()
    assert f'data-user="{first}" data-mark="present"' in page
    assert f'data-user="{second}" data-mark="absent"' in page
    assert "override-form" not in page  # the teacher reads; staff correct

    form = {"user_id": str(second), "mark": "excused", "reason": "справка № 12"}
    assert (await teacher.post(f"{url}/override", data=form)).status == 403
    assert (await staff.post(f"{url}/override", data={**form, "reason": " "})).status == 400
    assert (await staff.post(f"{url}/override", data={**form, "mark": "gone"})).status == 400
    outsider = {**form, "user_id": str(academy.outsider_id)}
    assert (await staff.post(f"{url}/override", data=outsider)).status == 400
    done = await staff.post(f"{url}/override", data=form, allow_redirects=False)
    assert done.status in (302, 303)
    page = await (await staff.get(url)).text()
    assert f'data-user="{second}" data-mark="excused"' in page and "справка № 12" in page
    (fix,) = [e.event for e in ledger.events(c.id) if e.event.kind is EventKind.MARK_OVERRIDDEN]
    assert fix.user_id == second and fix.data["by_user_id"] == academy.staff_id
    assert abs(fix.origin_time - clock()) < 60  # the correction's time is the server's
    assert ledger.verify(c.id) is None

    # The register as files: every learner of the group, the chain head it was built from.
    csv_resp = await staff.get(f"{url}.csv")
    assert csv_resp.status == 200 and csv_resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO((await csv_resp.read()).decode("utf-8-sig"))))
    names = {r[0] for r in rows if r and r[0].startswith("Студент")}
    assert len(names) == 20
    count, head = ledger.chain_head(c.id)
    assert [CHAIN_MARK, str(c.id), str(count), head] in rows
    xlsx = await staff.get(f"{url}.xlsx")
    assert xlsx.status == 200 and (await xlsx.read())[:2] == b"PK"
    assert (await sign_in(academy.student_ids[0]).get(f"{url}.csv")).status == 403


async def test_the_register_page_says_what_each_mark_means(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """By what the person did, with the thresholds in force, in the reader's language."""
    url = f"/classes/{academy.class_id}/attendance"
    teacher = sign_in(academy.teacher_id)
    page = await (await teacher.get(url)).text()
    assert '<dt class="mark-left_early" data-mark="left_early">ушёл раньше</dt>' in page
    assert "ушёл более чем за 60 с до конца занятия" in page and "более 20%" in page
    assert "позднее чем через 10 мин после начала" in page
    assert "рапорт" in page and "не допущен" in page
    await teacher.post("/language", data={"lang": "en", "next": "/"})
    page = await (await teacher.get(url)).text()
    for mark in Mark:
        assert f'<dd data-mark="{mark.value}">' in page
    assert "left more than 60 seconds before the end" in page
    assert "away for more than 20% of the class in all" in page
    assert "came in within 10 minutes of the start, stayed to the end" in page
    assert "when the teacher ended it, else its end in the timetable" in page


def test_the_ledger_refuses_corrections_by_update(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.sqlite3")
    SqliteLedger(db).append(ev(EventKind.JOINED, 1, 1.0))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE ledger_events SET kind = 'left'")


def test_a_dead_nodes_open_presence_closes_at_its_last_sign_of_life(tmp_path: Path) -> None:
    ledger = SqliteLedger(connect(tmp_path / "l.sqlite3"))

    def on(node: str, kind: EventKind, user: int | None, t: float, cls: int = 1) -> None:
        e = ev(kind, user, t, class_id=cls)
        ledger.append(IncomingEvent(**{**{f: getattr(e, f) for f in e.__slots__}, "node": node}))

    on("a", EventKind.CLASS_STARTED, 1, 0)
    on("a", EventKind.JOINED, 1, 0)
    on("a", EventKind.JOINED, 2, 10)
    on("a", EventKind.JOINED, 2, 20)  # a second tab of the same person
    on("a", EventKind.JOINED, 3, 30)
    on("a", EventKind.LEFT, 3, 40)  # gone before the crash: nothing to close
    on("a", EventKind.JOINED, 4, 130)  # came in after the last heartbeat (at 120)
    on("b", EventKind.JOINED, 5, 50, cls=2)  # another node's class: still running there
    on("a", EventKind.JOINED, 6, 0, cls=3)
    on("a", EventKind.CLASS_ENDED, None, 60, cls=3)  # ended properly: nothing open

    closed = ledger.close_after_stop("a", last_heartbeat=120.0)
    assert sorted((le.event.user_id, le.event.origin_time) for le in closed) == [
        (1, 120.0),
        (2, 120.0),  # one close for the person, whatever the tabs
        (4, 130.0),  # never before what the person was last seen doing
    ]
    assert all(le.event.data["reason"] == "server_stopped" for le in closed)
    assert ledger.close_after_stop("a", last_heartbeat=120.0) == []  # a second run: no-op
    assert all(s[-1].end is not None for s in intervals_by_user(ledger.events(1)).values())
    assert intervals_by_user(ledger.events(2))[5][-1].end is None
    assert ledger.verify_all() == []


def test_published_heads_expose_a_database_rewritten_with_consistent_hashes(
    tmp_path: Path,
) -> None:
    """Whoever holds the database can recompute every hash after changing a time — `verify`
    alone then finds nothing; the heads published the day before do not match any more."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = connect(data_dir / "sabaq.sqlite3")
    yesterday = datetime.now(UTC).replace(hour=12) - timedelta(days=1)
    clock = [yesterday.timestamp()]
    ledger = SqliteLedger(db, clock=lambda: clock[0])
    for t in (1.0, 2.0, 3.0):
        ledger.append(ev(EventKind.JOINED, 5, t))
    ledger.append(ev(EventKind.JOINED, 6, 1.0, class_id=2))
    folder = HeadsFolder(data_dir / "chain-heads")
    assert write_digests(ledger, folder, time.time()) == 1
    assert write_digests(ledger, folder, time.time()) == 0  # written once, never rewritten
    digest = folder.digest_path(yesterday.date())
    assert {h.class_id: h.count for h in read_heads(digest)} == {1: 3, 2: 1}
    clock[0] = time.time()
    ledger.append(ev(EventKind.LEFT, 5, 4.0))  # today's events: yesterday's digest still holds
    assert _sabaq(["verify", "--report", str(digest)], data_dir).returncode == 0

    # The rewrite: a join moved earlier, and the chain recomputed from there on.
    events = ledger.events(1)
    moved = replace(events[1].event, origin_time=0.5)
    db.executescript("DROP TRIGGER ledger_events_no_update;")
    prev = GENESIS
    for le in [events[0], replace(events[1], event=moved), *events[2:]]:
        digest_ = chain_hash(prev, le.event, le.received_time)
        db.execute(
            "UPDATE ledger_events SET origin_time = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (le.event.origin_time, prev, digest_, le.seq),
        )
        prev = digest_
    db.commit()
    db.close()
    assert _sabaq(["verify"], data_dir).returncode == 0  # the chain is consistent in itself
    caught = _sabaq(["verify", "--report", str(digest)], data_dir)
    assert caught.returncode == 1 and "MISMATCH class 1" in caught.stdout, caught.stdout
    assert "class 2" not in caught.stdout


def test_while_the_class_goes_on_someone_still_in_it_is_not_marked_left_early(
    tmp_path: Path,
) -> None:
    start, end = 1000.0, 1000.0 + 5400
    events = stored(
        [
            ev(EventKind.CLASS_STARTED, None, start),
            ev(EventKind.JOINED, 1, start + 60),
            ev(EventKind.LEFT, 1, start + 120),
            ev(EventKind.JOINED, 1, start + 600),  # came back, still here: 70 % so far
            ev(EventKind.JOINED, 2, start + 60),
            ev(EventKind.LEFT, 2, start + 600),  # left after 9 minutes
        ],
        tmp_path,
    )
    now = start + 1800
    marks = {m.user_id: m.mark for m in class_marks([1, 2], events, start, end, now)}
    assert marks == {1: Mark.PRESENT, 2: Mark.LEFT_EARLY}
    # Once the class is over, the same presence is judged in full.
    done = {m.user_id: m.mark for m in class_marks([1, 2], events, start, end, end + 60)}
    assert done == {1: Mark.PRESENT, 2: Mark.LEFT_EARLY}


def marks_of(
    events: list[IncomingEvent],
    start: float,
    end: float,
    now: float,
    rules: MarkRules | None = None,
) -> dict[int, Mark]:
    """The derived mark per learner, from events held as the ledger holds them."""
    ledger = [LedgerEvent(i, e, e.origin_time, "", "") for i, e in enumerate(events, 1)]
    users = sorted({e.user_id for e in events if e.user_id is not None})
    return {m.user_id: m.mark for m in class_marks(users, ledger, start, end, now, rules)}


def test_who_stayed_until_the_teacher_ended_a_short_class_is_present() -> None:
    """The class was to last 90 minutes; the teacher ended it after 3. Two students came in
    30 s after the start and stayed to the end: present, not "left early" (their share of
    the class was under 80 %)."""
    start, end, ended = 1000.0, 1000.0 + 5400, 1000.0 + 180
    events = [
        ev(EventKind.CLASS_STARTED, None, start),
        ev(EventKind.JOINED, 1, start + 30),  # in until the end closed the stay
        ev(EventKind.JOINED, 2, start + 30),
        ev(EventKind.DISCONNECTED, 2, ended - 40),  # dropped within the grace of the end
        ev(EventKind.JOINED, 3, start + 30),
        ev(EventKind.LEFT, 3, ended - 61),  # left a minute and a second before the end
        ev(EventKind.CLASS_ENDED, None, ended),
    ]
    marks = marks_of(events, start, end, ended + 5)
    assert marks == {1: Mark.PRESENT, 2: Mark.PRESENT, 3: Mark.LEFT_EARLY}
    assert marks_of(events, start, end, end + 3600) == marks  # and so it stays


def test_lateness_at_the_threshold() -> None:
    """Came in within the lateness threshold and stayed: present, however short the class;
    a second later: late."""
    start, end = 1000.0, 1000.0 + 1200  # a 20-minute class, 10 minutes' lateness allowed
    events = [
        ev(EventKind.CLASS_STARTED, None, start),
        ev(EventKind.JOINED, 1, start + 600),
        ev(EventKind.JOINED, 2, start + 601),
        ev(EventKind.CLASS_ENDED, None, end),
    ]
    assert marks_of(events, start, end, end) == {1: Mark.PRESENT, 2: Mark.LATE}


def test_the_last_stay_has_to_reach_the_end_within_the_reconnect_grace() -> None:
    """No one ended the class (the teacher's browser was lost): its end is the timetable's."""
    start, end = 1000.0, 1000.0 + 5400
    events = [
        ev(EventKind.CLASS_STARTED, None, start),
        ev(EventKind.JOINED, 1, start),
        ev(EventKind.LEFT, 1, end - 60),  # as long before the end as the grace: stayed
        ev(EventKind.JOINED, 2, start),
        ev(EventKind.LEFT, 2, end - 61),  # a second more: left before the end
        ev(EventKind.JOINED, 3, start),
        ev(EventKind.DISCONNECTED, 3, end - 30),  # dropped near the end, did not come back
    ]
    marks = marks_of(events, start, end, end + 600)
    assert marks == {1: Mark.PRESENT, 2: Mark.LEFT_EARLY, 3: Mark.PRESENT}
    short = MarkRules(grace_seconds=20)
    assert marks_of(events, start, end, end + 600, short) == {
        1: Mark.LEFT_EARLY, 2: Mark.LEFT_EARLY, 3: Mark.LEFT_EARLY,
    }  # fmt: skip


def test_away_for_long_in_the_middle_is_left_early() -> None:
    """Away between stays for more than 20 % of a 90-minute class (18 minutes) in all."""
    start, end = 1000.0, 1000.0 + 5400
    events = [
        ev(EventKind.CLASS_STARTED, None, start),
        ev(EventKind.JOINED, 1, start),
        ev(EventKind.LEFT, 1, start + 600),
        ev(EventKind.JOINED, 1, start + 600 + 1080),  # away 18 minutes: not long
        ev(EventKind.JOINED, 2, start),
        ev(EventKind.LEFT, 2, start + 600),
        ev(EventKind.JOINED, 2, start + 1200),  # away 10 minutes
        ev(EventKind.LEFT, 2, start + 1800),
        ev(EventKind.JOINED, 2, start + 2281),  # and 8 minutes and a second more
        ev(EventKind.JOINED, 3, start + 300),  # came in 5 minutes late: not away
        ev(EventKind.DISCONNECTED, 3, start + 2000),
        ev(EventKind.RECONNECTED, 3, start + 2050),  # a drop within the grace: not away
        ev(EventKind.CLASS_ENDED, None, end),
    ]
    marks = marks_of(events, start, end, end)
    assert marks == {1: Mark.PRESENT, 2: Mark.LEFT_EARLY, 3: Mark.PRESENT}
    # The share is a setting: with 75 % for presence, 22.5 minutes away is allowed.
    lenient = MarkRules(present_share=0.75)
    assert marks_of(events, start, end, end, lenient)[2] is Mark.PRESENT


def test_marks_of_a_class_not_ended_yet() -> None:
    """While the class goes on, a last stay reaches "now": someone in it, or dropped and still
    within the grace, has not left; someone gone for longer has (so far)."""
    start, end = 1000.0, 1000.0 + 5400
    now = start + 1800
    events = [
        ev(EventKind.CLASS_STARTED, None, start),
        ev(EventKind.JOINED, 1, start + 300),
        ev(EventKind.JOINED, 2, start),
        ev(EventKind.DISCONNECTED, 2, now - 30),
        ev(EventKind.JOINED, 3, start),
        ev(EventKind.LEFT, 3, now - 120),
        ev(EventKind.JOINED, 4, start + 900),
        ev(EventKind.JOINED, 5, start),
        ev(EventKind.LEFT, 5, start + 60),
        ev(EventKind.JOINED, 5, start + 1200),  # away 19 minutes of the 90 to be: long
    ]
    marks = marks_of(events, start, end, now)
    assert marks == {
        1: Mark.PRESENT, 2: Mark.PRESENT, 3: Mark.LEFT_EARLY, 4: Mark.LATE, 5: Mark.LEFT_EARLY,
    }  # fmt: skip


@given(
    length=st.floats(60, 4 * 3600),
    ended_share=st.one_of(st.none(), st.floats(0.01, 1)),
    came=st.floats(0, 1),
    # back within the grace: a drop of exactly the grace is one float rounding from over it
    drops=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 0.999)), max_size=5),
    last=st.sampled_from(["in", "left", "dropped"]),
    before_end=st.floats(0, 1),
    rules=st.builds(
        MarkRules,
        late_after_seconds=st.floats(0, 1800),
        present_share=st.floats(0.01, 1),
        grace_seconds=st.floats(0, 300),
    ),
)
def test_in_on_time_and_to_the_end_is_never_left_early_or_absent(
    length: float,
    ended_share: float | None,
    came: float,
    drops: list[tuple[float, float]],
    last: str,
    before_end: float,
    rules: MarkRules,
) -> None:
    """Someone who comes in within the lateness threshold and is there until the end (drops
    within the grace aside; the last stay ending within the grace of the end) is present —
    whether the teacher ended the class early or not, and whatever the thresholds."""
    start, scheduled_end = 1000.0, 1000.0 + length
    end = start + length * ended_share if ended_share is not None else scheduled_end
    now = end + 10 if ended_share is not None else scheduled_end + 3600
    joined = start + min(rules.late_after_seconds, end - start) * came
    events = [ev(EventKind.CLASS_STARTED, None, start), ev(EventKind.JOINED, 7, joined)]
    t = joined
    for at, gap in sorted(drops):  # each back within the grace
        down = max(t, joined + (end - joined) * at)
        back = down + rules.grace_seconds * gap
        if back >= end:
            break
        events += [ev(EventKind.DISCONNECTED, 7, down), ev(EventKind.RECONNECTED, 7, back)]
        t = back
    out = max(t, end - rules.grace_seconds * before_end)
    if last == "left":
        events.append(ev(EventKind.LEFT, 7, out))
    elif last == "dropped":
        events.append(ev(EventKind.DISCONNECTED, 7, out))
    if ended_share is not None:
        events.append(ev(EventKind.CLASS_ENDED, None, end))
    assert marks_of(events, start, scheduled_end, now, rules) == {7: Mark.PRESENT}


def test_what_a_node_declared_dead_says_later_is_kept_and_not_counted(tmp_path: Path) -> None:
    """Node a was declared dead (cut off at 100) and the class went on on node b. What a says
    later is in the register but opens, closes and ends nothing: not the stay on b, not the
    class, and the stay on b is still closed when b dies in turn."""
    ledger = SqliteLedger(connect(tmp_path / "l.sqlite3"))
    late = {IGNORED: NODE_DECLARED_DEAD, "declared_dead_at": 100.0}

    def on(node: str, kind: EventKind, user: int | None, t: float, **data: object) -> None:
        e = ev(kind, user, t)
        e = IncomingEvent(**{**{f: getattr(e, f) for f in e.__slots__}, "data": data})
        ledger.append(IncomingEvent(**{**{f: getattr(e, f) for f in e.__slots__}, "node": node}))

    on("a", EventKind.CLASS_STARTED, 1, 0)
    on("a", EventKind.JOINED, 1, 0)
    assert [le.event.user_id for le in ledger.close_after_stop("a", 100.0)] == [1]
    on("b", EventKind.JOINED, 1, 130)  # moved to b
    on("a", EventKind.LEFT, 1, 150, **late)  # a's page was closed, reported late
    on("a", EventKind.JOINED, 7, 160, **late)  # someone who got in on a while cut off
    on("a", EventKind.CLASS_ENDED, None, 170, **late)  # a's copy of the class ended
    events = ledger.events(1)
    spans = intervals_by_user(events)
    assert [(i.start, i.end) for i in spans[1]] == [(0, 100.0), (130, None)]
    assert 7 not in spans
    assert class_window(events, 0, 3600, 200) == (0, 200)  # not ended at 170
    assert ledger.close_after_stop("b", 300.0)[0].event.user_id == 1  # b's stay closes


def test_two_writers_on_two_connections_keep_every_chain_whole(tmp_path: Path) -> None:
    """The media's committer (a connection of its own, on a worker thread) and the control
    plane (the main connection) append to the same classes at once: each append reads the
    chain's head under the write lock, so no two events name the same previous hash; an event
    appended again by id is still stored once."""
    path = tmp_path / "l.sqlite3"
    connect(path).close()
    writers = [SqliteLedger(connect(path)), SqliteLedger(connect(path))]
    per_writer = 60
    batches = {
        w: [[ev(EventKind.JOINED, n, float(n), class_id=1 + n % 2)] for n in range(per_writer)]
        for w in range(2)
    }
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def write(w: int) -> None:
        start.wait()
        try:
            for batch in batches[w]:
                writers[w].append_many(batch)
                writers[w].append_many(batch)  # the same ids again: nothing new
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    ledger = SqliteLedger(connect(path))
    assert ledger.verify_all() == []
    assert sum(len(ledger.events(c)) for c in (1, 2)) == 2 * per_writer
