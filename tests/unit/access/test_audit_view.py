"""How the audit trail reads: ids in words, and its filters checked into a query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from access.audit import Action, ActorKind, ObjectKind
from access.audit_view import (
    FilterProblem,
    FilterRefused,
    Filters,
    Names,
    audit_query,
    fields_text,
    filter_day,
)

NAMES = Names(
    people={7: "Aigerim"},
    departments={2: "Criminal law"},
    institutes={},
    groups={},
    roles={"staff": "Staff"},
    yes="Yes",
    no="No",
)


def test_ids_read_as_names() -> None:
    fields = {"head_id": 7, "department_id": 3, "role": "staff", "active": True, "note": None}
    labels = {"head_id": "Head", "role": "Role"}
    assert fields_text(fields, labels, NAMES) == (
        "Head: Aigerim; department_id: #3; Role: Staff; active: Yes; note: —"
    )


def test_the_filters_make_a_query_in_the_academy_s_zone() -> None:
    q = audit_query(Filters("user:7", "institute", "created", "2026-03-01", "2026-03-01"), "UTC")
    assert q.actor == (ActorKind.USER, 7)
    assert (q.kind, q.action) == (ObjectKind.INSTITUTE, Action.CREATED)
    assert q.since == datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    assert q.until == datetime(2026, 3, 2, tzinfo=UTC).timestamp()
    assert filter_day("1969-12-31") is None


@pytest.mark.parametrize(
    ("filters", "problem"),
    [
        (Filters(who="nobody"), FilterProblem.NOT_LISTED),
        (Filters(kind="planet"), FilterProblem.NOT_LISTED),
        (Filters(since="2026-13-01"), FilterProblem.NOT_LISTED),
        (Filters(since="2026-03-02", until="2026-03-01"), FilterProblem.DAYS_ORDER),
    ],
)
def test_wrong_filters_are_refused(filters: Filters, problem: FilterProblem) -> None:
    with pytest.raises(FilterRefused) as caught:
        audit_query(filters, "UTC")
    assert caught.value.problem is problem
