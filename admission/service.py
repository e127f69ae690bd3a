"""The rules of excuse requests that need the timetable: whose request it can be, who decides it,
what it excuses, and the make-up classes planned on it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Protocol

from access.models import Role, User
from scheduler.models import ClassFormat, ClassKind, Group, Institute, LiveClass

from .documents import ExcuseDocument
from .errors import AdmissionError, NotApproved, NotTheDirector
from .models import MAX_COMMENT, ExcuseReason, ExcuseRequest, ExcuseStatus, Sitting, excused


class ExcuseTimetable(Protocol):
    """What excuse requests read and plan in the timetable (``SqliteTimetable`` is one)."""

    def members(self, group_id: int) -> list[int]: ...

    def group(self, group_id: int) -> Group: ...

    def institute_of_group(self, group_id: int) -> Institute: ...

    def learners(self, live_class: LiveClass) -> list[int]: ...

    def add_class(
        self,
        *,
        title: str,
        kind: ClassKind,
        format: ClassFormat,
        teacher_id: int,
        starts_at: datetime,
        ends_at: datetime,
        group_ids: tuple[int, ...],
        learner_ids: tuple[int, ...] = (),
        discipline: str = "",
        on_day_off: bool = False,
    ) -> LiveClass: ...


class Excuses(Protocol):
    """Where excuse requests are kept (``SqliteExcuses`` is one)."""

    def file(
        self,
        *,
        learner_id: int,
        group_id: int,
        reason: ExcuseReason,
        first_day: date,
        last_day: date,
        document: str,
        details: str,
        by_id: int,
        by_name: str,
        at: float,
        documents: Sequence[ExcuseDocument] = (),
    ) -> ExcuseRequest: ...

    def get(self, request_id: int) -> ExcuseRequest: ...

    def decide(
        self, request_id: int, approve: bool, by_id: int, by_name: str, comment: str, at: float
    ) -> ExcuseRequest: ...

    def makeup_planned(
        self, request_id: int, class_id: int, by_id: int, by_name: str, at: float
    ) -> None: ...

    def approved_for(self, learner_ids: Collection[int]) -> list[ExcuseRequest]: ...


class NotInGroup(AdmissionError):
    code = "not_in_group"


class CommentNeeded(AdmissionError):
    code = "comment_needed"


def file_request(
    excuses: Excuses,
    timetable: ExcuseTimetable,
    *,
    learner_id: int,
    group_id: int,
    reason: ExcuseReason,
    first_day: date,
    last_day: date,
    document: str,
    details: str,
    by: User,
    at: float,
    documents: Sequence[ExcuseDocument] = (),
) -> ExcuseRequest:
    """File a learner's request, by the learner or on their behalf, to the director of their
    group's institute, with the documents already kept (their ``request_id`` is set here)."""
    if learner_id not in timetable.members(group_id):
        raise NotInGroup(f"User {learner_id} is not a member of group {group_id}")
    return excuses.file(
        learner_id=learner_id,
        group_id=group_id,
        reason=reason,
        first_day=first_day,
        last_day=last_day,
        document=document.strip(),
        details=details.strip(),
        by_id=by.id,
        by_name=by.full_name,
        at=at,
        documents=documents,
    )


def decider_id(timetable: ExcuseTimetable, request: ExcuseRequest) -> int | None:
    """Who decides the request: the director of the institute of the learner's group."""
    return timetable.institute_of_group(request.group_id).director_id


def decide(
    excuses: Excuses,
    timetable: ExcuseTimetable,
    request_id: int,
    *,
    approve: bool,
    by: User,
    comment: str,
    at: float,
) -> ExcuseRequest:
    """The director approves or rejects (a rejection says why). Nobody else decides."""
    request = excuses.get(request_id)
    if by.role is not Role.DIRECTOR or by.id != decider_id(timetable, request):
        raise NotTheDirector(
            f"User {by.id} is not the director of the institute of group {request.group_id}"
        )
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise ValueError(f"A comment has at most {MAX_COMMENT} characters")
    if not approve and not comment:
        raise CommentNeeded("A rejection needs a comment")
    return excuses.decide(request_id, approve, by.id, by.full_name, comment, at)


def plan_makeup(
    excuses: Excuses,
    timetable: ExcuseTimetable,
    request_id: int,
    *,
    title: str,
    kind: ClassKind,
    discipline: str = "",
    teacher_id: int,
    starts_at: datetime,
    ends_at: datetime,
    by: User,
    at: float,
    on_day_off: bool = False,
) -> LiveClass:
    """An individual live class for the learner of an approved request, in the timetable and
    under its checks (``ClassConflict`` names the class in the way; the group active, the day
    within its study period, a non-working day only if ``on_day_off`` confirms it)."""
    request = excuses.get(request_id)
    if request.status is not ExcuseStatus.APPROVED:
        raise NotApproved(f"Request {request_id} is {request.status}, not approved")
    c = timetable.add_class(
        title=title,
        kind=kind,
        format=ClassFormat.LIVE_ONLINE,
        teacher_id=teacher_id,
        starts_at=starts_at,
        ends_at=ends_at,
        group_ids=(request.group_id,),
        learner_ids=(request.learner_id,),
        discipline=discipline,
        on_day_off=on_day_off,
    )
    excuses.makeup_planned(request_id, c.id, by.id, by.full_name, at)
    return c


def excused_in(
    excuses: Excuses, timetable: ExcuseTimetable, classes: Sequence[LiveClass]
) -> Mapping[int, frozenset[int]]:
    """class id → learners excused from it by an approved request (of one of the class's
    groups). Individual classes — make-up classes among them — are not excused."""
    sittings = [
        Sitting(c.id, c.starts_at, c.ends_at, c.group_ids, timetable.learners(c))
        for c in classes
        if not c.individual
    ]
    approved = excuses.approved_for({u for s in sittings for u in s.learner_ids})
    if not approved:
        return {}
    zones = {g: timetable.group(g).timezone for g in {r.group_id for r in approved}}
    return excused(sittings, approved, zones)
