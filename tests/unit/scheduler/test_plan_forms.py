"""The planning forms' rules: what a plan and a move must give; each refusal a code, the
recurrence's and timing's own refusals as they are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scheduler.errors import ClassTooLong, NoWeekdays, PlannedInPast
from scheduler.models import ClassFormat, ClassKind
from scheduler.plan_forms import (
    MAX_TEXT,
    PlanProblem,
    PlanRefused,
    move_span,
    occurrences_of,
    plan_basics,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ZONE = "Asia/Almaty"
PLAN: dict[str, Any] = {
    "title": " Criminal law ",
    "kind": "lecture",
    "group_id": "3",
    "teacher_id": "5",
    "day": "2026-03-02",
    "start": "10:00",
    "end": "11:30",
}


def _problem(call: Any) -> PlanProblem:
    with pytest.raises(PlanRefused) as caught:
        call()
    return caught.value.problem


def test_a_plan_s_basics() -> None:
    b = plan_basics(PLAN)
    assert (b.title, b.kind, b.format, b.group_id, b.teacher_id) == (
        "Criminal law",
        ClassKind.LECTURE,
        ClassFormat.LIVE_ONLINE,
        3,
        5,
    )
    assert _problem(lambda: plan_basics(PLAN | {"title": ""})) is PlanProblem.TITLE
    long = "x" * (MAX_TEXT + 1)
    assert _problem(lambda: plan_basics(PLAN | {"discipline": long})) is PlanProblem.TITLE
    assert _problem(lambda: plan_basics(PLAN | {"kind": "party"})) is PlanProblem.CHOICES
    assert _problem(lambda: plan_basics(PLAN | {"group_id": "0"})) is PlanProblem.CHOICES


def test_one_class_or_a_weekly_series() -> None:
    (one,) = occurrences_of(PLAN, (), ZONE, NOW)
    assert one.starts_at == datetime(2026, 3, 2, 5, tzinfo=UTC)  # Almaty is UTC+5
    series = PLAN | {"repeat": "weekly", "until": "2026-03-16", "except": "2026-03-09"}
    assert len(occurrences_of(series, ("0",), ZONE, NOW)) == 2
    assert _problem(lambda: occurrences_of(series, ("x",), ZONE, NOW)) is PlanProblem.WEEKLY
    with pytest.raises(NoWeekdays):
        occurrences_of(series, ("9",), ZONE, NOW)
    only_skipped = series | {"until": "2026-03-02", "except": "2026-03-02"}
    assert _problem(lambda: occurrences_of(only_skipped, ("0",), ZONE, NOW)) is (
        PlanProblem.NO_CLASSES
    )
    assert _problem(lambda: occurrences_of(PLAN | {"end": "x"}, (), ZONE, NOW)) is (
        PlanProblem.WHEN
    )
    with pytest.raises(PlannedInPast):
        occurrences_of(PLAN | {"day": "2026-02-27"}, (), ZONE, NOW)


def test_a_move() -> None:
    span, reason = move_span(PLAN | {"reason": " ill "}, ZONE, NOW)
    assert (span.starts_at.hour, reason) == (5, "ill")
    assert _problem(lambda: move_span(PLAN | {"reason": "r" * 501}, ZONE, NOW)) is (
        PlanProblem.REASON
    )
    assert _problem(lambda: move_span(PLAN | {"day": ""}, ZONE, NOW)) is PlanProblem.WHEN
    with pytest.raises(ClassTooLong):
        move_span(PLAN | {"start": "00:00", "end": "23:00"}, ZONE, NOW)
