"""Who may do what with a guest request, and redeeming an invite at the door."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from access.models import Role, User
from scheduler.models import ClassStatus, Department, Group, Institute, LiveClass

from .errors import AdmissionError, NotTheDirector
from .guests import GuestRequest, GuestStatus, InviteRefusal, Window, refusal, token_hash


class GuestTimetable(Protocol):
    """What guest requests read of the timetable (``SqliteTimetable`` is one)."""

    def get_class(self, class_id: int) -> LiveClass: ...

    def group(self, group_id: int) -> Group: ...

    def department(self, department_id: int) -> Department: ...

    def institute_of_group(self, group_id: int) -> Institute: ...


class Guests(Protocol):
    """Where guest requests are kept (``SqliteGuests`` is one)."""

    def get(self, request_id: int) -> GuestRequest: ...

    def by_token(self, token: str) -> tuple[GuestRequest, str | None] | None: ...

    def bind(self, request_id: int, device: str, at: float) -> bool: ...


OVER = frozenset({ClassStatus.HELD, ClassStatus.MISSED, ClassStatus.CANCELLED})


class NotTheHead(AdmissionError):
    """Only the head of the class's department files a guest request."""

    code = "not_the_head"


class ClassOver(AdmissionError):
    code = "class_over"


class NotAllowed(AdmissionError):
    code = "not_allowed"


def _class(timetable: GuestTimetable, request: GuestRequest) -> LiveClass:
    return timetable.get_class(request.class_id)


def head_id(timetable: GuestTimetable, c: LiveClass) -> int | None:
    group = timetable.group(c.group_ids[0])
    return timetable.department(group.department_id).head_id


def director_id(timetable: GuestTimetable, c: LiveClass) -> int | None:
    return timetable.institute_of_group(c.group_ids[0]).director_id


def check_file(timetable: GuestTimetable, c: LiveClass, by: User) -> None:
    if by.role is not Role.HEAD_OF_DEPARTMENT or by.id != head_id(timetable, c):
        raise NotTheHead(f"User {by.id} is not the head of the department of class {c.id}")
    if c.status in OVER:
        raise ClassOver(f"Class {c.id} is {c.status}")


def check_decide(timetable: GuestTimetable, c: LiveClass, by: User) -> None:
    if by.role is not Role.DIRECTOR or by.id != director_id(timetable, c):
        raise NotTheDirector(f"User {by.id} is not the director of the institute of {c.id}")


def check_revoke(timetable: GuestTimetable, c: LiveClass, by: User) -> None:
    check_decide(timetable, c, by)
    if c.status in OVER:
        raise ClassOver(f"Class {c.id} is {c.status}: nothing to revoke")


def check_reset(timetable: GuestTimetable, c: LiveClass, by: User) -> None:
    if by.role in (Role.STAFF, Role.ADMIN):
        return
    if by.role is Role.DIRECTOR and by.id == director_id(timetable, c):
        return
    raise NotAllowed(f"User {by.id} may not reset the invite of class {c.id}")


@dataclass(frozen=True, slots=True)
class Choices:
    """What ``by`` may do with a request on its page: the checks above, as its buttons."""

    decide: bool
    revoke: bool
    reset: bool


def choices(r: GuestRequest, c: LiveClass, director: int | None, by: User) -> Choices:
    """``director``: of the class's institute (``director_id``)."""
    is_director = by.role is Role.DIRECTOR and by.id == director
    live = c.status not in OVER
    approved = r.status is GuestStatus.APPROVED
    editor = by.role in (Role.STAFF, Role.ADMIN)
    return Choices(
        decide=is_director and r.status is GuestStatus.PENDING,
        revoke=is_director and approved and live,
        reset=(editor or is_director) and approved and r.bound and live,
    )


def window(c: LiveClass, lead_seconds: float) -> Window:
    """From ``lead_seconds`` before the start until the class ends — while it is live, for as
    long as it runs; if it never starts, its scheduled end."""
    if c.status is ClassStatus.LIVE:  # started (early, maybe): open until it ends
        return Window(-math.inf, math.inf, False)
    return Window(c.starts_at.timestamp() - lead_seconds, c.ends_at.timestamp(), c.status in OVER)


@dataclass(frozen=True, slots=True)
class Admission:
    request: GuestRequest | None
    refused: InviteRefusal | None


def redeem(
    guests: Guests,
    timetable: GuestTimetable,
    token: str,
    device: str,
    now: float,
    lead_seconds: float,
    *,
    bind: bool = True,
) -> Admission:
    """Whether the invite admits this browser now; the first browser to ask to come in binds
    it (``bind``: only looking — a link scanner opening the page — binds nothing)."""
    found = guests.by_token(token) if token else None
    if found is None:
        return Admission(None, InviteRefusal.UNKNOWN)
    request, bound_to = found  # the browser is compared by its hash, as stored
    c = _class(timetable, request)
    why = refusal(request, window(c, lead_seconds), bound_to, token_hash(device), now)
    if why is not None or not bind:
        return Admission(request, why)
    if not guests.bind(request.id, device, now):
        return Admission(request, InviteRefusal.OTHER_DEVICE)
    return Admission(guests.get(request.id), None)
