"""Placement of classes on media nodes, as pure functions of the nodes' loads (like LiveKit's
``routing/selector``): which node takes a new class, and how many people the classes placed
lately still bring. No Redis here; ``control.redis_placement`` keeps where classes are."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from access.models import PUBLISHERS, ClassRole, RoomMode

PLACED_SETTLING = 120.0  # how long a new class's expected people count before they show
# The share of its origin's capacity a class's viewers fill before new ones go to relay nodes:
# the rest is kept for its publishers (a floor given, a presenter) and for rejoins.
ORIGIN_FILL = 0.9
SENT_WINDOW = 10.0  # seconds one sent to a node counts at most, unless a heartbeat shows them


class NoMediaNode(Exception):
    """No live media node can take the class now."""


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """A live media node as placement weighs it."""

    id: str
    load: int  # the people on it and those still to come to the classes placed on it lately
    capacity: int  # participants it takes
    rooms: int


def select_node(nodes: Iterable[NodeLoad]) -> str:
    """The node that takes a new class: of those with room, the one with the smallest share of
    its capacity in use, then the fewest rooms, then the smallest id (so the choice is stable).
    ``NoMediaNode`` if none has room."""
    free = [n for n in nodes if n.load < n.capacity]
    if not free:
        raise NoMediaNode("no live media node has room")
    return min(free, key=lambda n: (n.load / max(1, n.capacity), n.rooms, n.id)).id


def select_viewer_node(
    origin: NodeLoad,
    relays: Iterable[NodeLoad],
    others: Iterable[NodeLoad],
    fill: float = ORIGIN_FILL,
) -> str:
    """Where a viewer of a class placed on ``origin`` goes (DESIGN.md, "Scale, in steps",
    step 4): the origin while its viewers fill less than ``fill`` of it; else the class's relay
    with the smallest share of its capacity in use, of those with room; else a new relay, the
    node ``select_node`` picks among ``others`` (neither the origin nor a relay of the class).
    ``NoMediaNode`` if none has room."""
    if origin.load < origin.capacity * fill:
        return origin.id
    free = [n for n in relays if n.load < n.capacity]
    if free:
        return min(free, key=lambda n: (n.load / max(1, n.capacity), n.id)).id
    return select_node(others)


def may_be_relayed(role: ClassRole, mode: RoomMode) -> bool:
    """Whether one joining in ``role`` may be served by a relay node of the class: one who only
    watches a lecture. Publishers (the teacher, a presenting guest) and everyone in a seminar,
    where learners turn their cameras on themselves, join the origin, where the publications
    are; a relay viewer given the floor later is served from its relay as well (``cascade``)."""
    return role not in PUBLISHERS and mode is RoomMode.LECTURE


class Arrivals:
    """The people still to come to the classes placed on each node lately: a class's people
    arrive over minutes after it is placed; those already in it are counted once."""

    def __init__(self, settling: float = PLACED_SETTLING) -> None:
        self._settling = settling
        self._recent: dict[str, deque[tuple[float, int, int]]] = {}  # (when, class, people)

    def placed(self, node: str, class_id: int, expected: int, now: float) -> None:
        self._recent.setdefault(node, deque()).append((now, class_id, max(1, expected)))

    def coming(
        self, node: str, now: float, present: Callable[[int], int], but: int | None = None
    ) -> int:
        """How many more people the classes placed on ``node`` in the last ``settling``
        seconds expect, beyond the ``present(class_id)`` already in each; ``but`` a class not
        counted (a viewer of it weighs where its own people are, not where they may come)."""
        recent = self._recent.setdefault(node, deque())
        while recent and now - recent[0][0] > self._settling:
            recent.popleft()
        return sum(
            max(0, expected - present(class_id))
            for _, class_id, expected in recent
            if class_id != but
        )


class Sent:
    """The people sent to each node lately (join tokens naming it), counted until a heartbeat
    of the node taken after they were sent (which shows them once they are in), or for
    ``window`` seconds at most: so that a burst of joins at a lecture's start does not all go to
    an origin whose last heartbeat still says it has room. Times are seconds since the epoch,
    as heartbeats are stamped."""

    def __init__(self, window: float = SENT_WINDOW) -> None:
        self._window = window
        self._sent: dict[str, deque[float]] = {}

    def note(self, node: str, at: float) -> None:
        self._sent.setdefault(node, deque()).append(at)

    def count(self, node: str, now: float, seen: float) -> int:
        """Those sent to ``node`` after its heartbeat of ``seen``."""
        sent = self._sent.setdefault(node, deque())
        while sent and now - sent[0] > self._window:
            sent.popleft()
        return sum(1 for at in sent if at > seen)
