"""Guest requests (clause 10): who may file, decide, revoke and reset; an invite's life as a
state machine; two browsers redeeming at once, one wins."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import ClientResponse, ClientSession, CookieJar
from aiohttp.test_utils import TestServer
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from access.events import EventKind
from access.models import Role, User
from access.sqlite_store import SqliteAccounts
from admission.guest_service import (
    check_decide,
    check_file,
    check_reset,
    check_revoke,
    redeem,
)
from admission.guests import GuestAction, GuestStatus, InviteRefusal
from admission.sqlite_guests import SqliteGuests
from control.database import connect
from scheduler.models import ClassStatus
from scheduler.planning import SABAQ
from scheduler.sqlite_store import SqliteTimetable
from tests.browser.test_browser import GUEST_NAME, approved_guest
from tests.conftest import Academy, SignIn, seed_into
from tests.integration.attendance.test_reports import english
from tests.peers import connect as connect_peer
from tests.peers import join, publish, wait_gone
from web.core import keys
from web.pages.invites import guest_user_id

LEAD = 1800.0  # the invite opens half an hour before the class


def fields() -> dict[str, str | bool]:
    return {
        "guest_name": "Ержан Тоқтаров", "organisation": "Бас прокуратура",
        "position": "прокурор", "contact": "+7 701 000 00 00", "topic": "Қылмыстық іс",
        "justification": "Тәжірибемен бөлісу", "presents": True,
    }  # fmt: skip


# -- who may do what ------------------------------------------------------------------------------
def test_only_the_head_files_and_only_the_director_decides_and_revokes(
    timetable: tuple[SqliteTimetable, Academy, SqliteAccounts],
) -> None:
    tt, a, accounts = timetable
    c = tt.get_class(a.class_id)
    people = {u.role.value + ":" + u.login: u for u in accounts.many(range(1, 100)).values()}
    other_director = accounts.create_user(
        login="dir2", full_name="Басқа Директор", role=Role.DIRECTOR
    )
    other_head = accounts.create_user(
        login="head2", full_name="Басқа Меңгеруші", role=Role.HEAD_OF_DEPARTMENT
    )
    inst = tt.add_institute("Басқа институт", other_director.id)
    tt.add_department(inst.id, "Басқа кафедра", other_head.id)
    admin = accounts.create_user(login="admin", full_name="Әкімші", role=Role.ADMIN)
    everyone: list[User] = [*people.values(), other_director, other_head, admin]
    director = accounts.by_login("director")[0]
    head = accounts.by_login("head")[0]
    allowed = {
        "file": {head.id},
        "decide": {director.id},
        "revoke": {director.id},
        "reset": {director.id, a.staff_id, admin.id},
    }
    checks = {"file": check_file, "decide": check_decide, "revoke": check_revoke,
              "reset": check_reset}  # fmt: skip
    for action, check in checks.items():
        for user in everyone:
            try:
                check(tt, c, user)
                ok = True
            except Exception:
                ok = False
            assert ok == (user.id in allowed[action]), (action, user.login, user.role)
    # Nothing is filed or revoked for a class that is over.
    tt.set_status(c.id, ClassStatus.LIVE)
    tt.set_status(c.id, ClassStatus.HELD)
    with pytest.raises(Exception, match="held"):
        check_file(tt, tt.get_class(c.id), head)
    with pytest.raises(Exception, match="nothing to revoke"):
        check_revoke(tt, tt.get_class(c.id), director)


# -- the invite's life ----------------------------------------------------------------------------
class InviteLife(RuleBasedStateMachine):
    """Request → approve/reject → redeem → redeem again → revoke → redeem, with the clock and
    the class moving on; every redemption answers as the model says."""

    def __init__(self) -> None:
        super().__init__()
        self.db = connect(":memory:")
        accounts, self.tt = SqliteAccounts(self.db), SqliteTimetable(self.db)
        self.academy = seed_into(accounts, self.tt, students=2)
        self.guests = SqliteGuests(self.db)
        c = self.tt.get_class(self.academy.class_id)
        self.start = c.starts_at.timestamp()
        self.end = c.ends_at.timestamp()
        self.now = self.start - 2 * LEAD
        r = self.guests.file(class_id=c.id, by_id=1, by_name="Меңгеруші", at=self.now,
                             **fields())  # type: ignore[arg-type]  # fmt: skip
        self.request_id = r.id
        self.token: str | None = None
        self.status = GuestStatus.PENDING
        self.bound: str | None = None
        self.class_status = ClassStatus.PLANNED

    def teardown(self) -> None:
        self.db.close()

    @precondition(lambda self: self.status is GuestStatus.PENDING)
    @rule()
    def approve(self) -> None:
        _r, self.token = self.guests.approve(self.request_id, 1, "Директор", "", self.now)
        self.status = GuestStatus.APPROVED

    @precondition(lambda self: self.status is GuestStatus.PENDING)
    @rule()
    def reject(self) -> None:
        self.guests.reject(self.request_id, 1, "Директор", "жоқ", self.now)
        self.status = GuestStatus.REJECTED

    @precondition(lambda self: self.status is GuestStatus.APPROVED)
    @rule()
    def revoke(self) -> None:
        self.guests.revoke(self.request_id, 1, "Директор", "", self.now)
        self.status = GuestStatus.REVOKED

    @rule()
    def reset(self) -> None:
        self.guests.reset(self.request_id, 1, "Қызметкер", self.now)
        self.bound = None

    @rule(minutes=st.integers(0, 120))
    def wait(self, minutes: int) -> None:
        self.now += minutes * 60

    @precondition(lambda self: self.class_status is ClassStatus.PLANNED)
    @rule()
    def teacher_starts(self) -> None:
        self.tt.set_status(self.academy.class_id, ClassStatus.LIVE)
        self.class_status = ClassStatus.LIVE

    @precondition(lambda self: self.class_status is ClassStatus.LIVE)
    @rule()
    def teacher_ends(self) -> None:
        self.tt.set_status(self.academy.class_id, ClassStatus.HELD)
        self.class_status = ClassStatus.HELD

    @rule(device=st.sampled_from(["laptop", "phone"]), forged=st.booleans())
    def redeem(self, device: str, forged: bool) -> None:
        token = (self.token or "") + ("x" if forged else "")
        got = redeem(self.guests, self.tt, token, device, self.now, LEAD)
        expected: InviteRefusal | None
        if forged or self.token is None:
            expected = InviteRefusal.UNKNOWN
        elif self.status is GuestStatus.REVOKED:
            expected = InviteRefusal.REVOKED
        elif self.status is not GuestStatus.APPROVED:
            expected = InviteRefusal.NOT_APPROVED
        elif self.class_status is ClassStatus.HELD:
            expected = InviteRefusal.CLASS_ENDED
        elif self.class_status is ClassStatus.PLANNED and self.now < self.start - LEAD:
            expected = InviteRefusal.NOT_YET_VALID  # (a class started early is open at once)
        elif self.class_status is ClassStatus.PLANNED and self.now >= self.end:
            expected = InviteRefusal.EXPIRED
        elif self.bound is not None and self.bound != device:
            expected = InviteRefusal.OTHER_DEVICE
        else:
            expected = None
            self.bound = device
        assert got.refused == expected, (got.refused, expected)

    @invariant()
    def history_is_whole(self) -> None:
        steps = self.guests.steps(self.request_id)
        assert steps[0].action is GuestAction.FILED
        assert self.guests.get(self.request_id).status is self.status


InviteLife.TestCase.settings = hsettings(max_examples=60, stateful_step_count=25, deadline=None)
test_an_invite_answers_every_path_as_the_model_says = InviteLife.TestCase


def test_of_two_browsers_redeeming_at_once_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "sabaq.sqlite3"
    db = connect(path)
    accounts, tt = SqliteAccounts(db), SqliteTimetable(db)
    a = seed_into(accounts, tt, students=2)
    guests = SqliteGuests(db)
    r = guests.file(class_id=a.class_id, by_id=1, by_name="Меңгеруші",
                    at=datetime.now(UTC).timestamp(), **fields())  # type: ignore[arg-type]  # fmt: skip
    _r, token = guests.approve(r.id, 1, "Директор", "", datetime.now(UTC).timestamp())
    for round_ in range(10):
        guests.reset(r.id, 1, "Қызметкер", 0.0)
        barrier = threading.Barrier(2)
        results: dict[str, bool] = {}

        def go(
            device: str,
            barrier: threading.Barrier = barrier,
            results: dict[str, bool] = results,
        ) -> None:
            own = connect(path)  # each browser's request on its own connection
            try:
                barrier.wait()
                now = (datetime.now(UTC) + timedelta(minutes=1)).timestamp()
                results[device] = redeem(SqliteGuests(own), SqliteTimetable(own), token,
                                         device, now, LEAD).refused is None  # fmt: skip
            finally:
                own.close()

        threads = [threading.Thread(target=go, args=(d,)) for d in ("laptop", "phone")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) == [False, True], (round_, results)
    db.close()


# -- through the pages ----------------------------------------------------------------------------
async def test_the_head_files_the_director_approves_and_the_invite_admits_one_browser(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    accounts = served.app[keys.ACCOUNTS]
    head = accounts.by_login("head")[0].id
    director = accounts.by_login("director")[0].id
    form = {k: str(v) for k, v in fields().items() if k != "presents"} | {"presents": "1"}
    for who in (academy.teacher_id, academy.staff_id, director, academy.student_ids[0]):
        refused = await sign_in(who).post(f"/classes/{academy.class_id}/guests", data=form)
        assert refused.status == 403, who
    filer = english(sign_in(head), served)
    page = await filer.get(f"/classes/{academy.class_id}")
    assert f"/classes/{academy.class_id}/guests/new" in await page.text()
    empty = await filer.post(f"/classes/{academy.class_id}/guests", data=form | {"topic": " "})
    assert empty.status == 400 and "Fill in every field" in await empty.text()
    filed = await filer.post(
        f"/classes/{academy.class_id}/guests", data=form, allow_redirects=False
    )
    assert filed.status == 303
    rid = int(filed.headers["Location"].rsplit("/", 1)[1])

    for who in (head, academy.staff_id, academy.teacher_id):
        resp = await sign_in(who).post(f"/guests/{rid}/decision", data={"decision": "approve"})
        assert resp.status == 403, who
    boss = english(sign_in(director), served)
    queue = await (await boss.get("/guests")).text()
    assert f'href="/guests/{rid}"' in queue and "Ержан Тоқтаров" in queue
    assert "Марат Искаков" in queue and "Тәжірибемен бөлісу" in queue  # teacher, justification
    approved = await boss.post(f"/guests/{rid}/decision", data={"decision": "approve"})
    html = await approved.text()
    found = re.search(r'value="(https?://[^"]+/invite/([A-Za-z0-9_-]+))"', html)
    assert approved.status == 200 and found, html[:500]
    token = found.group(2)
    assert len(token) >= 43  # 256 bits, base64
    again = await (await boss.get(f"/guests/{rid}")).text()
    assert token not in again  # shown once; only its hash is kept

    teacher_page = await (
        await sign_in(academy.teacher_id).get(f"/classes/{academy.class_id}")
    ).text()
    assert "Ержан Тоқтаров" in teacher_page and "Бас прокуратура" in teacher_page

    async with (
        ClientSession(cookie_jar=CookieJar(unsafe=True)) as laptop,
        ClientSession(cookie_jar=CookieJar(unsafe=True)) as phone,
    ):
        unknown = await laptop.get(served.make_url("/invite/" + "A" * 43))
        assert unknown.status == 404

        async def come_in(browser: ClientSession) -> ClientResponse:
            csrf = next(c.value for c in browser.cookie_jar if c.key == "sabaq_csrf")
            return await browser.post(
                served.make_url(f"/invite/{token}/join-token"),
                headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
            )

        scanner = await phone.get(served.make_url(f"/invite/{token}"))
        assert scanner.status == 200  # merely opening (a mail scanner) binds nothing
        first = await laptop.get(served.make_url(f"/invite/{token}"))
        assert first.status == 200 and "Ержан Тоқтаров" in await first.text()
        waiting = await come_in(laptop)  # asking to come in binds this browser
        assert waiting.status == 200 and (await waiting.json())["state"] == "waiting"
        assert (await laptop.get(served.make_url(f"/invite/{token}"))).status == 200
        other = await phone.get(served.make_url(f"/invite/{token}"))
        assert other.status == 403  # another browser
        assert (await come_in(phone)).status == 403
        reset = await sign_in(academy.staff_id).post(f"/guests/{rid}/reset")
        assert reset.status == 200
        assert (await phone.get(served.make_url(f"/invite/{token}"))).status == 200
        assert (await come_in(phone)).status == 200  # now this browser's (waiting)
        assert (await laptop.get(served.make_url(f"/invite/{token}"))).status == 403
        revoked = await boss.post(f"/guests/{rid}/revoke", data={"comment": "өзгерді"})
        assert revoked.status == 200
        assert (await phone.get(served.make_url(f"/invite/{token}"))).status == 403
    steps = [s.action for s in served.app[keys.GUESTS].steps(rid)]
    assert steps == [
        GuestAction.FILED, GuestAction.APPROVED, GuestAction.REDEEMED, GuestAction.RESET,
        GuestAction.REDEEMED, GuestAction.REVOKED,
    ]  # fmt: skip


# -- into the class -------------------------------------------------------------------------------
async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def test_a_presenting_guest_waits_for_the_teacher_presents_and_is_removed_on_revocation(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    app = served.app
    accounts, tt, guests = app[keys.ACCOUNTS], app[keys.TIMETABLE], app[keys.GUESTS]
    head = accounts.by_login("head")[0]
    r = guests.file(class_id=academy.class_id, by_id=head.id, by_name=head.full_name,
                    at=time.time(), **fields())  # type: ignore[arg-type]  # fmt: skip
    director = accounts.by_login("director")[0]
    _r, token = guests.approve(r.id, director.id, director.full_name, "", time.time())

    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
        lobby = await browser.get(served.make_url(f"/invite/{token}"))
        assert lobby.status == 200
        csrf = next(c.value for c in browser.cookie_jar if c.key == "sabaq_csrf")

        async def ask() -> ClientResponse:
            return await browser.post(
                served.make_url(f"/invite/{token}/join-token"),
                headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
            )

        waiting = await ask()
        assert waiting.status == 200 and (await waiting.json())["state"] == "waiting"

        teacher = await join(sign_in(academy.teacher_id), academy.class_id)
        await publish(teacher)
        await _until(lambda: tt.get_class(academy.class_id).status is ClassStatus.LIVE)
        student = await join(sign_in(academy.student_ids[0]), academy.class_id)
        grant = await ask()
        assert grant.status == 200, await grant.text()
        body = await grant.json()
        assert body["role"] == "presenter"
        guest = await connect_peer(
            str(served.make_url(f"/media/classes/{academy.class_id}/ws")).replace(
                "http://", "ws://"
            ),
            body["token"],
        )
        welcome = await guest.wait_for("welcome")
        gid = welcome["participant_id"]
        await publish(guest)  # like the teacher: no floor needed
        # The student sees and hears the guest; the teacher's roster marks them a guest.
        await _until(lambda: student.audio_by_source.get(gid, 0) > 5, timeout=15)
        roster = [m for m in teacher.messages if m["type"] == "roster"][-1]["participants"]
        (mark,) = [p for p in roster if p["id"] == gid]
        assert mark["role"] == "presenter" and "Бас прокуратура" in mark["name"]

        # Revoked: out at once, told why, and the invite no longer works.
        boss = sign_in(director.id)
        assert (await boss.post(f"/guests/{r.id}/revoke", data={"comment": ""})).status == 200
        removed = await guest.wait_for("error")
        assert removed["code"] == "revoked"
        await wait_gone(app[keys.MEDIA_NODE], academy.class_id, -r.id)
        assert (await ask()).status == 403
        # The join token it still holds does not bring it back either.
        again = await connect_peer(
            str(served.make_url(f"/media/classes/{academy.class_id}/ws")).replace(
                "http://", "ws://"
            ),
            body["token"],
        )
        refused = await again.wait_for("error")
        assert refused["code"] == "revoked" and await again.wait_closed() == 4003
        assert -r.id not in app[keys.MEDIA_NODE].present_user_ids(academy.class_id)
        await again.close()
        await guest.close()
        await student.close()
        await teacher.close()

    kinds = [(le.event.kind, le.event.user_id) for le in app[keys.LEDGER].events(academy.class_id)]
    for kind in (EventKind.LOBBY_ENTERED, EventKind.LOBBY_ADMITTED, EventKind.JOINED,
                 EventKind.REMOVED):  # fmt: skip
        assert (kind, -r.id) in kinds, kind


async def test_a_guest_the_teacher_removed_is_told_so_and_gets_no_join_token(
    served: TestServer, academy: Academy
) -> None:
    """A guest the teacher removed from the class asks through their invite like anyone: the
    page says why and offers no Join, and the lobby gives no join token (nor records another
    admission in the register)."""
    app = served.app
    accounts, guests, ledger = app[keys.ACCOUNTS], app[keys.GUESTS], app[keys.LEDGER]
    head = accounts.by_login("head")[0]
    r = guests.file(class_id=academy.class_id, by_id=head.id, by_name=head.full_name,
                    at=time.time(), **fields())  # type: ignore[arg-type]  # fmt: skip
    director = accounts.by_login("director")[0]
    _r, token = guests.approve(r.id, director.id, director.full_name, "", time.time())

    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
        lobby = await browser.get(served.make_url(f"/invite/{token}"))
        assert lobby.status == 200 and 'id="check"' in await lobby.text()
        csrf = next(c.value for c in browser.cookie_jar if c.key == "sabaq_csrf")
        await app[keys.MEDIA_NODE].keep_out(academy.class_id, guest_user_id(r))

        page = await browser.get(served.make_url(f"/invite/{token}"))
        html = await page.text()
        assert (
            page.status == 200 and "Преподаватель удалил вас с этого занятия" in html
        )  # the group speaks Russian
        assert 'id="check"' not in html  # no device check, no Join
        asked = await browser.post(
            served.make_url(f"/invite/{token}/join-token"),
            headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
        )
        assert asked.status == 403 and (await asked.json())["error"]["code"] == "removed"
    lobby_events = [
        e for e in ledger.events(academy.class_id) if e.event.kind.value.startswith("lobby")
    ]
    assert lobby_events == []


async def test_a_cancelled_class_is_told_with_its_reason_only_to_the_browser_its_invite_admits(
    served: TestServer, academy: Academy
) -> None:
    """The class page says a class was cancelled, and why, to the guest it invited; another
    browser with the link (the invite is the guest's) learns neither the class nor the reason."""
    _r, token = approved_guest(served.app, academy.class_id)
    reason = "болезнь преподавателя"
    async with (
        ClientSession(cookie_jar=CookieJar(unsafe=True)) as laptop,
        ClientSession(cookie_jar=CookieJar(unsafe=True)) as phone,
    ):

        async def come_in(browser: ClientSession) -> ClientResponse:
            csrf = next(c.value for c in browser.cookie_jar if c.key == "sabaq_csrf")
            return await browser.post(
                served.make_url(f"/invite/{token}/join-token"),
                headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
            )

        assert (await laptop.get(served.make_url(f"/invite/{token}"))).status == 200
        assert (await come_in(laptop)).status == 200  # the invite is the laptop's now
        assert (await phone.get(served.make_url(f"/invite/{token}"))).status == 403
        served.app[keys.TIMETABLE].cancel_class(academy.class_id, by=SABAQ, reason=reason)
        guest = await (await laptop.get(served.make_url(f"/invite/{token}"))).text()
        assert reason in guest
        assert reason in (await (await come_in(laptop)).json())["error"]["message"]
        other = await phone.get(served.make_url(f"/invite/{token}"))
        assert other.status in (403, 410)
        assert reason not in await other.text() and GUEST_NAME not in await other.text()
        refused = await come_in(phone)
        assert refused.status in (403, 410) and reason not in await refused.text()
