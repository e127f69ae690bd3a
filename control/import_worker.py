"""An uploaded list of members is read in a worker process of its own, never on the event loop.

Reading a spreadsheet is pure Python that holds the interpreter's lock: in a thread it would
still stall every live class of the process, and a thread cannot be stopped. So each upload is
read by ``python -m control.import_worker``, which gets the file on its standard input, lowers its
own priority and caps its memory, and answers the rows (or the reason the file is refused) as
JSON on its standard output. A worker that runs past its deadline is killed, and the file refused.
At most ``WORKERS`` read at once per process; the others wait their turn.

The limits a file is held to are the roster's (``scheduler.roster``); this module only moves the
reading to another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import weakref
from typing import Any

from scheduler.roster import MAX_FILE, FileProblem, RosterFileError, RosterRow, parse

log = logging.getLogger("sabaq.control.import_worker")

DEADLINE = 20.0  # seconds a worker may read a file for (the slowest within the limits: ~2 s)
WORKERS = 2  # files read at once
WORKER_MEMORY = 1024 * 1024 * 1024  # bytes of address space a worker may take
_NICE = 10  # a worker yields the processor to the live classes

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = _slots[loop] = asyncio.Semaphore(WORKERS)
    return slot


async def parse_in_worker(data: bytes, deadline: float = DEADLINE) -> list[RosterRow]:
    """``scheduler.roster.parse`` of ``data``, read in a worker process killed at ``deadline``.

    Raises ``RosterFileError`` as ``parse`` does, with ``TOO_SLOW`` for a worker that ran out of
    time and ``UNREADABLE`` for one that failed (out of memory, say)."""
    if len(data) > MAX_FILE:  # no worker for what is refused on its size alone
        raise RosterFileError(FileProblem.TOO_LARGE, f"{len(data)} bytes")
    async with _slot():
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(deadline):
                out, err = await proc.communicate(data)
        except TimeoutError:
            raise RosterFileError(FileProblem.TOO_SLOW, f"over {deadline:g} s") from None
        finally:
            if proc.returncode is None:  # out of time, or the request was cancelled
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
    try:
        answer: dict[str, Any] = json.loads(out)
    except ValueError:
        log.warning(
            "import worker exited with %s: %s",
            proc.returncode,
            err.decode(errors="replace")[-2000:],
        )
        raise RosterFileError(FileProblem.UNREADABLE, f"worker exit {proc.returncode}") from None
    if "problem" in answer:
        raise RosterFileError(FileProblem(answer["problem"]), str(answer.get("detail", "")))
    return [RosterRow(int(n), *(str(x) for x in rest)) for n, *rest in answer["rows"]]


def _limit_self() -> None:
    import resource

    with contextlib.suppress(OSError):
        os.nice(_NICE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))


def main() -> int:
    """The worker: a file on standard input, its rows or its problem on standard output."""
    _limit_self()
    data = sys.stdin.buffer.read(MAX_FILE + 1)
    answer: dict[str, Any]
    try:
        rows = parse(data)
    except RosterFileError as exc:
        answer = {"problem": exc.problem.value, "detail": str(exc)}
    else:
        answer = {
            "rows": [
                [r.line, r.login, r.full_name, r.agency, r.role, r.department, r.email]
                for r in rows
            ]
        }
    sys.stdout.buffer.write(json.dumps(answer).encode("ascii"))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
