"""How the audit trail reads, free of HTTP: the ids in records in words, a record's fields as one
line, and the trail's filters (who, what, which action, from and to which day) checked and made
into a query. A refusal carries a code (``FilterProblem``); the page says it in the reader's
language."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .audit import Action, Actor, AuditQuery, AuditRecord, ObjectKind

PEOPLE_FIELDS = ("director_id", "head_id")


@dataclass(frozen=True, slots=True)
class Names:
    """What the ids in records stand for, read once for a page or a file."""

    people: dict[int, str]
    departments: dict[int, str]
    institutes: dict[int, str]
    groups: dict[int, str]
    roles: dict[str, str]
    yes: str
    no: str


def people_ids_in(records: Sequence[AuditRecord]) -> set[int]:
    """The people the records name by id (a director, a head of department)."""
    return {
        v
        for r in records
        for fields in (r.before, r.after)
        for k, v in fields.items()
        if k in PEOPLE_FIELDS and isinstance(v, int)
    }


def group_ids_in(records: Sequence[AuditRecord]) -> set[int]:
    """The groups the records name by id."""
    return {r.after["group_id"] for r in records if isinstance(r.after.get("group_id"), int)}


def value_text(name: str, value: Any, n: Names) -> str:
    """A recorded value in words: people, departments and roles by name, not by number."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return n.yes if value else n.no
    by_id = {"department_id": n.departments, "institute_id": n.institutes, "group_id": n.groups}
    if name in PEOPLE_FIELDS:
        by_id[name] = n.people
    if name in by_id and isinstance(value, int):
        return by_id[name].get(value, f"#{value}")
    if name == "role" and isinstance(value, str):
        return n.roles.get(value, value)
    if isinstance(value, dict):
        return ", ".join(f"{n.roles.get(k, k)}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def fields_text(fields: dict[str, Any], labels: dict[str, str], n: Names) -> str:
    """A record's fields as one line: ``label: value; ...``."""
    return "; ".join(f"{labels.get(k, k)}: {value_text(k, v, n)}" for k, v in fields.items())


@dataclass(frozen=True, slots=True)
class Filters:
    who: str = ""
    kind: str = ""
    action: str = ""
    since: str = ""  # a day, YYYY-MM-DD, in the academy's zone
    until: str = ""  # the last day included

    def params(self) -> dict[str, str]:
        pairs = (("who", self.who), ("kind", self.kind), ("action", self.action),
                 ("from", self.since), ("to", self.until))  # fmt: skip
        return {k: v for k, v in pairs if v}


class FilterProblem(enum.StrEnum):
    NOT_LISTED = "not_listed"  # who, what or the action not from the lists, or a day unread
    DAYS_ORDER = "days_order"  # the first day after the last


class FilterRefused(ValueError):
    def __init__(self, problem: FilterProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def filter_day(raw: str) -> date | None:
    """A day of the filter: a date between the years 1970 and 2999 (others: None, refused)."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if 1970 <= day.year <= 2999 else None


def day_start(day: date, zone: str) -> float:
    """The first moment of ``day`` in ``zone``, in seconds (UTC)."""
    return datetime.combine(day, time(0), ZoneInfo(zone)).astimezone(UTC).timestamp()


def audit_query(f: Filters, zone: str) -> AuditQuery:
    """The records the filters ask for, their days in ``zone`` (``FilterRefused``)."""
    actor = Actor.parse_ref(f.who) if f.who else None
    since, until = filter_day(f.since), filter_day(f.until)
    if (
        (f.who and actor is None)
        or (f.kind and f.kind not in set(ObjectKind))
        or (f.action and f.action not in set(Action))
        or (f.since and since is None)
        or (f.until and until is None)
    ):
        raise FilterRefused(FilterProblem.NOT_LISTED)
    if since is not None and until is not None and since > until:
        raise FilterRefused(FilterProblem.DAYS_ORDER)
    return AuditQuery(
        actor=actor,
        kind=ObjectKind(f.kind) if f.kind else None,
        action=Action(f.action) if f.action else None,
        since=day_start(since, zone) if since else None,
        until=day_start(until + timedelta(days=1), zone) if until else None,
    )
