"""Signed webhooks: a signature test vector; a receiver on loopback that fails twice and then
succeeds gets each event acknowledged once, a class's events in order; staff register
endpoints and read the delivery log."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import socket
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from access.events import EventKind
from access.ids import uuid7
from admission.models import ExcuseReason
from admission.status import NotAdmittedReason, StatusKey
from attendance.models import IGNORED, NODE_DECLARED_DEAD, IncomingEvent
from control.webhook_addresses import check_url, unreachable
from control.webhook_delivery import GuardedResolver, deliver_once
from control.webhooks import MAX_ATTEMPTS, SIGNATURE_HEADER, TIMESTAMP_HEADER, backoff, sign
from scheduler.models import ClassFormat, ClassKind, ProgrammeKind, TimetableAction
from scheduler.planning import SABAQ, Actor
from tests.conftest import Academy, SignIn, free_port
from web.core import keys


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event":"class.planned"}'
    assert sign("whsec_test", 1700000000, body) == (
        "sha256=f3a75d929a72d65990a880e28fbe07ebc96deb5164f4fe1a04b00b5978ef0cec"
    )
    assert [backoff(n) for n in (1, 2, 3, 10, 30)] == [1.0, 2.0, 4.0, 512.0, 3600.0]


class Receiver:
    """The portal's end: answers 500 to the first ``failures`` requests about one class, then
    204."""

    def __init__(self, failures: int, class_id: int) -> None:
        self.failures = failures
        self.class_id = class_id
        self.seen: list[tuple[int, dict[str, Any], dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = await request.json()
        if body["data"].get("class_id") == self.class_id and self.failures > 0:
            self.failures -= 1
            status = 500
        else:
            status = 204
        self.seen.append((status, body, dict(request.headers), raw))
        return web.Response(status=status)


async def test_a_receiver_that_fails_twice_gets_each_event_once_in_order(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    receiver = Receiver(failures=2, class_id=academy.class_id)
    portal = web.Application()
    portal.router.add_post("/hooks", receiver.handle)
    server = TestServer(portal, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        hooks = served.app[keys.WEBHOOKS]
        endpoint = hooks.add(str(server.make_url("/hooks")), academy.staff_id)
        ledger, tt = served.app[keys.LEDGER], served.app[keys.TIMETABLE]
        for kind, user in ((EventKind.CLASS_STARTED, academy.teacher_id),
                           (EventKind.JOINED, academy.student_ids[0])):  # fmt: skip
            ledger.append(
                IncomingEvent(
                    id=str(uuid7()), kind=kind, class_id=academy.class_id, node="media-1",
                    node_seq=0, origin_time=time.time(), user_id=user, role="learner",
                )
            )  # fmt: skip
        start = datetime.now(UTC) + timedelta(days=9)
        other = tt.add_class(
            title="Сабақ", kind=ClassKind.SEMINAR, format=ClassFormat.LIVE_ONLINE,
            teacher_id=academy.other_teacher_id, starts_at=start,
            ends_at=start + timedelta(hours=1),
            group_ids=(tt.groups_of_member(academy.outsider_id)[0].id,),
            on_day_off=True,  # nine days on may be a public holiday
        )  # fmt: skip

        now = time.time()
        async with aiohttp.ClientSession() as session:
            for step in range(8):  # the clock moves past each backoff
                await deliver_once(hooks, session, now + step * 5)
        delivered = [(s, b["event"], b["data"].get("class_id")) for s, b, _h, _r in receiver.seen]
        ours = [d for d in delivered if d[2] == academy.class_id]
        # The class's first event failed twice and was sent again; its second waited for it.
        assert ours == [
            (500, "class.started", academy.class_id),
            (500, "class.started", academy.class_id),
            (204, "class.started", academy.class_id),
            (204, "participant.joined", academy.class_id),
        ]
        assert [d for d in delivered if d[2] == other.id] == [(204, "class.planned", other.id)]
        for _status, _body, headers, raw in receiver.seen:
            stamp = int(headers[TIMESTAMP_HEADER])
            expected = hmac.new(
                endpoint.secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256
            ).hexdigest()
            assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
        log = {d.event: d for d in hooks.deliveries()}
        assert log["class.started"].attempts == 3 and log["class.started"].delivered_at
        assert all(d.delivered_at for d in hooks.deliveries())
        count = len(receiver.seen)
        async with aiohttp.ClientSession() as session:
            await deliver_once(hooks, session, now + 100)
        assert len(receiver.seen) == count  # acknowledged once: nothing is sent again
    finally:
        await server.close()


async def test_staff_register_endpoints_and_read_the_log(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = sign_in(academy.staff_id)
    assert (await sign_in(academy.teacher_id).get("/webhooks")).status == 403
    bad = await staff.post("/webhooks", data={"url": "ftp://portal.example"})
    assert bad.status == 400
    added = await staff.post("/webhooks", data={"url": "https://portal.example/hooks"})
    html = await added.text()
    (endpoint,) = served.app[keys.WEBHOOKS].endpoints()
    assert added.status == 200 and endpoint.secret in html
    assert endpoint.secret not in await (await staff.get("/webhooks")).text()
    disabled = await staff.post(f"/webhooks/{endpoint.id}/disable")
    assert disabled.status == 200 and served.app[keys.WEBHOOKS].endpoints()[0].disabled_at
    assert re.search(r"portal\.example/hooks", await disabled.text())


def test_guest_and_excuse_decisions_become_events_for_the_portal(
    served: TestServer, academy: Academy
) -> None:
    app = served.app
    hooks = app[keys.WEBHOOKS]
    hooks.add("https://portal.example/hooks", academy.staff_id)
    accounts = app[keys.ACCOUNTS]
    head, director = accounts.by_login("head")[0], accounts.by_login("director")[0]
    r = app[keys.GUESTS].file(
        class_id=academy.class_id, guest_name="Ержан Тоқтаров", organisation="Прокуратура",
        position="прокурор", contact="+7 701 000 00 00", topic="Тема", justification="Нужно",
        presents=False, by_id=head.id, by_name=head.full_name, at=time.time(),
    )  # fmt: skip
    app[keys.GUESTS].approve(r.id, director.id, director.full_name, "", time.time())
    app[keys.GUESTS].revoke(r.id, director.id, director.full_name, "иначе", time.time())
    hooks.collect(time.time())
    events = [d.event for d in reversed(hooks.deliveries())]
    assert events == [
        "guest_request.filed", "guest_request.approved", "guest_request.revoked",
    ]  # fmt: skip


def _joined_thrice(served: TestServer, academy: Academy) -> None:
    """Three "joined" events of the seeded class in the ledger."""
    for _ in range(3):
        served.app[keys.LEDGER].append(
            IncomingEvent(
                id=str(uuid7()), kind=EventKind.JOINED, class_id=academy.class_id,
                node="media-1", node_seq=0, origin_time=time.time(),
                user_id=academy.student_ids[0], role="learner",
            )
        )  # fmt: skip


async def test_a_bad_or_dead_endpoint_does_not_hold_up_the_others(
    served: TestServer, academy: Academy
) -> None:
    hooks = served.app[keys.WEBHOOKS]
    for url in ("http://a..b/", "ftp://x.example/", "http://localhost/", "http://169.254.169.254/",
                "https://user:pw@portal.example/", "http://" + "x" * 64 + ".example/"):  # fmt: skip
        with pytest.raises(ValueError, match=r"address|machine"):
            check_url(url)
    receiver = Receiver(failures=0, class_id=0)
    portal = web.Application()
    portal.router.add_post("/hooks", receiver.handle)
    server = TestServer(portal, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        good = hooks.add(str(server.make_url("/hooks")), academy.staff_id)
        db = served.app[keys.DB]
        with db:  # one that slipped in before addresses were checked, and one nobody answers
            db.execute(
                "INSERT INTO webhook_endpoints (url, secret, created_at) VALUES (?, 's', 0)",
                ("http://a..b/",),
            )
            db.execute(
                "INSERT INTO webhook_endpoints (url, secret, created_at) VALUES (?, 's', 0)",
                (f"http://127.0.0.1:{free_port()}/closed",),
            )
        _joined_thrice(served, academy)
        async with aiohttp.ClientSession() as session:
            await deliver_once(hooks, session, time.time())
        # The good endpoint got all three in one pass, in order, despite the other two.
        assert [b["event"] for _s, b, _h, _r in receiver.seen] == ["participant.joined"] * 3
        mine = [d for d in hooks.deliveries() if d.endpoint_id == good.id]
        assert all(d.delivered_at for d in mine)
        stuck = [d for d in hooks.deliveries() if d.endpoint_id != good.id and d.attempts]
        assert stuck and all(d.last_error for d in stuck)
        # After enough failures an event is given up on and its lane moves on.
        first = min(stuck, key=lambda d: d.id)
        for _ in range(MAX_ATTEMPTS):
            hooks.attempted(first.id, time.time(), 500, "HTTP 500")
        failed = {d.id: d for d in hooks.deliveries()}[first.id]
        assert failed.failed_at is not None and failed.delivered_at is None
    finally:
        await server.close()


class Rebound(AbstractResolver):
    """The DNS below the resolver under test: portal.example now points at this machine."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {"hostname": host, "host": self.address, "port": port, "family": family,
             "proto": 0, "flags": 0},
        ]  # fmt: skip

    async def close(self) -> None:
        pass


