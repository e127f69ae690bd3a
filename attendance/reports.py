"""Reports over many classes: a group's month (learner × class), a learner's history, totals
per agency. Projections of per-class marks; free of storage and I/O."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .marks import ClassDigest, LearnerMark, Mark, MarkRules, digest_marks


@dataclass(frozen=True, slots=True)
class ClassSlot:
    """A class as reports need it: when, and whose presence counts."""

    id: int
    title: str
    starts_at: float
    ends_at: float
    learner_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Totals:
    counts: Mapping[Mark, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def classes(self) -> int:
        return sum(self.counts.values())

    @property
    def attended(self) -> int:
        """Classes the learner was in (present, late or left early)."""
        return sum(self.counts.get(m, 0) for m in (Mark.PRESENT, Mark.LATE, Mark.LEFT_EARLY))

    @property
    def minutes(self) -> int:
        return round(self.seconds / 60)

    @property
    def percent(self) -> int | None:
        """Attended share of the classes that counted (excused ones and those the learner was
        not admitted to do not), or None."""
        due = (
            self.classes - self.counts.get(Mark.EXCUSED, 0) - self.counts.get(Mark.NOT_ADMITTED, 0)
        )
        return round(100 * self.attended / due) if due else None


def totals(marks: Iterable[LearnerMark]) -> Totals:
    counts: dict[Mark, int] = {}
    seconds = 0.0
    for m in marks:
        counts[m.mark] = counts.get(m.mark, 0) + 1
        seconds += m.seconds
    return Totals(counts, seconds)


def marks_by_class(
    classes: Sequence[ClassSlot],
    digests: Mapping[int, ClassDigest],
    now: float,
    rules: MarkRules | Callable[[ClassSlot], MarkRules],
    excused: Mapping[int, Collection[int]] | None = None,
    not_admitted: Mapping[int, Collection[int]] | None = None,
) -> dict[int, dict[int, LearnerMark]]:
    """class id → learner id → mark, for every learner of every class, absentees included.

    ``digests``: each class's (``marks.digest``; none: its chain is empty); ``rules``: the
    thresholds, or what they were for a given class; ``excused`` maps a class id to the
    learners an approved excuse covers, ``not_admitted`` to those their admission status kept
    out."""
    excused = excused or {}
    not_admitted = not_admitted or {}
    rules_of = rules if callable(rules) else (lambda _slot: rules)
    out = {}
    for c in classes:
        rules_ = rules_of(c)
        marks = digest_marks(
            c.learner_ids,
            digests.get(c.id) or ClassDigest(rules_.grace_seconds),
            c.starts_at,
            c.ends_at,
            now,
            rules_,
            excused.get(c.id, ()),
            not_admitted.get(c.id, ()),
        )
        out[c.id] = {m.user_id: m for m in marks}
    return out


@dataclass(frozen=True, slots=True)
class MatrixRow:
    user_id: int
    cells: tuple[LearnerMark | None, ...]  # None: not a learner of that class
    totals: Totals


def matrix(
    learner_ids: Sequence[int],
    classes: Sequence[ClassSlot],
    marks: Mapping[int, Mapping[int, LearnerMark]],
) -> list[MatrixRow]:
    """Learner × class, in the order given, with each learner's totals over the row."""
    rows = []
    for uid in learner_ids:
        cells = tuple(marks.get(c.id, {}).get(uid) for c in classes)
        rows.append(MatrixRow(uid, cells, totals(m for m in cells if m is not None)))
    return rows


def history(
    user_id: int, classes: Sequence[ClassSlot], marks: Mapping[int, Mapping[int, LearnerMark]]
) -> list[tuple[ClassSlot, LearnerMark]]:
    """A learner's classes, in time order, each with its mark: the digital footprint."""
    out = [(c, m) for c in classes if (m := marks.get(c.id, {}).get(user_id)) is not None]
    return sorted(out, key=lambda cm: cm[0].starts_at)


def by_learner(marks: Mapping[int, Mapping[int, LearnerMark]]) -> dict[int, Totals]:
    """Totals per learner over every class given."""
    per: dict[int, list[LearnerMark]] = {}
    for class_marks_ in marks.values():
        for uid, m in class_marks_.items():
            per.setdefault(uid, []).append(m)
    return {uid: totals(ms) for uid, ms in per.items()}
