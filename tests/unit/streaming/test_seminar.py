"""The seminar's rules without a room: who publishes freely, the mode a class starts in, the
view, the quality asked of a publisher, and the active speaker's hysteresis."""

from __future__ import annotations

import pytest

from access.models import ClassRole, RoomMode
from scheduler.models import ClassKind, room_mode
from streaming.protocol import MAX_ID_CHARS, ProtocolError, parse_client_message
from streaming.seminar import (
    MAX_VIEW_TILES,
    SMALL_TILES_ABOVE,
    SpeakerSelector,
    ViewSelection,
    publishes_freely,
    quality,
)

LOUD, SOFT, SILENT = 12, 40, 127


def test_the_class_kind_gives_the_mode_a_room_starts_in() -> None:
    seminars = {ClassKind.SEMINAR, ClassKind.PRACTICAL, ClassKind.CONSULTATION}
    for kind in ClassKind:
        assert room_mode(kind) is (RoomMode.SEMINAR if kind in seminars else RoomMode.LECTURE)


def test_who_publishes_without_the_floor() -> None:
    for role in (ClassRole.HOST, ClassRole.PRESENTER):
        assert publishes_freely(role, RoomMode.LECTURE)
        assert publishes_freely(role, RoomMode.SEMINAR)
    for role in (ClassRole.LEARNER, ClassRole.GUEST):
        assert not publishes_freely(role, RoomMode.LECTURE)
        assert publishes_freely(role, RoomMode.SEMINAR)
    assert not publishes_freely(ClassRole.OBSERVER, RoomMode.SEMINAR)


def test_a_view_shows_its_tiles_and_its_stage() -> None:
    view = ViewSelection(frozenset({"a", "b"}), "c")
    assert view.shows("a") and view.shows("c") and not view.shows("d")
    assert not ViewSelection(frozenset()).shows("a")


def test_quality_is_full_on_a_stage_or_for_a_lecture_s_lead() -> None:
    assert quality(RoomMode.SEMINAR, staged=True, leads=False) == "full"
    assert quality(RoomMode.SEMINAR, staged=False, leads=True) == "thumbnail"
    assert quality(RoomMode.LECTURE, staged=False, leads=True) == "full"
    assert quality(RoomMode.LECTURE, staged=False, leads=False) == "thumbnail"


def test_a_camera_only_in_large_galleries_is_asked_for_small_pictures() -> None:
    """24 tiles and a stage must fit a viewer's 2.5 Mbit/s: a camera that every viewer shows
    among more than 9 tiles (or none shows) sends small pictures; one viewer with a smaller
    gallery is enough for thumbnails, a stage for full."""
    assert quality(RoomMode.SEMINAR, False, False, fewest_tiles=24) == "small"
    assert quality(RoomMode.SEMINAR, False, False, fewest_tiles=SMALL_TILES_ABOVE + 1) == "small"
    assert quality(RoomMode.SEMINAR, False, False, fewest_tiles=None) == "small"
    assert quality(RoomMode.SEMINAR, False, False, fewest_tiles=SMALL_TILES_ABOVE) == "thumbnail"
    assert quality(RoomMode.SEMINAR, True, False, fewest_tiles=24) == "full"
    assert quality(RoomMode.LECTURE, False, True, fewest_tiles=None) == "full"


def test_a_new_speaker_must_be_the_loudest_for_the_hold() -> None:
    s = SpeakerSelector(hold=1.0)
    assert not s.observe({"a": SILENT, "b": None}, 0.0) and s.current is None
    assert not s.observe({"a": LOUD, "b": SILENT}, 0.2)  # a starts speaking
    assert not s.observe({"a": LOUD, "b": SILENT}, 1.0)  # not yet a second on end
    assert s.observe({"a": LOUD, "b": SILENT}, 1.2) and s.current == "a"
    # A cough from b, shorter than the hold, does not move the stage; silence keeps a.
    assert not s.observe({"a": SOFT, "b": LOUD}, 2.0)
    assert not s.observe({"a": SOFT, "b": SILENT}, 2.5)
    assert not s.observe({"a": None, "b": None}, 9.0) and s.current == "a"
    # b louder than a for the whole hold: b speaks.
    assert not s.observe({"a": SOFT, "b": LOUD}, 10.0)
    assert not s.observe({"a": SOFT, "b": LOUD}, 10.5)
    assert s.observe({"a": SOFT, "b": LOUD}, 11.0) and s.current == "b"


def test_an_interrupted_contender_starts_its_hold_again() -> None:
    s = SpeakerSelector(hold=1.0)
    s.observe({"a": LOUD}, 0.0)
    s.observe({"a": SILENT}, 0.9)  # paused: the hold starts over
    assert not s.observe({"a": LOUD}, 1.0)
    assert not s.observe({"a": LOUD}, 1.9)
    assert s.observe({"a": LOUD}, 2.0) and s.current == "a"


def test_below_the_threshold_nobody_speaks_and_one_who_cannot_be_heard_is_dropped() -> None:
    s = SpeakerSelector(hold=0.0, threshold=60)
    assert not s.observe({"a": 61, "b": 90}, 0.0) and s.current is None
    assert s.observe({"a": 60}, 0.1) and s.current == "a"
    # a leaves (or is muted): no longer among those heard, no longer the speaker, at once.
    assert s.observe({"b": SILENT}, 0.2) and s.current is None
    assert not s.observe({"b": SILENT}, 0.3)


def test_equal_levels_are_broken_by_source_id() -> None:
    s = SpeakerSelector(hold=0.0)
    assert s.observe({"b": LOUD, "a": LOUD}, 0.0) and s.current == "a"


def test_view_and_mode_messages_are_validated() -> None:
    m = parse_client_message('{"v": 1, "type": "view", "tiles": ["a", "b"], "stage": "a"}')
    assert (m.type, m.tiles, m.stage) == ("view", ("a", "b"), "a")
    m = parse_client_message('{"v": 1, "type": "view", "tiles": [], "stage": null}')
    assert (m.tiles, m.stage) == ((), None)
    assert parse_client_message('{"v": 1, "type": "set_mode", "mode": "seminar"}').mode is (
        RoomMode.SEMINAR
    )
    too_many = ", ".join(f'"s{i}"' for i in range(MAX_VIEW_TILES + 1))
    for bad in (
        '"type": "view"',
        '"type": "view", "tiles": "a"',
        '"type": "view", "tiles": [1]',
        '"type": "view", "tiles": [""]',
        f'"type": "view", "tiles": ["{"x" * (MAX_ID_CHARS + 1)}"]',
        '"type": "view", "tiles": [null]',
        f'"type": "view", "tiles": [{too_many}]',
        '"type": "view", "tiles": [], "stage": 3',
        '"type": "view", "tiles": [], "stage": ["a"]',
        '"type": "set_mode"',
        '"type": "set_mode", "mode": "gallery"',
        '"type": "set_mode", "mode": ["seminar"]',
    ):
        with pytest.raises(ProtocolError) as caught:
            parse_client_message(f'{{"v": 1, {bad}}}')
        assert caught.value.code == "bad_message", bad
