"""The academy's structure, as rules: institutes (each with its director), their departments
(each with its head) and the agencies that send learners (each with its HR service's contact
addresses, clauses 18 and 19). Nothing of the structure is ever deleted — classes, groups,
programmes and reports refer to it — so it is archived instead: an archived institute,
department or agency is left out of the pickers for new things and still shown wherever history
names it. Staff and administrators manage it; a director and a head of department read their
own institute. Free of storage: ``sqlite_structure`` and ``sqlite_agencies`` apply these."""

from __future__ import annotations

import re
from dataclasses import dataclass

from access.addresses import MAX_ADDRESS, is_address
from access.models import Role

from .errors import BadContactAddress, BadStructureName

MAX_STRUCTURE_NAME = 200
MAX_CONTACTS = 10  # an HR service's addresses

STRUCTURE_MANAGERS = frozenset({Role.STAFF, Role.ADMIN})
# Who may be named director of an institute, head of a department.
POSTS = {"director": Role.DIRECTOR, "head_of_department": Role.HEAD_OF_DEPARTMENT}


@dataclass(frozen=True, slots=True)
class Agency:
    """A body that sends learners (a ministry, an agency, a law-enforcement body)."""

    id: int
    name: str
    contacts: tuple[str, ...] = ()  # its HR service's e-mail addresses
    archived: bool = False


def may_manage_structure(role: Role) -> bool:
    """Creating, renaming, naming a director or head, archiving: staff and administrators."""
    return role in STRUCTURE_MANAGERS


def clean_name(raw: str) -> str:
    """A name as it is kept: spaces at the ends and runs of spaces made one."""
    name = " ".join(raw.split())
    if not name or len(name) > MAX_STRUCTURE_NAME:
        raise BadStructureName(MAX_STRUCTURE_NAME)
    return name


def clean_contacts(addresses: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """An HR service's addresses: each an e-mail address, without repeats (letter case aside),
    at most ``MAX_CONTACTS``."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in addresses:
        address = raw.strip()
        if not address:
            continue
        if not is_address(address):
            raise BadContactAddress(address[:MAX_ADDRESS], MAX_CONTACTS)
        if address.casefold() not in seen:
            seen.add(address.casefold())
            out.append(address)
    if len(out) > MAX_CONTACTS:
        raise BadContactAddress(out[MAX_CONTACTS], MAX_CONTACTS)
    return tuple(out)


def split_contacts(text: str) -> tuple[str, ...]:
    """Addresses typed in one field: separated by commas, semicolons, spaces or lines."""
    return clean_contacts(re.split(r"[\s,;]+", text))


@dataclass(frozen=True, slots=True)
class FirstRun:
    """How far an academy is set up, for the administrator's checklist on the home page."""

    institutes: int
    departments: int
    people: int  # accounts other than administrators
    groups: int
    classes: int

    @property
    def steps(self) -> tuple[tuple[str, bool], ...]:
        """Each step of setting up, in order, and whether it is done."""
        return (
            ("institute", self.institutes > 0),
            ("department", self.departments > 0),
            ("people", self.people > 0),
            ("group", self.groups > 0),
            ("class", self.classes > 0),
        )

    @property
    def done(self) -> bool:
        return all(done for _, done in self.steps)
