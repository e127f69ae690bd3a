"""The introduction a learner takes before their classes start (clause 5): the device check in
the practice room, passed in every part, and the tour of the class page. Each step counts from
the first time it is taken; who has not taken both before their group's first class is shown
to staff and the group's teachers."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.models import ClassStatus, LiveClass

WARNING = timedelta(days=7)  # how long before the first class those who lack it are urgent


class Step(enum.StrEnum):
    CHECK = "check"  # the device check, every part passed
    TOUR = "tour"  # the tour of the class page, to its last step


@dataclass(frozen=True, slots=True)
class Introduction:
    """When (UTC seconds) a learner first took each step; a step not taken is absent."""

    taken_at: Mapping[Step, float]

    @property
    def done(self) -> bool:
        return all(s in self.taken_at for s in Step)

    @property
    def missing(self) -> tuple[Step, ...]:
        return tuple(s for s in Step if s not in self.taken_at)


def step_of(raw: object) -> Step | None:
    """The step a client names, or ``None`` for anything else."""
    if not isinstance(raw, str):
        return None
    try:
        return Step(raw)
    except ValueError:
        return None


def first_class(classes: Iterable[LiveClass]) -> LiveClass | None:
    """The first of a group's ``classes`` (in time order) the introduction is due before: not
    cancelled, not a make-up class."""
    return next(
        (c for c in classes if c.status is not ClassStatus.CANCELLED and not c.individual), None
    )


def urgent(anyone_lacks: bool, first: LiveClass | None, now: datetime) -> bool:
    """Whether those who lack the introduction are urgent: the first class is within a week
    (or past)."""
    return anyone_lacks and first is not None and first.starts_at - now <= WARNING
