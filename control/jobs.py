"""The application's background jobs, each run now and again off the event loop for as long as
the application runs (``control.runtime.repeating``; ``web.core.contexts`` wires each to the
application, its worker threads the ``off_loop``): recordings past their keeping swept, each
finished day's chain heads published, the monthly guarantee's pass, notices collected and
mailed, the HR services' monthly mail. A job every 0 seconds is switched off."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from attendance.heads_folder import HeadsFolder
from attendance.sqlite_ledger import SqliteLedger
from scheduler.guarantee import Guarantee
from streaming.webm_recorder import sweep_recordings

from .guarantee_run import one_pass
from .hr_mail import HrMailer
from .ingest import write_digests
from .runtime import repeating

log = logging.getLogger("sabaq.web.app")  # the name its log lines always had

OffLoop = Callable[[Callable[[], object]], Awaitable[object]]
HOUR = 3600.0


@contextlib.asynccontextmanager
async def every(
    name: str, job: Callable[[], object], seconds: float, off_loop: OffLoop
) -> AsyncIterator[None]:
    """``job`` now and every ``seconds`` while the context lasts; nothing when ``seconds`` is 0."""
    if not seconds:
        yield
        return
    async with repeating(name, job, seconds, off_loop):
        yield


def recording_retention(
    recordings_dir: Path, days: float, off_loop: OffLoop
) -> contextlib.AbstractAsyncContextManager[None]:
    """Recordings older than ``days`` deleted, every hour."""
    return every(
        "recording-retention", lambda: sweep_recordings(recordings_dir, days), HOUR, off_loop
    )


def chain_digests(
    ledger: SqliteLedger, heads: HeadsFolder, clock: Callable[[], float], off_loop: OffLoop
) -> contextlib.AbstractAsyncContextManager[None]:
    """Publishes each finished day's chain heads (UTC), every hour."""
    return every("chain-digest", lambda: write_digests(ledger, heads, clock()), HOUR, off_loop)


def monthly_guarantee(
    job: Guarantee, seconds: float, clock: Callable[[], float], off_loop: OffLoop
) -> contextlib.AbstractAsyncContextManager[None]:
    """The monthly guarantee's pass (clause 9) at ``clock``'s moment, every ``seconds``."""
    return every("monthly-guarantee", functools.partial(one_pass, job, clock), seconds, off_loop)


def hr_mail(
    mailer: HrMailer, seconds: float, off_loop: OffLoop
) -> contextlib.AbstractAsyncContextManager[None]:
    """The agencies' HR services' monthly mail queued at the moments of the schedule staff set,
    looked at every ``seconds``."""

    def run() -> None:
        if queued := mailer.run_once():
            log.info("HR services' mail: %d queued", queued)

    return every("hr-mail", run, seconds, off_loop)
