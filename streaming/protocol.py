"""The signaling protocol, version 1: JSON objects over one WebSocket per participant.

Client → server: ``join`` {token} or, after a drop, ``rejoin`` {token} (the reconnect token
from ``welcome``), ``publish`` {sdp, tracks} (``tracks`` labels the offer's media sections in
order: camera, microphone — or just ``["screen"]``, the teacher's screen as a publication of its
own; the ``answer`` names the ``publication``: main or screen), ``unpublish`` {publication},
``answer`` {sdp, offer_id} (to the server's offer of the class's media), ``chat`` {text, to?}
(``to``: "teacher" from anyone else, or the teacher's answer to a participant_id — a private
word only those two receive), ``raise_hand``, ``lower_hand`` (a student: the hands queue in the
order raised), ``grant_floor`` {participant_id, camera}, ``next_hand`` {camera?} (the floor to
the first raised hand),
``revoke_floor`` {participant_id}, ``start_recording``, ``stop_recording``,
``remove`` {participant_id} (the teacher), ``end_class``,
``low_bandwidth`` {on} (a viewer on a weak network: while on, no camera video is sent to them,
only sound and the shared screen), ``set_mode`` {mode: "lecture" | "seminar"} (the teacher: in
seminar mode students and guests publish camera and microphone without the floor; into lecture
mode, the publications of learners without the floor stop), ``view`` {tiles: [source ids],
stage: source id | null} (the sources whose camera video this viewer shows, at most
``MAX_VIEW_TILES`` tiles: every other camera is held back from it; sound and screens are always
sent; before a viewer's first ``view`` it is sent everything; unknown ids are ignored),
``media_state`` {microphone, camera} (anyone: their own
microphone and camera on or off; one that is off is held back from every viewer, and kept for a
later publication and a rejoin), ``mute`` {participant_id} (the teacher turns someone's
microphone off; nobody turns another's on), ``ask_unmute`` {participant_id} (the teacher asks
them to), ``leave``, ``ping``; quick questions: ``ask`` {text, format: "single" | "multiple" |
"yes_no", options: [2–6 texts] (none for yes/no), anonymous, seconds} (the teacher or a presenter),
``answer_question`` {question_id, choices: [option indexes]} (a student, once),
``close_question`` {question_id}, ``show_results`` {question_id, on} (the asker shows the
results to everyone, or hides them); breakout groups: ``open_breakout`` {count (a random split)
or groups: [[user ids]] (by hand, or a saved list), seconds, late: "place" | "wait", save?
(the split is offered for the study group's next classes)} (the teacher), ``move_to_group``
{group: index from 0 | null (the main room), participant_id?} (the teacher or a presenter
visits; the teacher moves a student), ``add_time`` {seconds},
``broadcast`` {text} (to every group), ``close_breakout``.
Server → client: ``welcome`` (with the chat so far), ``answer``, ``offer`` {sdp, offer_id,
source, tracks, ...} (one peer connection per source: the teacher's camera, the teacher's
screen, a student with the floor),
``source_ended``, ``roster`` (with ``hands``, the queue's participant ids, and each raised
hand's ``hand_position``, and each person's ``microphone`` and ``camera``: true while on),
``muted`` {by: "teacher"} (the teacher turned your microphone off), ``unmute_requested`` (the
teacher asks you to turn it on), ``floor_granted`` {camera}, ``floor_revoked``, ``chat``,
``low_bandwidth`` {on} (the choice is in effect; ``welcome`` carries it too, true after a rejoin
of a participant who had it on; ``welcome`` carries ``microphone`` and ``camera`` as the room
keeps them), ``mode`` {mode} (the room's mode changed; ``welcome`` carries
``mode`` too), ``active_speaker`` {source: participant id | null} (who speaks, from the RTP
audio-level header extension of the published sound, with hysteresis; ``welcome`` carries
``active_speaker`` too), ``quality`` {level: "small" | "thumbnail" | "full"} (to a camera
publisher, when it changes: full while some viewer has it on the stage — in lecture mode the
teacher, a presenter and whoever has the floor —, thumbnails while some viewer shows it in a
gallery of at most 9 tiles, else small; a new publication starts at full),
``question`` {question: {id, text, format, options, anonymous, seconds, remaining, closed}} (asked,
closed; to a late joiner too), ``answer_taken`` {id, choices} (your answer is counted),
``question_results`` {id, tally, answered, closed, shown, present?} (to the teacher and presenters
as answers come; to everyone while ``shown``),
``breakout`` {id, groups: [[user ids]], late, remaining, closed, group: yours | null} (opened,
time added, you moved; to a late joiner too), ``breakout_closed`` {id, reason: "timer" |
"teacher"} (everyone is back in the main room; a group's ``mode`` is seminar, and ``mode`` tells
a participant the mode they are in after a move), a chat message carries ``group`` while groups
are open and ``broadcast`` when it went to every group,
``error`` {code, message, reason?} (a join refused as ``class_cancelled`` carries the
timetable's ``reason``, when it gave one), ``ended``, ``pong``. Every message carries ``"v": 1``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from access.models import RoomMode
from access.text import encodable

from .breakout import MAX_BROADCAST_CHARS, MAX_GROUPS, LatePolicy, SplitDraft
from .questions import MAX_OPTION_CHARS, MAX_OPTIONS, MAX_QUESTION_CHARS, AskDraft, QuestionKind
from .refused import Refused
from .seminar import MAX_VIEW_TILES

VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
MAX_SDP_CHARS = 48 * 1024

MAX_CHAT_CHARS = 1000
# What a published track is, in the order of the offer's media sections.
TRACK_LABELS = ("camera", "microphone", "screen")
MAX_TRACKS = 4
MAX_ID_CHARS = 80  # a source id: a participant id, maybe with "/screen"

ClientType = Literal[
    "join",
    "rejoin",
    "publish",
    "answer",
    "chat",
    "raise_hand",
    "lower_hand",
    "grant_floor",
    "next_hand",
    "revoke_floor",
    "unpublish",
    "start_recording",
    "stop_recording",
    "remove",
    "end_class",
    "low_bandwidth",
    "set_mode",
    "view",
    "media_state",
    "mute",
    "ask_unmute",
    "leave",
    "ping",
    "ask",
    "answer_question",
    "close_question",
    "show_results",
    "open_breakout",
    "move_to_group",
    "add_time",
    "broadcast",
    "close_breakout",
]
CLIENT_TYPES: frozenset[str] = frozenset(ClientType.__args__)  # type: ignore[attr-defined]


class ProtocolError(Refused):
    """A message that breaks the protocol; ``code`` goes back to the client."""


@dataclass(frozen=True, slots=True)
class ClientMessage:
    type: ClientType
    token: str | None = None
    sdp: str | None = None
    text: str | None = None
    participant_id: str | None = None
    offer_id: int | None = None
    camera: bool = False
    tracks: tuple[str, ...] = ()
    publication: str | None = None
    on: bool = False  # low_bandwidth: on or off
    microphone: bool = True  # media_state (with ``camera``): the sender's own microphone
    to: str | None = None  # chat: "teacher", or (the teacher) a participant: a private word
    mode: RoomMode | None = None  # set_mode
    tiles: tuple[str, ...] = ()  # view: the sources in gallery tiles
    stage: str | None = None  # view: the source on the stage
    question: AskDraft | None = None  # ask
    question_id: str | None = None  # answer_question, close_question, show_results
    choices: tuple[int, ...] = ()  # answer_question: the options' indexes
    breakout: SplitDraft | None = None  # open_breakout
    group: int | None = None  # move_to_group: a group's index, or None: the main room
    seconds: int = 0  # add_time


def _sdp(doc: dict[str, Any]) -> str:
    sdp = doc.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise ProtocolError("bad_message", "The message needs an 'sdp' string")
    if len(sdp) > MAX_SDP_CHARS:
        raise ProtocolError("bad_message", f"The SDP is longer than {MAX_SDP_CHARS} characters")
    if not sdp.startswith("v=0"):
        raise ProtocolError("bad_sdp", "The SDP must start with 'v=0'")
    return sdp


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS


def _set_mode(doc: dict[str, Any]) -> ClientMessage:
    mode = doc.get("mode")
    if not isinstance(mode, str) or mode not in tuple(RoomMode):
        raise ProtocolError("bad_message", "'mode' is lecture or seminar")
    return ClientMessage(type="set_mode", mode=RoomMode(mode))


def _view(doc: dict[str, Any]) -> ClientMessage:
    tiles, stage = doc.get("tiles"), doc.get("stage")
    if (
        not isinstance(tiles, list)
        or len(tiles) > MAX_VIEW_TILES
        or not all(_is_id(t) for t in tiles)
    ):
        raise ProtocolError(
            "bad_message", f"'tiles' lists at most {MAX_VIEW_TILES} source ids (strings)"
        )
    if stage is not None and not _is_id(stage):
        raise ProtocolError("bad_message", "'stage' is a source id or null")
    return ClientMessage(type="view", tiles=tuple(tiles), stage=stage)


def _ask(doc: dict[str, Any]) -> ClientMessage:
    text, kind, options = doc.get("text"), doc.get("format"), doc.get("options", [])
    anonymous, seconds = doc.get("anonymous", False), doc.get("seconds")
    if not isinstance(text, str) or len(text) > 4 * MAX_QUESTION_CHARS:
        raise ProtocolError("bad_message", "A question needs its 'text'")
    if not isinstance(kind, str) or kind not in tuple(QuestionKind):
        raise ProtocolError("bad_message", "'format' is single, multiple or yes_no")
    if (
        not isinstance(options, list)
        or len(options) > MAX_OPTIONS
        or not all(isinstance(o, str) and len(o) <= 4 * MAX_OPTION_CHARS for o in options)
    ):
        raise ProtocolError("bad_message", f"'options' lists at most {MAX_OPTIONS} texts")
    if not isinstance(anonymous, bool):
        raise ProtocolError("bad_message", "'anonymous' is true or false")
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ProtocolError("bad_message", "'seconds' is the time limit, a whole number")
    # The rules (how many options, how long) are the room's to apply: a question they refuse is
    # answered with an error, and the asker stays.
    draft = AskDraft(text, QuestionKind(kind), tuple(options), anonymous, seconds)
    return ClientMessage(type="ask", question=draft)


def _question_id(doc: dict[str, Any]) -> str:
    qid = doc.get("question_id")
    if not _is_id(qid):
        raise ProtocolError("bad_message", "Say which question with 'question_id'")
    assert isinstance(qid, str)
    return qid


def _answer_question(doc: dict[str, Any]) -> ClientMessage:
    qid, choices = _question_id(doc), doc.get("choices")
    if (
        not isinstance(choices, list)
        or not 0 < len(choices) <= MAX_OPTIONS
        or not all(isinstance(c, int) and not isinstance(c, bool) for c in choices)
    ):
        raise ProtocolError(
            "bad_message", f"'choices' lists 1 to {MAX_OPTIONS} option numbers (from 0)"
        )
    return ClientMessage(type="answer_question", question_id=qid, choices=tuple(choices))


MAX_SPLIT_LEARNERS = 500  # user ids one hand-made or saved split may name


def _text(doc: dict[str, Any], what: str, limit: int) -> str:
    """The message's 'text', trimmed: not empty, at most ``limit`` characters."""
    said = doc.get("text")
    if not isinstance(said, str) or not said.strip():
        raise ProtocolError("bad_message", f"{what} needs a non-empty 'text'")
    if len(said) > limit:
        raise ProtocolError("bad_message", f"{what} is at most {limit} characters")
    return said.strip()


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _open_breakout(doc: dict[str, Any]) -> ClientMessage:
    count, groups = doc.get("count"), doc.get("groups")
    seconds, late = doc.get("seconds"), doc.get("late", LatePolicy.WAIT.value)
    if (count is None) == (groups is None):
        raise ProtocolError(
            "bad_message", "Say either 'count' (a random split) or 'groups' (lists of user ids)"
        )
    if count is not None and not _whole(count):
        raise ProtocolError("bad_message", "'count' is the number of groups, a whole number")
    if groups is not None and (
        not isinstance(groups, list)
        or len(groups) > MAX_GROUPS
        or not all(isinstance(g, list) and all(_whole(u) for u in g) for g in groups)
        or sum(len(g) for g in groups) > MAX_SPLIT_LEARNERS
    ):
        raise ProtocolError(
            "bad_message", f"'groups' lists at most {MAX_GROUPS} lists of user ids (numbers)"
        )
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ProtocolError("bad_message", "'seconds' is the duration, a whole number")
    if not isinstance(late, str) or late not in tuple(LatePolicy):
        raise ProtocolError("bad_message", "'late' is place or wait")
    save = doc.get("save", False)
    if not isinstance(save, bool):
        raise ProtocolError("bad_message", "'save' is true or false")
    draft = SplitDraft(
        count,
        tuple(tuple(g) for g in groups or ()),
        seconds,
        LatePolicy(late),
        save,
    )
    return ClientMessage(type="open_breakout", breakout=draft)


