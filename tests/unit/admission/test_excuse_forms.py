"""The excuse forms' rules: a request's fields, whose request a filer names, a make-up class's
form; each refusal a code."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from admission.excuse_forms import (
    FormProblem,
    FormRefused,
    decision_of,
    excuse_fields,
    learner_choice,
    makeup_fields,
    makeup_span,
    makeup_when,
)
from admission.models import MAX_COMMENT, MAX_DOCUMENT, ExcuseReason
from scheduler.errors import EndsBeforeStart, PlannedInPast
from scheduler.models import ClassKind

FORM = {
    "reason": "illness",
    "first_day": "2026-03-02",
    "last_day": "2026-03-06",
    "document": "Certificate 095/u",
    "details": "",
}


def _problem(form: dict[str, str], attached: tuple[str, ...] = ()) -> FormProblem:
    with pytest.raises(FormRefused) as caught:
        excuse_fields(form, attached)
    return caught.value.problem


def test_a_request_s_fields_are_read() -> None:
    f = excuse_fields(FORM)
    assert (f.reason, f.first_day, f.last_day) == (
        ExcuseReason.ILLNESS,
        date(2026, 3, 2),
        date(2026, 3, 6),
    )
    assert f.document == "Certificate 095/u"


def test_each_wrong_field_has_its_code() -> None:
    assert _problem(FORM | {"reason": "holiday"}) is FormProblem.REASON
    assert _problem(FORM | {"first_day": ""}) is FormProblem.DAYS
    assert _problem(FORM | {"last_day": "0001-01-01"}) is FormProblem.DAYS
    assert _problem(FORM | {"last_day": "2026-03-01"}) is FormProblem.DAYS_ORDER
    assert _problem(FORM | {"last_day": "2027-03-03"}) is FormProblem.DAYS_ORDER
    assert _problem(FORM | {"document": " "}) is FormProblem.DOCUMENT
    assert _problem(FORM | {"document": "x" * (MAX_DOCUMENT + 1)}) is FormProblem.DOCUMENT


def test_attached_files_name_the_document_when_it_is_left_out() -> None:
    f = excuse_fields(FORM | {"document": ""}, ("a.pdf", "b.png"))
    assert f.document == "a.pdf; b.png"


def test_a_learner_names_only_themselves() -> None:
    assert learner_choice("3:7") == (3, 7)
    assert learner_choice("3:7", only=7) == (3, 7)
    for wrong, only in (("3:8", 7), ("", None), ("0:7", None), ("3", None), ("a:b", None)):
        with pytest.raises(FormRefused) as caught:
            learner_choice(wrong, only=only)
        assert caught.value.problem is FormProblem.LEARNER


def test_a_make_up_class_s_form() -> None:
    form = {"title": " Make-up ", "kind": "lecture", "teacher_id": "5", "discipline": " Law "}
    m = makeup_fields(form, [5])
    assert (m.title, m.kind, m.teacher_id, m.discipline) == ("Make-up", ClassKind.LECTURE, 5, "Law")
    for wrong, problem in (
        ({"title": ""}, FormProblem.TITLE),
        ({"kind": "party"}, FormProblem.KIND_OR_TEACHER),
        ({"teacher_id": "6"}, FormProblem.KIND_OR_TEACHER),
    ):
        with pytest.raises(FormRefused) as caught:
            makeup_fields(form | wrong, [5])
        assert caught.value.problem is problem
    when = {"day": "2026-03-02", "start": "10:00", "end": "11:30"}
    assert makeup_when(when) == (date(2026, 3, 2), time(10), time(11, 30))
    with pytest.raises(FormRefused):
        makeup_when(when | {"end": "25:00"})


def test_a_make_up_class_is_for_a_time_to_come() -> None:
    when = {"day": "2026-03-02", "start": "10:00", "end": "11:30"}
    now = datetime(2026, 3, 1, tzinfo=UTC)
    span = makeup_span(when, "UTC", now)
    assert (span.starts_at, span.ends_at) == (
        datetime(2026, 3, 2, 10, tzinfo=UTC),
        datetime(2026, 3, 2, 11, 30, tzinfo=UTC),
    )
    with pytest.raises(PlannedInPast):
        makeup_span(when, "UTC", datetime(2026, 3, 3, tzinfo=UTC))
    with pytest.raises(EndsBeforeStart):
        makeup_span(when | {"end": "09:00"}, "UTC", now)
    with pytest.raises(FormRefused):
        makeup_span(when | {"day": "0001-01-01"}, "UTC", now)


def test_a_decision_approves_or_rejects() -> None:
    assert decision_of({"decision": "approve", "comment": ""}) is True
    assert decision_of({"decision": "reject", "comment": "No document"}) is False
    for values, problem in (
        ({"decision": "maybe", "comment": ""}, FormProblem.DECISION),
        ({"decision": "reject", "comment": "x" * (MAX_COMMENT + 1)}, FormProblem.COMMENT),
    ):
        with pytest.raises(FormRefused) as caught:
            decision_of(values)
        assert caught.value.problem is problem
