"""What a cluster keeps in Redis (DESIGN.md, "Two deployments"), and the helpers the media
nodes (``streaming.cluster``) and the control node (``control``) read and write it with:

- ``sabaq:nodes`` — a hash, node id → ``NodeInfo`` as JSON, written at each heartbeat; removed
  when the node stops, or when the control node declares it dead.
- ``sabaq:placement`` — a hash, class id → node id. Only the control node places a class; the
  node that hosts it and the control node remove it.
- ``sabaq:barred:<class>`` — a hash of the people the control plane took out of a class (a guest
  revoked, a learner not admitted), user id → what they are told; a node reads it when someone
  joins, and at each heartbeat takes out anyone on it still in the class (a command that was
  lost while the node reconnected to Redis is made good within a heartbeat).
- ``sabaq:removed:<class>`` — the same for the people the teacher removed: kept apart, so that
  the control plane's readmit (admitted again) does not lift a removal, nor the teacher's "Let
  back in" a bar of the control plane.
- ``sabaq:ended:<class>`` — set when a class ended (by the node it ended on): no node lets
  anyone into it again, also after a restart.
- ``sabaq:closed:<class>`` — set by the control node when a class is cancelled, is held in
  person or was marked missed (``control.closed_classes``), what a join is refused with (code
  and the timetable's reason); deleted when it is online again. A join token minted before
  the change admits nobody.
- ``sabaq:spent:<token id>`` — a join token that admitted someone, until it expires: a join
  token admits once, on any node.
- ``sabaq:relays:<class>`` — a set of the nodes that relay the class from its origin, the node
  it is placed on (``streaming.cascade``): placement adds one when the origin's viewers fill it
  (``control.placement.select_viewer_node``); deleted when the class ends.
- ``sabaq:commands:<node>`` — the channel a node's commands arrive on; each names the channel
  its answer goes to.
- ``sabaq:roster`` — the channel the nodes publish who is in each of their classes on.
- ``sabaq:dead`` — a hash of the nodes declared dead (id → last heartbeat). A node that finds
  itself there (it was cut off from Redis, not dead) lets go of its classes and goes on as a new
  node: what its old id reports is no longer counted.

A node's id is its name and a new suffix each time the process starts: what a node that was
killed left open is closed by its id, and never touches what its next start opens.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from access.events import EventKind

from .redis_events import UNREACHABLE

log = logging.getLogger("sabaq.streaming.cluster")

NODES = "sabaq:nodes"
PLACEMENT = "sabaq:placement"
DEAD = "sabaq:dead"  # node id → its last heartbeat, for every node declared dead
ROSTER = "sabaq:roster"
BARRED_FOR = 3 * 86400.0  # a barred set outlives any class it is about
ROSTER_KINDS = frozenset(
    {
        EventKind.JOINED,
        EventKind.LEFT,
        EventKind.DISCONNECTED,
        EventKind.RECONNECTED,
        EventKind.REMOVED,
        EventKind.CLASS_ENDED,
    }
)

# Deletes the placements that still name a node (it stopped, or was declared dead); returns the
# classes. Atomic, so a class placed again meanwhile keeps its new place.
RELEASE_PLACEMENTS = """
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i + 1] == ARGV[1] then
    redis.call('HDEL', KEYS[1], all[i])
    table.insert(out, all[i])
  end
end
return out
"""


def barred_key(class_id: int) -> str:
    return f"sabaq:barred:{class_id}"


def removed_key(class_id: int) -> str:
    return f"sabaq:removed:{class_id}"


async def taken_out(redis: Redis, class_id: int) -> dict[Any, Any]:
    """Who is kept out of the class → what they are told, the teacher's removal first."""
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(barred_key(class_id))
    pipe.hgetall(removed_key(class_id))
    barred, removed = await pipe.execute()
    return merged(barred, removed)


def merged(barred: dict[Any, Any], removed: dict[Any, Any]) -> dict[Any, Any]:
    return {**{text(u): w for u, w in barred.items()}, **{text(u): w for u, w in removed.items()}}


