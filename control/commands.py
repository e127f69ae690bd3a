"""Commands from the control plane to the node that hosts a class (DESIGN.md, "Events and
commands between the planes"): in one process they are method calls on the media node; in a
cluster they travel by Redis pub/sub (``control.redis_commands``). Each is answered."""

from __future__ import annotations

from typing import Protocol

from streaming.node import MediaNode

from .gate import LocalGate


class MediaControl(Protocol):
    async def remove_user(self, class_id: int, user_id: int, code: str, message: str) -> bool:
        """Take a person out of a class, also one who has not joined yet; True if they were
        in it and are out now."""
        ...

    async def readmit(self, class_id: int, user_id: int) -> None:
        """Lift what the control plane kept a person out with (not admitted, revoked); a
        removal by the teacher stays."""
        ...

    async def let_back(self, class_id: int, user_id: int) -> None:
        """The teacher lets one they removed back; what the control plane keeps them out with
        (not admitted) stays."""
        ...

    async def taken_out(self, class_id: int) -> dict[int, str]:
        """Who is kept out of the class → the code they are refused with ("removed": by the
        teacher)."""
        ...

    async def end_class(self, class_id: int, reason: str) -> bool: ...

    async def present_user_ids(self, class_id: int) -> set[int]:
        """Who is in the class now, wherever it is hosted."""
        ...


class LocalMediaControl:
    """The media node of this very process; who is taken out is also kept in the database (the
    node's gate), so that a restart does not let them back in."""

    def __init__(self, node: MediaNode, gate: LocalGate) -> None:
        self._node = node
        self._gate = gate

    async def remove_user(self, class_id: int, user_id: int, code: str, message: str) -> bool:
        self._gate.bar(class_id, user_id, code, message)
        return await self._node.remove_user(class_id, user_id, code, message)

    async def readmit(self, class_id: int, user_id: int) -> None:
        self._gate.readmit(class_id, user_id)
        self._node.readmit(class_id, user_id)

    async def let_back(self, class_id: int, user_id: int) -> None:
        self._gate.let_back(class_id, user_id)
        self._node.let_back(class_id, user_id)

    async def taken_out(self, class_id: int) -> dict[int, str]:
        return self._gate.taken_out(class_id)

    async def end_class(self, class_id: int, reason: str) -> bool:
        return await self._node.end_class(class_id, reason)

    async def present_user_ids(self, class_id: int) -> set[int]:
        return self._node.present_user_ids(class_id)
