"""What a media node may put on the event stream, read back without Redis."""

from __future__ import annotations

import json

import pytest

from access.events import MEDIA_KINDS, EventKind
from access.ids import uuid7
from streaming.redis_events import decode


def test_a_media_node_reports_only_the_media_kinds() -> None:
    # A kind the control plane records itself, arriving from the media plane, is not an event.
    assert {EventKind.MARK_OVERRIDDEN, EventKind.LOBBY_ENTERED} & MEDIA_KINDS == set()
    # Quick questions happen in a room: in a cluster they travel as any other event of it.
    questions = {EventKind.QUESTION_ASKED, EventKind.QUESTION_ANSWERED, EventKind.QUESTION_CLOSED}
    assert questions <= MEDIA_KINDS
    # So do breakout groups: a class and its groups live on one node.
    groups = {EventKind.BREAKOUT_OPENED, EventKind.BREAKOUT_MOVED, EventKind.BREAKOUT_CLOSED}
    assert groups <= MEDIA_KINDS
    doc = {
        "id": str(uuid7()), "class_id": 1, "node": "n", "seq": 1, "origin_time": 1.0,
        "user_id": 2, "participant_id": None, "role": None, "data": {},
    }  # fmt: skip
    for kind in EventKind:
        fields = {"event": json.dumps({**doc, "kind": kind.value})}
        if kind in MEDIA_KINDS:
            assert decode(fields).kind is kind
        else:
            with pytest.raises(ValueError, match="not an event a media node reports"):
                decode(fields)
    with pytest.raises(ValueError, match="not a valid EventKind"):
        decode({"event": json.dumps({**doc, "kind": "teleported"})})