def _move_to_group(doc: dict[str, Any]) -> ClientMessage:
    group, pid = doc.get("group"), doc.get("participant_id")
    if group is not None and not _whole(group):
        raise ProtocolError("bad_message", "'group' is a group's number (from 0), or null")
    if pid is not None and not _is_id(pid):
        raise ProtocolError("bad_message", "'participant_id' names a participant, or is left out")
    return ClientMessage(type="move_to_group", group=group, participant_id=pid)


def _breakout_message(kind: str, doc: dict[str, Any]) -> ClientMessage:
    if kind == "open_breakout":
        return _open_breakout(doc)
    if kind == "move_to_group":
        return _move_to_group(doc)
    if kind == "add_time":
        seconds = doc.get("seconds")
        if not _whole(seconds):
            raise ProtocolError("bad_message", "'seconds' is the time to add, a whole number")
        assert isinstance(seconds, int)
        return ClientMessage(type="add_time", seconds=seconds)
    if kind == "broadcast":
        return ClientMessage(type="broadcast", text=_text(doc, "A broadcast", MAX_BROADCAST_CHARS))
    return ClientMessage(type="close_breakout")


BREAKOUT_TYPES = frozenset(
    {"open_breakout", "move_to_group", "add_time", "broadcast", "close_breakout"}
)


