"""Quick questions in a live class, with real WebSocket peers: the teacher asks, six students
answer, the tally is right, a second answer and a late one are refused, anonymous answers
leave no name anywhere, named ones are in the ledger, the register, the history and exports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from access.events import EventKind
from access.models import ClassRole
from tests.conftest import Academy, Client, SignIn
from tests.peers import Peer, connect, join, ws_url
from web.core import keys
from web.core.http import LANG_COOKIE

OPTIONS = ["Astana", "Almaty", "=SUM(1+1)", "Shymkent"]


def english(client: Client, served: TestServer) -> Client:
    client.session.cookie_jar.update_cookies({LANG_COOKIE: "en"}, served.make_url("/"))
    return client


async def _results(peer: Peer, answered: int) -> dict[str, Any]:
    """The last results the peer was sent once ``answered`` students have answered."""
    async with asyncio.timeout(10):
        while True:
            got = [m for m in peer.messages if m["type"] == "question_results"]
            if got and got[-1]["answered"] == answered:
                return got[-1]
            await asyncio.sleep(0.02)


async def _error_after(peer: Peer, mark: int) -> str:
    return str((await peer.wait_for("error", after=mark))["code"])


async def _class(served: TestServer, academy: Academy, sign_in: SignIn) -> tuple[Peer, list[Peer]]:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    students = [await join(sign_in(u), academy.class_id) for u in academy.student_ids[:6]]
    return teacher, students


async def test_six_students_answer_a_named_question_once_within_its_time(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher, students = await _class(served, academy, sign_in)
    await teacher.send(
        "ask", text="The capital?", format="single", options=OPTIONS, anonymous=False, seconds=60
    )
    asked = [(await s.wait_for("question"))["question"] for s in students]
    q = asked[0]
    assert q["text"] == "The capital?" and q["options"] == OPTIONS and q["closed"] is False
    assert 55 < q["remaining"] <= 60 and q["anonymous"] is False
    choices = [0, 0, 1, 0, 3, 2]  # three say Astana
    for s, c in zip(students, choices, strict=True):
        await s.send("answer_question", question_id=q["id"], choices=[c])
        assert (await s.wait_for("answer_taken"))["choices"] == [c]
    shown = await _results(teacher, 6)
    assert shown["tally"] == [3, 1, 1, 1] and shown["present"] == 6 and shown["shown"] is False
    # Students are not shown the results until the teacher says so.
    assert not any(m["type"] == "question_results" for m in students[0].messages)

    # A second answer from the same student is refused, and not counted.
    mark = len(students[0].messages)
    await students[0].send("answer_question", question_id=q["id"], choices=[1])
    assert await _error_after(students[0], mark) == "already_answered"
    # Two choices where one is asked for; an option that is not there: refused, not counted.
    mark = len(students[1].messages)
    await students[1].send("answer_question", question_id="nope", choices=[1])
    assert await _error_after(students[1], mark) == "no_question"

    # A seventh student comes late, is shown the question, and answers after the time is up.
    late = await join(sign_in(academy.student_ids[6]), academy.class_id)
    assert (await late.wait_for("question"))["question"]["id"] == q["id"]
    room = served.app[keys.MEDIA_NODE].rooms[academy.class_id]
    real = room.question_clock
    room.question_clock = lambda: real() + 61.0
    mark = len(late.messages)
    await late.send("answer_question", question_id=q["id"], choices=[0])
    assert await _error_after(late, mark) == "question_closed"
    assert (await _results(teacher, 6))["tally"] == [3, 1, 1, 1]

    # The teacher shows the results to everyone, then closes the question.
    await teacher.send("show_results", question_id=q["id"], on=True)
    got = await late.wait_for("question_results")
    assert got["tally"] == [3, 1, 1, 1] and got["shown"] is True
    await teacher.send("close_question", question_id=q["id"])
    closed = await students[2].wait_for("question", after=len(students[2].messages))
    assert closed["question"]["closed"] is True

    await served.app[keys.MEDIA_NODE].outbox.flush()
    events = [le.event for le in served.app[keys.LEDGER].events(academy.class_id)]
    answered = [e for e in events if e.kind is EventKind.QUESTION_ANSWERED]
    assert {e.user_id: e.data["choices"] for e in answered} == {
        u: [c] for u, c in zip(academy.student_ids[:6], choices, strict=True)
    }
    [asked_event] = [e for e in events if e.kind is EventKind.QUESTION_ASKED]
    assert asked_event.user_id == academy.teacher_id and asked_event.data["options"] == OPTIONS
    [closed_event] = [e for e in events if e.kind is EventKind.QUESTION_CLOSED]
    assert closed_event.data["tally"] == [3, 1, 1, 1] and closed_event.data["answered"] == 6

    # The register shows each student's answer beside their presence, and its export too,
    # the teacher's option that looks like a formula kept as text.
    staff = english(sign_in(academy.staff_id), served)
    page = await (await staff.get(f"/classes/{academy.class_id}/attendance")).text()
    assert "Answers to quick questions" in page and "The capital?" in page
    live = await staff.get(f"/classes/{academy.class_id}/attendance/live")
    async with asyncio.timeout(5):  # the live register carries the answers too
        while not (line := (await live.content.readline()).decode()).startswith("data:"):
            pass
    live.close()
    pushed = {r["user_id"]: r["answers"] for r in json.loads(line[5:])["rows"]}
    assert pushed[academy.student_ids[2]][0].startswith("1. Almaty (")
    accounts = served.app[keys.ACCOUNTS]
    first = accounts.get(academy.student_ids[0]).full_name
    resp = await staff.get(f"/classes/{academy.class_id}/attendance.csv")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    header = next(r for r in rows if r and r[0] == "Student")
    col = header.index("Answers to quick questions")
    by_name = {r[0]: r for r in rows if len(r) == len(header)}
    assert by_name[first][col].startswith("1. The capital?: Astana (")
    sixth = accounts.get(academy.student_ids[5]).full_name
    assert by_name[sixth][col].startswith("1. The capital?: =SUM(1+1) (")
    # No cell starts a formula, whichever separator a spreadsheet splits on.
    cells = [c for r in rows for c in r] + [p for r in rows for c in r for p in c.split(";")]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]
    assert by_name[accounts.get(academy.student_ids[6]).full_name][col] == ""
    assert any("Question 1 (named): The capital?" in r[0] for r in rows if r)
    xlsx = await staff.get(f"/classes/{academy.class_id}/attendance.xlsx")
    assert xlsx.status == 200

    # The student's own history shows their answer to the class's question.
    own = english(sign_in(academy.student_ids[4]), served)
    resp = await own.get(f"/reports/learners/{academy.student_ids[4]}.csv")
    assert resp.status == 200
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    header = next(r for r in rows if r and r[0] == "Class start")
    col = header.index("Answers to quick questions")
    listed = [r for r in rows[rows.index(header) + 1 :] if len(r) == len(header)]
    assert [r[col].split(" (")[0] for r in listed] == ["1. The capital?: Shymkent"]
    page = await (await own.get(f"/reports/learners/{academy.student_ids[4]}")).text()
    assert "The capital?: Shymkent" in page
    for p in (teacher, late, *students):
        await p.close()


async def test_anonymous_answers_are_counted_and_stored_with_no_name(
    served: TestServer, academy: Academy, sign_in: SignIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    teacher, students = await _class(served, academy, sign_in)
    await teacher.send(
        "ask", text="Was it clear?", format="yes_no", options=[], anonymous=True, seconds=30
    )
    q = (await students[0].wait_for("question"))["question"]
    assert q["options"] == ["yes", "no"] and q["anonymous"] is True
    caplog.clear()
    for s, c in zip(students, [0, 0, 0, 1, 0, 1], strict=True):
        await s.send("answer_question", question_id=q["id"], choices=[c])
        await s.wait_for("answer_taken")
    assert (await _results(teacher, 6))["tally"] == [4, 2]
    mark = len(students[3].messages)
    await students[3].send("answer_question", question_id=q["id"], choices=[0])
    assert await _error_after(students[3], mark) == "already_answered"
    mark = len(teacher.messages)
    await teacher.send("close_question", question_id=q["id"])
    assert (await teacher.wait_for("question", after=mark))["question"]["closed"] is True
    await served.app[keys.MEDIA_NODE].outbox.flush()

    accounts = served.app[keys.ACCOUNTS]
    names = [accounts.get(u).full_name for u in academy.student_ids[:6]]
    ids = set(academy.student_ids[:6])
    for record in caplog.records:  # nothing logged while they answered names any of them
        text = record.getMessage()
        assert not any(n in text for n in names), text
        assert not any(f"user={u}" in text or f" {u} " in f" {text} " for u in ids), text
    events = [le.event for le in served.app[keys.LEDGER].events(academy.class_id)]
    assert not [e for e in events if e.kind is EventKind.QUESTION_ANSWERED]
    question_events = [e for e in events if e.kind.value.startswith("question_")]
    assert {e.user_id for e in question_events} <= {academy.teacher_id, None}
    assert all(e.participant_id is None or e.role == "host" for e in question_events)
    [closed] = [e for e in question_events if e.kind is EventKind.QUESTION_CLOSED]
    assert closed.data["tally"] == [4, 2] and closed.data["answered"] == 6

    # The register shows the tally (in the reader's language), nobody's answer.
    staff = english(sign_in(academy.staff_id), served)
    resp = await staff.get(f"/classes/{academy.class_id}/attendance.csv")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert any("Question 1 (anonymous): Was it clear? — Yes: 4, No: 2" in r[0] for r in rows if r)
    header = next(r for r in rows if r and r[0] == "Student")
    col = header.index("Answers to quick questions")
    assert all(r[col] == "" for r in rows[rows.index(header) + 1 :] if len(r) == len(header))
    for p in (teacher, *students):
        await p.close()


async def test_who_may_ask_and_what_the_rules_refuse(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """A question the rules refuse is answered with an error and the asker stays; a second
    question waits for the first to close; a student may not ask; a choice is checked."""
    teacher, students = await _class(served, academy, sign_in)
    a, b = students[:2]
    mark = len(teacher.messages)
    await teacher.send(
        "ask", text="One?", format="single", options=["only"], anonymous=False, seconds=30
    )
    assert await _error_after(teacher, mark) == "bad_question"
    mark = len(teacher.messages)
    await teacher.send(
        "ask", text="Long?", format="yes_no", options=[], anonymous=False, seconds=3600
    )
    assert await _error_after(teacher, mark) == "bad_question"
    await teacher.send(
        "ask", text="Pick", format="multiple", options=["a", "b", "c"], anonymous=False, seconds=30
    )
    q = (await a.wait_for("question"))["question"]
    mark = len(teacher.messages)
    await teacher.send(
        "ask", text="Again", format="yes_no", options=[], anonymous=False, seconds=30
    )
    assert await _error_after(teacher, mark) == "question_open"
    mark = len(a.messages)
    await a.send("answer_question", question_id=q["id"], choices=[5])
    assert await _error_after(a, mark) == "bad_choice"
    await a.send("answer_question", question_id=q["id"], choices=[2, 0])  # several: allowed
    assert (await a.wait_for("answer_taken"))["choices"] == [0, 2]
    assert (await _results(teacher, 1))["tally"] == [1, 0, 1]
    await teacher.send("ping")  # the teacher is still in the class after the refusals
    await teacher.wait_for("pong")
    await b.send("ask", text="Me?", format="yes_no", options=[], anonymous=False, seconds=30)
    assert (await b.wait_for("error"))["code"] == "not_allowed"
    for p in (teacher, *students):
        await p.close()


async def test_a_presenter_asks_and_the_end_of_the_class_keeps_the_open_questions_tally(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher, students = await _class(served, academy, sign_in)
    token = served.app[keys.SIGNER].mint_join(
        user_id=academy.other_teacher_id,
        class_id=academy.class_id,
        role=ClassRole.PRESENTER,
        display_name="Guest",
        media_url="",
    )
    presenter = await connect(ws_url(sign_in(academy.staff_id), academy.class_id), token)
    await presenter.wait_for("welcome")
    await presenter.send(
        "ask", text="Clear?", format="yes_no", options=[], anonymous=True, seconds=120
    )
    q = (await students[0].wait_for("question"))["question"]
    for s in students[:4]:
        await s.send("answer_question", question_id=q["id"], choices=[1])
        await s.wait_for("answer_taken")
    assert (await _results(presenter, 4))["tally"] == [0, 4]
    assert (await _results(teacher, 4))["tally"] == [0, 4]  # the teacher sees it too
    await teacher.send("end_class")
    await students[0].wait_for("ended")
    await served.app[keys.MEDIA_NODE].outbox.flush()
    kinds = [le.event for le in served.app[keys.LEDGER].events(academy.class_id)]
    order = [e.kind for e in kinds if e.kind in (EventKind.QUESTION_CLOSED, EventKind.CLASS_ENDED)]
    assert order == [EventKind.QUESTION_CLOSED, EventKind.CLASS_ENDED]
    [closed] = [e for e in kinds if e.kind is EventKind.QUESTION_CLOSED]
    assert closed.data["tally"] == [0, 4]
    [asked] = [e for e in kinds if e.kind is EventKind.QUESTION_ASKED]
    assert (asked.user_id, asked.role) == (academy.other_teacher_id, "presenter")
    for p in (teacher, presenter, *students):
        await p.close()
