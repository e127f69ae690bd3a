"""The person form's rules: read and cut to its fields' limits; each problem a code, in order."""

from __future__ import annotations

from access.models import Role
from access.people import MAX_NAME, Account
from access.person_forms import Draft, DraftProblem, draft_problem, read_draft


def test_a_form_is_read_and_cut() -> None:
    d = read_draft({"login": " Bek.B ", "full_name": "Bek   B", "role": "teacher", "email": ""})
    assert d == Draft("bek.b", "Bek B", Role.TEACHER, None, "")
    assert read_draft({"role": "king", "department_id": "-1"}).role is None
    assert len(read_draft({"full_name": "x" * 500}).full_name) == MAX_NAME + 1


def test_each_problem_in_order() -> None:
    seen: list[Account] = []

    def allowed(a: Account) -> bool:
        seen.append(a)
        return a.role is Role.TEACHER

    def problem(d: Draft, new: bool = True) -> DraftProblem | None:
        return draft_problem(d, new=new, departments={2}, allowed=allowed, before_id=9)

    good = Draft("bek", "Bek B", Role.TEACHER, 2)
    assert problem(good) is None and seen == [Account(9, Role.TEACHER, 2)]
    assert problem(Draft("-x", "Bek", Role.TEACHER, 2)) is DraftProblem.BAD_LOGIN
    assert problem(Draft("-x", "Bek", Role.TEACHER, 2), new=False) is None
    assert problem(Draft("bek", "", Role.TEACHER, 2)) is DraftProblem.NO_NAME
    assert problem(Draft("bek", "x" * (MAX_NAME + 1), None, 2)) is DraftProblem.LONG_NAME
    assert problem(Draft("bek", "Bek", None, 2)) is DraftProblem.NOT_LISTED
    assert problem(Draft("bek", "Bek", Role.TEACHER, 3)) is DraftProblem.NOT_LISTED
    assert problem(Draft("bek", "Bek", Role.STAFF, None)) is DraftProblem.NOT_ALLOWED
