"""Publishing and watching: offers, answers, the viewers' connections, low bandwidth."""

from __future__ import annotations

import asyncio
import logging

from access.events import EventKind
from access.models import PUBLISHERS

from .media_ports import PublisherMedia, ViewerMedia, close_quietly
from .participant import CLOSE_MEDIA_FAILED, Floor, Participant, Publication, apply_holds
from .protocol import ProtocolError
from .recording_control import RecordingMixin
from .room_core import RoomState
from .seminar import SEMINAR_PUBLISHERS, publishes_freely

log = logging.getLogger("sabaq.streaming.room")


class MediaMixin(RecordingMixin):
    """Publications and the viewers' peer connections to them."""

    async def publish(self, pid: str, sdp: str, tracks: tuple[str, ...] = ()) -> None:
        """The teacher publishes camera and microphone, or the screen (``tracks`` is then
        exactly ``("screen",)``: a publication of its own); a learner with the floor publishes
        what the floor allows. Everyone else is offered the new media.

        ``tracks`` labels the offer's media sections in order, so that viewers can tell them
        apart."""
        p = self._get(pid)
        name = "screen" if tracks == ("screen",) else "main"
        if not await self._may_publish(p, name, tracks):
            return
        await self.unpublish(pid, name)
        pub = (p.backend or self._media).new_publisher(lambda: self._spawn(self._media_failed(p)))
        try:
            answer = await pub.accept_offer(sdp)
        except asyncio.CancelledError:
            await close_quietly(pub)  # the class ended or they left meanwhile: nothing left open
            raise
        except ConnectionError:  # a relay's link went under its viewer: a drop, not their fault
            await close_quietly(pub)
            raise
        except TimeoutError:
            await close_quietly(pub)
            await self._media_timed_out(p)
            return
        except Exception as exc:
            await close_quietly(pub)
            raise ProtocolError("bad_sdp", f"The offer was refused: {exc}") from exc
        kinds = pub.track_kinds
        if sorted(kinds) not in (["audio"], ["video"], ["audio", "video"]) or (
            name == "screen" and kinds != ("video",)
        ):
            await close_quietly(pub)
            raise ProtocolError(
                "bad_sdp", "Publish one microphone and one camera (or one screen), no more"
            )
        free = publishes_freely(p.role, self.mode_for(p))
        if not free and "video" in kinds and p.floor is not Floor.AUDIO_VIDEO:
            await close_quietly(pub)
            await p.send("error", code="camera_not_allowed", message="The floor is for sound only")
            return
        if self.participants.get(pid) is not p or not (free or p.floor):
            # Left, or lost the floor (or the seminar ended), while we negotiated.
            await close_quietly(pub)
            return
        expected = tuple("microphone" if k == "audio" else "camera" for k in kinds)
        if name == "screen":
            expected = ("screen",) * len(kinds)
        if not _tracks_match(name, tracks, kinds):
            await close_quietly(pub)
            raise ProtocolError("bad_message", "'tracks' does not match the offer's media")
        p.publications[name] = Publication(pub, tracks or expected)
        if name == "main":
            p.quality = "full"  # a new camera sender starts at full quality
        await p.send("answer", sdp=answer, publication=name)
        await self._rerecord(p)
        await self._broadcast_state()
        for q in list(self.participants.values()):
            if q is not p:
                self._spawn(self._subscribe(q, p, name))
        if name == "main":
            self._watch_speakers()

    async def _may_publish(self, p: Participant, name: str, tracks: tuple[str, ...]) -> bool:
        """Whether ``p`` may publish ``name`` now: False (nothing done) for an offer overtaken
        by a change it could not know of; an offence is refused (``ProtocolError``)."""
        # The teacher and a presenter share a screen; so does a student in a breakout group.
        shares = p.role in PUBLISHERS or (p.group is not None and p.role in SEMINAR_PUBLISHERS)
        if "screen" in tracks and (name != "screen" or not shares):
            if p.was_in_group and name == "screen":
                return False  # the groups closed while this offer was on its way: not an offence
            raise ProtocolError(
                "not_allowed",
                "Only the teacher, or a student in a breakout group, shares a screen, on its own",
            )
        if not publishes_freely(p.role, self.mode_for(p)) and p.floor is None:
            if p.had_floor:
                # The floor was taken back before this offer arrived: not an offence.
                await p.send("floor_revoked")
                return False
            if self.was_seminar and p.role in SEMINAR_PUBLISHERS:
                # The teacher switched to lecture before this offer arrived: not an offence.
                await p.send("mode", mode=self.mode.value)
                return False
            raise ProtocolError(
                "not_allowed", "Only the teacher, or whoever has the floor, publishes"
            )
        if self.state is not RoomState.LIVE:
            raise ProtocolError("bad_state", f'The class is "{self.state}", not live')
        return True

    async def unpublish(self, pid: str, name: str) -> None:
        """Stop one publication (the teacher stops sharing the screen, say)."""
        p = self._get(pid)
        old = p.publications.pop(name, None)
        if old is not None:
            await self._stop_watching(p.source_id(name))
            await self._rerecord(p)
            await close_quietly(old.media)
            await self._broadcast_state()

    async def mirror(self, source: Participant, name: str, publication: Publication) -> None:
        """On a relay node: a publication of the origin node's (``cascade``) is offered to
        everyone here as the source's own would be. The class is live: it is on the origin."""
        ghost = self.mirrored.setdefault(source.id, source)
        old = ghost.publications.get(name)
        ghost.publications[name] = publication
        if old is not None:
            await self._stop_watching(ghost.source_id(name))
            await close_quietly(old.media)
        if self.state is RoomState.WAITING:
            self.state = RoomState.LIVE
        await self._broadcast_state()
        for q in list(self.participants.values()):
            self._spawn(self._subscribe(q, ghost, name))

    async def unmirror(self, source_id: str, name: str) -> None:
        """On a relay node: the origin's publication ended (the floor taken back, a screen
        share stopped, the publisher gone)."""
        ghost = self.mirrored.get(source_id)
        old = ghost.publications.pop(name, None) if ghost is not None else None
        if ghost is None or old is None:
            return
        if not ghost.publications:
            del self.mirrored[source_id]
        await self._stop_watching(ghost.source_id(name))
        await close_quietly(old.media)
        await self._broadcast_state()

    def mirror_media_state(self, source: Participant, microphone: bool, camera: bool) -> None:
        """On a relay node: the origin's publisher turned a microphone or camera off or on."""
        if (source.microphone_on, source.camera_on) != (microphone, camera):
            source.microphone_on, source.camera_on = microphone, camera
            self._reapply_holds(source)

    async def _subscribe(self, viewer: Participant, source: Participant, name: str) -> None:
        """Offer one publication to a viewer; one offer at a time per viewer, and an offer
        overtaken by a newer publication of that source is dropped."""
        source_id = source.source_id(name)
        async with viewer.subscribing:
            publication = source.publications.get(name)
            if publication is None or viewer.closed or source.closed:
                return
            old = viewer.views.pop(source_id, None)
            if old is not None:
                await close_quietly(old)
            media = (viewer.backend or self._media).new_viewer(
                publication.media, lambda: self._spawn(self._media_failed(viewer))
            )
            try:
                offer = await media.make_offer()
            except asyncio.CancelledError:
                await close_quietly(media)  # the class ended meanwhile: nothing left open
                raise
            except Exception:
                log.exception("could not offer media to %s", viewer.id)
                await close_quietly(media)
                return
            current = (
                self.participants.get(viewer.id) is viewer
                and self._present(source)
                and source.publications.get(name) is publication
            )
            if viewer.closed or not current:
                await close_quietly(media)
                return
            # Held back (low bandwidth, not in the view, a microphone or camera turned off)
            # before the viewer's answer can start any sending, and after the last await, so a
            # choice made while this offer was prepared is honoured.
            apply_holds(viewer, source, name, media)
            viewer.views[source_id] = media
            viewer.offer_id += 1
            viewer.pending = {o: s for o, s in viewer.pending.items() if s != source_id}
            viewer.pending[viewer.offer_id] = source_id
            await viewer.send(
                "offer",
                sdp=offer,
                offer_id=viewer.offer_id,
                source=source_id,
                source_role=source.role.value,
                publisher=source.name,
                tracks=list(publication.tracks),
            )

    async def answer(self, pid: str, sdp: str, offer_id: int) -> None:
        p = self._get(pid)
        source_id = p.pending.pop(offer_id, None)
        view = p.views.get(source_id) if source_id else None
        if view is None:
            # An answer to an offer that a newer one replaced: harmless, ignored.
            log.info("participant %s: stale answer to offer %s", pid, offer_id)
            return
        try:
            await view.accept_answer(sdp)
        except ConnectionError:
            raise  # a relay's link went under its viewer (``publish``)
        except TimeoutError:
            await self._media_timed_out(p)
        except Exception as exc:
            raise ProtocolError("bad_sdp", f"The answer was refused: {exc}") from exc

    async def _media_failed(self, p: Participant) -> None:
        """A peer connection of this participant failed: they are told and disconnected (their
        page reconnects if it can); everyone else goes on."""
        await self._media_lost(p, "media_failed", "The media connection failed", "failed")

    async def _media_timed_out(self, p: Participant) -> None:
        """A relay's viewer's peer connection was not set up in time (the relay node hosting
        it did not answer the origin's request, ``cascade_origin.REQUEST_TIMEOUT``): not a
        malformed SDP of theirs. As a failed connection: told, disconnected, their page
        reconnects (maybe to another node)."""
        message = "The media server did not answer in time"
        await self._media_lost(p, "media_timeout", message, "timed out")

    async def _media_lost(self, p: Participant, code: str, message: str, how: str) -> None:
        if self.participants.get(p.id) is not p:
            return
        await p.send("error", code=code, message=message)
        await self.leave(p.id, EventKind.DISCONNECTED, f"media connection {how}")
        await p.close_ws(CLOSE_MEDIA_FAILED, f"media {how}")

    async def set_low_bandwidth(self, pid: str, on: bool) -> None:
        """A viewer's low-bandwidth choice: while on, the camera video of every source (the
        teacher, a presenting guest, a student with the floor) is held back from them; sound and
        the shared screen still come. Off, the pictures come back from a keyframe. Nothing is
        renegotiated: the viewer's connections stay as they are."""
        p = self._get(pid)
        p.low_bandwidth = on
        if on:
            self._low_bandwidth.add(p.id)
        else:
            self._low_bandwidth.discard(p.id)
        self._rehold(p)
        await p.send("low_bandwidth", on=on)

    def _rehold(self, viewer: Participant) -> None:
        """Apply the viewer's holds anew to every source it is connected to (a choice of the
        viewer changed)."""
        for source, name in self.sources():
            view = viewer.views.get(source.source_id(name))
            if view is not None:
                apply_holds(viewer, source, name, view)

    async def set_media_state(self, pid: str, microphone: bool, camera: bool) -> None:
        """A participant turns their own microphone or camera off or on. While off, it is held
        back from every viewer at once (no packet reaches anyone, even if the browser goes on
        sending); on again, it comes back (the picture from a keyframe). The choice is kept for
        a later publication and for a rejoin within the grace, and shown in the roster."""
        p = self._get(pid)
        if (p.microphone_on, p.camera_on) == (microphone, camera):
            return
        p.microphone_on, p.camera_on = microphone, camera
        self._remember_media_state(p)
        self._reapply_holds(p)
        self._rehold_recording(p)
        if microphone:
            self._heard_again()
        await self._broadcast_state()

    def _heard_again(self) -> None:
        """A microphone was turned on: the seminar's active speaker is followed again."""

    def _remember_media_state(self, p: Participant) -> None:
        if p.microphone_on and p.camera_on:
            self._media_states.pop(p.user_id, None)
        else:
            self._media_states[p.user_id] = (p.microphone_on, p.camera_on)

    def _reapply_holds(self, source: Participant) -> None:
        """The source's microphone or camera changed: every viewer's holds follow at once."""
        for name in source.publications:
            source_id = source.source_id(name)
            for viewer in list(self.participants.values()):
                view = viewer.views.get(source_id)
                if view is not None:
                    apply_holds(viewer, source, name, view)

    async def _close_media(self, p: Participant) -> None:
        media: list[PublisherMedia | ViewerMedia] = [pub.media for pub in p.publications.values()]
        media.extend(p.views.values())
        p.publications.clear()
        p.views.clear()
        p.pending.clear()
        for m in media:
            await close_quietly(m)

    async def _stop_watching(self, source_id: str) -> None:
        """Nobody watches this source any more (it left, or stopped publishing)."""
        for q in list(self.participants.values()):
            view = q.views.pop(source_id, None)
            q.pending = {o: s for o, s in q.pending.items() if s != source_id}
            if view is not None:
                await q.send("source_ended", source=source_id)
                await close_quietly(view)


def _tracks_match(name: str, tracks: tuple[str, ...], kinds: tuple[str, ...]) -> bool:
    """Whether the labels a publisher gave (if any) match the offer's media sections."""
    if tracks and len(tracks) != len(kinds):
        return False
    if name == "screen":
        return kinds == ("video",)
    return not tracks or all(
        (t == "microphone") == (k == "audio") for t, k in zip(tracks, kinds, strict=True)
    )
