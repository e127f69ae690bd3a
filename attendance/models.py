"""Ledger events and the hash chain that links them. Free of storage and I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from access.events import EventKind

GENESIS = "0" * 64


# Kinds that open and close a person's presence in the class.
OPENS = frozenset({EventKind.JOINED, EventKind.RECONNECTED})
CLOSES = frozenset({EventKind.LEFT, EventKind.DISCONNECTED, EventKind.REMOVED})

# In an event's data: why the event is kept in the record but not counted. A media node declared
# dead had its stays closed at its last heartbeat; what it reports after that (it was cut off
# from Redis, or replays an old buffer) is kept, and does not reopen or cut anyone's stay.
IGNORED = "ignored"
NODE_DECLARED_DEAD = "node_declared_dead"


def counts(data: dict[str, Any]) -> bool:
    """Whether an event with this data counts for presence and the class's start and end."""
    return not data.get(IGNORED)


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """An event as the media plane reports it, before the ledger stamps and chains it."""

    id: str
    kind: EventKind
    class_id: int
    node: str
    node_seq: int
    origin_time: float
    user_id: int | None = None
    participant_id: str | None = None
    role: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 64:
            raise ValueError("An event needs an id of at most 64 characters")
        if self.node_seq < 0:
            raise ValueError("node_seq must not be negative")


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """An event as committed: stamped with its received time and chained to its predecessor."""

    seq: int
    event: IncomingEvent
    received_time: float
    prev_hash: str
    hash: str


def canonical(event: IncomingEvent, received_time: float) -> bytes:
    """The bytes the hash covers: every stored field, in a fixed JSON form."""
    doc = {
        "id": event.id,
        "kind": event.kind.value,
        "class_id": event.class_id,
        "node": event.node,
        "node_seq": event.node_seq,
        # Floats always (SQLite gives back 0.0 for an integer 0 stored as REAL).
        "origin_time": round(float(event.origin_time), 6),
        "received_time": round(float(received_time), 6),
        "user_id": event.user_id,
        "participant_id": event.participant_id,
        "role": event.role,
        "data": event.data,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, event: IncomingEvent, received_time: float) -> str:
    h = hashlib.sha256()
    h.update(prev_hash.encode("ascii"))
    h.update(b"\n")
    h.update(canonical(event, received_time))
    return h.hexdigest()
