"""A learner's own excuse request with its documents (clause 12: "on the learner's request to
the director, with the supporting documents"): the learner files it for themselves with PDF,
JPEG or PNG files (taken for what their bytes are, within the limits; anything wrong refused
with nothing kept), the files are downloaded only by those who see the request, staff may still
file for a learner, and the learner sees the decision, their debts and make-up classes."""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession, FormData
from aiohttp.test_utils import TestServer

from admission.status import NotAdmittedReason, StatusKey
from scheduler.models import ClassFormat, ClassKind, DisciplineFormat, ProgrammeKind
from tests.conftest import Academy, Client, SignIn
from tests.integration.attendance.test_reports import english
from web.core import keys
from web.core.settings import Settings

FILE_BYTES, TOTAL_BYTES, FILES = 100_000, 250_000, 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Small limits keep the test quick; the rule is the same at 5 MB and 15 MB.
    return replace(
        settings, excuse_files=FILES, excuse_file_bytes=FILE_BYTES, excuse_total_bytes=TOTAL_BYTES
    )


def pdf(extra: int = 0) -> bytes:
    return b"%PDF-1.7\n" + secrets.token_bytes(200 + extra) + b"\n%%EOF\n"


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    idat = zlib.compress(b"\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def form(group_id: int, learner_id: int, files: list[tuple[str, bytes]], **extra: str) -> FormData:
    data = FormData()
    for k, v in {
        "learner": f"{group_id}:{learner_id}",
        "reason": "illness",
        "first_day": "2026-03-02",
        "last_day": "2026-03-04",
        "document": "",
        "details": "Грипп",
        **extra,
    }.items():
        data.add_field(k, v)
    for name, content in files:
        data.add_field("documents", content, filename=name, content_type="application/pdf")
    return data


def raw_name_body(group_id: int, learner_id: int, name: bytes, content: bytes) -> tuple[bytes, str]:
    """A multipart body whose file name is raw bytes (not UTF-8), as a careless client sends."""
    boundary = "sabaqboundary" + secrets.token_hex(8)
    parts = []
    fields = {
        "learner": f"{group_id}:{learner_id}",
        "reason": "illness",
        "first_day": "2026-03-02",
        "last_day": "2026-03-04",
        "document": "",
        "details": "",
    }
    for k, v in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        )
    parts.append(
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="documents"; filename="'
        + name
        + b'"\r\nContent-Type: application/pdf\r\n\r\n'
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def stored(served: TestServer) -> list[Path]:
    folder = served.app[keys.SETTINGS].documents_dir
    return sorted(folder.iterdir()) if folder.exists() else []


def requests_of(served: TestServer, learner_id: int) -> int:
    return len(served.app[keys.EXCUSES].listed(learner_id=learner_id))


def filed(location: str) -> int:
    found = re.fullmatch(r"/excuses/(\d+)", location)
    assert found, location
    return int(found.group(1))


async def test_a_student_files_their_own_request_with_a_pdf_and_a_png(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    me = academy.student_ids[0]
    student = english(sign_in(me), served)
    home = await (await student.get("/")).text()
    assert 'href="/excuses/new"' in home  # "Request an excuse" from their home page
    listing = await (await student.get("/excuses")).text()
    assert 'href="/excuses/new"' in listing and "Request an excuse" in listing
    page = await student.get("/excuses/new")
    text = await page.text()
    assert page.status == 200 and 'enctype="multipart/form-data"' in text
    assert f'value="{academy.group_id}:{me}"' in text
    assert "Студент 02" not in text  # for themselves only: nobody else to choose

    scan, photo = pdf(), png()
    sent = await student.post(
        "/excuses",
        data=form(academy.group_id, me, [("Справка 095-у.pdf", scan), ("../../фото.PNG", photo)]),
        allow_redirects=False,
    )
    assert sent.status == 303, await sent.text()
    rid = filed(sent.headers["Location"])
    r = served.app[keys.EXCUSES].get(rid)
    assert r.learner_id == me and r.filed_by == me and r.group_id == academy.group_id
    docs = served.app[keys.EXCUSES].documents(rid)
    assert [(d.n, d.name, d.kind.value, d.size) for d in docs] == [
        (1, "Справка 095-у.pdf", "pdf", len(scan)),
        (2, "фото.png", "png", len(photo)),  # no folders in a kept name
    ]
    assert [d.sha256 for d in docs] == [hashlib.sha256(x).hexdigest() for x in (scan, photo)]
    # Kept under the data folder by random names, not in the static tree, not by their names.
    files = stored(served)
    assert {p.name for p in files} == {d.stored_as for d in docs}
    assert all(re.fullmatch(r"[0-9a-f]{32}", p.name) for p in files)
    assert r.document == "Справка 095-у.pdf; фото.png"  # the files' names stand for it

    own = await (await student.get(f"/excuses/{rid}")).text()
    assert "Awaiting the director&#39;s decision" in own or "Awaiting the director's" in own
    assert f'href="/excuses/{rid}/documents/1"' in own and "фото.png" in own

    got = await student.get(f"/excuses/{rid}/documents/2")
    assert got.status == 200 and await got.read() == photo
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%D1%84%D0%BE%D1%82%D0%BE.png" in got.headers["Content-Disposition"]
    assert (await student.get(f"/excuses/{rid}/documents/3")).status == 404

    # A student files for nobody else, and without a document at all nothing is filed.
    other = academy.student_ids[1]
    for_another = await student.post(
        "/excuses", data=form(academy.group_id, other, [("a.pdf", scan)])
    )
    assert for_another.status == 400 and requests_of(served, other) == 0
    bare = await student.post("/excuses", data=form(academy.group_id, me, [], document="Справка"))
    assert bare.status == 400 and "Attach the supporting documents" in await bare.text()
    assert requests_of(served, me) == 1 and len(stored(served)) == 2


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ([("справка.pdf", png())], "«справка.pdf» is not a PDF, JPEG or PNG"),  # a name that lies
        ([("скан.pdf", b"PK\x03\x04 a zip, not a pdf")], "«скан.pdf» is not a PDF"),
        ([("photo.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>")], "«photo.png» is not"),
        ([("big.pdf", pdf(FILE_BYTES))], "«big.pdf» is larger than"),
        ([("empty.pdf", b"")], "«empty.pdf» is empty"),
        ([(f"{i}.pdf", pdf()) for i in range(FILES + 1)], f"at most {FILES} files"),
        ([(f"{i}.pdf", pdf(FILE_BYTES - 300)) for i in range(FILES)], "more than 0.238419 MB"),
    ],
    ids=["lying-name", "zip", "svg", "oversized", "empty", "too-many", "total"],
)
async def test_wrong_documents_are_refused_by_name_and_nothing_is_kept(
    served: TestServer,
    academy: Academy,
    sign_in: SignIn,
    files: list[tuple[str, bytes]],
    says: str,
) -> None:
    me = academy.student_ids[0]
    student = english(sign_in(me), served)
    # A good file beside the wrong one is not kept either.
    sent = files if len(files) > 1 else [("ok.pdf", pdf()), *files]
    answer = await student.post("/excuses", data=form(academy.group_id, me, sent))
    text = await answer.text()
    assert answer.status == 400, text
    assert says in text, text
    assert requests_of(served, me) == 0 and stored(served) == []


