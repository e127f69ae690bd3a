"""Who sees what: the one rule every page, API call and join asks (DESIGN.md).

Staff and administrators see the academy. A director and a head of department see what belongs
to their institute (a head: the institute of their department). A teacher sees their own classes
and the groups they teach and those groups' students. A learner sees their own groups, classes
and history. The portal (an API key) sees what its scope allows, as before.

The rule is pure: it is given who asks (``Viewer``) and the facts of what is asked about;
``web/core/policy.py`` reads those facts from the timetable for a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from access.models import Role, User
from scheduler.models import ClassStatus, LiveClass

ACADEMY = frozenset({Role.STAFF, Role.ADMIN})  # they see the whole academy
INSTITUTE = frozenset({Role.DIRECTOR, Role.HEAD_OF_DEPARTMENT})  # their institute
OBSERVERS = ACADEMY | INSTITUTE  # they look into live classes they may see


# -- the rule -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: int
    role: Role
    institutes: frozenset[int] = frozenset()  # directed, or holding a department they head
    teaches: frozenset[int] = frozenset()  # groups
    member_of: frozenset[int] = frozenset()  # groups


@dataclass(frozen=True, slots=True)
class ClassFacts:
    teacher_id: int
    group_ids: frozenset[int]
    institute_ids: frozenset[int]
    learner_ids: frozenset[int] = frozenset()  # an individual class's own learners


@dataclass(frozen=True, slots=True)
class GroupFacts:
    id: int
    institute_id: int


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """A learner (the groups they are in) or a teacher (the groups they teach or hold classes
    of), and the institutes of those groups."""

    id: int
    group_ids: frozenset[int]
    institute_ids: frozenset[int]


def may_see_institute(v: Viewer, institute_id: int) -> bool:
    return v.role in ACADEMY or (v.role in INSTITUTE and institute_id in v.institutes)


def may_see_structure(v: Viewer) -> bool:
    """The structure's pages at all: the academy's people, and directors and heads (who see
    their own institute on them)."""
    return v.role in OBSERVERS


def may_see_agencies(v: Viewer) -> bool:
    """The agencies and their HR services' contacts: the academy's people."""
    return v.role in ACADEMY


def may_see_class(v: Viewer, c: ClassFacts) -> bool:
    """The class's card, timetable entry and page; an individual class (a make-up class) only
    to its learner, its teacher and those who see its institute."""
    if v.role in ACADEMY or v.user_id == c.teacher_id:
        return True
    if v.role in INSTITUTE and v.institutes & c.institute_ids:
        return True
    if c.learner_ids:
        return v.user_id in c.learner_ids
    return bool(v.member_of & c.group_ids or v.teaches & c.group_ids)


def may_observe(v: Viewer, c: ClassFacts) -> bool:
    """Looking into the live class (and its register) without being its teacher or learner."""
    return v.role in OBSERVERS and may_see_class(v, c)


def may_see_register(v: Viewer, c: ClassFacts) -> bool:
    """The class's attendance: its teacher, and those who may observe it."""
    return v.user_id == c.teacher_id or may_observe(v, c)


def may_see_group(v: Viewer, g: GroupFacts) -> bool:
    return may_see_institute(v, g.institute_id) or g.id in v.teaches or g.id in v.member_of


def may_see_group_register(v: Viewer, g: GroupFacts) -> bool:
    """A group's attendance over many classes: its teachers and those who see its institute."""
    return may_see_institute(v, g.institute_id) or g.id in v.teaches


def may_see_learner(v: Viewer, p: PersonFacts) -> bool:
    """A learner's history and admission statuses."""
    if v.user_id == p.id or v.role in ACADEMY:
        return True
    if v.role in INSTITUTE:
        return bool(v.institutes & p.institute_ids)
    return v.role is Role.TEACHER and bool(v.teaches & p.group_ids)


def may_see_teacher(v: Viewer, p: PersonFacts) -> bool:
    """A teacher's timetable."""
    if v.user_id == p.id or v.role in ACADEMY:
        return True
    return v.role in INSTITUTE and bool(v.institutes & p.institute_ids)


def may_see_excuse(v: Viewer, learner_id: int, decider_id: int | None) -> bool:
    """An excuse request carries health and family matters: staff, the learner, and the
    director who decides it (of the learner's group's institute) — not the whole institute."""
    return (
        v.role in ACADEMY
        or v.user_id == learner_id
        or (v.role is Role.DIRECTOR and v.user_id == decider_id)
    )


def may_see_guest_request(
    v: Viewer, filed_by: int, director_id: int | None, teacher_id: int
) -> bool:
    """A guest request: staff, the head who filed it, the director who decides it, the class's
    teacher."""
    return (
        v.role in ACADEMY
        or v.user_id in (filed_by, teacher_id)
        or (v.role is Role.DIRECTOR and v.user_id == director_id)
    )


def may_see_teachers_feed(v: Viewer, p: PersonFacts) -> bool:
    """A teacher's calendar feed carries all their classes: for those who see every one."""
    if v.user_id == p.id or v.role in ACADEMY:
        return True
    return v.role in INSTITUTE and bool(p.institute_ids) and p.institute_ids <= v.institutes


class GroupTeachers(Protocol):
    """Who teaches a group (``SqliteTimetable`` is one)."""

    def teachers(self, group_id: int) -> list[int]: ...


def proposals_seen(timetable: GroupTeachers, user: User, classes: Sequence[LiveClass]) -> set[int]:
    """The classes among ``classes`` the guarantee proposed that ``user`` sees as proposals and
    may confirm: staff, and the class's teacher or a teacher of one of its groups (learners see
    a proposal as any planned class)."""
    proposed = [c for c in classes if c.proposed and c.status is ClassStatus.PLANNED]
    if not proposed or user.role not in ACADEMY | {Role.TEACHER}:
        return set()
    if user.role in ACADEMY:
        return {c.id for c in proposed}
    teaches: dict[int, bool] = {}
    out = set()
    for c in proposed:
        for g in c.group_ids:
            if g not in teaches:
                teaches[g] = user.id in timetable.teachers(g)
        if c.teacher_id == user.id or any(teaches[g] for g in c.group_ids):
            out.add(c.id)
    return out
