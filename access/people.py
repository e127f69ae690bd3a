"""Who manages whose account: the one rule the people pages, their API and the import ask.

- An administrator manages every account, of every role.
- Staff (the academy's methodologists) manage every account but administrators', and give no
  one the administrator's role.
- An institute's director manages the teachers and heads of department of the departments of
  the institutes they direct (and makes them only there).
- A head of department manages the teachers of the departments they head.
- Teachers and students manage no account.

Nobody deactivates their own account or changes their own role (an administrator could lock
the academy out); everyone changes their own password and language on the profile page. Only
staff and administrators issue set-password links, each for an account they manage.

The rule is pure: it is given who asks (``Steward``) and the facts of the account asked about.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from .addresses import is_address
from .models import LOGIN_RE, Role

ACADEMY_ROLES = frozenset(Role) - {Role.ADMIN}
DEPARTMENT_ROLES = frozenset({Role.TEACHER, Role.HEAD_OF_DEPARTMENT})
LINK_ISSUERS = frozenset({Role.STAFF, Role.ADMIN})
IMPORTED_ROLES = frozenset({Role.TEACHER, Role.STAFF})  # what the bulk import makes
PORTAL_ROLES = frozenset({Role.STUDENT, Role.TEACHER})  # what the portal's key manages


@dataclass(frozen=True, slots=True)
class Steward:
    """Who asks: their role, and the departments they direct (through their institutes) or
    head."""

    user_id: int
    role: Role
    directs: frozenset[int] = frozenset()  # departments of the institutes they direct
    heads: frozenset[int] = frozenset()  # departments they head
    # The portal's API key (scope ``people``): it manages the learners and teachers it enrols,
    # never staff, heads, directors or administrators — a leaked key cannot make or take over
    # an account that manages others.
    portal: bool = False


@dataclass(frozen=True, slots=True)
class Account:
    """The facts of an account, as it is or as it would be."""

    id: int  # 0 for one not yet made
    role: Role
    department_id: int | None = None


def manageable_roles(s: Steward) -> frozenset[Role]:
    """The roles of the accounts ``s`` may make and manage."""
    if s.portal:
        return PORTAL_ROLES
    match s.role:
        case Role.ADMIN:
            return frozenset(Role)
        case Role.STAFF:
            return ACADEMY_ROLES
        case Role.DIRECTOR:
            return DEPARTMENT_ROLES if s.directs else frozenset()
        case Role.HEAD_OF_DEPARTMENT:
            return frozenset({Role.TEACHER}) if s.heads else frozenset()
        case _:
            return frozenset()


def manageable_departments(s: Steward) -> frozenset[int] | None:
    """The departments whose people ``s`` manages; None: every department (and none)."""
    if s.role in LINK_ISSUERS or s.portal:
        return None
    if s.role is Role.DIRECTOR:
        return s.directs
    if s.role is Role.HEAD_OF_DEPARTMENT:
        return s.heads
    return frozenset()


def manages_people(s: Steward) -> bool:
    """Whether ``s`` opens the people pages at all."""
    return bool(manageable_roles(s))


def may_manage(s: Steward, a: Account) -> bool:
    """Whether ``s`` may see and change the account ``a`` (as it is now)."""
    if a.role not in manageable_roles(s):
        return False
    departments = manageable_departments(s)
    return departments is None or a.department_id in departments


def may_make(s: Steward, a: Account) -> bool:
    """Whether ``s`` may make an account as ``a``, or change one into ``a``."""
    return may_manage(s, a)


def may_change(s: Steward, before: Account, after: Account) -> bool:
    """An edit: ``s`` manages the account as it is and as it would be; nobody changes their
    own role."""
    if s.user_id == before.id and before.role is not after.role:
        return False
    return may_manage(s, before) and may_make(s, after)


def may_deactivate(s: Steward, a: Account) -> bool:
    """Deactivating or reactivating ``a``: never one's own account."""
    return s.user_id != a.id and may_manage(s, a)