async def test_a_name_that_resolves_to_this_machine_is_not_reached() -> None:
    """DNS rebinding: a name accepted when registered may later point at this machine; the
    addresses are checked every time it is resolved, and the connection uses only those."""
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "169.254.169.254", "0.0.0.0"):
        assert unreachable(ipaddress.ip_address(address)), address
    assert not unreachable(ipaddress.ip_address("10.1.2.3"))  # the academy's LAN
    with pytest.raises(OSError, match="may not go to"):
        await GuardedResolver(inner=Rebound("169.254.169.254")).resolve("portal.example", 80)
    lan = await GuardedResolver(inner=Rebound("10.1.2.3")).resolve("portal.example", 80)
    assert [r["host"] for r in lan] == ["10.1.2.3"]
    allowed = GuardedResolver(frozenset({"portal.example"}), Rebound("127.0.0.1"))
    assert [r["host"] for r in await allowed.resolve("portal.example", 80)] == ["127.0.0.1"]
    # The whole way: a session with the guarded resolver does not reach a server on loopback.
    receiver = Receiver(failures=0, class_id=0)
    portal = web.Application()
    portal.router.add_post("/hooks", receiver.handle)
    server = TestServer(portal, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        guarded = GuardedResolver(inner=Rebound("127.0.0.1"))
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=guarded)
        ) as session:
            with pytest.raises(aiohttp.ClientConnectorError):
                await session.post(f"http://portal.example:{server.port}/hooks", data=b"{}")
        assert receiver.seen == []
    finally:
        await server.close()


