"""The introduction a learner takes before their classes start (clause 5): the device check in
the practice room, passed in every part, and the tour of the class page. Each step counts from
the first time it is taken; who has not taken both before their group's first class is shown
to staff and the group's teachers."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


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