async def test_a_file_name_that_is_not_utf8_is_refused(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    me = academy.student_ids[0]
    student = english(sign_in(me), served)
    body, kind = raw_name_body(academy.group_id, me, "справка".encode("cp1251") + b".pdf", pdf())
    answer = await student.post("/excuses", data=body, headers={"Content-Type": kind})
    text = await answer.text()
    assert answer.status == 400, text
    assert "cannot be read: rename it" in text
    assert requests_of(served, me) == 0 and stored(served) == []


async def test_only_those_who_see_the_request_download_its_documents(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    app = served.app
    accounts = app[keys.ACCOUNTS]
    me = academy.student_ids[0]
    scan = pdf()
    sent = await sign_in(me).post(
        "/excuses", data=form(academy.group_id, me, [("справка.pdf", scan)]), allow_redirects=False
    )
    rid = filed(sent.headers["Location"])
    director = accounts.by_login("director")[0].id
    head = accounts.by_login("head")[0].id
    for who in (academy.student_ids[1], academy.outsider_id, academy.other_teacher_id, head):
        client = sign_in(who)
        for path in (f"/excuses/{rid}", f"/excuses/{rid}/documents/1"):
            answer = await client.get(path)
            assert answer.status in (403, 404), (who, path, answer.status)
            assert scan not in await answer.read()
    # Nobody but staff and the learner files: not the teacher, the head or the director.
    for who in (academy.teacher_id, head, director):
        answer = await sign_in(who).post("/excuses", data=form(academy.group_id, me, []))
        assert answer.status == 403, who
    for who in (director, academy.staff_id, me):
        got = await sign_in(who).get(f"/excuses/{rid}/documents/1")
        assert got.status == 200 and await got.read() == scan, who
        assert got.headers["Content-Type"] == "application/pdf"


async def test_staff_file_for_a_learner_with_documents_and_the_learner_sees_the_outcome(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    app = served.app
    accounts, tt, admission = app[keys.ACCOUNTS], app[keys.TIMETABLE], app[keys.ADMISSION]
    me = academy.student_ids[0]
    staff = english(sign_in(academy.staff_id), served)
    photo = png()
    sent = await staff.post(
        "/excuses",
        data=form(academy.group_id, me, [("приказ.png", photo)], document="Приказ № 5-к"),
        allow_redirects=False,
    )
    assert sent.status == 303, await sent.text()
    rid = filed(sent.headers["Location"])
    r = app[keys.EXCUSES].get(rid)
    assert r.learner_id == me and r.filed_by == academy.staff_id and r.document == "Приказ № 5-к"
    # Staff may still file without a file, as before.
    plain = await staff.post(
        "/excuses", data=form(academy.group_id, me, [], document="Справка 2"), allow_redirects=False
    )
    assert plain.status == 303

    # A debt: the learner is not admitted to a discipline's controls.
    inst = tt.institute_of_group(academy.group_id).id
    programme = tt.add_programme("Магистратура", ProgrammeKind.POSTGRADUATE, inst)
    discipline = tt.add_discipline(programme.id, "Криминалистика", 5, DisciplineFormat.DISTANCE)
    admission.record(
        learner_id=me, key=StatusKey(programme.id, discipline.id), admitted=False,
        reason=NotAdmittedReason.ASSIGNMENTS_INCOMPLETE, note="Портал", by_id=academy.staff_id,
        by_name="Жанна Серикбаева", at=datetime(2026, 3, 1, 4, 0, tzinfo=UTC).timestamp(),
    )  # fmt: skip

    director = accounts.by_login("director")[0].id
    decided = await english(sign_in(director), served).post(
        f"/excuses/{rid}/decision",
        data={"decision": "approve", "comment": "Отработать до конца месяца"},
        allow_redirects=False,
    )
    assert decided.status == 303
    day = date(2026, 3, 20)
    makeup = tt.add_class(
        title="Отработка: криминалистика", kind=ClassKind.CONSULTATION,
        format=ClassFormat.LIVE_ONLINE, teacher_id=academy.teacher_id,
        starts_at=datetime(day.year, day.month, day.day, 7, 0, tzinfo=UTC),
        ends_at=datetime(day.year, day.month, day.day, 7, 45, tzinfo=UTC),
        group_ids=(academy.group_id,), learner_ids=(me,), on_day_off=True,
    )  # fmt: skip
    director_user = accounts.get(director)
    app[keys.EXCUSES].makeup_planned(rid, makeup.id, director, director_user.full_name, 2.0)

    page = await english(sign_in(me), served).get(f"/excuses/{rid}")
    text = await page.text()
    assert page.status == 200
    assert "Approved" in text and "Отработать до конца месяца" in text  # the decision, its comment
    assert "Your debts" in text and "Магистратура · Криминалистика" in text
    assert "assignments" in text.lower()
    assert f'href="/classes/{makeup.id}"' in text and "Отработка: криминалистика" in text
    zone = tt.group(academy.group_id).timezone
    local = makeup.starts_at.astimezone(ZoneInfo(zone))
    assert f"{local:%H:%M}" in text  # the make-up class's time in the group's zone
    assert f'href="/excuses/{rid}/documents/1"' in text


async def test_the_form_carries_its_csrf_token_in_the_multipart_body(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    me = academy.student_ids[0]
    student: Client = sign_in(me)
    token = student.session.headers.pop("X-CSRF-Token")  # as a browser: only the form's field
    data = form(academy.group_id, me, [("справка.pdf", pdf())])
    refused = await student.post("/excuses", data=data)
    assert refused.status == 403 and requests_of(served, me) == 0
    data = form(academy.group_id, me, [("справка.pdf", pdf())], csrf_token=token)
    sent = await student.post("/excuses", data=data, allow_redirects=False)
    assert sent.status == 303 and requests_of(served, me) == 1
    # A body over the documents' total is refused before it is read.
    big = form(academy.group_id, me, [("a.pdf", pdf(TOTAL_BYTES + 70_000))], csrf_token=token)
    assert (await student.post("/excuses", data=big)).status == 413
    assert requests_of(served, me) == 1 and len(stored(served)) == 1


async def test_only_those_who_may_file_may_send_the_larger_body(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """The documents' larger limit is for a signed-in student or staff sending a form with
    files: anyone else — not signed in, a teacher — keeps the usual limit, refused before any
    byte is parsed."""
    me = academy.student_ids[0]
    one_mb = form(academy.group_id, me, [("a.pdf", pdf(1_000_000))])
    async with ClientSession(base_url=served.make_url("/")) as anonymous:
        assert (await anonymous.post("/excuses", data=one_mb)).status == 413
    teacher = sign_in(academy.teacher_id)
    again = form(academy.group_id, me, [("a.pdf", pdf(1_000_000))])
    assert (await teacher.post("/excuses", data=again)).status == 413
    assert requests_of(served, me) == 0 and stored(served) == []
