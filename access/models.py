"""Users and roles."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


class Role(enum.StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"
    HEAD_OF_DEPARTMENT = "head_of_department"
    DIRECTOR = "director"
    STAFF = "staff"
    ADMIN = "admin"


class ClassRole(enum.StrEnum):
    """The role a person has inside one live class (carried by a join token)."""

    HOST = "host"  # the class's teacher: publishes, ends the class
    LEARNER = "learner"  # a student of the class's group: watches
    OBSERVER = "observer"  # staff or director looking in: watches, not counted as a learner
    GUEST = "guest"  # an invited guest lecturer who watches (clause 10)
    PRESENTER = "presenter"  # an invited guest lecturer who presents: publishes like the host


# Who publishes without being given the floor; guests come in only once the class has started.
PUBLISHERS = frozenset({ClassRole.HOST, ClassRole.PRESENTER})
GUESTS = frozenset({ClassRole.GUEST, ClassRole.PRESENTER})


class RoomMode(enum.StrEnum):
    """How a live class is held (carried by a join token as the room's starting mode)."""

    LECTURE = "lecture"  # learners speak when given the floor
    SEMINAR = "seminar"  # learners turn on their camera and microphone themselves


MAX_AGENCY = 200


def check_agency(agency: str | None) -> None:
    if agency is not None and len(agency) > MAX_AGENCY:
        raise ValueError(f"An agency's name has at most {MAX_AGENCY} characters")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    login: str
    full_name: str
    role: Role
    language: str | None = None
    agency: str | None = None  # the body that sent the learner, for its HR service
    department_id: int | None = None  # a teacher's or head's department (scheduler's id)
    active: bool = True  # a deactivated account cannot sign in; its history stays
    email: str | None = None  # where notices go (optional; checked by access.addresses)

    def __post_init__(self) -> None:
        if not LOGIN_RE.match(self.login):
            raise ValueError(f"Login {self.login!r} must be 2-63 of a-z, 0-9, '.', '_', '-'")
        if not self.full_name.strip():
            raise ValueError("A user needs a full name")
        check_agency(self.agency)
