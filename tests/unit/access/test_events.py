"""The one event vocabulary of the media plane and the ledger."""

from __future__ import annotations

from access.events import EventKind


def test_the_one_event_vocabulary_keeps_the_values_stored_in_chains() -> None:
    # The kinds are hashed into every chain already written: a renamed value would fail the
    # verification of those chains.
    assert {k.name: k.value for k in EventKind} == {
        "CLASS_STARTED": "class_started",
        "CLASS_ENDED": "class_ended",
        "JOINED": "joined",
        "LEFT": "left",
        "DISCONNECTED": "disconnected",
        "RECONNECTED": "reconnected",
        "REMOVED": "removed",
        "RECORDING_STARTED": "recording_started",
        "RECORDING_STOPPED": "recording_stopped",
        "CHAT_MESSAGE": "chat_message",
        "MARK_OVERRIDDEN": "mark_overridden",
        "LOBBY_ENTERED": "lobby_entered",
        "LOBBY_ADMITTED": "lobby_admitted",
        "QUESTION_ASKED": "question_asked",
        "QUESTION_ANSWERED": "question_answered",
        "QUESTION_CLOSED": "question_closed",
        "BREAKOUT_OPENED": "breakout_opened",
        "BREAKOUT_MOVED": "breakout_moved",
        "BREAKOUT_CLOSED": "breakout_closed",
    }
