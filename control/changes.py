"""Which classes' registers changed: the ledger says so on commit, live pages wait for it."""

from __future__ import annotations

import asyncio


class Changes:
    """A version number per class, bumped when the ledger commits one of its events; watchers
    wait for a version newer than the one they showed (so no change slips in between)."""

    def __init__(self) -> None:
        self._versions: dict[int, int] = {}
        self._wakeups: dict[int, asyncio.Event] = {}
        self.closing = False

    def version(self, class_id: int) -> int:
        return self._versions.get(class_id, 0)

    def notify(self, class_id: int) -> None:
        self._versions[class_id] = self.version(class_id) + 1
        wakeup = self._wakeups.pop(class_id, None)
        if wakeup is not None:
            wakeup.set()

    async def wait(self, class_id: int, seen: int) -> None:
        """Until the class changed after version ``seen`` or the server closes (bound it with
        ``asyncio.timeout``)."""
        if self.version(class_id) != seen or self.closing:
            return
        await self._wakeups.setdefault(class_id, asyncio.Event()).wait()

    def close(self) -> None:
        self.closing = True
        for wakeup in self._wakeups.values():
            wakeup.set()
        self._wakeups.clear()
