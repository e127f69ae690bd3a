"""Quick questions in a live class: the rules, free of aiohttp and aiortc.

The teacher (or a presenting guest) asks a question with 2–6 options, one answer or several,
or a yes/no question; anonymous or named; with a time limit. Each learner answers once, within
the limit. The tally is kept as answers come; for an anonymous question nothing else is kept
about who answered but the fact that they did (in memory, so that a second answer is refused;
it never leaves the room).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .refused import Refused

MIN_OPTIONS, MAX_OPTIONS = 2, 6
MAX_QUESTION_CHARS = 300
MAX_OPTION_CHARS = 120
MIN_SECONDS, MAX_SECONDS = 10, 900  # the time limit: ten seconds to a quarter of an hour
YES_NO = ("yes", "no")  # a yes/no question's options; pages show them in the reader's language


class QuestionKind(enum.StrEnum):
    SINGLE = "single"  # one of the options
    MULTIPLE = "multiple"  # one or several of the options
    YES_NO = "yes_no"


class QuestionRefused(Refused):
    """A question or an answer the rules do not take; ``code`` goes back to the client."""


@dataclass(frozen=True, slots=True)
class QuestionSpec:
    """What is asked: the text, the options (a yes/no question's are ``YES_NO``), whether
    several may be chosen, whether answers carry names, and the time limit in seconds."""

    text: str
    kind: QuestionKind
    options: tuple[str, ...]
    anonymous: bool
    seconds: int

    def __post_init__(self) -> None:
        if not self.text.strip() or len(self.text) > MAX_QUESTION_CHARS:
            raise QuestionRefused(
                "bad_question", f"A question is 1 to {MAX_QUESTION_CHARS} characters"
            )
        if self.kind is QuestionKind.YES_NO:
            if self.options != YES_NO:
                raise QuestionRefused("bad_question", "A yes/no question has no options of its own")
        elif not MIN_OPTIONS <= len(self.options) <= MAX_OPTIONS:
            raise QuestionRefused(
                "bad_question", f"A question has {MIN_OPTIONS} to {MAX_OPTIONS} options"
            )
        if any(not o.strip() or len(o) > MAX_OPTION_CHARS for o in self.options):
            raise QuestionRefused(
                "bad_question", f"An option is 1 to {MAX_OPTION_CHARS} characters"
            )
        if len({o.strip().casefold() for o in self.options}) != len(self.options):
            raise QuestionRefused("bad_question", "Two options say the same")
        if not MIN_SECONDS <= self.seconds <= MAX_SECONDS:
            raise QuestionRefused(
                "bad_question", f"The time limit is {MIN_SECONDS} to {MAX_SECONDS} seconds"
            )

    @classmethod
    def build(
        cls, text: str, kind: QuestionKind, options: Sequence[str], anonymous: bool, seconds: int
    ) -> QuestionSpec:
        """A spec from what a client sent: texts trimmed, a yes/no question's options set."""
        opts = YES_NO if kind is QuestionKind.YES_NO else tuple(o.strip() for o in options)
        return cls(text.strip(), kind, opts, anonymous, seconds)


@dataclass(frozen=True, slots=True)
class AskDraft:
    """A question as a client sent it, well-formed but not yet checked against the rules (a
    question the rules refuse is answered with an error; the asker stays in the class)."""

    text: str
    kind: QuestionKind
    options: tuple[str, ...]
    anonymous: bool
    seconds: int

    def spec(self) -> QuestionSpec:
        return QuestionSpec.build(self.text, self.kind, self.options, self.anonymous, self.seconds)


@dataclass(slots=True)
class Question:
    """One question as it runs: open from ``asked_at`` until ``closes_at`` (or closed early)."""

    id: str
    spec: QuestionSpec
    asked_by: int  # the asker's user id
    asked_at: float
    closes_at: float
    tally: list[int] = field(default_factory=list)
    # Who answered: for a named question, with their choices; for an anonymous one only that
    # they did (never written anywhere; it refuses a second answer).
    answered: dict[int, tuple[int, ...] | None] = field(default_factory=dict)
    closed: bool = False
    shown: bool = False  # the results are shown to everyone

    def __post_init__(self) -> None:
        if not self.tally:
            self.tally = [0] * len(self.spec.options)

    def is_open(self, now: float) -> bool:
        return not self.closed and now < self.closes_at

    def remaining(self, now: float) -> float:
        return 0.0 if self.closed else max(0.0, self.closes_at - now)

    def answer(self, user_id: int, choices: Sequence[int], now: float) -> tuple[int, ...]:
        """Count a learner's answer; the choices as counted (sorted, once each)."""
        if not self.is_open(now):
            raise QuestionRefused("question_closed", "The time for this question is over")
        if user_id in self.answered:
            raise QuestionRefused("already_answered", "You have answered this question already")
        chosen = tuple(sorted(set(choices)))
        if not chosen or any(not 0 <= c < len(self.spec.options) for c in chosen):
            raise QuestionRefused("bad_choice", "Choose among the question's options")
        if len(chosen) > 1 and self.spec.kind is not QuestionKind.MULTIPLE:
            raise QuestionRefused("bad_choice", "This question takes one answer")
        self.answered[user_id] = None if self.spec.anonymous else chosen
        for c in chosen:
            self.tally[c] += 1
        return chosen

    def close(self) -> bool:
        """Close it (the time is over, or the asker closed it); False if it was closed."""
        if self.closed:
            return False
        self.closed = True
        return True

    def public(self, now: float) -> dict[str, Any]:
        """What everyone is shown of the question (not the results)."""
        return {
            "id": self.id,
            "text": self.spec.text,
            "format": self.spec.kind.value,
            "options": list(self.spec.options),
            "anonymous": self.spec.anonymous,
            "seconds": self.spec.seconds,
            "remaining": round(self.remaining(now), 1),
            "closed": self.closed or not self.is_open(now),
        }

    def results(self, now: float) -> dict[str, Any]:
        """The tally: counts per option, how many answered; names only for a named question.

        An anonymous question's counts are withheld while it is open (only how many answered
        is told): counts that move the moment someone clicks would say who chose what in a
        small class or to a teacher watching the cameras. They come once it closes."""
        closed = self.closed or not self.is_open(now)
        withheld = self.spec.anonymous and not closed
        return {
            "id": self.id,
            "tally": [] if withheld else list(self.tally),
            "withheld": withheld,
            "answered": len(self.answered),
            "closed": closed,
            "shown": self.shown,
        }

    def ledger_data(self) -> dict[str, Any]:
        """What the record keeps of the asking."""
        return {
            "question": self.id,
            "text": self.spec.text,
            "kind": self.spec.kind.value,
            "options": list(self.spec.options),
            "anonymous": self.spec.anonymous,
            "seconds": self.spec.seconds,
        }
