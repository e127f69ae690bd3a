"""The control plane's work off the event loop. In ``sabaq serve`` the media of every live class
runs on the same loop, so nothing of the control plane may hold it for more than a few ms.

- Reports and exports (pure Python over tens of thousands of ledger events, then a page or a
  spreadsheet) are built in worker **processes** (``Settings.report_processes``): a thread
  would still hold the interpreter's lock, and the media loop, which lets go of it at every
  packet it sends, would wait for it each time. The workers start with the server, forked
  from a fresh fork server (not from the server: none of its threads' locks, files or file
  locks go with them); each opens its own connection. A
  request is replayed there (``in_worker``) by a handler function of the pages, with what
  the middlewares found (session, language, CSRF token, API key) and the server's time.
- Imports' checks and writes, the guarantee and the background jobs run on worker **threads**
  (``off_loop``): they write, and are short or rare. The database's connection is a
  ``control.database.PerThread``, so a thread's calls go to a connection of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from access.tokens import TokenSigner
from control.database import PerThread, connect, snapshot

from . import keys
from .http import API_KEY_KEY, CSRF_KEY, LANG_KEY, SESSION_KEY, PageError, templates
from .i18n import load_catalogues
from .settings import Settings
from .stores import open_stores

log = logging.getLogger("sabaq.web.offload")

_NICE = 10  # as the import workers (control.import_worker)
THREADS = 2  # control-plane jobs at once on threads, off the loop
STATIC = Path(__file__).parents[1] / "static"
# What the middlewares found for a request, carried to the worker that answers it.
CARRIED: tuple[web.RequestKey[Any], ...] = (SESSION_KEY, API_KEY_KEY, LANG_KEY, CSRF_KEY)

P = ParamSpec("P")
T = TypeVar("T")
Handler = Callable[[web.Request], web.Response]


async def control_threads(app: web.Application) -> AsyncIterator[None]:
    """The worker threads and processes, stopped (their jobs finished) before the database
    closes."""
    pool = ThreadPoolExecutor(THREADS, thread_name_prefix="sabaq-control")
    app[keys.THREADS] = pool
    loop = asyncio.get_running_loop()
    workers = app[keys.SETTINGS].report_processes
    processes = None
    if workers and multiprocessing.current_process().daemon:
        # A daemonic process (a benchmark's server, say) may have no children: threads.
        log.warning("a daemonic process: reports are built on threads, not in processes")
    elif workers:
        # Forked from a fresh process (the fork server), not from this one: nothing of the
        # server's (its threads' locks, its files and their locks) goes with them.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        settings = dataclasses.replace(app[keys.SETTINGS], clock=time.time)
        processes = ProcessPoolExecutor(
            workers, context, initializer=_start, initargs=(settings, os.getpid())
        )
        # Started now, every one: the first request does not wait for them.
        await asyncio.gather(*(loop.run_in_executor(processes, _ready) for _ in range(workers)))
        app[keys.PROCESSES] = processes
    try:
        yield
    finally:
        if processes is not None:
            await loop.run_in_executor(None, processes.shutdown)
        await loop.run_in_executor(None, pool.shutdown)


async def off_loop(
    app: web.Application, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``fn(*args, **kwargs)`` on a worker thread; its answer (or its exception) here."""
    call = functools.partial(contextvars.copy_context().run, _settled, app, fn, *args, **kwargs)
    # A media node (no database, no threads of its own) uses the loop's default executor.
    return await asyncio.get_running_loop().run_in_executor(app.get(keys.THREADS), call)


