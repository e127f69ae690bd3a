"""Who sees what: the one rule every page, API call and join asks (DESIGN.md).

Staff and administrators see the academy. A director and a head of department see what belongs
to their institute (a head: the institute of their department). A teacher sees their own classes
and the groups they teach and those groups' students. A learner sees their own groups, classes
and history. The portal (an API key) sees what its scope allows, as before.

The rule (``Viewer`` and the ``may_*`` functions) is pure: it is given who asks and the facts of
what is asked about. The functions below it read those facts from the timetable for a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from access.models import Role, User
from scheduler.models import Group, LiveClass, Programme

from . import keys

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


# -- the facts, read for a request ----------------------------------------------------------------
_VIEWERS: web.RequestKey[dict[int, Viewer]] = web.RequestKey("policy_viewers")
_INSTITUTES: web.RequestKey[dict[int, int]] = web.RequestKey("policy_institutes")


def _institutes(request: web.Request) -> dict[int, int]:
    """Every group's institute, read once per request."""
    if _INSTITUTES not in request:
        request[_INSTITUTES] = request.app[keys.TIMETABLE].institutes_by_group()
    return request[_INSTITUTES]


def _of_groups(request: web.Request, group_ids: Iterable[int]) -> frozenset[int]:
    by_group = _institutes(request)
    return frozenset(by_group[g] for g in group_ids if g in by_group)


def viewer(request: web.Request, user: User) -> Viewer:
    if _VIEWERS not in request:
        request[_VIEWERS] = {}
    cache = request[_VIEWERS]
    if user.id not in cache:
        tt = request.app[keys.TIMETABLE]
        cache[user.id] = Viewer(
            user_id=user.id,
            role=user.role,
            institutes=frozenset(tt.institutes_of_person(user.id))
            if user.role in INSTITUTE
            else frozenset(),
            teaches=frozenset(tt.groups_of_teacher(user.id)),
            member_of=frozenset(g.id for g in tt.groups_of_member(user.id)),
        )
    return cache[user.id]


def class_facts(request: web.Request, c: LiveClass) -> ClassFacts:
    return ClassFacts(
        teacher_id=c.teacher_id,
        group_ids=frozenset(c.group_ids),
        institute_ids=_of_groups(request, c.group_ids),
        learner_ids=frozenset(c.learner_ids) if c.individual else frozenset(),
    )


def group_facts(request: web.Request, group: Group) -> GroupFacts:
    return GroupFacts(group.id, _institutes(request).get(group.id, -1))


def learner_facts(request: web.Request, learner_id: int) -> PersonFacts:
    groups = frozenset(g.id for g in request.app[keys.TIMETABLE].groups_of_member(learner_id))
    return PersonFacts(learner_id, groups, _of_groups(request, groups))


def teacher_facts(request: web.Request, teacher_id: int) -> PersonFacts:
    tt = request.app[keys.TIMETABLE]
    groups = {*tt.groups_of_teacher(teacher_id)}
    groups.update(g for c in tt.classes_of_teacher(teacher_id) for g in c.group_ids)
    return PersonFacts(teacher_id, frozenset(groups), _of_groups(request, groups))


def sees_class(request: web.Request, user: User, c: LiveClass) -> bool:
    return may_see_class(viewer(request, user), class_facts(request, c))


def observes(request: web.Request, user: User, c: LiveClass) -> bool:
    return may_observe(viewer(request, user), class_facts(request, c))


def sees_register(request: web.Request, user: User, c: LiveClass) -> bool:
    return may_see_register(viewer(request, user), class_facts(request, c))


def sees_group(request: web.Request, user: User, group: Group) -> bool:
    return may_see_group(viewer(request, user), group_facts(request, group))


def sees_group_register(request: web.Request, user: User, group: Group) -> bool:
    return may_see_group_register(viewer(request, user), group_facts(request, group))


def sees_learner(request: web.Request, user: User, learner_id: int) -> bool:
    return may_see_learner(viewer(request, user), learner_facts(request, learner_id))


def sees_teacher(request: web.Request, user: User, teacher_id: int) -> bool:
    return may_see_teacher(viewer(request, user), teacher_facts(request, teacher_id))


def sees_teachers_feed(request: web.Request, user: User, teacher_id: int) -> bool:
    return may_see_teachers_feed(viewer(request, user), teacher_facts(request, teacher_id))


def sees_programme(request: web.Request, user: User, programme: Programme) -> bool:
    return may_see_institute(viewer(request, user), programme.institute_id)


T = TypeVar("T", LiveClass, Group)


def visible(request: web.Request, user: User | None, items: Sequence[T]) -> list[T]:
    """Of a list of classes or groups, those ``user`` may see (the portal, ``None``, sees all)."""
    if user is None or user.role in ACADEMY:
        return list(items)
    v = viewer(request, user)
    return [
        x
        for x in items
        if (
            may_see_class(v, class_facts(request, x))
            if isinstance(x, LiveClass)
            else may_see_group(v, group_facts(request, x))
        )
    ]
