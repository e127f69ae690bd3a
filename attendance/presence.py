"""Presence in a class, derived from the ledger: intervals per person, time present, and whether
the class was held (a host live long enough, a learner in it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from access.events import EventKind

from .models import CLOSES, OPENS, LedgerEvent, counts


@dataclass(frozen=True, slots=True)
class Interval:
    start: float
    end: float | None  # None while still present


def seconds_present(
    intervals: Iterable[Interval],
    now: float,
    start: float = float("-inf"),
    end: float = float("inf"),
) -> float:
    """Time present between ``start`` and ``end``; an interval still open counts until
    ``now``."""
    total = 0.0
    for i in intervals:
        a, b = max(i.start, start), min(i.end if i.end is not None else now, end)
        total += max(0.0, b - a)
    return total


def intervals_by_user(
    events: Iterable[LedgerEvent], grace: float = 0.0
) -> dict[int, list[Interval]]:
    """Presence intervals per user, in ledger order.

    A participant's interval opens on joined/reconnected and closes on left/removed; a second
    open while one is open (a second tab taking over) does not start a new interval. A
    disconnect followed by a return within ``grace`` seconds is one interval, the gap
    included; a longer one ends the interval at the disconnect. The class ending closes
    whatever is still open.
    """
    open_since: dict[int, float] = {}
    dropped_at: dict[int, float] = {}  # disconnected, may come back within the grace period
    out: dict[int, list[Interval]] = {}

    def close(uid: int, end: float) -> None:
        out.setdefault(uid, []).append(Interval(open_since.pop(uid), end))

    for le in events:
        ev = le.event
        if not counts(ev.data):
            continue
        if ev.kind is EventKind.CLASS_ENDED:
            for gone, dropped in dropped_at.items():
                close(gone, dropped)
            dropped_at.clear()
            for still in list(open_since):
                close(still, ev.origin_time)
            continue
        uid = ev.user_id
        if uid is None:
            continue
        if ev.kind in OPENS:
            back = dropped_at.pop(uid, None)
            if back is not None and ev.origin_time - back > grace:
                close(uid, back)
            open_since.setdefault(uid, ev.origin_time)
        elif ev.kind in CLOSES and uid in open_since and uid not in dropped_at:
            if ev.kind is EventKind.DISCONNECTED and grace > 0:
                dropped_at[uid] = ev.origin_time
            else:
                close(uid, ev.origin_time)
        elif ev.kind in CLOSES and uid in dropped_at and ev.kind is not EventKind.DISCONNECTED:
            close(uid, dropped_at.pop(uid))  # gone for good while away: ends at the drop
    for gone, dropped in dropped_at.items():
        close(gone, dropped)
    for uid, start in open_since.items():
        out.setdefault(uid, []).append(Interval(start, None))
    return out


def hosts_live_seconds(events: Sequence[LedgerEvent], host_ids: Iterable[int], now: float) -> float:
    """How long a host (the teacher, or a guest who presents) has been live in the class —
    time when several were there at once counted once; a stay still open counts until now."""
    by_user = intervals_by_user(events)
    spans = sorted(
        (i.start, i.end if i.end is not None else now)
        for h in set(host_ids)
        for i in by_user.get(h, ())
    )
    hosts_live, reach = 0.0, float("-inf")
    for a, b in spans:  # the length of the union of the hosts' stays
        if b > reach:
            hosts_live += b - max(a, reach)
            reach = b
    return hosts_live


def held(
    events: Sequence[LedgerEvent],
    learner_ids: Iterable[int],
    host_ids: Iterable[int],
    min_live_seconds: float,
    now: float,
) -> bool:
    """A class was held if a host (the teacher, or a guest who presents) was live long enough
    — time when several were there at once counted once — and at least one learner joined."""
    by_user = intervals_by_user(events)
    live = hosts_live_seconds(events, host_ids, now)
    return live >= min_live_seconds and any(by_user.get(u) for u in learner_ids)
