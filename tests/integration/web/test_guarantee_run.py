"""The monthly guarantee run now, on a fixed day: a dry run (API or ``sabaq guarantee --dry-run``)
says per group-month what the guarantee would plan, in the group's zone, and the alerts it
would raise, writing nothing; a run does just that; only staff, or a key with "schedule",
may run it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from itertools import chain
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from access.api_keys import Scope
from access.sqlite_store import SqliteAccounts
from scheduler.guarantee import CONFIRMED_UNANSWERED, Guarantee, GuaranteeRules
from scheduler.models import DEFAULT_TIMEZONE, ClassStatus, TimetableAction
from scheduler.planning import Actor
from scheduler.sqlite_store import SqliteTimetable
from tests.conftest import Academy, Clock, SignIn
from tests.integration.attendance.test_reports import english
from web import cli
from web.api.openapi import document
from web.core import keys
from web.core.app import ROUTE_TABLES
from web.core.settings import Settings

ALMATY = ZoneInfo(DEFAULT_TIMEZONE)


@pytest.fixture
def clock() -> Clock:
    """Wednesday 8 September 2027, 09:00 in Almaty: the seeded classes settle September."""
    return Clock(datetime(2027, 9, 8, 9, 0, tzinfo=ALMATY))


def _portal(served: TestServer, scopes: frozenset[Scope], staff_id: int) -> ClientSession:
    _key, secret = served.app[keys.API_KEYS].create("portal", scopes, staff_id)
    return ClientSession(
        base_url=served.make_url("/"), headers={"Authorization": f"Bearer {secret}"}
    )


def _written(db: sqlite3.Connection) -> tuple[int, int, int]:
    """Classes, timetable changes and alerts: what a pass writes."""
    return (
        db.execute("SELECT COUNT(*) FROM classes").fetchone()[0],
        db.execute("SELECT COUNT(*) FROM timetable_log").fetchone()[0],
        db.execute("SELECT COUNT(*) FROM guarantee_alerts").fetchone()[0],
    )


async def test_a_dry_run_says_what_the_run_then_does_and_writes_nothing(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt, db = served.app[keys.TIMETABLE], served.app[keys.DB]
    dept = tt.group(academy.group_id).department_id
    orphan = tt.add_group("ПД-24-9", dept, "kk", DEFAULT_TIMEZONE)  # nobody teaches it
    staff = english(sign_in(academy.staff_id), served)
    before = _written(db)
    dry = await staff.post("/api/v1/guarantee/run", json={"dry_run": True})
    assert dry.status == 200, await dry.text()
    would = await dry.json()
    assert _written(db) == before  # nothing planned, logged or raised
    assert would["dry_run"] is True
    # September is settled by the seeded classes; October is owed by both taught groups.
    months = {(c["group_id"], c["month"]) for c in would["classes"]}
    assert (academy.group_id, "2027-10") in months
    assert all(c["class_id"] is None for c in would["classes"])
    first = next(c for c in would["classes"] if c["group_id"] == academy.group_id)
    starts = datetime.fromisoformat(first["starts_at"])
    # Friday 1 October 2027, 09:00 in the group's zone (Almaty, UTC+5), shown as such.
    assert starts == datetime(2027, 10, 1, 9, 0, tzinfo=ALMATY)
    assert first["starts_at"].endswith("+05:00") and first["timezone"] == DEFAULT_TIMEZONE
    alert = {(a["group_id"], a["month"], a["reason"]) for a in would["alerts"]}
    assert (orphan.id, "2027-09", "no_teacher") in alert
    assert any("the group has no teacher" in a["message"] for a in would["alerts"])

    ran = await staff.post("/api/v1/guarantee/run", json={"dry_run": False})
    assert ran.status == 200
    did = await ran.json()
    assert did["dry_run"] is False
    # The run planned what the dry run said, at the same times, and raised its alerts.
    assert [(c["group_id"], c["month"], c["starts_at"]) for c in did["classes"]] == [
        (c["group_id"], c["month"], c["starts_at"]) for c in would["classes"]
    ]
    for c in did["classes"]:
        planned = tt.get_class(c["class_id"])
        assert planned.group_ids == (c["group_id"],)
        assert planned.starts_at == datetime.fromisoformat(c["starts_at"])
    assert {(a["group_id"], a["month"]) for a in did["alerts"]} == {
        (a["group_id"], a["month"]) for a in would["alerts"]
    }
    assert (orphan.id, "2027-09") in tt.open_alerts()
    # A second dry run, and run, find nothing left to do.
    again = await (await staff.post("/api/v1/guarantee/run", json={"dry_run": True})).json()
    assert again["classes"] == [] and again["alerts"] == []


async def test_who_may_run_the_guarantee(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    for who in (academy.student_ids[0], academy.teacher_id):
        refused = await sign_in(who).post("/api/v1/guarantee/run", json={"dry_run": False})
        assert refused.status == 403
    async with ClientSession(base_url=served.make_url("/")) as anyone:
        # Refused before it is read (a POST without a session or a key fails the CSRF check).
        assert (await anyone.post("/api/v1/guarantee/run", json={"dry_run": True})).status == 403
    staff = sign_in(academy.staff_id)
    for bad in ({"dry_run": "yes"}, {"dry_run": True, "extra": 1}, [True]):
        assert (await staff.post("/api/v1/guarantee/run", json=bad)).status == 400
    assert tt.open_alerts() == {} and len(tt.all_classes()) == 2  # the seeded two, untouched
    async with _portal(served, frozenset({Scope.READ}), academy.staff_id) as reader:
        assert (await reader.post("/api/v1/guarantee/run", json={"dry_run": True})).status == 403
    async with _portal(served, frozenset({Scope.SCHEDULE}), academy.staff_id) as portal:
        ran = await portal.post("/api/v1/guarantee/run", json={"dry_run": False})
        assert ran.status == 200 and (await ran.json())["classes"]
    doc = document(chain.from_iterable(ROUTE_TABLES))
    assert "runGuarantee" in {
        op.get("operationId") for op in doc["paths"]["/api/v1/guarantee/run"].values()
    }


async def test_the_command_prints_what_it_would_do_then_does_it(
    served: TestServer,
    academy: Academy,
    settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = served.app[keys.DB]
    monkeypatch.setenv("SABAQ_SECRET_KEY", "x" * 48)
    monkeypatch.setenv("SABAQ_DATA_DIR", str(settings.data_dir))
    at = clock.now().isoformat()
    before = _written(db)
    assert cli.main(["guarantee", "--dry-run", "--at", at]) == 0
    out = capsys.readouterr().out
    assert _written(db) == before
    assert f"2027-10 group {academy.group_id} (" in out
    assert "would plan on Fri 2027-10-01 09:00-10:20 Asia/Almaty" in out
    assert "nothing was written" in out

    # A run is as of now (its writes are real): never at a moment given.
    assert cli.main(["guarantee", "--run", "--at", at]) == 2
    assert "--at is for --dry-run only" in capsys.readouterr().err
    assert _written(db) == before
    with monkeypatch.context() as now_is:  # "now" for the command: this test's clock
        now_is.setattr(Settings, "from_env", classmethod(lambda cls, env=None: settings))
        assert cli.main(["guarantee", "--run"]) == 0
    out = capsys.readouterr().out
    assert "planned class" in out and "Fri 2027-10-01 09:00-10:20 Asia/Almaty" in out
    assert _written(db)[0] > before[0]
    assert cli.main(["guarantee", "--dry-run", "--at", at]) == 0
    assert "would plan 0 class(es), raise 0 alert(s)" in capsys.readouterr().out

    assert cli.main(["guarantee", "--dry-run", "--at", "tomorrow"]) == 2
    assert "not an ISO 8601 moment" in capsys.readouterr().err
    with pytest.raises(SystemExit) as neither:
        cli.main(["guarantee", "--at", at])
    assert neither.value.code == 2
    monkeypatch.setenv("SABAQ_DATA_DIR", str(settings.data_dir / "nowhere"))
    for how in ("--dry-run", "--run"):
        assert cli.main(["guarantee", how]) == 2
        assert "there is no database" in capsys.readouterr().err
    monkeypatch.delenv("SABAQ_SECRET_KEY")
    assert cli.main(["guarantee", "--dry-run"]) == 2


# -- the guarantee proposes, people confirm -----------------------------------------------------
async def test_its_classes_are_proposed_to_staff_and_the_groups_teachers_who_confirm_or_move_them(
    served: TestServer, academy: Academy, sign_in: SignIn, clock: Clock
) -> None:
    tt = served.app[keys.TIMETABLE]
    report = served.app[keys.GUARANTEE].run(clock.now())
    proposals = {tt.get_class(c).group_ids[0]: tt.get_class(c) for c in report.planned}
    mine, theirs = (
        proposals[academy.group_id],
        proposals[tt.groups_of_member(academy.outsider_id)[0].id],
    )
    assert mine.proposed and theirs.proposed and not report.confirmed  # October: weeks away
    card = f"/timetable/classes/{mine.id}"
    staff = english(sign_in(academy.staff_id), served)
    teacher = english(sign_in(academy.teacher_id), served)
    student = english(sign_in(academy.student_ids[0]), served)
    for who in (staff, teacher):
        html = await (await who.get(card)).text()
        assert "Proposed by the monthly guarantee" in html and f"{card}/confirm" in html
    week = f"/timetable/groups/{academy.group_id}?view=week&date=2027-10-01"
    assert "Proposed: confirm or move it" in await (await teacher.get(week)).text()
    # The learner sees a class like any other planned one.
    seen = await student.get(card)
    assert seen.status == 200 and "Proposed" not in await seen.text()
    shown = await (await student.get(week)).text()
    assert f'data-class-id="{mine.id}"' in shown and "Proposed" not in shown
    for refused in (student, english(sign_in(academy.other_teacher_id), served)):
        assert (await refused.post(f"{card}/confirm", allow_redirects=False)).status == 403
    assert tt.get_class(mine.id).proposed

    done = await teacher.post(f"{card}/confirm", allow_redirects=False)
    assert done.status == 303 and not tt.get_class(mine.id).proposed
    html = await (await staff.get(card)).text()
    assert "Proposed by the monthly guarantee" not in html and "· Confirmed" in html
    again = await teacher.post(f"{card}/confirm", allow_redirects=False)
    assert again.status == 303  # confirmed already: nothing to do
    # Staff move the other group's proposal: theirs now, no longer a proposal.
    moved = await staff.post(
        f"/timetable/classes/{theirs.id}/move",
        data={"day": "2027-10-05", "start": "11:00", "end": "12:20", "reason": ""},
        allow_redirects=False,
    )
    assert moved.status == 303, await moved.text()
    assert not tt.get_class(theirs.id).proposed
    assert served.app[keys.GUARANTEE].run(clock.now()).planned == []  # still settled


def test_an_unanswered_proposal_is_confirmed_by_the_guarantee_days_before(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, _ = timetable
    for c in tt.all_classes():  # the seeded classes start now; clear the slate
        tt.cancel_class(c.id, by=Actor(1, "Жанна"), reason="test")
    tt.set_active(tt.groups_of_member(a.outsider_id)[0].id, False)  # one group is enough
    job = Guarantee(tt, GuaranteeRules(months_ahead=0, confirm_days=3), lambda _g: "Онлайн")
    # Monday 2030-09-02 08:00 in Almaty; the first slot is Wednesday 4th 09:00, within three
    # days: nobody would have the time to answer, so it is confirmed at once.
    now = datetime(2030, 9, 2, 3, 0, tzinfo=UTC)
    first = job.run(now).planned[0]
    assert not tt.get_class(first).proposed
    # It is cancelled; on Friday 6th at 08:00 the next slot (with two days' notice) is Monday
    # 9th 09:00: three days and an hour ahead, so it waits for a person.
    tt.cancel_class(first, by=Actor(1, "Жанна"), reason="болезнь")
    friday = datetime(2030, 9, 6, 3, 0, tzinfo=UTC)
    report = job.run(friday)
    second = report.planned[0]
    c = tt.get_class(second)
    assert c.proposed and c.starts_at == datetime(2030, 9, 9, 4, 0, tzinfo=UTC)
    assert report.confirmed == []
    later = friday + timedelta(minutes=59)  # still more than three days before
    assert job.plan(later).confirming == [] and job.run(later).confirmed == []
    assert tt.get_class(second).proposed
    due = c.starts_at - timedelta(days=3)
    assert job.plan(due).confirming == [second] and tt.get_class(second).proposed  # dry
    assert job.run(due).confirmed == [second]
    confirmed = tt.get_class(second)
    assert not confirmed.proposed and confirmed.status is ClassStatus.PLANNED
    log = tt.changes(class_id=second)
    assert [ch.reason for ch in log if ch.action is TimetableAction.CONFIRMED] == [
        CONFIRMED_UNANSWERED
    ]
    assert job.run(due).confirmed == []  # once
