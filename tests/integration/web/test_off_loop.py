"""The media's event loop never waits for the control plane: a large export is built in a
report worker process (or on a worker thread) while the loop goes on, and what it answers is
the same whichever builds it."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer
from openpyxl import load_workbook

from access.events import EventKind
from access.ids import uuid7
from access.models import Role
from attendance.models import IncomingEvent
from scheduler.models import ClassFormat, ClassKind
from tests.conftest import Academy, SignIn
from web.core import keys
from web.core.http import LANG_COOKIE

LEARNERS, CLASSES = 200, 20


def _large_month(served: TestServer, academy: Academy) -> str:
    """``LEARNERS`` more learners in the group and ``CLASSES`` held classes of theirs last
    month, each learner in each; the month, as the report asks for it."""
    app = served.app
    acc, tt, ledger = app[keys.ACCOUNTS], app[keys.TIMETABLE], app[keys.LEDGER]
    ids = [
        acc.create_user(login=f"many{i:03d}", full_name=f"Learner {i:03d}", role=Role.STUDENT).id
        for i in range(LEARNERS)
    ]
    tt.add_members(academy.group_id, ids)
    zone = ZoneInfo(tt.group(academy.group_id).timezone)
    now = datetime.fromtimestamp(app[keys.SETTINGS].clock(), zone)
    first = (now.replace(day=1) - timedelta(days=1)).replace(day=1, hour=9, minute=0)
    for n in range(CLASSES):
        start = (first + timedelta(days=n)).astimezone(UTC)
        c = tt.add_class(
            title=f"Lecture {n}", kind=ClassKind.LECTURE, format=ClassFormat.LIVE_ONLINE,
            teacher_id=academy.teacher_id, starts_at=start, ends_at=start + timedelta(hours=1),
            group_ids=(academy.group_id,), on_day_off=True,
        )  # fmt: skip
        at = start.timestamp()
        happened = [(EventKind.CLASS_STARTED, academy.teacher_id, at)]
        for uid in ids:
            happened += [(EventKind.JOINED, uid, at + 60), (EventKind.LEFT, uid, at + 3000)]
        ledger.append_many(
            IncomingEvent(
                id=str(uuid7()), kind=kind, class_id=c.id, node="media-1", node_seq=0,
                origin_time=t, user_id=uid, role="learner",
            )
            for kind, uid, t in happened
        )  # fmt: skip
    return f"{first:%Y-%m}"


@pytest.mark.timeout(180)
async def test_the_loop_goes_on_while_a_large_export_is_built(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    month = _large_month(served, academy)
    staff = sign_in(academy.staff_id)
    ticks = 0

    async def probe() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(probe())
    try:
        await asyncio.sleep(0)
        before = ticks
        async with staff.get(f"/reports/groups/{academy.group_id}.xlsx?month={month}") as resp:
            # From the request to its answer's head, the whole build: on the loop, the probe
            # would not have run at all meanwhile (a handful of ticks for the request's own
            # reading and writing); off it, the probe ran all along.
            during = ticks - before
            assert resp.status == 200, await resp.text()
            body = await resp.read()
    finally:
        task.cancel()
    assert during > 200, f"the event loop ran {during} times while the export was built"
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    names = {str(row[0]) for row in sheet.iter_rows(values_only=True)}
    assert {f"Learner {i:03d}" for i in range(LEARNERS)} <= names
    assert served.app[keys.SETTINGS].report_processes and keys.PROCESSES in served.app


@pytest.mark.timeout(120)
async def test_a_worker_answers_as_the_server_would(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """Refusals, redirects and the page's language come back from a report worker as they
    would from the server itself."""
    outsider = sign_in(academy.outsider_id)
    outsider.session.cookie_jar.update_cookies({LANG_COOKIE: "en"}, served.make_url("/"))
    async with outsider.get(f"/reports/groups/{academy.group_id}") as resp:
        assert resp.status == 403
        assert "teachers and staff see its reports." in await resp.text()
    async with outsider.get("/reports/groups/999999") as resp:
        assert resp.status == 404
    anonymous = sign_in(academy.staff_id)
    anonymous.session.cookie_jar.clear()
    async with anonymous.get(f"/reports/groups/{academy.group_id}", allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"].startswith("/signin?next=")
    staff = sign_in(academy.staff_id)
    staff.session.cookie_jar.update_cookies({LANG_COOKIE: "kk"}, served.make_url("/"))
    async with staff.get(f"/reports/groups/{academy.group_id}") as resp:
        assert resp.status == 200
        assert 'lang="kk"' in await resp.text()
