"""The control plane's work off the event loop (``control.workers``) for this application: its
worker threads and processes, a job on a thread (``off_loop``), and a request answered in a
report worker process (``in_worker``): it is replayed there by a handler function of the pages,
with what the middlewares found (session, language, CSRF token, API key) and the server's
time, on an application of the stores of the worker's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from access.tokens import TokenSigner
from control import workers
from control.database import connect, snapshot
from control.workers import process_pool, thread_pool

from . import keys
from .http import API_KEY_KEY, CSRF_KEY, LANG_KEY, SESSION_KEY, PageError, templates
from .i18n import load_catalogues
from .settings import Settings
from .stores import open_stores

STATIC = Path(__file__).parents[1] / "static"
# What the middlewares found for a request, carried to the worker that answers it.
CARRIED: tuple[web.RequestKey[Any], ...] = (SESSION_KEY, API_KEY_KEY, LANG_KEY, CSRF_KEY)

P = ParamSpec("P")
T = TypeVar("T")
Handler = Callable[[web.Request], web.Response]
Prepare = Callable[[web.Request], None]


async def control_threads(app: web.Application) -> AsyncIterator[None]:
    """The worker threads and processes, stopped (their jobs finished) before the database
    closes."""
    pool = thread_pool()
    app[keys.THREADS] = pool
    settings = dataclasses.replace(app[keys.SETTINGS], clock=time.time)
    processes = await process_pool(
        settings.report_processes, _start, (settings, os.getpid()), [__name__]
    )
    if processes is not None:
        app[keys.PROCESSES] = processes
    loop = asyncio.get_running_loop()
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
    return await workers.off_loop(app.get(keys.THREADS), app.get(keys.DB), fn, *args, **kwargs)


async def read_off_loop(
    app: web.Application, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``off_loop`` for what only reads: everything it reads is of one moment of the database."""
    return await off_loop(app, workers.reading(app[keys.DB], fn), *args, **kwargs)


async def in_worker(
    request: web.Request, handler: Handler, prepare: Prepare | None = None
) -> web.Response:
    """``handler(request)`` (a module-level function that only reads) in a report worker
    process, or on a worker thread when there are none; its response, or its error, here.
    ``prepare(request)`` (module-level too), if given, runs there first, outside the moment of
    the database the handler reads: what it writes (what the handler will read, kept up to
    date) is there for the handler; its error is answered as the handler's would be."""
    processes = request.app.get(keys.PROCESSES)
    if processes is None:
        if prepare is not None:
            await off_loop(request.app, prepare, request)
        return await read_off_loop(request.app, handler, request)
    asked = _Asked(
        handler,
        prepare,
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
    prepare: Prepare | None
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


# A worker process's own application and clock, set once when it starts (the executor's
# initializer has nowhere else to put them); never set in the server's process.
_worker: dict[str, Any] = {}


def _start(settings: Settings, server: int) -> None:
    """In a worker: an application of the stores (on a connection of this process), the
    pages' templates and languages, on the clock of the request being answered."""
    workers.worker_started(server)
    clock = workers.JobClock()
    settings = dataclasses.replace(settings, clock=clock)
    app = web.Application()
    app[keys.SETTINGS] = settings
    app[keys.TEMPLATES] = templates()
    app[keys.CATALOGUES] = load_catalogues(settings.languages)
    app[keys.SIGNER] = TokenSigner(settings.secret_key, clock)
    open_stores(app, connect(settings.database_path), settings)
    app.router.add_static("/static", STATIC, name="static", append_version=True)
    _worker.update(app=app, clock=clock)


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
        if asked.prepare is not None:
            asked.prepare(request)
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
