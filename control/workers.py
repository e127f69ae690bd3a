"""The control plane's work off the event loop. In ``sabaq serve`` the media of every live class
runs on the same loop, so nothing of the control plane may hold it for more than a few ms.

- Reports and exports (pure Python over tens of thousands of ledger events, then a page or a
  spreadsheet) are built in worker **processes** (``process_pool``): a thread would still hold
  the interpreter's lock, and the media loop, which lets go of it at every packet it sends,
  would wait for it each time. The workers start with the server, forked from a fresh fork
  server (not from the server: none of its threads' locks, files or file locks go with them);
  each opens its own connection, runs at a lower priority (``worker_started``) and ends when
  its server is gone. What a worker answers is the application's to say
  (``web.core.offload`` replays a request there).
- Imports' checks and writes, the guarantee and the background jobs run on worker **threads**
  (``thread_pool``, ``off_loop``): they write, and are short or rare. The database's
  connection is a ``control.database.PerThread``, so a thread's calls go to a connection of
  its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from .database import PerThread, snapshot

log = logging.getLogger("sabaq.web.offload")  # the name its log lines always had

NICE = 10  # as the import workers (control.import_worker)
THREADS = 2  # control-plane jobs at once on threads, off the loop

P = ParamSpec("P")
T = TypeVar("T")


def thread_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(THREADS, thread_name_prefix="sabaq-control")


async def process_pool(
    workers: int, initializer: Callable[..., object], initargs: tuple[Any, ...],
    preload: Sequence[str],
) -> ProcessPoolExecutor | None:  # fmt: skip
    """``workers`` processes, each started with ``initializer(*initargs)`` (``preload``: the
    modules the fork server imports first), every one started before this returns; None when
    there are to be none, or this process is a daemon (a benchmark's server, say), which may
    have no children: its reports are built on threads."""
    if not workers:
        return None
    if multiprocessing.current_process().daemon:
        log.warning("a daemonic process: reports are built on threads, not in processes")
        return None
    # Forked from a fresh process (the fork server), not from this one: nothing of the
    # server's (its threads' locks, its files and their locks) goes with them.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    processes = ProcessPoolExecutor(workers, context, initializer=initializer, initargs=initargs)
    # Started now, every one: the first request does not wait for them.
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(processes, _ready) for _ in range(workers)))
    return processes


def _ready() -> None:
    """Nothing: a first job makes the pool fork its workers."""


async def off_loop(
    pool: Executor | None, db: sqlite3.Connection | None, fn: Callable[P, T], /,
    *args: P.args, **kwargs: P.kwargs,
) -> T:  # fmt: skip
    """``fn(*args, **kwargs)`` on a thread of ``pool`` (None: the loop's default executor, as
    on a media node, which has no database and no threads of its own); its answer (or its
    exception) here. What it left uncommitted on this thread's connection of ``db`` is
    committed after it."""
    call = functools.partial(contextvars.copy_context().run, _settled, db, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(pool, call)


def _settled(
    db: sqlite3.Connection | None, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``fn``, then what it left uncommitted on this thread's connection committed: on the
    one shared connection of before, the next write of anyone's did that; a transaction left
    open on a thread's own connection would hold the database's write lock."""
    try:
        return fn(*args, **kwargs)
    finally:
        if isinstance(db, PerThread) and (own := db.mine()).in_transaction:
            own.commit()


def reading(db: sqlite3.Connection, fn: Callable[P, T]) -> Callable[P, T]:
    """``fn`` reading everything of one moment of the database (``control.database.snapshot``)."""

    def read(*args: P.args, **kwargs: P.kwargs) -> T:
        with snapshot(db):
            return fn(*args, **kwargs)

    return read


class JobClock:
    """A worker's clock: the server's time when the job was asked for (tests inject theirs)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def worker_started(server: int) -> None:
    """In a worker process: the processor goes to the live classes first, and the worker ends
    when its server (process ``server``) is gone."""
    threading.Thread(target=_end_with, args=(server,), daemon=True).start()
    with contextlib.suppress(OSError):
        os.nice(NICE)


def _end_with(server: int) -> None:
    """A worker whose server is gone (killed: it could not stop its workers) ends too, and the
    fork server it came from with the last of them."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(server, 0)
        except (ProcessLookupError, PermissionError):  # gone (or the number is another's)
            os._exit(0)