def may_issue_link(s: Steward, a: Account) -> bool:
    """A set-password link for ``a``: staff and administrators, for accounts they manage."""
    return s.role in LINK_ISSUERS and not s.portal and may_manage(s, a)


# -- an import of teachers and staff --------------------------------------------------------------
MAX_NAME = 200

# The words a file may use for the roles an import makes (compared case-insensitively).
ROLE_WORDS: dict[str, Role] = {
    **dict.fromkeys(("teacher", "преподаватель", "оқытушы", "педагог"), Role.TEACHER),
    **dict.fromkeys(
        ("staff", "методист", "сотрудник", "қызметкер", "әдіскер", "сотрудник умп"), Role.STAFF
    ),
}


class ImportProblem(enum.StrEnum):
    NO_LOGIN = "no_login"
    BAD_LOGIN = "bad_login"
    DUPLICATE = "duplicate"  # the login is on an earlier line of the file
    TAKEN = "taken"  # an account has the login already
    NO_NAME = "no_name"
    LONG_NAME = "long_name"
    BAD_ROLE = "bad_role"  # neither a teacher nor a staff member
    UNKNOWN_DEPARTMENT = "unknown_department"
    NOT_ALLOWED = "not_allowed"  # the importer may not make this account
    BAD_EMAIL = "bad_email"  # the optional e-mail address is not one


@dataclass(frozen=True, slots=True)
class PersonRow:
    """A person as the file gives them (cells cleaned)."""

    line: int
    login: str
    full_name: str
    role: str = ""  # a word of ROLE_WORDS; blank: a teacher
    department: str = ""  # a department's name; blank: none (or the one a head heads)
    email: str = ""  # blank: none


@dataclass(frozen=True, slots=True)
class CheckedPerson:
    row: PersonRow
    role: Role | None
    department_id: int | None
    problem: ImportProblem | None = None
    first_line: int | None = None  # DUPLICATE: where the login was first


def _row_problem(
    s: Steward, row: PersonRow, role: Role | None, department_id: int | None, dep_known: bool
) -> ImportProblem | None:
    if not row.full_name:
        return ImportProblem.NO_NAME
    if len(row.full_name) > MAX_NAME:
        return ImportProblem.LONG_NAME
    if row.email and not is_address(row.email):
        return ImportProblem.BAD_EMAIL
    if role is None:
        return ImportProblem.BAD_ROLE
    if not dep_known:
        return ImportProblem.UNKNOWN_DEPARTMENT
    if not may_make(s, Account(0, role, department_id)):
        return ImportProblem.NOT_ALLOWED
    return None


def check_people(
    s: Steward,
    rows: Sequence[PersonRow],
    taken: Collection[str],
    departments: Mapping[str, int],
) -> list[CheckedPerson]:
    """Each row of an import, checked: ``taken`` are the logins of accounts that exist,
    ``departments`` the departments' ids by their names folded (``str.casefold``)."""
    first: dict[str, int] = {}
    own = next(iter(s.heads)) if len(s.heads) == 1 and s.role is Role.HEAD_OF_DEPARTMENT else None
    out: list[CheckedPerson] = []
    for row in rows:
        role = ROLE_WORDS.get(row.role.casefold()) if row.role else Role.TEACHER
        dep_name = row.department.casefold()
        department_id = departments.get(dep_name) if dep_name else own
        problem: ImportProblem | None = None
        first_line = None
        if not row.login:
            problem = ImportProblem.NO_LOGIN
        elif not LOGIN_RE.match(row.login):
            problem = ImportProblem.BAD_LOGIN
        elif row.login in first:
            problem, first_line = ImportProblem.DUPLICATE, first[row.login]
        elif row.login in taken:
            problem = ImportProblem.TAKEN
        if row.login:
            first.setdefault(row.login, row.line)
        if problem is None:
            known = not dep_name or department_id is not None
            problem = _row_problem(s, row, role, department_id, known)
        out.append(CheckedPerson(row, role, department_id, problem, first_line))
    return out
