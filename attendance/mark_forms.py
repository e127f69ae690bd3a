"""The forms staff fill about marks, free of HTTP: the thresholds marks are derived with, and a
learner's mark corrected with a reason. A refusal carries a code (``MarkProblem``); the page
says it in the reader's language."""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

from access.events import EventKind
from access.ids import uuid7
from access.models import ClassRole

from .marks import Mark, MarkRules
from .models import IncomingEvent

MAX_REASON = 500  # characters of a correction's reason
LATEST_LATE = 240  # minutes after the start one may still come in "late"


class MarkProblem(enum.StrEnum):
    THRESHOLDS = "thresholds"  # late after 0 to 240 minutes, present from 1 to 100 %
    CHOICE = "choice"  # no learner or no mark chosen
    NOT_IN_CLASS = "not_in_class"  # the learner is not in the class's groups
    REASON = "reason"  # no reason, or too long


class MarkRefused(ValueError):
    def __init__(self, problem: MarkProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def thresholds_of(late_minutes: str, present_percent: str, current: MarkRules) -> MarkRules:
    """The thresholds the form gives, the reconnection grace kept as it is (``MarkRefused``)."""
    try:
        late = float(late_minutes)
        percent = float(present_percent)
        if not (0 <= late <= LATEST_LATE and 1 <= percent <= 100):
            raise ValueError
    except ValueError:
        raise MarkRefused(MarkProblem.THRESHOLDS) from None
    return MarkRules(
        late_after_seconds=late * 60,
        present_share=percent / 100,
        grace_seconds=current.grace_seconds,
    )


@dataclass(frozen=True, slots=True)
class Correction:
    user_id: int
    mark: Mark
    reason: str


def correction_of(user_id: str, mark: str, reason: str, learners: Collection[int]) -> Correction:
    """A learner's mark corrected: one of the class's ``learners``, a mark, a reason
    (``MarkRefused``, checked in that order)."""
    reason = reason.strip()
    try:
        learner = int(user_id)
        chosen = Mark(mark)
    except ValueError:
        raise MarkRefused(MarkProblem.CHOICE) from None
    if learner not in learners:
        raise MarkRefused(MarkProblem.NOT_IN_CLASS)
    if not reason or len(reason) > MAX_REASON:
        raise MarkRefused(MarkProblem.REASON)
    return Correction(learner, chosen, reason)


def correction_event(
    class_id: int, c: Correction, by_id: int, by_name: str, at: float
) -> IncomingEvent:
    """The ledger's record of a correction staff made (``MARK_OVERRIDDEN``), on the control
    node."""
    return IncomingEvent(
        id=str(uuid7()),
        kind=EventKind.MARK_OVERRIDDEN,
        class_id=class_id,
        node="control",
        node_seq=0,
        origin_time=at,
        user_id=c.user_id,
        role=ClassRole.LEARNER.value,
        data={"mark": c.mark.value, "reason": c.reason, "by_user_id": by_id, "by_name": by_name},
    )
