"""Notices: who is told of what, in the app (and by e-mail where it is sent).

A change to the timetable (a class moved, cancelled, switched online) is told to the class's
learners and its teacher; a guest request decided, to the head of department who filed it; an
excuse request decided, to the learner who asked; a request waiting for a decision, to the
director who may decide it. Nobody is told of what they did themselves, and nobody of what the
one visibility rule (``admission.visibility``) keeps from them: every recipient is checked
against it as the pages would check them.

Free of storage and I/O: the rules take the facts and return the notices to keep
(``control.notices`` reads the records and keeps them).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Union

from access.models import Role
from scheduler.models import Group, LiveClass, TimetableAction, TimetableChange

from .guests import GuestAction, GuestRequest, GuestStep
from .models import ExcuseAction, ExcuseRequest, ExcuseStep
from .visibility import ClassFacts, Viewer, may_see_class, may_see_excuse, may_see_guest_request

Param = Union[str, int, float, None]  # noqa: UP007 (a runtime alias)
Params = Mapping[str, Param]


class NoticeKind(enum.StrEnum):
    CLASS_MOVED = "class_moved"
    CLASS_CANCELLED = "class_cancelled"
    CLASS_SWITCHED_ONLINE = "class_switched_online"
    GUEST_APPROVED = "guest_approved"
    GUEST_REFUSED = "guest_refused"
    GUEST_REVOKED = "guest_revoked"
    GUEST_WAITING = "guest_waiting"  # for the director who decides it
    EXCUSE_APPROVED = "excuse_approved"
    EXCUSE_REJECTED = "excuse_rejected"
    EXCUSE_WAITING = "excuse_waiting"  # for the director who decides it


CLASS_KINDS = {
    TimetableAction.MOVED: NoticeKind.CLASS_MOVED,
    TimetableAction.CANCELLED: NoticeKind.CLASS_CANCELLED,
    TimetableAction.SWITCHED_ONLINE: NoticeKind.CLASS_SWITCHED_ONLINE,
}
GUEST_KINDS = {
    GuestAction.APPROVED: NoticeKind.GUEST_APPROVED,
    GuestAction.REJECTED: NoticeKind.GUEST_REFUSED,
    GuestAction.REVOKED: NoticeKind.GUEST_REVOKED,
}
EXCUSE_KINDS = {
    ExcuseAction.APPROVED: NoticeKind.EXCUSE_APPROVED,
    ExcuseAction.REJECTED: NoticeKind.EXCUSE_REJECTED,
}


@dataclass(frozen=True, slots=True)
class Addressed:
    """A notice to keep: for whom, of what kind, and what it says (its parameters, words of
    people and moments in UTC seconds; the zone they are shown in)."""

    recipient_id: int
    kind: NoticeKind
    params: Params = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice as kept for its recipient."""

    id: int
    recipient_id: int
    kind: NoticeKind
    params: Params
    created_at: float  # UTC seconds
    read_at: float | None = None

    @property
    def unread(self) -> bool:
        return self.read_at is None


# Who a person is, for the rule: their viewer, or None when they have no (active) account.
Viewers = Callable[[int], Viewer | None]


def _to(
    candidates: Iterable[int],
    actor_id: int | None,
    viewers: Viewers,
    sees: Callable[[Viewer], bool],
    kind: NoticeKind,
    params: Params,
) -> list[Addressed]:
    out = []
    for uid in dict.fromkeys(candidates):  # each once, in order
        if uid == actor_id:
            continue  # nobody is told of what they did themselves
        v = viewers(uid)
        if v is not None and sees(v):
            out.append(Addressed(uid, kind, params))
    return out


# The moments a notice may name (1970 to 2999): someone's words that look like a time but
# are not one of these stay words.
MIN_STAMP, MAX_STAMP = 0.0, 32503680000.0


def _when(c: LiveClass) -> dict[str, Param]:
    return {"starts_at": c.starts_at.timestamp(), "ends_at": c.ends_at.timestamp()}


def _reason(reason: str) -> dict[str, Param]:
    """A move logged without a reason says where the class was ("from <ISO time>"): that is
    kept as the time it moved from, not shown as someone's words."""
    if reason.startswith("from "):
        try:  # only what the timetable writes: an aware time of a sane year
            was = datetime.fromisoformat(reason[5:])
            stamp = was.timestamp() if was.tzinfo is not None else None
        except (ValueError, OverflowError, OSError):
            stamp = None
        if stamp is not None and MIN_STAMP <= stamp <= MAX_STAMP:
            return {"reason": "", "was_starts_at": stamp}
    return {"reason": reason}


def class_changed(
    change: TimetableChange,
    c: LiveClass,
    group: Group,
    facts: ClassFacts,
    learners: Iterable[int],
    viewers: Viewers,
) -> list[Addressed]:
    """A class moved, cancelled or switched online: its learners (the group's, or an individual
    class's own) and its teacher, each if they may see the class."""
    kind = CLASS_KINDS.get(change.action)
    if kind is None:
        return []
    params: dict[str, Param] = {
        "class_id": c.id, "title": c.title, "group": group.name, "zone": group.timezone,
        **_when(c), **_reason(change.reason),
    }  # fmt: skip
    return _to(
        [*learners, c.teacher_id],
        change.by_id,
        viewers,
        lambda v: may_see_class(v, facts),
        kind,
        params,
    )


def guest_step(
    step: GuestStep,
    r: GuestRequest,
    c: LiveClass,
    group: Group,
    director_id: int | None,
    viewers: Viewers,
) -> list[Addressed]:
    """A guest request filed: the director who decides it; decided (approved, refused, the
    approval revoked): the head of department who filed it."""

    def sees(v: Viewer) -> bool:
        return may_see_guest_request(v, r.filed_by, director_id, c.teacher_id)

    params: dict[str, Param] = {
        "request_id": r.id, "class_id": c.id, "title": c.title, "guest": r.guest_name,
        "zone": group.timezone, "comment": step.comment, **_when(c),
    }  # fmt: skip
    if step.action is GuestAction.FILED:
        if director_id is None:
            return []
        return _to(
            [director_id],
            step.actor_id,
            viewers,
            lambda v: v.role is Role.DIRECTOR and sees(v),
            NoticeKind.GUEST_WAITING,
            params,
        )
    kind = GUEST_KINDS.get(step.action)
    if kind is None:
        return []
    return _to([r.filed_by], step.actor_id, viewers, sees, kind, params)


def excuse_step(
    step: ExcuseStep,
    r: ExcuseRequest,
    learner_name: str,
    decider_id: int | None,
    viewers: Viewers,
) -> list[Addressed]:
    """An excuse request filed: the director who decides it; decided: the learner who asked."""

    def sees(v: Viewer) -> bool:
        return may_see_excuse(v, r.learner_id, decider_id)

    params: dict[str, Param] = {
        "request_id": r.id, "learner": learner_name, "first_day": r.first_day.isoformat(),
        "last_day": r.last_day.isoformat(), "comment": step.comment,
    }  # fmt: skip
    if step.action is ExcuseAction.FILED:
        if decider_id is None:
            return []
        return _to(
            [decider_id],
            step.actor_id,
            viewers,
            lambda v: v.role is Role.DIRECTOR and sees(v),
            NoticeKind.EXCUSE_WAITING,
            params,
        )
    kind = EXCUSE_KINDS.get(step.action)
    if kind is None:
        return []
    return _to([r.learner_id], step.actor_id, viewers, sees, kind, params)
