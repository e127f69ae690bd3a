"""The seminar in a room: its mode, each viewer's view, the active speaker and the quality
each publisher is asked to send. The rules are ``seminar``'s; this applies them."""

from __future__ import annotations

import asyncio
import logging

from access.models import PUBLISHERS, RoomMode

from .classroom import ClassroomMixin
from .media_ports import HearsAudioLevel
from .participant import Floor, Participant
from .protocol import server_message
from .seminar import SPEAKER_TICK, ViewSelection, publishes_freely, quality

log = logging.getLogger("sabaq.streaming.room")


class SeminarMixin(ClassroomMixin):
    """Seminar mode, views, the active speaker, quality hints."""

    def settle_mode(self, mode: RoomMode) -> None:
        """The mode the class starts in, as a join token says (from the class's kind): taken
        from the first token that says it, unless the teacher chose already."""
        if not self._mode_settled:
            self._mode_settled = True
            self.mode = mode
            self.was_seminar = self.was_seminar or mode is RoomMode.SEMINAR

    async def set_mode(self, pid: str, mode: RoomMode) -> None:
        """The teacher switches between lecture and seminar; everyone is told (``mode``).
        Into lecture mode, learners publishing without the floor (or a camera the floor does
        not allow) have their publications stopped."""
        by = self._require_host(pid)
        self._mode_settled = True
        if mode is self.mode:
            await by.send("mode", mode=mode.value)
            return
        self.mode = mode
        self.was_seminar = self.was_seminar or mode is RoomMode.SEMINAR
        await self._broadcast(server_message("mode", mode=mode.value))
        if mode is RoomMode.LECTURE:
            for p in list(self.participants.values()):
                await self._stop_unless_allowed(p)
        await self._tell_quality()

    async def _stop_unless_allowed(self, p: Participant) -> None:
        """In lecture mode: a learner's publication stops unless the floor allows it. One
        with the floor for sound only who sent a camera is asked to publish sound again."""
        main = p.publications.get("main")
        if main is None or publishes_freely(p.role, self.mode_for(p)):
            return
        if p.floor is Floor.AUDIO_VIDEO or (p.floor is Floor.AUDIO and "camera" not in main.tracks):
            return
        await self.unpublish(p.id, "main")
        if p.floor is Floor.AUDIO:
            await p.send("floor_granted", camera=False)

    async def set_view(self, pid: str, tiles: tuple[str, ...], stage: str | None) -> None:
        """The viewer shows these sources' camera video (gallery tiles and the stage): every
        other camera is held back from it; one shown again starts from a keyframe."""
        p = self._get(pid)
        p.view = ViewSelection(frozenset(tiles), stage)
        self._rehold(p)
        await self._tell_quality()

    async def _state_told(self) -> None:
        await self._tell_quality()

    async def _tell_quality(self) -> None:
        """Each camera publisher is told (only when it changes) whether to send full quality
        or thumbnails."""
        staged: dict[str, set[str]] = {}
        for q in self.participants.values():
            if q.view is not None and q.view.stage is not None:
                staged.setdefault(q.view.stage, set()).add(q.id)
        # A viewer in another breakout group is sent nothing of it: it does not count.
        where = {q.id: q.group for q in self.participants.values()}
        for p in list(self.participants.values()):
            main = p.publications.get("main")
            if main is None or "camera" not in main.tracks:
                continue
            leads = p.role in PUBLISHERS or p.floor is not None
            # A viewer that has not said what it shows is taken to show it in a small gallery;
            # one in another breakout group is sent nothing of it, and does not count.
            galleries = [
                1 if q.view is None else len(q.view.tiles)
                for q in self.participants.values()
                if q.id != p.id and q.group == p.group and (q.view is None or p.id in q.view.tiles)
            ]
            watched = {q for q in staged.get(p.id, set()) - {p.id} if where.get(q) == p.group}
            level = quality(self.mode_for(p), bool(watched), leads, min(galleries, default=None))
            if level != p.quality:
                p.quality = level
                await p.send("quality", level=level)

    # -- the active speaker -------------------------------------------------------------------
    def _heard_again(self) -> None:
        # Everyone muted had let the watch end (nobody audible): it starts again.
        self._watch_speakers()

    def _watch_speakers(self) -> None:
        """Follow the audio levels while anyone publishes sound (started by a publication; it
        ends by itself when nobody does)."""
        if not self._speaker_watch and not self.ended:
            self._speaker_watch = True
            self._spawn(self._follow_speakers())

    def _audible(self) -> dict[str, HearsAudioLevel]:
        """Everyone who may be heard, each with the microphone whose levels are measured."""
        heard: dict[str, HearsAudioLevel] = {}
        for p in self.participants.values():
            main = p.publications.get("main")
            if (
                main is not None
                and p.microphone_on  # a muted microphone never makes its owner the speaker
                and "microphone" in main.tracks
                and isinstance(main.media, HearsAudioLevel)
            ):
                heard[p.id] = main.media
        return heard

    async def _follow_speakers(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self.ended:
                # Each breakout group (and the main room) has its own speaker, told to its own.
                heard: dict[int | None, dict[str, int | None]] = {}
                for pid, m in self._audible().items():
                    heard.setdefault(self.participants[pid].group, {})[pid] = m.take_audio_level()
                now = loop.time()
                for group in {None, *self.group_speakers, *heard}:
                    selector = self.speakers_of(group)
                    if selector.observe(heard.get(group, {}), now):
                        log.debug(
                            "class %s: the active speaker of %s is %s",
                            self.class_id,
                            "the main room" if group is None else f"group {group + 1}",
                            selector.current,
                        )
                        text = server_message("active_speaker", source=selector.current)
                        for p in list(self.participants.values()):
                            if p.group == group:
                                await p.deliver(text)
                if not heard and all(
                    self.speakers_of(g).current is None for g in {None, *self.group_speakers}
                ):
                    return  # nobody to hear: a new publication starts this again
                await asyncio.sleep(SPEAKER_TICK)
        finally:
            self._speaker_watch = False