def _join(kind: str, doc: dict[str, Any]) -> ClientMessage:
    token = doc.get("token")
    if not isinstance(token, str) or not token:
        raise ProtocolError("token_missing", f"The {kind} message needs a token")
    return ClientMessage(type="join" if kind == "join" else "rejoin", token=token)


def _publish(kind: str, doc: dict[str, Any]) -> ClientMessage:
    tracks = doc.get("tracks", [])
    if (
        not isinstance(tracks, list)
        or len(tracks) > MAX_TRACKS
        or any(t not in TRACK_LABELS for t in tracks)
    ):
        raise ProtocolError(
            "bad_message", f"'tracks' lists at most {MAX_TRACKS} of {', '.join(TRACK_LABELS)}"
        )
    return ClientMessage(type="publish", sdp=_sdp(doc), tracks=tuple(tracks))


def _answer(kind: str, doc: dict[str, Any]) -> ClientMessage:
    offer_id = doc.get("offer_id")
    if not isinstance(offer_id, int) or isinstance(offer_id, bool):
        raise ProtocolError("bad_message", "An answer names the offer_id it answers")
    return ClientMessage(type="answer", sdp=_sdp(doc), offer_id=offer_id)


def _chat(kind: str, doc: dict[str, Any]) -> ClientMessage:
    said = _text(doc, "A chat message", MAX_CHAT_CHARS)
    to = doc.get("to")
    if to is not None and (not isinstance(to, str) or not 0 < len(to) <= 64):
        raise ProtocolError("bad_message", "'to' is \"teacher\" or a participant_id")
    return ClientMessage(type="chat", text=said, to=to)


