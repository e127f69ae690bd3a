"""The introduction (clause 5): the first class it is due before, and when it is urgent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from attendance.introduction import first_class, urgent
from scheduler.models import ClassFormat, ClassKind, ClassStatus, LiveClass

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _class(id_: int, days: int, status: ClassStatus, learners: tuple[int, ...] = ()) -> LiveClass:
    at = NOW + timedelta(days=days)
    return LiveClass(
        id_, "Law", ClassKind.LECTURE, ClassFormat.LIVE_ONLINE, 5, at, at + timedelta(hours=1),
        status, (3,), learner_ids=learners,
    )  # fmt: skip


def test_the_first_class_neither_cancelled_nor_a_make_up() -> None:
    classes = [
        _class(1, 2, ClassStatus.CANCELLED),
        _class(2, 3, ClassStatus.PLANNED, learners=(7,)),
        _class(3, 9, ClassStatus.PLANNED),
    ]
    first = first_class(classes)
    assert first is not None and first.id == 3
    assert first_class([]) is None


def test_urgent_within_a_week_of_the_first_class() -> None:
    assert urgent(True, _class(1, 7, ClassStatus.PLANNED), NOW)
    assert urgent(True, _class(1, -1, ClassStatus.PLANNED), NOW)
    assert not urgent(True, _class(1, 8, ClassStatus.PLANNED), NOW)
    assert not urgent(False, _class(1, 1, ClassStatus.PLANNED), NOW)
    assert not urgent(True, None, NOW)
