"""Quick questions as the ledger keeps them: what was asked, who answered what and when (named
questions only), and each question's tally. A projection of the class's events, free of storage
and I/O; the register, the learner's history and the exports show it beside presence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from access.events import EventKind

from .models import LedgerEvent


@dataclass(frozen=True, slots=True)
class Answer:
    choices: tuple[int, ...]
    at: float  # when it was given (the media node's time)


@dataclass(slots=True)
class AskedQuestion:
    id: str
    number: int  # 1, 2, ... in the order asked in the class
    text: str
    kind: str  # single, multiple, yes_no
    options: tuple[str, ...]
    anonymous: bool
    asked_at: float
    tally: tuple[int, ...] | None = None  # as recorded at the close (None: not closed)
    answered: int | None = None  # how many answered, as recorded at the close
    answers: dict[int, Answer] = field(default_factory=dict)  # user → answer (named only)

    def counts(self) -> tuple[int, ...]:
        """The tally: as recorded at the close, else counted from the named answers."""
        if self.tally is not None:
            return self.tally
        per = [0] * len(self.options)
        for a in self.answers.values():
            for c in a.choices:
                if 0 <= c < len(per):
                    per[c] += 1
        return tuple(per)

    def how_many(self) -> int:
        return self.answered if self.answered is not None else len(self.answers)


def _choices(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(c for c in value if isinstance(c, int) and not isinstance(c, bool))


def questions(events: Iterable[LedgerEvent]) -> list[AskedQuestion]:
    """The quick questions of one class, in the order asked, with their recorded answers."""
    by_id: dict[str, AskedQuestion] = {}
    for le in events:
        e, data = le.event, le.event.data
        qid = data.get("question")
        if not isinstance(qid, str):
            continue
        if e.kind is EventKind.QUESTION_ASKED:
            options = data.get("options")
            by_id[qid] = AskedQuestion(
                id=qid,
                number=len(by_id) + 1,
                text=str(data.get("text", "")),
                kind=str(data.get("kind", "single")),
                options=tuple(str(o) for o in options) if isinstance(options, list) else (),
                anonymous=bool(data.get("anonymous")),
                asked_at=e.origin_time,
            )
        elif (q := by_id.get(qid)) is None:
            continue
        elif e.kind is EventKind.QUESTION_ANSWERED and e.user_id is not None:
            if not q.anonymous:  # never kept for an anonymous question, whatever came
                answer = Answer(_choices(data.get("choices")), e.origin_time)
                q.answers.setdefault(e.user_id, answer)
        elif e.kind is EventKind.QUESTION_CLOSED:
            q.tally = _choices(data.get("tally"))
            answered = data.get("answered")
            q.answered = answered if isinstance(answered, int) else None
    return list(by_id.values())


def option_label(q: AskedQuestion, index: int, yes_no: Mapping[str, str]) -> str:
    """An option as the reader reads it: a yes/no question's in their language."""
    text = q.options[index] if 0 <= index < len(q.options) else "?"
    return yes_no.get(text, text) if q.kind == "yes_no" else text


def answer_text(q: AskedQuestion, answer: Answer, yes_no: Mapping[str, str]) -> str:
    return ", ".join(option_label(q, c, yes_no) for c in answer.choices)


def answers_of(user_id: int, asked: Sequence[AskedQuestion]) -> list[tuple[AskedQuestion, Answer]]:
    """A learner's recorded answers, in the order the questions were asked."""
    return [(q, a) for q in asked if (a := q.answers.get(user_id)) is not None]