def code_of(words: object) -> str:
    """The code a barred person is refused with, from what the barred hash tells them."""
    try:
        return str(json.loads(text(words))["code"])
    except (ValueError, KeyError, TypeError):
        return "revoked"


async def keep_out(redis: Redis, class_id: int, user_id: int, code: str, message: str) -> None:
    """Put a person on the class's barred hash (what they are told, by code and message); one
    the teacher removed (code "removed") on the class's removed hash."""
    key = removed_key(class_id) if code == "removed" else barred_key(class_id)
    words = json.dumps({"code": code, "message": message}, ensure_ascii=False)
    await redis.hset(key, str(user_id), words)  # type: ignore[misc]
    await redis.expire(key, int(BARRED_FOR))


def ended_key(class_id: int) -> str:
    return f"sabaq:ended:{class_id}"


def closed_key(class_id: int) -> str:
    """{"code": "class_cancelled" | "not_online" | "class_ended", "reason": ...} as JSON."""
    return f"sabaq:closed:{class_id}"


def closed_of(words: object) -> tuple[str, str]:
    """The code and reason a closed class is refused with, from its ``closed_key``."""
    try:
        doc = json.loads(text(words))
        return str(doc["code"]), str(doc.get("reason", ""))
    except (ValueError, KeyError, TypeError):
        return "class_cancelled", ""


def spent_key(token_id: str) -> str:
    return f"sabaq:spent:{token_id}"


def relays_key(class_id: int) -> str:
    return f"sabaq:relays:{class_id}"


def command_channel(node_id: str) -> str:
    return f"sabaq:commands:{node_id}"


async def follow(
    redis: Redis,
    channel: Callable[[], str],
    heard: Callable[[object], None],
    running: Callable[[], bool],
    retry: float,
) -> None:
    """Hand each message of a pub/sub channel to ``heard`` while ``running()``; subscribe again
    after Redis was away, or when ``channel()`` names another channel."""
    while running():
        try:
            async with redis.pubsub() as ps:
                name = channel()
                await ps.subscribe(name)
                while running() and channel() == name:
                    msg = await ps.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        heard(msg["data"])
        except asyncio.CancelledError:
            raise
        except UNREACHABLE:
            await asyncio.sleep(retry)
        except Exception:
            log.exception("following %s failed", channel())
            await asyncio.sleep(retry)


def text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A media node as the registry knows it."""

    id: str
    name: str
    url: str  # where browsers reach its signaling
    capacity: int  # participants it takes
    participants: int
    rooms: int
    started: float
    at: float  # its last heartbeat, by its own clock
    # When the oldest event it has not yet put in the stream happened (its disk buffer, its
    # outbox): a node declared dead is cut off at the earlier of this and ``at``, so that
    # everything it reports later happened after the cut-off.
    backlog_since: float | None = None
    # Events it set aside, never to be sent (its dead-letter file beside its disk buffer).
    dead_events: int = 0
    # Where the control node watches its process (``control.node_watch``); empty: not watched.
    watch: str = ""

    @property
    def cut_off(self) -> float:
        return self.at if self.backlog_since is None else min(self.at, self.backlog_since)

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: object) -> NodeInfo:
        doc = json.loads(text(raw))
        return cls(
            id=str(doc["id"]),
            name=str(doc["name"]),
            url=str(doc["url"]),
            capacity=int(doc["capacity"]),
            participants=int(doc["participants"]),
            rooms=int(doc["rooms"]),
            started=float(doc["started"]),
            at=float(doc["at"]),
            backlog_since=(
                float(doc["backlog_since"]) if doc.get("backlog_since") is not None else None
            ),
            dead_events=int(doc.get("dead_events") or 0),
            watch=str(doc.get("watch") or ""),
        )


async def release_placements(redis: Redis, node_id: str) -> list[int]:
    """Forget where the classes of ``node_id`` were: the next join places them anew."""
    freed = await redis.eval(RELEASE_PLACEMENTS, 1, PLACEMENT, node_id)  # type: ignore[misc]
    return sorted(int(text(c)) for c in freed or [])
