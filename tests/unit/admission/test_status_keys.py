"""A status key as a form's value, and the discipline a class of a group names."""

from __future__ import annotations

import pytest

from admission.errors import DisciplineNotNamed
from admission.status import StatusKey, class_discipline, key_text, parse_key
from scheduler.models import ClassKind, Discipline, DisciplineFormat, Group


def test_a_key_round_trips_through_a_form() -> None:
    for key in (StatusKey(3, 7), StatusKey(3)):
        assert parse_key(key_text(key)) == key
    for wrong in ("", "3", "x:7", "3:x", "-3:", "1" * 19 + ":"):
        assert parse_key(wrong) is None


class _Programme:
    def __init__(self, *names: str) -> None:
        self._found = [
            Discipline(i, 5, n, 5, DisciplineFormat.DISTANCE) for i, n in enumerate(names, 1)
        ]

    def discipline_named(self, programme_id: int, name: str) -> Discipline | None:
        return next((d for d in self._found if d.name.casefold() == name.strip().casefold()), None)

    def disciplines(self, programme_id: int) -> list[Discipline]:
        return list(self._found)


def test_a_class_names_its_programme_s_discipline() -> None:
    law = _Programme("Criminal law")
    group = Group(1, "LAW-1", 2, programme_id=5)
    assert class_discipline(law, group, ClassKind.LECTURE, " criminal LAW ") == "Criminal law"
    assert class_discipline(law, group, ClassKind.LECTURE, "Ethics") == "Ethics"
    with pytest.raises(DisciplineNotNamed):
        class_discipline(law, group, ClassKind.EXAM, "Ethics")
    assert class_discipline(law, Group(2, "X", 2), ClassKind.EXAM, "Ethics") == "Ethics"
