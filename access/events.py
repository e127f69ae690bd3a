"""The event vocabulary shared by both planes (DESIGN.md, "Events and commands between the
planes"): what a media node reports and what the attendance ledger stores are one set of kinds.

It sits in ``access``, the package both planes may import (``streaming`` imports only
``access``). The values are stored in the ledger and hashed into its chain: a changed value
would break the verification of every chain already written, so they never change."""

from __future__ import annotations

import enum


class EventKind(enum.StrEnum):
    CLASS_STARTED = "class_started"
    CLASS_ENDED = "class_ended"
    JOINED = "joined"
    LEFT = "left"
    DISCONNECTED = "disconnected"
    RECONNECTED = "reconnected"
    REMOVED = "removed"
    RECORDING_STARTED = "recording_started"
    RECORDING_STOPPED = "recording_stopped"
    CHAT_MESSAGE = "chat_message"  # kept with the class's record; not part of presence
    MARK_OVERRIDDEN = "mark_overridden"  # a staff member's correction, with a reason
    LOBBY_ENTERED = "lobby_entered"  # a guest opened the invite before being let in
    LOBBY_ADMITTED = "lobby_admitted"  # a guest was let in (a join token was issued)
    # Quick questions: asked (by whom, what), a named answer (who answered what; an anonymous
    # answer is never an event of its own), closed (with the tally, which is all an anonymous
    # question leaves). Not part of presence.
    QUESTION_ASKED = "question_asked"
    QUESTION_ANSWERED = "question_answered"
    QUESTION_CLOSED = "question_closed"
    # Breakout groups: opened (by whom, the groups, the duration), a participant's move (into a
    # group, or back to the main room: ``group`` null), closed (by the timer or the teacher).
    # A move is not a departure: time in a group is presence in the class.
    BREAKOUT_OPENED = "breakout_opened"
    BREAKOUT_MOVED = "breakout_moved"
    BREAKOUT_CLOSED = "breakout_closed"


# The kinds a media node reports; the others are recorded by the control plane itself (a mark
# corrected, a guest in the lobby), and an event of theirs coming from the media plane is refused.
MEDIA_KINDS = frozenset(
    {
        EventKind.CLASS_STARTED,
        EventKind.CLASS_ENDED,
        EventKind.JOINED,
        EventKind.LEFT,
        EventKind.DISCONNECTED,
        EventKind.RECONNECTED,
        EventKind.REMOVED,
        EventKind.RECORDING_STARTED,
        EventKind.RECORDING_STOPPED,
        EventKind.CHAT_MESSAGE,
        EventKind.QUESTION_ASKED,
        EventKind.QUESTION_ANSWERED,
        EventKind.QUESTION_CLOSED,
        EventKind.BREAKOUT_OPENED,
        EventKind.BREAKOUT_MOVED,
        EventKind.BREAKOUT_CLOSED,
    }
)
