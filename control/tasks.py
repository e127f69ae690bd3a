"""A background task for as long as a context lasts (the application's jobs and outboxes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def running(name: str, work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """``work`` as a task named ``sabaq-<name>`` while the context lasts; cancelled, and
    awaited, at its end."""
    task = asyncio.create_task(work, name=f"sabaq-{name}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
