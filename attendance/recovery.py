"""Closing the presence a dead node left open, from the ledger and the node's last heartbeat.

A node that stops abruptly cannot record who was in its classes. On its next start (or when the
control plane declares it dead) every interval it left open is closed by a chained event —
``disconnected`` with the reason "server stopped" — dated at the last sign of life of the node:
its last heartbeat, or a later event of the person if one came after it. Never at restart time,
which would credit the outage as presence.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from access.events import EventKind

from .models import CLOSES, OPENS, IncomingEvent, LedgerEvent, counts
from .presence import intervals_by_user

SERVER_STOPPED = "server_stopped"
PRESENCE = OPENS | CLOSES
RECOVERY_NODE = "control"
# Recovery events get ids derived from what they close, so running recovery twice (it was
# itself cut short, say) appends nothing the second time.
_NAMESPACE = uuid.UUID("5b1f6c1e-3a43-4f3e-9d0c-6a61b2c1a7e0")


def open_at_stop(
    events: Sequence[LedgerEvent], node: str, last_heartbeat: float | None
) -> list[IncomingEvent]:
    """The events that close every interval of one class that ``node`` left open."""
    if not events:
        return []
    still_open = {
        uid for uid, spans in intervals_by_user(events).items() if spans and spans[-1].end is None
    }
    if not still_open:
        return []
    last_open: dict[int, LedgerEvent] = {}
    last_seen_of: dict[int, float] = {}
    for le in events:
        uid = le.event.user_id
        if uid is None or uid not in still_open or le.event.kind not in PRESENCE:
            continue  # a staff correction, say, is no sign of the person's presence
        if not counts(le.event.data):
            continue
        last_seen_of[uid] = max(last_seen_of.get(uid, le.event.origin_time), le.event.origin_time)
        if le.event.kind in OPENS:
            last_open[uid] = le
    node_last_event = max(
        (le.event.origin_time for le in events if le.event.node == node and counts(le.event.data)),
        default=None,
    )
    sign_of_life = last_heartbeat if last_heartbeat is not None else node_last_event
    out = []
    for uid in sorted(still_open):
        opened = last_open[uid]
        if opened.event.node != node:
            continue  # hosted elsewhere: not this node's to close
        at = max(sign_of_life or 0.0, last_seen_of[uid])
        out.append(
            IncomingEvent(
                id=str(uuid.uuid5(_NAMESPACE, f"{opened.event.class_id}:{opened.event.id}")),
                kind=EventKind.DISCONNECTED,
                class_id=opened.event.class_id,
                node=RECOVERY_NODE,
                node_seq=0,
                origin_time=at,
                user_id=uid,
                participant_id=opened.event.participant_id,
                role=opened.event.role,
                data={
                    "reason": SERVER_STOPPED,
                    "node": node,
                    "heartbeat": last_heartbeat,
                },
            )
        )
    return out
