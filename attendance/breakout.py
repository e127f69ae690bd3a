"""Breakout groups as the ledger keeps them: each opening (when, how many groups, by whom),
its close (when, why) and each learner's moves between the groups and the main room. A
projection of the class's events, free of storage and I/O; the register and its exports show
the moves beside presence. A move is not a departure: presence is the joins' and leaves'."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from access.events import EventKind
from scheduler.models import LiveClass

from .models import LedgerEvent


@dataclass(frozen=True, slots=True)
class Move:
    at: float  # the media node's time
    group: int | None  # index from 0; None: back in the main room
    session: int  # which opening of the class (1, 2, ...)


@dataclass(slots=True)
class Session:
    id: str
    number: int  # 1, 2, ... in the order opened in the class
    groups: int
    opened_at: float
    closed_at: float | None = None
    reason: str | None = None  # timer, teacher, class_ended, server_stopping


@dataclass(slots=True)
class Breakouts:
    sessions: list[Session] = field(default_factory=list)
    moves: dict[int, list[Move]] = field(default_factory=dict)  # user → moves, in order

    def of(self, user_id: int) -> list[Move]:
        return self.moves.get(user_id, [])


def breakouts(events: Iterable[LedgerEvent]) -> Breakouts:
    """The breakout groups of one class, with everyone's moves."""
    out = Breakouts()
    by_id: dict[str, Session] = {}
    for le in events:
        e, data = le.event, le.event.data
        bid = data.get("breakout")
        if not isinstance(bid, str):
            continue
        if e.kind is EventKind.BREAKOUT_OPENED:
            groups = data.get("groups")
            opened = Session(
                bid, len(by_id) + 1, len(groups) if isinstance(groups, list) else 0, e.origin_time
            )
            by_id[bid] = opened
            out.sessions.append(opened)
            continue
        s = by_id.get(bid)
        if s is None:
            continue
        if e.kind is EventKind.BREAKOUT_MOVED and e.user_id is not None:
            group = data.get("group")
            index = group if isinstance(group, int) and not isinstance(group, bool) else None
            out.moves.setdefault(e.user_id, []).append(Move(e.origin_time, index, s.number))
        elif e.kind is EventKind.BREAKOUT_CLOSED:
            s.closed_at = e.origin_time
            reason = data.get("reason")
            s.reason = reason if isinstance(reason, str) else None
    return out


def saved_split(events: Iterable[LedgerEvent]) -> list[list[int]] | None:
    """The last split a teacher saved among these events (a class's), or None."""
    found: list[list[int]] | None = None
    for le in events:
        data = le.event.data
        groups = data.get("groups")
        if (
            le.event.kind is EventKind.BREAKOUT_OPENED
            and data.get("saved") is True
            and isinstance(groups, list)
        ):
            found = [
                [u for u in g if isinstance(u, int) and not isinstance(u, bool)]
                for g in groups
                if isinstance(g, list)
            ]
    return found


def latest_saved_split(
    classes: Iterable[LiveClass], events_of: Callable[[int], Iterable[LedgerEvent]], latest: int
) -> list[list[int]] | None:
    """The split a teacher last saved in the ``latest`` of ``classes`` (by start), or None."""
    ordered = sorted(classes, key=lambda k: (k.starts_at, k.id), reverse=True)
    for k in ordered[:latest]:
        split = saved_split(events_of(k.id))
        if split is not None:
            return split
    return None
