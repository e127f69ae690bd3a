"""Another writer holding the database, as a backup or the other plane may."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path


@contextlib.asynccontextmanager
async def database_held(path: Path | str, at_least: float = 0.0) -> AsyncIterator[None]:
    """Another connection holds the database's write lock from entering until leaving, and at
    least ``at_least`` seconds; leaving waits until it has let go. (Until leaving, not a fixed
    time: on a loaded machine the body's checks may come later than the lock would have
    lasted.)"""
    locked, leave = threading.Event(), threading.Event()

    def hold() -> None:
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            locked.set()
            started = time.monotonic()
            leave.wait(30)
            time.sleep(max(0.0, at_least - (time.monotonic() - started)))
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()

    holding = asyncio.create_task(asyncio.to_thread(hold))
    try:
        await asyncio.to_thread(locked.wait, 5)
        yield
    finally:
        leave.set()
        await holding
