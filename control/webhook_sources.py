"""What the portal is told about, read through the methods the domain stores offer: the
timetable's change log, the attendance ledger, the steps of guest and of excuse requests, and
learners' admission changes. Each is append-only with an increasing position; each record
becomes an event (its name, its class, its lane, its payload) or nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from access.events import EventKind
from admission.guests import GuestAction, GuestStep
from admission.models import ExcuseAction, ExcuseStep
from admission.status import AdmissionChange
from attendance.models import LedgerEvent, counts
from scheduler.models import TimetableAction, TimetableChange

BATCH = 500  # records read from a source at a time

Shape = tuple[str, int | None, str, dict[str, Any]]  # event, class id, lane, payload


@dataclass(frozen=True, slots=True)
class Record:
    """A source's record as the collector merges them: by when it happened, then position."""

    happened: float
    position: int
    shape: Shape | None  # None: the portal is not told


# -- the ports: what each domain store offers those who follow it -------------------------------
class TimetableLog(Protocol):
    def changes_after(
        self, position: int, limit: int = ...
    ) -> list[tuple[int, TimetableChange]]: ...

    def last_change_id(self) -> int: ...


class Ledger(Protocol):
    def events_after(self, seq: int, limit: int = ...) -> list[LedgerEvent]: ...

    def chain_length_at(self, class_id: int, seq: int) -> int: ...

    def last_seq(self) -> int: ...


class GuestSteps(Protocol):
    def steps_after(self, position: int, limit: int = ...) -> list[tuple[int, int, GuestStep]]: ...

    def last_step_id(self) -> int: ...


class ExcuseSteps(Protocol):
    def steps_after(self, position: int, limit: int = ...) -> list[tuple[int, int, ExcuseStep]]: ...

    def last_step_id(self) -> int: ...


class AdmissionChanges(Protocol):
    def changes_after(self, position: int, limit: int = ...) -> list[AdmissionChange]: ...

    def last_change_id(self) -> int: ...


# -- what each source's records become ----------------------------------------------------------
TIMETABLE_EVENTS = {
    TimetableAction.PLANNED: "class.planned",
    TimetableAction.MOVED: "class.moved",
    TimetableAction.CANCELLED: "class.cancelled",
    TimetableAction.SWITCHED_ONLINE: "class.switched_online",
    TimetableAction.SWITCH_UNDONE: "class.switch_undone",
    TimetableAction.SWITCH_MADE: "switch.made",
    TimetableAction.SWITCH_LIFTED: "switch.lifted",
    TimetableAction.MISSED: "class.missed",
    TimetableAction.ALERT: "guarantee.alert",
}
LEDGER_EVENTS = {
    EventKind.CLASS_STARTED: "class.started",
    EventKind.CLASS_ENDED: "class.ended",
    EventKind.JOINED: "participant.joined",
    EventKind.RECONNECTED: "participant.joined",
    EventKind.LEFT: "participant.left",
    EventKind.DISCONNECTED: "participant.left",
    EventKind.REMOVED: "participant.left",
}
HOW_LEFT = frozenset(
    {EventKind.LEFT, EventKind.DISCONNECTED, EventKind.REMOVED, EventKind.RECONNECTED}
)
GUEST_ACTIONS = frozenset(
    {GuestAction.FILED, GuestAction.APPROVED, GuestAction.REJECTED, GuestAction.REVOKED}
)
EXCUSE_DECISIONS = frozenset({ExcuseAction.APPROVED, ExcuseAction.REJECTED})


def timetable_shape(c: TimetableChange) -> Shape | None:
    event = TIMETABLE_EVENTS.get(c.action)
    if event is None:
        return None
    if c.class_id:
        lane = f"class:{c.class_id}"
    elif c.switch_id:
        lane = f"switch:{c.switch_id}"
    else:
        lane = f"group:{c.group_id}"
    payload: dict[str, Any] = {
        "class_id": c.class_id, "group_id": c.group_id, "by": c.by_name, "reason": c.reason,
        "at": c.at,
    }  # fmt: skip
    if c.switch_id is not None:  # the emergency switch that made or undid the change
        payload["switch_id"] = c.switch_id
    return event, c.class_id, lane, payload


