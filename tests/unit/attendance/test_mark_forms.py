"""The forms about marks: the thresholds, and a learner's mark corrected with a reason."""

from __future__ import annotations

import pytest

from access.events import EventKind
from attendance.mark_forms import (
    MAX_REASON,
    MarkProblem,
    MarkRefused,
    correction_event,
    correction_of,
    thresholds_of,
)
from attendance.marks import Mark, MarkRules


def test_thresholds_keep_the_grace() -> None:
    rules = thresholds_of("12.5", "75", MarkRules(grace_seconds=90))
    assert rules == MarkRules(late_after_seconds=750, present_share=0.75, grace_seconds=90)
    for late, percent in (("-1", "80"), ("241", "80"), ("10", "0.5"), ("10", "101"), ("x", "80")):
        with pytest.raises(MarkRefused):
            thresholds_of(late, percent, MarkRules())


def test_a_correction_names_a_learner_of_the_class_a_mark_and_why() -> None:
    fix = correction_of("7", "excused", " certificate ", [7, 8])
    assert (fix.user_id, fix.mark, fix.reason) == (7, Mark.EXCUSED, "certificate")
    for args, problem in (
        (("x", "excused", "r"), MarkProblem.CHOICE),
        (("7", "sleeping", "r"), MarkProblem.CHOICE),
        (("9", "excused", "r"), MarkProblem.NOT_IN_CLASS),
        (("7", "excused", " "), MarkProblem.REASON),
        (("7", "excused", "r" * (MAX_REASON + 1)), MarkProblem.REASON),
    ):
        with pytest.raises(MarkRefused) as caught:
            correction_of(*args, [7, 8])
        assert caught.value.problem is problem
    event = correction_event(3, fix, 1, "Staff", 100.0)
    assert (event.kind, event.class_id, event.user_id) == (EventKind.MARK_OVERRIDDEN, 3, 7)
    assert event.data == {"mark": "excused", "reason": "certificate", "by_user_id": 1,
                          "by_name": "Staff"}  # fmt: skip
