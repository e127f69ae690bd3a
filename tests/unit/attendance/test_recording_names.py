"""Which files of a class's folder are recordings, and what each holds."""

from __future__ import annotations

import pytest

from attendance.recordings import recording_kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("20261207T021830.091Z-camera.webm", "camera"),
        ("20261207T021830Z-screen.webm", "screen"),
        ("20261207T021830.091Z-presenter-camera.webm", "presenter-camera"),
        ("20261207T021830.091Z-presenter-2-screen.webm", "presenter-screen"),
        ("20261207T021830.091Z-student-camera.webm", "student-camera"),
        ("20261207T021830.091Z-student-3-camera.webm", "student-camera"),
        ("20261207T021830.091Z-chat.jsonl", "chat"),
        ("20261207T021830.091Z-student-screen.webm", None),  # a student's screen is never kept
        ("20261207T021830.091Z-presenter-camera.jsonl", None),
        ("20261207T021830.091Z-presenter--camera.webm", None),
        ("../20261207T021830.091Z-camera.webm", None),
    ],
)
def test_a_recordings_file_is_known_by_its_name(name: str, kind: str | None) -> None:
    assert recording_kind(name) == kind
