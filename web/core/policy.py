"""Who sees what, for a request: the rule is ``admission.visibility`` (pure, given who asks and
the facts of what is asked about); the functions here read those facts from the timetable once
per request and ask it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from aiohttp import web

from access.audit import may_read_audit
from access.models import User
from access.people import Account, Steward, may_change, may_deactivate, may_issue_link, may_manage
from admission.visibility import (
    ACADEMY,
    INSTITUTE,
    ClassFacts,
    GroupFacts,
    PersonFacts,
    Viewer,
    may_observe,
    may_see_agencies,
    may_see_class,
    may_see_group,
    may_see_group_register,
    may_see_institute,
    may_see_learner,
    may_see_register,
    may_see_structure,
    may_see_teacher,
    may_see_teachers_feed,
)
from attendance.hr_dispatch import may_send_hr_mail
from scheduler.models import Department, Group, LiveClass, Programme
from scheduler.sqlite_classes import ClassScope
from scheduler.sqlite_groups import SqliteGroups
from scheduler.sqlite_membership import GroupQuery
from scheduler.structure import may_manage_structure

from . import keys

# -- the facts, read for a request ----------------------------------------------------------------
_VIEWERS: web.RequestKey[dict[int, Viewer]] = web.RequestKey("policy_viewers")
_INSTITUTES: web.RequestKey[dict[int, int]] = web.RequestKey("policy_institutes")
_DEPARTMENTS: web.RequestKey[list[Department]] = web.RequestKey("policy_departments")


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


# -- the academy's structure: staff and administrators manage it; directors and heads of
# -- department read their own institute; agencies (their HR contacts) are the academy's.
def sees_structure(request: web.Request, user: User) -> bool:
    return may_see_structure(viewer(request, user))


def sees_institute(request: web.Request, user: User, institute_id: int) -> bool:
    return may_see_institute(viewer(request, user), institute_id)


def sees_agencies(request: web.Request, user: User) -> bool:
    return may_see_agencies(viewer(request, user))


def manages_structure(user: User) -> bool:
    return may_manage_structure(user.role)


def sends_hr_mail(user: User) -> bool:
    """The HR services' mail: its schedule, its log, sending by hand."""
    return may_send_hr_mail(user.role)


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


def class_scope(request: web.Request, user: User) -> ClassScope:
    """The classes ``user`` may see, for a list the store searches and counts in SQL: the same
    rule as ``may_see_class`` (``tests/integration/web/test_lists.py`` holds them together)."""
    v = viewer(request, user)
    return ClassScope(
        academy=v.role in ACADEMY,
        user_id=v.user_id,
        institutes=v.institutes if v.role in INSTITUTE else frozenset(),
        groups=v.teaches | v.member_of,
    )


def group_query(request: web.Request, user: User, search: str = "") -> GroupQuery:
    """The groups ``user`` may see (the rule of ``may_see_group``), for a list the store
    searches and counts in SQL."""
    v = viewer(request, user)
    if v.role in ACADEMY:
        return GroupQuery(search=search)
    mine = v.institutes if v.role in INSTITUTE else frozenset()
    return GroupQuery(search=search, institutes=mine, groups=v.teaches | v.member_of)


# -- people: whose account who manages (the rule is ``access.people``) ----------------------------
def departments(request: web.Request) -> list[Department]:
    """Every department, read once per request."""
    if _DEPARTMENTS not in request:
        request[_DEPARTMENTS] = SqliteGroups(request.app[keys.DB]).departments()
    return request[_DEPARTMENTS]


def steward(request: web.Request, user: User) -> Steward:
    """``user`` as one who may manage accounts: the departments they direct or head."""
    deps = departments(request)
    directed = {
        i.id for i in SqliteGroups(request.app[keys.DB]).institutes() if i.director_id == user.id
    }
    return Steward(
        user_id=user.id,
        role=user.role,
        directs=frozenset(d.id for d in deps if d.institute_id in directed),
        heads=frozenset(d.id for d in deps if d.head_id == user.id),
    )


def account(user: User) -> Account:
    return Account(user.id, user.role, user.department_id)


def manages(request: web.Request, user: User, target: User) -> bool:
    return may_manage(steward(request, user), account(target))


def changes(request: web.Request, user: User, target: User, after: Account) -> bool:
    return may_change(steward(request, user), account(target), after)


def deactivates(request: web.Request, user: User, target: User) -> bool:
    return may_deactivate(steward(request, user), account(target))


def issues_link(request: web.Request, user: User, target: User) -> bool:
    return may_issue_link(steward(request, user), account(target))


# -- the audit trail: staff and administrators read it (the rule is ``access.audit``) -------------
def reads_audit(user: User) -> bool:
    return may_read_audit(user.role)
