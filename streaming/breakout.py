"""Breakout groups in a live class: the rules, free of aiohttp and aiortc.

The teacher splits the learners present into groups (at random, by hand, or from a list saved
for the study group), sets a duration and opens them. Who is in which group is decided here: the
split, where a learner who comes late goes (placed in the smallest group, or waiting in the main
room, as the teacher chose), where one who comes back goes (their own group), the time left
(measured with the clock the room is given), time added, and the close. The room
(``breakout_room``) applies it: each group is a room of its own inside the class's room, whose
media reach only its own members.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .refused import Refused

MIN_GROUPS, MAX_GROUPS = 2, 20
MIN_SECONDS, MAX_SECONDS = 60, 3 * 3600  # a minute to three hours
MAX_ADD_SECONDS = 3600  # time added at once: up to an hour
MAX_BROADCAST_CHARS = 500


class LatePolicy(enum.StrEnum):
    """Where a learner who was not split (came late, or was left out) goes."""

    PLACE = "place"  # into the group with the fewest members
    WAIT = "wait"  # waits in the main room until the groups close


class BreakoutRefused(Refused):
    """A split or a move the rules do not take; ``code`` goes back to the client."""


@dataclass(frozen=True, slots=True)
class SplitDraft:
    """A split as a client sent it, well-formed but not yet checked against the rules: either
    ``count`` groups at random, or the ``groups`` themselves (by hand, or a saved list)."""

    count: int | None
    groups: tuple[tuple[int, ...], ...]
    seconds: int
    late: LatePolicy
    save: bool = False  # the split is kept for the study group's next classes


def split_at_random(learners: Sequence[int], count: int, rng: random.Random) -> list[list[int]]:
    """``learners`` shuffled and dealt into ``count`` groups whose sizes differ by one at most."""
    shuffled = list(learners)
    rng.shuffle(shuffled)
    return [shuffled[i::count] for i in range(count)]


def plan(draft: SplitDraft, present: Sequence[int], rng: random.Random) -> list[list[int]]:
    """The groups (user ids) a draft makes of the learners ``present``. A hand-made or saved
    split may name learners not present (they join their group when they come); it may not
    name one twice. Learners present whom it leaves out are placed as late ones are."""
    if not MIN_SECONDS <= draft.seconds <= MAX_SECONDS:
        raise BreakoutRefused(
            "bad_breakout", f"The duration is {MIN_SECONDS} to {MAX_SECONDS} seconds"
        )
    if draft.count is not None:
        if not MIN_GROUPS <= draft.count <= MAX_GROUPS:
            raise BreakoutRefused("bad_breakout", f"Split into {MIN_GROUPS} to {MAX_GROUPS} groups")
        if len(present) < draft.count:
            raise BreakoutRefused(
                "too_few_learners", "There are fewer students present than groups"
            )
        return split_at_random(sorted(present), draft.count, rng)
    groups = [list(g) for g in draft.groups]
    if not MIN_GROUPS <= len(groups) <= MAX_GROUPS:
        raise BreakoutRefused("bad_breakout", f"Split into {MIN_GROUPS} to {MAX_GROUPS} groups")
    named = [u for g in groups for u in g]
    if len(named) != len(set(named)):
        raise BreakoutRefused("bad_breakout", "A student is in two groups")
    if not any(u in set(present) for u in named):
        raise BreakoutRefused("too_few_learners", "None of the students listed is present")
    return groups


@dataclass(slots=True)
class Breakout:
    """Groups as they run: open from ``opened_at`` until ``ends_at`` (time may be added), or
    closed early by the teacher. ``assigned`` is each learner's group (index from 0); a
    learner's own group stays theirs across a drop and a rejoin."""

    id: str
    groups: list[list[int]]
    late: LatePolicy
    opened_at: float
    ends_at: float
    saved: bool = False  # kept for the study group's next classes (in the record)
    closed: bool = False
    assigned: dict[int, int] = field(default_factory=dict)
    # Learners the teacher moved to the main room: they stay there, also after a rejoin.
    in_main: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.assigned:
            self.assigned = {u: i for i, g in enumerate(self.groups) for u in g}

    @property
    def count(self) -> int:
        return len(self.groups)

    def group_of(self, user_id: int) -> int | None:
        return self.assigned.get(user_id)

    def place(self, user_id: int, present: Iterable[int] = ()) -> int | None:
        """Where a learner arriving now goes: their own group if they have one; else, as the
        teacher chose, the group with the fewest learners present (the first of equals) or
        the main room (None)."""
        own = self.assigned.get(user_id)
        if own is not None or self.late is LatePolicy.WAIT or user_id in self.in_main:
            return own
        here = set(present)
        sizes = [sum(1 for u in g if u in here) for g in self.groups]
        chosen = min(range(self.count), key=lambda i: (sizes[i], i))
        self.groups[chosen].append(user_id)
        self.assigned[user_id] = chosen
        return chosen

    def move(self, user_id: int, group: int | None) -> None:
        """The teacher moves a learner into another group, or to the main room (None)."""
        self.check_group(group)
        self.assigned.pop(user_id, None)
        for members in self.groups:
            if user_id in members:
                members.remove(user_id)
        self.in_main.discard(user_id)
        if group is None:
            self.in_main.add(user_id)
        else:
            self.groups[group].append(user_id)
            self.assigned[user_id] = group

    def check_group(self, group: int | None) -> int | None:
        """A group named by a client (None: the main room), or refused."""
        if group is not None and not 0 <= group < self.count:
            raise BreakoutRefused("no_such_group", f"There is no group {group + 1}")
        return group

    def add_time(self, seconds: int, now: float) -> None:
        if not 0 < seconds <= MAX_ADD_SECONDS:
            raise BreakoutRefused("bad_breakout", f"Add 1 to {MAX_ADD_SECONDS} seconds at a time")
        if self.closed:
            raise BreakoutRefused("no_breakout", "The groups are closed")
        self.ends_at = max(self.ends_at, now) + seconds

    def remaining(self, now: float) -> float:
        return 0.0 if self.closed else max(0.0, self.ends_at - now)

    def due(self, now: float) -> bool:
        return not self.closed and now >= self.ends_at

    def close(self) -> bool:
        """Close them; False if they were closed."""
        was, self.closed = self.closed, True
        return not was

    def public(self, now: float) -> dict[str, Any]:
        """What everyone is told of the groups: how many, who is in each, the time left."""
        return {
            "id": self.id,
            "groups": [list(g) for g in self.groups],
            "late": self.late.value,
            "saved": self.saved,
            "remaining": round(self.remaining(now), 1),
            "closed": self.closed,
        }

    def ledger_data(self) -> dict[str, Any]:
        """What the record keeps of the opening."""
        return {
            "breakout": self.id,
            "groups": [list(g) for g in self.groups],
            "late": self.late.value,
            "seconds": round(self.ends_at - self.opened_at),
            **({"saved": True} if self.saved else {}),
        }
