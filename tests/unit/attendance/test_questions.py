"""The register's view of quick questions: asked, answered by name, tallied at the close."""

from __future__ import annotations

from typing import Any

from access.events import EventKind
from attendance.models import GENESIS, IncomingEvent, LedgerEvent
from attendance.questions import answer_text, answers_of, option_label, questions


def ev(what: EventKind, at: float, user: int | None = None, **data: Any) -> LedgerEvent:
    e = IncomingEvent(
        id=f"e{at}", kind=what, class_id=1, node="n", node_seq=0, origin_time=at,
        user_id=user, data=data,
    )  # fmt: skip
    return LedgerEvent(0, e, at, GENESIS, GENESIS)


def test_named_answers_and_tallies_come_from_the_ledger() -> None:
    yes_no = {"yes": "Иә", "no": "Жоқ"}
    events = [
        ev(EventKind.JOINED, 1, 7),
        ev(EventKind.QUESTION_ASKED, 10, 3, question="a", text="Q1", kind="multiple",
           options=["x", "y", "z"], anonymous=False),
        ev(EventKind.QUESTION_ANSWERED, 12, 7, question="a", choices=[0, 2]),
        ev(EventKind.QUESTION_ANSWERED, 13, 8, question="a", choices=[2]),
        ev(EventKind.QUESTION_ANSWERED, 14, 7, question="a", choices=[1]),  # not a second one
        ev(EventKind.QUESTION_ASKED, 20, 3, question="b", text="Q2", kind="yes_no",
           options=["yes", "no"], anonymous=True),
        ev(EventKind.QUESTION_ANSWERED, 21, 9, question="b", choices=[0]),  # never kept
        ev(EventKind.QUESTION_CLOSED, 30, None, question="b", tally=[5, 1], answered=6),
        ev(EventKind.QUESTION_ANSWERED, 31, 9, question="nope", choices=[0]),
    ]  # fmt: skip
    a, b = questions(events)
    assert (a.number, a.text, a.counts(), a.how_many()) == (1, "Q1", (1, 0, 2), 2)
    assert answer_text(a, a.answers[7], yes_no) == "x, z"
    assert (b.number, b.anonymous, b.answers, b.counts(), b.how_many()) == (2, True, {}, (5, 1), 6)
    assert option_label(b, 0, yes_no) == "Иә"
    assert [(q.id, ans.at) for q, ans in answers_of(7, [a, b])] == [("a", 12)]
    assert answers_of(9, [a, b]) == []
