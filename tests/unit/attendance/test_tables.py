"""The reports' tables in the language of the gettext passed in: a group's month, its totals."""

from __future__ import annotations

from attendance.export import ChainHead
from attendance.marks import LearnerMark, Mark
from attendance.reports import ClassSlot, Totals
from attendance.tables import group_month_table, mark_labels, total_cells, total_header
from scheduler.calendar import month
from scheduler.models import Group


def _(text: str) -> str:
    return text.upper()


def test_totals_have_a_heading_each() -> None:
    header = total_header(_)
    assert header[0] == "CLASSES" and header[1:7] == [mark_labels(_)[m] for m in Mark]
    assert len(total_cells(Totals())) == len(header)
    assert total_cells(Totals({Mark.PRESENT: 1, Mark.ABSENT: 1}, 600.0))[-2:] == [50, 10]


def test_a_group_s_month_is_learner_by_class() -> None:
    slot = ClassSlot(11, "Law", 1_767_240_000.0, 1_767_245_400.0, (7, 8))
    mark = LearnerMark(7, Mark.LATE, Mark.LATE, 3000.0, ())
    table, row_marks = group_month_table(
        _,
        Group(3, "LAW-1", 1, timezone="UTC"),
        month("2026-01", "UTC"),
        {8: "Bek", 7: "Aigerim"},
        [slot],
        {11: {7: mark}},
        notes=("note",),
        heads=[ChainHead(11, 4, "0" * 64)],
        heads_title="HEADS",
        language="ru",
    )
    assert table.title == "ATTENDANCE OF GROUP {GROUP} FOR {MONTH}"  # the msgid's placeholders
    assert table.header[:2] == ["STUDENT", "01.01 04:00 Law"]
    assert [r[:2] for r in table.rows] == [["Bek", ""], ["Aigerim", "LATE"]]
    assert row_marks == [["", ""], ["", "late"]]
    assert table.notes[0] == "TIME ZONE: {ZONE}."  # the msgid's placeholder
    assert table.notes[-1] == "note"


def test_a_group_s_month_is_named_in_the_reader_s_language() -> None:
    """The month in the title is a name, not "2026-12" (issue 20)."""
    for language, name in (
        ("kk", "2026\u202fж. желтоқсан"),
        ("ru", "декабрь 2026\u202fг."),
        ("en", "December 2026"),
    ):
        table, _marks = group_month_table(
            lambda text: text,
            Group(3, "LAW-1", 1, timezone="Asia/Almaty"),
            month("2026-12", "Asia/Almaty"),
            {},
            [],
            {},
            notes=(),
            heads=[],
            heads_title="",
            language=language,
        )
        assert table.title == f"Attendance of group LAW-1 for {name}"
        assert table.notes[0] == "Time zone: Almaty time (UTC+5)."
