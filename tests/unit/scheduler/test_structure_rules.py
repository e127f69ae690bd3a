"""The structure's rules without a database: who manages it and who sees it, names and HR
addresses as they are kept, and when the first run is over."""

from __future__ import annotations

import pytest

from access.models import Role
from admission.visibility import Viewer, may_see_agencies, may_see_institute, may_see_structure
from scheduler.errors import BadContactAddress, BadStructureName
from scheduler.structure import (
    MAX_STRUCTURE_NAME,
    FirstRun,
    clean_contacts,
    clean_name,
    may_manage_structure,
)


def test_staff_and_admins_manage_the_structure_and_directors_and_heads_read_theirs() -> None:
    assert {r for r in Role if may_manage_structure(r)} == {Role.STAFF, Role.ADMIN}
    seers = {r for r in Role if may_see_structure(Viewer(1, r))}
    assert seers == {Role.STAFF, Role.ADMIN, Role.DIRECTOR, Role.HEAD_OF_DEPARTMENT}
    assert {r for r in Role if may_see_agencies(Viewer(1, r))} == {Role.STAFF, Role.ADMIN}
    director = Viewer(1, Role.DIRECTOR, institutes=frozenset({10}))
    assert may_see_institute(director, 10) and not may_see_institute(director, 20)


def test_names_and_addresses_as_they_are_kept() -> None:
    assert clean_name("  Институт \n права ") == "Институт права"
    for bad in ("", "   ", "и" * (MAX_STRUCTURE_NAME + 1)):
        with pytest.raises(BadStructureName):
            clean_name(bad)
    assert clean_contacts([" hr@mvd.gov.kz ", "", "HR@mvd.gov.kz", "k@knb.kz"]) == (
        "hr@mvd.gov.kz",
        "k@knb.kz",
    )
    for wrong in (["hr@"], ["a b@c.kz"], ["a@b"], ["x@y.kz, z@w.kz"]):
        with pytest.raises(BadContactAddress):
            clean_contacts(wrong)


def test_the_first_run_is_over_when_every_step_is_done() -> None:
    assert not FirstRun(1, 1, 1, 1, 0).done
    assert FirstRun(1, 2, 3, 4, 5).done
    assert [s for s, _ in FirstRun(0, 0, 0, 0, 0).steps] == [
        "institute", "department", "people", "group", "class",
    ]  # fmt: skip
