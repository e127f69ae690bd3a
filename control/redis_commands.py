"""Commands to the media node that hosts a class, by Redis pub/sub, each waited for its answer
(the cluster's ``control.commands.MediaControl``), and the live roster the media nodes publish
(DESIGN.md, "Events and commands between the planes")."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis

from access.ids import uuid7
from streaming.cluster_keys import (
    PLACEMENT,
    ROSTER,
    barred_key,
    code_of,
    command_channel,
    follow,
    keep_out,
    removed_key,
    taken_out,
    text,
)
from streaming.redis_events import UNREACHABLE

from .changes import Changes

log = logging.getLogger("sabaq.control.redis_commands")


class LiveRoster:
    """Who is in each class now, as the nodes that host them last said."""

    def __init__(self, changes: Changes) -> None:
        self._changes = changes
        self._rosters: dict[int, tuple[str, set[int]]] = {}

    def present(self, class_id: int) -> set[int]:
        return self._rosters.get(class_id, ("", set()))[1]

    def forget(self, class_ids: Iterable[int]) -> None:
        for class_id in class_ids:
            self._rosters.pop(class_id, None)

    def heard(self, raw: object) -> None:
        try:
            doc = json.loads(text(raw))
            class_id, node = int(doc["class_id"]), str(doc["node"])
            present = {int(u) for u in doc["present"]}
        except (ValueError, KeyError, TypeError):
            log.error("a roster message that cannot be read was ignored")
            return
        if doc.get("ended"):
            self._rosters.pop(class_id, None)
        else:
            self._rosters[class_id] = (node, present)
        self._changes.notify(class_id)

    async def follow(self, redis: Redis, running: Callable[[], bool], retry: float) -> None:
        await follow(redis, lambda: ROSTER, self.heard, running, retry)


class RedisMediaControl:
    """Commands by pub/sub to the node the class is placed on; who is taken out is also kept in
    Redis for a while, so that a node that missed the command still keeps them out."""

    def __init__(self, redis: Redis, roster: LiveRoster, answer_within: float = 3.0) -> None:
        self._redis = redis
        self._roster = roster
        self._answer_within = answer_within

    async def command(self, class_id: int, op: str, **fields: Any) -> dict[str, Any] | None:
        """Send a command to the node that hosts the class and wait for its answer; None when
        the class is on no node, or no node answered in time."""
        try:
            placed = await self._redis.hget(PLACEMENT, str(class_id))  # type: ignore[misc]
        except UNREACHABLE:
            log.error("class %s: Redis cannot be reached, %s not sent", class_id, op)
            return None
        if placed is None:
            return None
        command_id = str(uuid7())
        reply = f"sabaq:answers:{command_id}"
        doc = {"id": command_id, "op": op, "class_id": class_id, "reply": reply, **fields}
        try:
            async with self._redis.pubsub() as ps:
                await ps.subscribe(reply)
                if not await self._redis.publish(command_channel(text(placed)), json.dumps(doc)):
                    log.warning("class %s: node %s is not listening", class_id, text(placed))
                    return None
                deadline = time.monotonic() + self._answer_within
                while (left := deadline - time.monotonic()) > 0:
                    msg = await ps.get_message(ignore_subscribe_messages=True, timeout=left)
                    if msg is not None and msg.get("type") == "message":
                        answer: dict[str, Any] = json.loads(text(msg["data"]))
                        if answer.get("id") == command_id:
                            return answer
        except UNREACHABLE:
            log.error("class %s: Redis went away while %s was sent", class_id, op)
            return None
        log.warning("class %s: node %s did not answer %s in time", class_id, text(placed), op)
        return None

    async def remove_user(self, class_id: int, user_id: int, code: str, message: str) -> bool:
        try:
            await keep_out(self._redis, class_id, user_id, code, message)
        except UNREACHABLE:
            log.error("class %s: Redis cannot be reached; %s not barred", class_id, user_id)
            return False
        answer = await self.command(class_id, "remove", user_id=user_id, code=code, message=message)
        return bool(answer and answer.get("done"))

    async def readmit(self, class_id: int, user_id: int) -> None:
        try:
            await self._redis.hdel(barred_key(class_id), str(user_id))  # type: ignore[misc]
        except UNREACHABLE:
            log.error("class %s: Redis cannot be reached; %s not let back", class_id, user_id)
            return
        await self.command(class_id, "readmit", user_id=user_id)

    async def let_back(self, class_id: int, user_id: int) -> None:
        try:
            await self._redis.hdel(removed_key(class_id), str(user_id))  # type: ignore[misc]
        except UNREACHABLE:
            log.error("class %s: Redis cannot be reached; %s not let back", class_id, user_id)
            return
        await self.command(class_id, "let_back", user_id=user_id)

    async def taken_out(self, class_id: int) -> dict[int, str]:
        try:
            told = await taken_out(self._redis, class_id)
        except UNREACHABLE:
            log.error("class %s: Redis cannot be reached; who is kept out is not known", class_id)
            return {}
        return {int(text(u)): code_of(w) for u, w in told.items()}

    async def end_class(self, class_id: int, reason: str) -> bool:
        answer = await self.command(class_id, "end", reason=reason)
        return bool(answer and answer.get("done"))

    async def present_user_ids(self, class_id: int) -> set[int]:
        return set(self._roster.present(class_id))
