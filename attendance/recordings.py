"""A class's recordings as the ledger tells them, free of HTTP: which files of a class's folder
are recordings and what each holds, and those a class's ``RECORDING_STOPPED`` events name that
are still kept (the recorder and its names are ``streaming.recording_control``'s)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from access.events import EventKind

from .models import LedgerEvent

# A recording's files: the video of the teacher's camera and screen, of a presenting guest's
# (``presenter-``, a second one ``presenter-2-``), of a student's camera given with the floor
# (``student-``), and the chat's sidecar (JSON lines); see ``streaming.recording_control``.
# Older recordings are named to the second, newer ones to the millisecond.
RECORDING_NAME = re.compile(
    r"^\d{8}T\d{6}(\.\d{3})?Z-"
    r"(camera|screen|presenter(?:-\d{1,3})?-(?:camera|screen)|student(?:-\d{1,3})?-camera|chat)"
    r"\.(webm|jsonl)$"
)
RECORDING_TYPES = {"webm": "video/webm", "jsonl": "application/jsonl; charset=utf-8"}


def recording_kind(name: str) -> str | None:
    """camera, screen, presenter-camera, presenter-screen, student-camera or chat: what a file
    of a recording holds (None: not one of ours)."""
    m = RECORDING_NAME.match(name)
    if m is None or (m.group(2) == "chat") != (m.group(3) == "jsonl"):
        return None
    return re.sub(r"-\d+-", "-", m.group(2))


@dataclass(frozen=True, slots=True)
class Recorded:
    name: str
    kind: str
    at: float  # when the recording stopped (UTC seconds)

    @property
    def screen(self) -> bool:
        return self.kind.endswith("screen")


def recorded(events: Iterable[LedgerEvent], kept: Callable[[str], bool]) -> list[Recorded]:
    """The files a class's stopped recordings name that are ours and still ``kept``, newest
    first."""
    out = []
    for le in events:
        if le.event.kind is not EventKind.RECORDING_STOPPED:
            continue
        for name in le.event.data.get("files", []):
            kind = recording_kind(str(name))
            if kind is not None and kept(name):
                out.append(Recorded(name, kind, le.event.origin_time))
    return sorted(out, key=lambda r: str(r.name), reverse=True)
