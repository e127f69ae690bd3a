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


class DisciplineNotFound(SchedulerError):
    code = "discipline_not_found"


class DisciplineNameTaken(SchedulerError, ValueError):
    """A programme already has a discipline of that name (letter case aside)."""

    code = "discipline_name_taken"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"The programme already has a discipline named {name!r}")


class DisciplineInUse(SchedulerError, ValueError):
    """A discipline that classes name, or other records refer to, cannot be removed."""

    code = "discipline_in_use"

    def __init__(self, name: str, classes: int) -> None:
        self.name = name
        self.classes = classes  # classes of the programme's groups that name it; 0: other records
        if classes:
            why = f"{classes} class(es) of the programme's groups name it"
        else:
            why = "other records refer to it"
        super().__init__(f"The discipline {name!r} cannot be removed: {why}")


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