def ledger_shape(le: LedgerEvent, chain_length: Callable[[int, int], int]) -> Shape | None:
    ev = le.event
    event = LEDGER_EVENTS.get(ev.kind)
    if event is None:
        return None
    if not counts(ev.data):
        return None  # kept in the register, not counted: the portal is not told
    payload: dict[str, Any] = {
        "class_id": ev.class_id, "at": ev.origin_time, "user_id": ev.user_id, "role": ev.role,
    }  # fmt: skip
    if ev.kind is EventKind.CLASS_ENDED:  # the chain head, to check the register against
        payload["chain_head"] = {"events": chain_length(ev.class_id, le.seq), "hash": le.hash}
    if ev.kind in HOW_LEFT:
        payload["how"] = ev.kind.value
    if ev.role in ("guest", "presenter") and ev.kind is EventKind.JOINED:
        event = "guest.joined"
    return event, ev.class_id, f"class:{ev.class_id}", payload


def guest_shape(class_id: int, s: GuestStep) -> Shape | None:
    if s.action not in GUEST_ACTIONS:
        return None
    return f"guest_request.{s.action.value}", class_id, f"class:{class_id}", {
        "request_id": s.request_id, "class_id": class_id, "by": s.actor_name,
        "comment": s.comment, "at": s.at,
    }  # fmt: skip


def excuse_shape(learner_id: int, s: ExcuseStep) -> Shape | None:
    if s.action not in EXCUSE_DECISIONS:
        return None
    return "excuse_request.decided", None, f"excuse:{s.request_id}", {
        "request_id": s.request_id, "learner_id": learner_id, "decision": s.action.value,
        "by": s.actor_name, "comment": s.comment, "at": s.at,
    }  # fmt: skip


def admission_shape(c: AdmissionChange) -> Shape:
    return "admission.changed", None, f"learner:{c.learner_id}", {
        "change_id": c.id, "learner_id": c.learner_id, "programme_id": c.key.programme_id,
        "discipline_id": c.key.discipline_id, "admitted": c.admitted,
        "reason": c.reason.value if c.reason is not None else None, "note": c.note,
        "by": c.by_name, "at": c.at,
    }  # fmt: skip


class Sources:
    """The five sources, by the names the collector's cursors are kept under."""

    NAMES = ("timetable", "ledger", "guests", "excuses", "admission")

    def __init__(
        self,
        timetable: TimetableLog,
        ledger: Ledger,
        guests: GuestSteps,
        excuses: ExcuseSteps,
        admission: AdmissionChanges,
    ) -> None:
        self._timetable = timetable
        self._ledger = ledger
        self._guests = guests
        self._excuses = excuses
        self._admission = admission

    def after(self, source: str, position: int) -> list[Record]:
        """The source's next records after ``position``, oldest first (at most ``BATCH``)."""
        if source == "timetable":
            return [
                Record(c.at, p, timetable_shape(c))
                for p, c in self._timetable.changes_after(position, BATCH)
            ]
        if source == "ledger":
            return [
                Record(le.received_time, le.seq, ledger_shape(le, self._ledger.chain_length_at))
                for le in self._ledger.events_after(position, BATCH)
            ]
        if source == "guests":
            return [
                Record(s.at, p, guest_shape(c, s))
                for p, c, s in self._guests.steps_after(position, BATCH)
            ]
        if source == "excuses":
            return [
                Record(s.at, p, excuse_shape(learner, s))
                for p, learner, s in self._excuses.steps_after(position, BATCH)
            ]
        if source == "admission":
            return [
                Record(c.at, c.id, admission_shape(c))
                for c in self._admission.changes_after(position, BATCH)
            ]
        raise KeyError(source)

    def top(self, source: str) -> int:
        """The position of the source's newest record (0: none)."""
        return {
            "timetable": self._timetable.last_change_id,
            "ledger": self._ledger.last_seq,
            "guests": self._guests.last_step_id,
            "excuses": self._excuses.last_step_id,
            "admission": self._admission.last_change_id,
        }[source]()