def _settled(app: web.Application, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn``, then what it left uncommitted on this thread's connection committed: on the
    one shared connection of before, the next write of anyone's did that; a transaction left
    open on a thread's own connection would hold the database's write lock."""
    try:
        return fn(*args, **kwargs)
    finally:
        db = app.get(keys.DB)
        if isinstance(db, PerThread) and (own := db.mine()).in_transaction:
            own.commit()


async def read_off_loop(
    app: web.Application, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``off_loop`` for what only reads: everything it reads is of one moment of the database
    (``control.database.snapshot``)."""

    def read() -> T:
        with snapshot(app[keys.DB]):
            return fn(*args, **kwargs)

    return await off_loop(app, read)


async def in_worker(request: web.Request, handler: Handler) -> web.Response:
    """``handler(request)`` (a module-level function that only reads) in a report worker
    process, or on a worker thread when there are none; its response, or its error, here."""
    processes = request.app.get(keys.PROCESSES)
    if processes is None:
        return await read_off_loop(request.app, handler, request)
    asked = _Asked(
        handler,
        request.method,
        request.path_qs,
        list(request.headers.items()),
        dict(request.match_info),
        [(n, request[key]) for n, key in enumerate(CARRIED) if key in request],
        request.app[keys.SETTINGS].clock(),
    )
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(processes, _answer, asked)
    if isinstance(answer, _Refused):
        raise PageError(answer.status, answer.message, answer.code)
    return web.Response(status=answer.status, headers=CIMultiDict(answer.headers), body=answer.body)


@dataclasses.dataclass(frozen=True, slots=True)
class _Asked:
    handler: Handler
    method: str
    path_qs: str
    headers: list[tuple[str, str]]
    match_info: dict[str, str]
    carried: list[tuple[int, Any]]
    now: float


@dataclasses.dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class _Refused:
    status: int
    message: str
    code: str


class _JobClock:
    """A worker's clock: the server's time when the request came (tests inject theirs)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# A worker process's own application and clock, set once when it starts (the executor's
# initializer has nowhere else to put them); never set in the server's process.
_worker: dict[str, Any] = {}


def _start(settings: Settings, server: int) -> None:
    """In a worker: an application of the stores (on a connection of this process), the
    pages' templates and languages, on the clock of the request being answered."""
    threading.Thread(target=_end_with, args=(server,), daemon=True).start()
    with contextlib.suppress(OSError):
        os.nice(_NICE)  # the processor goes to the live classes first
    clock = _JobClock()
    settings = dataclasses.replace(settings, clock=clock)
    app = web.Application()
    app[keys.SETTINGS] = settings
    app[keys.TEMPLATES] = templates()
    app[keys.CATALOGUES] = load_catalogues(settings.languages)
    app[keys.SIGNER] = TokenSigner(settings.secret_key, clock)
    open_stores(app, connect(settings.database_path), settings)
    app.router.add_static("/static", STATIC, name="static", append_version=True)
    _worker.update(app=app, clock=clock)


def _end_with(server: int) -> None:
    """A worker whose server is gone (killed: it could not stop its workers) ends too, and the
    fork server it came from with the last of them."""
    while True:
        time.sleep(1.0)
        try:
            os.kill(server, 0)
        except (ProcessLookupError, PermissionError):  # gone (or the number is another's)
            os._exit(0)


def _ready() -> None:
    """Nothing: a first job makes the pool fork its workers."""


def _answer(asked: _Asked) -> _Answer | _Refused:
    app: web.Application = _worker["app"]
    _worker["clock"].now = asked.now
    request = make_mocked_request(
        asked.method,
        asked.path_qs,
        headers=CIMultiDict(asked.headers),
        match_info=asked.match_info,
        app=app,
    )
    for n, value in asked.carried:
        request[CARRIED[n]] = value
    try:
        with snapshot(app[keys.DB]):
            response = asked.handler(request)
    except PageError as exc:
        return _Refused(exc.status, exc.message, exc.code)
    except web.HTTPException as exc:  # a redirect to sign in, say
        sent = exc.body if isinstance(exc.body, bytes) else b""
        return _Answer(exc.status, list(exc.headers.items()), sent)
    body = response.body
    assert isinstance(body, bytes), "a worker's handler answers bytes"
    return _Answer(response.status, list(response.headers.items()), body)