def test_old_deliveries_are_pruned_but_pending_ones_kept(
    served: TestServer, academy: Academy
) -> None:
    hooks = served.app[keys.WEBHOOKS]
    hooks.add("https://portal.example/hooks", academy.staff_id)
    _joined_thrice(served, academy)
    hooks.collect(time.time())
    assert hooks.waiting() == 3  # /metrics' webhook queue
    first, second, third = sorted(d.id for d in hooks.deliveries())
    hooks.attempted(first, 1000.0, 200, "")  # delivered long ago
    hooks.attempted(second, time.time(), 200, "")  # delivered just now
    assert hooks.waiting() == 1
    assert hooks.prune(time.time() - 86400) == 1
    assert sorted(d.id for d in hooks.deliveries()) == [second, third]
    hooks.attempted(third, 1000.0, 200, "")  # all delivered long ago: the newest still stays
    hooks.attempted(second, 1000.0, 200, "")
    assert hooks.prune(time.time() - 86400) == 1
    _joined_thrice(served, academy)
    hooks.collect(time.time())
    fresh = sorted(d.id for d in hooks.deliveries())
    assert fresh[0] == third and min(fresh[1:]) > third  # no X-Sabaq-Delivery is used twice


LOOPBACK_SPELLINGS = (
    "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1", "127.0.1", "017700000001",
    "[::127.0.0.1]", "[::ffff:127.0.0.1]", "[0:0:0:0:0:ffff:7f00:1]", "[64:ff9b::127.0.0.1]",
    "[2002:7f00:1::]", "[::1]", "0", "0.0.0.0", "169.254.169.254", "0xa9.0xfe.0xa9.0xfe",
)  # fmt: skip


