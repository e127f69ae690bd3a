"""The group and programme forms' rules: each refusal a code, in the order the page says them."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.group_forms import (
    MAX_GROUP_NAME,
    GroupProblem,
    GroupRefused,
    discipline_credits,
    discipline_format,
    discipline_name,
    group_from,
    programme_from,
)
from scheduler.models import MAX_CREDITS, DisciplineFormat, ProgrammeKind

FORM = {
    "name": " LAW-1 ",
    "department_id": "2",
    "programme_id": "",
    "language": "kk",
    "timezone": "",
    "starts_on": "2026-09-01",
    "ends_on": "",
}


def _refused(form: dict[str, str], taken: str = "") -> GroupRefused:
    with pytest.raises(GroupRefused) as caught:
        group_from(form, departments=[2], programmes=[5], name_taken=lambda n: n == taken)
    return caught.value


def test_a_group_s_form() -> None:
    g = group_from(FORM, departments=[2], programmes=[5], name_taken=lambda _n: False)
    assert (g.id, g.name, g.department_id, g.language, g.timezone) == (
        0,
        "LAW-1",
        2,
        "kk",
        "Asia/Almaty",
    )
    assert (g.programme_id, g.starts_on, g.ends_on) == (None, date(2026, 9, 1), None)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "x" * (MAX_GROUP_NAME + 1)}, GroupProblem.NAME),
        ({"department_id": "3"}, GroupProblem.DEPARTMENT),
        ({"programme_id": "6"}, GroupProblem.PROGRAMME),
        ({"language": "en"}, GroupProblem.LANGUAGE),
        ({"starts_on": "1.9.2026"}, GroupProblem.PERIOD),
        ({"ends_on": "2026-08-31"}, GroupProblem.PERIOD_ORDER),
    ],
)
def test_each_wrong_field_has_its_code(change: dict[str, str], problem: GroupProblem) -> None:
    assert _refused(FORM | change).problem is problem


def test_the_refusal_names_the_zone_and_the_name() -> None:
    wrong = _refused(FORM | {"timezone": "Mars/Olympus"})
    assert (wrong.problem, wrong.value) == (GroupProblem.ZONE, "Mars/Olympus")
    taken = _refused(FORM, taken="LAW-1")
    assert (taken.problem, taken.value) == (GroupProblem.NAME_TAKEN, "LAW-1")


def test_a_programme_s_form() -> None:
    form = {"programme_name": "Law", "kind": "additional", "institute_id": "1", "distance": ""}
    p = programme_from(form, institutes=[1])
    assert (p.name, p.kind, p.institute_id, p.distance) == (
        "Law",
        ProgrammeKind.ADDITIONAL,
        1,
        True,
    )
    for change, problem in (
        ({"programme_name": ""}, GroupProblem.PROGRAMME_NAME),
        ({"kind": "party"}, GroupProblem.KIND),
        ({"institute_id": "2"}, GroupProblem.INSTITUTE),
        ({"distance": "maybe"}, GroupProblem.DISTANCE),
    ):
        with pytest.raises(GroupRefused) as caught:
            programme_from(form | change, institutes=[1])
        assert caught.value.problem is problem


def test_a_discipline_s_fields() -> None:
    assert discipline_name(" Criminal law ") == "Criminal law"
    assert discipline_credits(" 5 ") == 5
    assert discipline_format("in_person") is DisciplineFormat.IN_PERSON
    for read, raw, problem in (
        (discipline_name, " ", GroupProblem.DISCIPLINE_NAME),
        (discipline_credits, "٥", GroupProblem.CREDITS),  # another script's digit
        (discipline_credits, "+5", GroupProblem.CREDITS),
        (discipline_credits, str(MAX_CREDITS + 1), GroupProblem.CREDITS),
        (discipline_format, "hybrid", GroupProblem.FORMAT),
    ):
        with pytest.raises(GroupRefused) as caught:
            read(raw)
        assert caught.value.problem is problem
