"""Errors of the scheduler."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import LiveClass


class SchedulerError(Exception):
    code = "scheduler_error"


class ClassNotFound(SchedulerError):
    code = "class_not_found"


class GroupNotFound(SchedulerError):
    code = "group_not_found"


class GroupNotReady(SchedulerError):
    """A group that may not be activated (an additional-education group below 20)."""

    code = "group_not_ready"


class InvalidTransition(SchedulerError):
    code = "invalid_transition"


class ClassConflict(SchedulerError):
    """A new or moved class would put a teacher, a group or a learner in two classes at once."""

    code = "class_conflict"

    def __init__(self, who: str, conflicting: LiveClass) -> None:
        self.who = who  # "teacher", "group" or "learner"
        self.conflicting = conflicting
        super().__init__(
            f"The {who} already has class {conflicting.id} ({conflicting.title!r})"
            f" from {conflicting.starts_at:%Y-%m-%d %H:%M} to {conflicting.ends_at:%H:%M} UTC"
        )