async def test_this_machine_in_any_spelling_is_refused_when_registered(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = sign_in(academy.staff_id)
    for host in LOOPBACK_SPELLINGS:
        with pytest.raises(ValueError, match="machine"):
            check_url(f"http://{host}/hooks")
        refused = await staff.post(
            "/webhooks",
            data={"url": f"http://{host}:8080/hooks"},
            headers={"Accept-Language": "en"},
        )
        assert refused.status == 400, host
        assert "this machine" in await refused.text(), host
    # An IP address written in another unusual way is refused too, saying how to write it.
    for host in ("10.1", "0x0a.0.0.1", "012.0.0.1", "167772161"):
        refused = await staff.post(
            "/webhooks", data={"url": f"https://{host}/hooks"}, headers={"Accept-Language": "en"}
        )
        assert refused.status == 400 and "four decimal numbers" in await refused.text(), host
    assert served.app[keys.WEBHOOKS].endpoints() == []
    # A host the server explicitly allows (the portal on this machine) and the LAN still are.
    for url in ("http://127.0.0.1:8080/hooks", "https://10.0.0.1/hooks", "https://portal.example/"):
        added = await staff.post("/webhooks", data={"url": url})
        assert added.status == 200, url
    assert len(served.app[keys.WEBHOOKS].endpoints()) == 3


def test_each_kind_of_record_becomes_the_body_the_portal_reads(
    served: TestServer, academy: Academy
) -> None:
    """Field by field, what each source's records become (the portal parses these bodies), and
    which records it is not told about."""
    app = served.app
    hooks = app[keys.WEBHOOKS]
    hooks.add("https://portal.example/hooks", academy.staff_id)
    tt, ledger = app[keys.TIMETABLE], app[keys.LEDGER]
    head, director = (
        app[keys.ACCOUNTS].by_login("head")[0],
        app[keys.ACCOUNTS].by_login("director")[0],
    )
    c, learner, t = academy.class_id, academy.student_ids[0], 1_800_000_000.0

    tt.log(TimetableAction.MISSED, by=SABAQ, reason="не состоялось", class_id=c)
    tt.log(TimetableAction.ALERT, by=Actor(academy.staff_id, "Жанна"), reason="мало",
           group_id=academy.group_id)  # fmt: skip
    missed, alert = reversed(tt.changes(limit=2))
    for i, (kind, user, role, data) in enumerate((
        (EventKind.CLASS_STARTED, academy.teacher_id, "host", {}),
        (EventKind.JOINED, learner, "learner", {}),
        (EventKind.JOINED, -7, "guest", {}),
        (EventKind.RECORDING_STARTED, academy.teacher_id, "host", {}),
        (EventKind.DISCONNECTED, learner, "learner", {}),
        (EventKind.RECONNECTED, learner, "learner", {}),
        (EventKind.JOINED, learner, "learner", {IGNORED: NODE_DECLARED_DEAD}),
        (EventKind.REMOVED, learner, "learner", {}),
        (EventKind.CLASS_ENDED, academy.teacher_id, "host", {}),
    )):  # fmt: skip
        ledger.append(
            IncomingEvent(
                id=str(uuid7()), kind=kind, class_id=c, node="media-1", node_seq=i,
                origin_time=t + i, user_id=user, role=role, data=data,
            )
        )  # fmt: skip
    count, chain = ledger.chain_head(c)
    guests = app[keys.GUESTS]
    g = guests.file(
        class_id=c, guest_name="Ержан", organisation="Прокуратура", position="прокурор",
        contact="+7 701 000 00 00", topic="Тема", justification="Нужно", presents=False,
        by_id=head.id, by_name=head.full_name, at=t + 20,
    )  # fmt: skip
    guests.reject(g.id, director.id, director.full_name, "нет", t + 21)
    excuses = app[keys.EXCUSES]
    x = excuses.file(
        learner_id=learner, group_id=academy.group_id, reason=ExcuseReason.ILLNESS,
        first_day=date(2027, 3, 1), last_day=date(2027, 3, 2), document="справка",
        details="болел", by_id=learner, by_name="Студент", at=t + 30,
    )  # fmt: skip
    excuses.decide(x.id, True, director.id, director.full_name, "да", t + 31)
    programme = tt.add_programme(
        "Курсы", ProgrammeKind.ADDITIONAL, tt.institute_of_group(academy.group_id).id
    )
    change = app[keys.ADMISSION].record(
        learner_id=learner, key=StatusKey(programme.id), admitted=False,
        reason=NotAdmittedReason.INTERMEDIATE_TEST_FAILED, note="не сдал", by_id=None,
        by_name="Портал", at=t + 40,
    )  # fmt: skip
    hooks.collect(time.time())

    bodies = [
        json.loads(r[0])
        for r in app[keys.DB].execute("SELECT body FROM webhook_outbox ORDER BY id")
    ]
    by_source: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for b in bodies:
        by_source.setdefault(b["source_id"].split(":")[0], []).append((b["event"], b["data"]))
    assert by_source["timetable"] == [
        ("class.missed", {"class_id": c, "group_id": None, "by": "Sabaq",
                          "reason": "не состоялось", "at": missed.at}),
        ("guarantee.alert", {"class_id": None, "group_id": academy.group_id, "by": "Жанна",
                             "reason": "мало", "at": alert.at}),
    ]  # fmt: skip
    teacher = {"class_id": c, "user_id": academy.teacher_id, "role": "host"}
    student = {"class_id": c, "user_id": learner, "role": "learner"}
    assert by_source["ledger"] == [
        ("class.started", {**teacher, "at": t}),
        ("participant.joined", {**student, "at": t + 1}),
        ("guest.joined", {"class_id": c, "user_id": -7, "role": "guest", "at": t + 2}),
        ("participant.left", {**student, "at": t + 4, "how": "disconnected"}),
        ("participant.joined", {**student, "at": t + 5, "how": "reconnected"}),
        ("participant.left", {**student, "at": t + 7, "how": "removed"}),
        ("class.ended", {**teacher, "at": t + 8,
                         "chain_head": {"events": count, "hash": chain}}),
    ]  # fmt: skip
    assert by_source["guests"] == [
        ("guest_request.filed", {"request_id": g.id, "class_id": c, "by": head.full_name,
                                 "comment": "", "at": t + 20}),
        ("guest_request.rejected", {"request_id": g.id, "class_id": c,
                                    "by": director.full_name, "comment": "нет", "at": t + 21}),
    ]  # fmt: skip
    assert by_source["excuses"] == [
        ("excuse_request.decided", {"request_id": x.id, "learner_id": learner,
                                    "decision": "approved", "by": director.full_name,
                                    "comment": "да", "at": t + 31}),
    ]  # fmt: skip
    assert by_source["admission"] == [
        ("admission.changed", {"change_id": change.id, "learner_id": learner,
                               "programme_id": programme.id, "discipline_id": None,
                               "admitted": False, "reason": "intermediate_test_failed",
                               "note": "не сдал", "by": "Портал", "at": t + 40}),
    ]  # fmt: skip
    # Each body names the record it comes from; none is told twice.
    assert len({b["source_id"] for b in bodies}) == len(bodies)
    assert hooks.collect(time.time()) == 0