def _unpublish(kind: str, doc: dict[str, Any]) -> ClientMessage:
    if doc.get("publication") != "screen":
        raise ProtocolError("bad_message", "Only the 'screen' publication is stopped alone")
    return ClientMessage(type="unpublish", publication="screen")


def _low_bandwidth(kind: str, doc: dict[str, Any]) -> ClientMessage:
    on = doc.get("on")
    if not isinstance(on, bool):
        raise ProtocolError("bad_message", "A low_bandwidth message says 'on': true or false")
    return ClientMessage(type="low_bandwidth", on=on)


def _media_state(kind: str, doc: dict[str, Any]) -> ClientMessage:
    microphone, camera = doc.get("microphone"), doc.get("camera")
    if not isinstance(microphone, bool) or not isinstance(camera, bool):
        raise ProtocolError(
            "bad_message", "A media_state message says 'microphone' and 'camera': true or false"
        )
    return ClientMessage(type="media_state", microphone=microphone, camera=camera)


def _show_results(kind: str, doc: dict[str, Any]) -> ClientMessage:
    on = doc.get("on")
    if not isinstance(on, bool):
        raise ProtocolError("bad_message", "A show_results message says 'on': true or false")
    return ClientMessage(type="show_results", question_id=_question_id(doc), on=on)


