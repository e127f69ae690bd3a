"""Timetable rules that need facts from other packages, through ports."""

from __future__ import annotations

from typing import Protocol

from .errors import InvalidTransition
from .models import ClassStatus, LiveClass


class ClassStatuses(Protocol):
    """The timetable as the class's start and end see it (``SqliteTimetable`` is one)."""

    def get_class(self, class_id: int) -> LiveClass: ...

    def set_status(self, class_id: int, status: ClassStatus) -> LiveClass: ...


class HeldEvidence(Protocol):
    """Answers whether a class actually happened (``web/`` wires it to attendance)."""

    def was_held(self, live_class: LiveClass) -> bool: ...


def class_started(timetable: ClassStatuses, class_id: int) -> LiveClass:
    current = timetable.get_class(class_id)
    if current.status is ClassStatus.PLANNED:
        return timetable.set_status(class_id, ClassStatus.LIVE)
    if current.status is ClassStatus.LIVE:
        return current
    raise InvalidTransition(f'Class {class_id} is "{current.status}" and cannot start')


def class_ended(timetable: ClassStatuses, class_id: int, evidence: HeldEvidence) -> LiveClass:
    """A live class ended: it is held if the evidence says so, missed otherwise."""
    current = timetable.get_class(class_id)
    if current.status is not ClassStatus.LIVE:
        return current
    status = ClassStatus.HELD if evidence.was_held(current) else ClassStatus.MISSED
    return timetable.set_status(class_id, status)
