"""The person form's rules, free of HTTP: what the form says, read and cut to its fields'
limits, and what is wrong with it (a code, ``DraftProblem``; the page says it in the reader's
language). Whether the steward may give the role in the department is ``access.people``'s rule,
passed in."""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .addresses import MAX_ADDRESS
from .models import LOGIN_RE, Role
from .people import MAX_NAME, Account


@dataclass(frozen=True, slots=True)
class Draft:
    """What a person form says, checked."""

    login: str
    full_name: str
    role: Role | None
    department_id: int | None
    email: str = ""  # blank: none


def read_draft(values: Mapping[str, Any]) -> Draft:
    def text(name: str, limit: int) -> str:
        return " ".join(str(values.get(name) or "").split())[:limit]

    role = text("role", 40)
    dep = text("department_id", 19)
    return Draft(
        login=text("login", 64).lower(),
        full_name=text("full_name", MAX_NAME + 1),
        role=Role(role) if role in set(Role) else None,
        department_id=int(dep) if dep.isdigit() else None,
        email=text("email", MAX_ADDRESS + 1),
    )


class DraftProblem(enum.StrEnum):
    BAD_LOGIN = "bad_login"  # a new account's login is not one
    NO_NAME = "no_name"
    LONG_NAME = "long_name"
    NOT_LISTED = "not_listed"  # no role, or a department not among those known
    NOT_ALLOWED = "not_allowed"  # the steward may not give this role in this department


def draft_problem(
    d: Draft,
    *,
    new: bool,
    departments: Collection[int],
    allowed: Callable[[Account], bool],
    before_id: int = 0,
) -> DraftProblem | None:
    """What is wrong with a form (``departments``: those known; ``allowed``: whether the
    steward may make or change the account into the one given); None when it may be saved."""
    if new and not LOGIN_RE.match(d.login):
        return DraftProblem.BAD_LOGIN
    if not d.full_name:
        return DraftProblem.NO_NAME
    if len(d.full_name) > MAX_NAME:
        return DraftProblem.LONG_NAME
    if d.role is None or (d.department_id is not None and d.department_id not in departments):
        return DraftProblem.NOT_LISTED
    if not allowed(Account(before_id, d.role, d.department_id)):
        return DraftProblem.NOT_ALLOWED
    return None
