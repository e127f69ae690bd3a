"""A class's recordings as its ledger names them: ours, still kept, newest first."""

from __future__ import annotations

from access.events import EventKind
from attendance.models import IncomingEvent, LedgerEvent
from attendance.recordings import recorded

A, B = "20260302T050000Z-camera.webm", "20260302T060000.123Z-chat.jsonl"


def _stopped(seq: int, *files: str) -> LedgerEvent:
    event = IncomingEvent(
        f"e{seq}", EventKind.RECORDING_STOPPED, 3, "n1", seq, 100.0 * seq, data={"files": files}
    )
    return LedgerEvent(seq, event, 0.0, "0" * 64, "1" * 64)


def test_the_kept_files_of_stopped_recordings() -> None:
    events = [_stopped(1, A, "notes.txt"), _stopped(2, B, "20260302T070000Z-screen.webm")]
    found = recorded(events, lambda name: name != "20260302T070000Z-screen.webm")
    assert [(r.name, r.kind, r.at) for r in found] == [(B, "chat", 200.0), (A, "camera", 100.0)]
    assert not found[0].screen
