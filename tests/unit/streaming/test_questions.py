"""Quick questions' rules without a room: what may be asked, one answer per learner within the
time limit, the tally; and how the ask and answer messages are read."""

from __future__ import annotations

import json

import pytest

from streaming.protocol import ProtocolError, parse_client_message
from streaming.questions import (
    MAX_OPTIONS,
    MAX_SECONDS,
    MIN_SECONDS,
    YES_NO,
    Question,
    QuestionKind,
    QuestionRefused,
    QuestionSpec,
)


def spec(
    kind: QuestionKind = QuestionKind.SINGLE,
    options: tuple[str, ...] = ("a", "b", "c"),
    anonymous: bool = False,
    seconds: int = 30,
    text: str = "Which?",
) -> QuestionSpec:
    return QuestionSpec.build(text, kind, options, anonymous, seconds)


def refused(code: str, **kw: object) -> None:
    with pytest.raises(QuestionRefused) as exc:
        spec(**kw)  # type: ignore[arg-type]
    assert exc.value.code == code


def test_a_question_has_two_to_six_options_a_text_and_a_bounded_time_limit() -> None:
    assert spec(options=("x", "y")).options == ("x", "y")
    assert len(spec(options=tuple("abcdef")).options) == MAX_OPTIONS
    refused("bad_question", options=("only",))
    refused("bad_question", options=tuple("abcdefg"))
    refused("bad_question", options=("a", " A "))  # the same option twice
    refused("bad_question", options=("a", "  "))
    refused("bad_question", text="   ")
    refused("bad_question", text="x" * 301)
    refused("bad_question", seconds=MIN_SECONDS - 1)
    refused("bad_question", seconds=MAX_SECONDS + 1)
    assert spec(seconds=MIN_SECONDS).seconds == MIN_SECONDS
    assert spec(text="  Trimmed?  ", options=(" a ", "b")).text == "Trimmed?"
    # A yes/no question's options are set whatever was sent.
    assert spec(kind=QuestionKind.YES_NO, options=()).options == YES_NO


def test_each_learner_answers_once_within_the_limit_and_the_tally_counts() -> None:
    q = Question("q1", spec(), asked_by=1, asked_at=100.0, closes_at=130.0)
    assert q.answer(10, [0], 101.0) == (0,)
    assert q.answer(11, [2], 110.0) == (2,)
    with pytest.raises(QuestionRefused) as exc:
        q.answer(10, [1], 111.0)
    assert exc.value.code == "already_answered"
    for bad in ([3], [-1], [], [0, 1]):  # no such option; none; several where one is asked
        with pytest.raises(QuestionRefused) as exc:
            q.answer(12, bad, 112.0)
        assert exc.value.code == "bad_choice"
    with pytest.raises(QuestionRefused) as exc:
        q.answer(13, [0], 130.0)  # the limit is over
    assert exc.value.code == "question_closed"
    assert q.tally == [1, 0, 1] and q.answered == {10: (0,), 11: (2,)}
    assert q.results(120.0)["answered"] == 2 and q.public(120.0)["remaining"] == 10.0
    assert q.close() and not q.close()  # closed once
    with pytest.raises(QuestionRefused):
        q.answer(14, [0], 115.0)  # closed early: no answer counts


def test_several_answers_and_an_anonymous_question_keeps_no_choice_per_person() -> None:
    q = Question(
        "q2", spec(QuestionKind.MULTIPLE, anonymous=True), asked_by=1, asked_at=0, closes_at=60
    )
    assert q.answer(10, [2, 0, 2], 1.0) == (0, 2)
    assert q.tally == [1, 0, 1]
    assert q.answered == {10: None}  # only that they answered, to refuse a second answer
    assert "10" not in json.dumps(q.results(2.0)) and "tally" in q.results(2.0)


def _msg(**fields: object) -> str:
    return json.dumps({"v": 1, **fields})


def test_ask_and_answer_messages_are_checked_for_shape() -> None:
    m = parse_client_message(
        _msg(type="ask", text="Q?", format="multiple", options=["a", "b"], seconds=30)
    )
    assert m.question is not None and m.question.spec().kind is QuestionKind.MULTIPLE
    assert m.question.anonymous is False
    # The rules are the room's (an error, the asker stays): a well-formed draft parses.
    m = parse_client_message(_msg(type="ask", text="Q?", format="single", options=[], seconds=5))
    assert m.question is not None
    with pytest.raises(QuestionRefused):
        m.question.spec()
    m = parse_client_message(_msg(type="answer_question", question_id="q", choices=[1, 0]))
    assert (m.question_id, m.choices) == ("q", (1, 0))
    bad = [
        _msg(type="ask", text="Q?", format="poll", seconds=30),
        _msg(type="ask", format="single", options=["a", "b"], seconds=30),
        _msg(type="ask", text="Q?", format="single", options=["a", 2], seconds=30),
        _msg(type="ask", text="Q?", format="single", options=["a", "b"], seconds="30"),
        _msg(type="ask", text="Q?", format="single", options=["a", "b"], seconds=True),
        _msg(type="ask", text="Q?", format="single", options=list("abcdefg"), seconds=30),
        _msg(type="ask", text="Q?", format="yes_no", anonymous="yes", seconds=30),
        _msg(type="answer_question", question_id="q", choices=[]),
        _msg(type="answer_question", question_id="q", choices=[True]),
        _msg(type="answer_question", question_id="q", choices="1"),
        _msg(type="answer_question", choices=[1]),
        _msg(type="close_question", question_id=""),
        _msg(type="show_results", question_id="q"),
    ]
    for text in bad:
        with pytest.raises(ProtocolError) as exc:
            parse_client_message(text)
        assert exc.value.code == "bad_message", text