def _camera(doc: dict[str, Any]) -> bool:
    camera = doc.get("camera", False)
    if not isinstance(camera, bool):
        raise ProtocolError("bad_message", "'camera' is true or false")
    return camera


def _next_hand(kind: str, doc: dict[str, Any]) -> ClientMessage:
    return ClientMessage(type="next_hand", camera=_camera(doc))


def _about_participant(kind: str, doc: dict[str, Any]) -> ClientMessage:
    """remove, grant_floor, revoke_floor, mute, ask_unmute: which participant (and the floor's
    camera)."""
    pid = doc.get("participant_id")
    if not isinstance(pid, str) or not 0 < len(pid) <= 64:
        raise ProtocolError("bad_message", "Say which participant with 'participant_id'")
    camera = _camera(doc)
    return ClientMessage(type=kind, participant_id=pid, camera=camera)  # type: ignore[arg-type]


Parser = Callable[[str, dict[str, Any]], ClientMessage]

# What each kind of message is read with; a kind not here carries nothing but its type.
_PARSERS: dict[str, Parser] = {
    "join": _join,
    "rejoin": _join,
    "publish": _publish,
    "answer": _answer,
    "chat": _chat,
    "unpublish": _unpublish,
    "low_bandwidth": _low_bandwidth,
    "set_mode": lambda _kind, doc: _set_mode(doc),
    "view": lambda _kind, doc: _view(doc),
    "media_state": _media_state,
    **dict.fromkeys(BREAKOUT_TYPES, _breakout_message),
    "ask": lambda _kind, doc: _ask(doc),
    "answer_question": lambda _kind, doc: _answer_question(doc),
    "close_question": lambda _kind, doc: ClientMessage(
        type="close_question", question_id=_question_id(doc)
    ),
    "show_results": _show_results,
    "next_hand": _next_hand,
    **dict.fromkeys(
        ("remove", "grant_floor", "revoke_floor", "mute", "ask_unmute"), _about_participant
    ),
}


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Validate one message from a client; raise ``ProtocolError`` naming what is wrong."""
    if isinstance(text, bytes):
        raise ProtocolError("bad_message", "Messages are JSON text, not binary")
    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"A message may be at most {MAX_MESSAGE_BYTES} bytes")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", "The message is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise ProtocolError("bad_message", "A message must be a JSON object")
    if not encodable(doc):
        # JSON's \uXXXX may carry half of a UTF-16 pair: text no page, log or database can take.
        raise ProtocolError("bad_text", "The message carries text that is not valid Unicode")
    if doc.get("v") != VERSION:
        raise ProtocolError("bad_version", f"Protocol version {VERSION} is expected")
    kind = doc.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_TYPES:
        raise ProtocolError("unknown_type", f"Unknown message type {str(kind)[:40]!r}")
    parse = _PARSERS.get(kind)
    return parse(kind, doc) if parse is not None else ClientMessage(type=kind)  # type: ignore[arg-type]


def server_message(kind: str, **fields: Any) -> str:
    text = json.dumps({"v": VERSION, "type": kind, **fields}, ensure_ascii=False)
    if not text.isascii() and not encodable(text):
        # Text the protocol never lets in (it could still come from elsewhere, a token's name):
        # escaped, so the message can be sent rather than fail for everyone it goes to.
        text = json.dumps({"v": VERSION, "type": kind, **fields})
    return text
