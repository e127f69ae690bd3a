"""The seminar's rules, free of aiohttp and aiortc: who publishes without the floor, what a
viewer shows, who the active speaker is, and the quality each publisher is asked to send.

The room (``seminar_room``) applies them; the media backend only measures (audio levels) and
holds tracks back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from access.models import PUBLISHERS, ClassRole, RoomMode

# Who turns on camera and microphone without the floor in seminar mode: students and guests
# (observers only look in).
SEMINAR_PUBLISHERS = frozenset({ClassRole.LEARNER, ClassRole.GUEST})

MAX_VIEW_TILES = 50  # sources one ``view`` may show in gallery tiles (a page shows 25)

# Audio levels are the RTP ssrc-audio-level header extension's: -dBov, 0 (loudest) to 127
# (silence). Speech at a normal distance from a microphone is -20 to -45 dBov; a quiet room
# with its noise suppressed stays below -60. Louder than this (a lower number) is speech.
SPEECH_LEVEL = 60
SPEAKER_TICK = 0.2  # seconds between two looks at the levels (about 10 audio packets)

Quality = Literal["full", "thumbnail", "small"]

# A gallery of more tiles than this shows each in a small box (a 1280 px window's 4×4 grid and
# up: boxes of 300 px and less): its cameras are asked for small pictures, so that 24 tiles and a
# stage fit in a viewer's 2.5 Mbit/s (gallery.js holds the sizes and bitrates of each level).
SMALL_TILES_ABOVE = 9


def publishes_freely(role: ClassRole, mode: RoomMode) -> bool:
    """Whether a participant may publish camera and microphone without being given the floor:
    the teacher and a presenting guest always, learners and guests in seminar mode."""
    return role in PUBLISHERS or (mode is RoomMode.SEMINAR and role in SEMINAR_PUBLISHERS)


@dataclass(frozen=True, slots=True)
class ViewSelection:
    """Which sources' camera video a viewer shows: gallery tiles and the stage."""

    tiles: frozenset[str]
    stage: str | None = None

    def shows(self, source_id: str) -> bool:
        return source_id == self.stage or source_id in self.tiles


def quality(mode: RoomMode, staged: bool, leads: bool, fewest_tiles: int | None = 1) -> Quality:
    """What a publisher's camera is asked to send: full while some viewer has it on the stage
    (in lecture mode the teacher, a presenter and whoever has the floor are always watched in
    full); thumbnails while some viewer shows it in a gallery of at most ``SMALL_TILES_ABOVE``
    tiles; small pictures when every gallery it is in is larger, or nobody shows it.
    ``fewest_tiles``: the tiles of the smallest gallery it is in (None: in none)."""
    if staged or (mode is RoomMode.LECTURE and leads):
        return "full"
    if fewest_tiles is not None and fewest_tiles <= SMALL_TILES_ABOVE:
        return "thumbnail"
    return "small"


@dataclass(slots=True)
class SpeakerSelector:
    """The active speaker, with hysteresis: a new speaker must be the loudest above
    ``threshold`` for ``hold`` seconds on end, so a cough or a word in passing does not move
    the stage. The speaker stays while nobody else qualifies (silence included) and is dropped
    at once when they can no longer be heard (left, stopped publishing, muted)."""

    hold: float
    threshold: int = SPEECH_LEVEL
    current: str | None = None
    _contender: str | None = field(default=None, repr=False)
    _since: float = field(default=0.0, repr=False)

    def observe(self, levels: Mapping[str, int | None], now: float) -> bool:
        """Take the levels heard since the last look (source → level, None for no packet), at
        ``now`` (seconds, any monotonic clock). Only those who may be heard are given. Returns
        whether the active speaker changed."""
        changed = False
        if self.current is not None and self.current not in levels:
            self.current, changed = None, True
        loud = sorted(
            (level, source)
            for source, level in levels.items()
            if level is not None and level <= self.threshold
        )
        loudest = loud[0][1] if loud else None
        if loudest is None or loudest == self.current:
            self._contender = None
            return changed
        if loudest != self._contender:
            self._contender, self._since = loudest, now
        if now - self._since >= self.hold:
            self.current, self._contender = loudest, None
            return True
        return changed
