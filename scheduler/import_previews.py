"""The previews of the two imports from a spreadsheet (a group's members, teachers and staff):
what a preview carries to its confirmation (sealed by the caller, ``access.sealed``), and the
rows read back from it only if it is the same group's and person's and still fresh."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from access.people import PersonRow

from .roster import MAX_ROWS, RosterRow, make_row

IMPORT_TTL = 3600.0  # seconds a preview may be confirmed in
T = TypeVar("T")


def roster_payload(group_id: int, user_id: int, at: float, rows: Sequence[RosterRow]) -> Any:
    """What a group import's preview carries: the group, the person, when, the rows."""
    return {
        "g": group_id,
        "u": user_id,
        "t": at,
        "rows": [[r.line, r.login, r.full_name, r.agency] for r in rows],
    }


def _rows_of(
    payload: Any, user_id: int, now: float, cells: int, make: Callable[[list[Any]], T]
) -> list[T] | None:
    """The rows of a payload of ``user_id`` made within the hour before ``now``, each a line
    number and ``cells - 1`` texts, made into rows; None if any of it is not so."""
    if not isinstance(payload, dict) or payload.get("u") != user_id:
        return None
    at, rows = payload.get("t"), payload.get("rows")
    if not isinstance(at, int | float) or not -60 < now - at < IMPORT_TTL:
        return None
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        return None
    out = []
    for item in rows:
        if not (
            isinstance(item, list)
            and len(item) == cells
            and isinstance(item[0], int)
            and all(isinstance(x, str) for x in item[1:])
        ):
            return None
        out.append(make(item))
    return out


def roster_rows_of(payload: Any, group_id: int, user_id: int, now: float) -> list[RosterRow] | None:
    """The rows of a confirmed preview, if it is this group's and this person's and fresh."""
    if not isinstance(payload, dict) or payload.get("g") != group_id:
        return None
    return _rows_of(payload, user_id, now, 4, lambda i: make_row(i[0], i[1], i[2], i[3]))


def people_payload(user_id: int, at: float, rows: Sequence[PersonRow]) -> Any:
    """What a people import's preview carries: the person, when, the rows."""
    return {
        "u": user_id,
        "t": at,
        "rows": [[r.line, r.login, r.full_name, r.role, r.department, r.email] for r in rows],
    }


def people_rows_of(payload: Any, user_id: int, now: float) -> list[PersonRow] | None:
    """The rows of a preview, if it is this person's and fresh."""

    def person(item: list[Any]) -> PersonRow:
        r = make_row(item[0], item[1], item[2])
        return PersonRow(
            r.line, r.login, r.full_name, item[3].strip(), item[4].strip(), item[5].strip()
        )

    return _rows_of(payload, user_id, now, 6, person)
