"""Pages in three languages, sign-in with CSRF, security headers, health checks."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import ClientResponse, ClientSession, CookieJar
from aiohttp.test_utils import TestServer
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from access.passwords import Passwords
from scheduler.labels import zone_name
from scheduler.models import ClassFormat, ClassKind
from scheduler.planning import SABAQ
from tests.browser.test_browser import approved_guest
from tests.conftest import Academy, SignIn, class_ahead
from web.core import keys
from web.core.i18n import format_time, load_catalogues

ROOT = Path(__file__).resolve().parents[3]
JSON = {"Accept": "application/json"}


def _extracted() -> set[str]:
    method_map = [
        ("web/**.py", "python"),
        ("control/**.py", "python"),
        ("attendance/tables.py", "python"),  # the reports' tables, in a gettext passed in
        ("scheduler/labels.py", "python"),  # the timetable's values in words, likewise
        ("admission/labels.py", "python"),
        ("admission/excuse_words.py", "python"),
        ("access/labels.py", "python"),
        ("web/templates/**.html", "jinja2"),
    ]
    options = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    return {
        msg if isinstance(msg, str) else msg[0]
        for _, _, msg, _, _ in extract_from_dir(
            str(ROOT), method_map, options, keywords={"_": None, "ngettext": (1, 2)}
        )
    }


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_catalogue_translates_every_message(lang: str) -> None:
    path = ROOT / "web/locale" / lang / "LC_MESSAGES/messages.po"
    # GNU msgfmt's checks (Debian's gettext, ``make system-deps``): a message Babel flags as a
    # format ("20 % of" reads as "% o") must keep its directives in the translation.
    checked = subprocess.run(
        ["msgfmt", "-c", "-o", os.devnull, str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]
        for m in catalog
        if m.id and (m.string if isinstance(m.string, str) else all(m.string or ("",)))
    }
    missing = _extracted() - translated
    assert not missing, f"{lang} lacks translations for: {sorted(missing)}"


def test_catalogues_keep_to_the_glossary() -> None:
    """The regulation's terms (web/locale/glossary.csv: the English word, the stems of the
    Russian and Kazakh terms the regulation uses) are translated the same way everywhere."""
    with (ROOT / "web/locale/glossary.csv").open(encoding="utf-8") as f:
        terms = list(csv.DictReader(f))
    assert len(terms) >= 10
    catalogues = {}
    for lang in ("ru", "kk"):
        with (ROOT / "web/locale" / lang / "LC_MESSAGES/messages.po").open("rb") as f:
            catalogues[lang] = {m.id: m.string for m in read_po(f, locale=lang) if m.id}
    found = 0
    for term in terms:
        english = re.compile(rf"\b{re.escape(term['en'])}\b", re.I)
        for msgid, ru in catalogues["ru"].items():
            if not isinstance(msgid, str) or not english.search(msgid):
                continue
            found += 1
            for lang, text in (("ru", ru), ("kk", catalogues["kk"][msgid])):
                stems = term[lang].split("|")
                assert any(s.casefold() in str(text).casefold() for s in stems), (
                    f"{lang}: {msgid!r} is {text!r}, without the term {term[lang]!r}"
                )
    assert found > 50  # the glossary's terms are in use


def test_russian_counts_take_their_plural_forms() -> None:
    """One, few, many in Russian (1 участник, 2 участника, 5 участников; 11–14 are "many",
    21 is "one" again); Kazakh keeps the noun singular after a number."""
    catalogues = load_catalogues()
    msgid = ("%(num)d student is in the class now", "%(num)d students are in the class now")
    forms = {n: catalogues["ru"].ngettext(*msgid, n) % {"num": n} for n in (1, 2, 5, 11, 21, 22)}
    assert forms == {
        1: "Сейчас на занятии 1 участник",
        2: "Сейчас на занятии 2 участника",
        5: "Сейчас на занятии 5 участников",
        11: "Сейчас на занятии 11 участников",
        21: "Сейчас на занятии 21 участник",
        22: "Сейчас на занятии 22 участника",
    }
    assert catalogues["kk"].ngettext(*msgid, 3) % {"num": 3} == "Қазір сабақта 3 білім алушы"
    assert catalogues["en"].ngettext(*msgid, 1) % {"num": 1} == "1 student is in the class now"


def test_templates_hold_no_bare_text() -> None:
    """Text between tags must go through gettext: look for letters outside {{ }} and {% %}."""
    for path in (ROOT / "web/templates").glob("*.html"):
        text = re.sub(r"{{.*?}}|{%.*?%}|<script.*?</script>", "", path.read_text(), flags=re.S)
        for chunk in re.findall(r">([^<]+)<", text):
            words = re.sub(r"[·:—\s\d]+|Sabaq", "", chunk.strip())  # the product's name stays
            assert not words, f"{path.name}: untranslated {chunk.strip()!r}"


async def test_group_language_then_choice(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    student = sign_in(academy.student_ids[0])  # group ПД-24-1 studies in Russian
    page = await (await student.get(f"/classes/{academy.class_id}")).text()
    assert "Войти на занятие" in page and "Проверка устройств" in page
    outsider = sign_in(academy.outsider_id)  # group ПД-24-2 studies in Kazakh
    assert "Менің сабақтарым" in await (await outsider.get("/")).text()
    resp = await student.post("/language", data={"lang": "en", "next": "/"})
    assert resp.status == 200 and "My classes" in await resp.text()
    assert "My classes" in await (await student.get("/")).text()  # remembered
    bad = await student.post("/language", data={"lang": "de"})
    assert bad.status == 400


async def test_sign_in_with_password_and_csrf(served: TestServer, academy: Academy) -> None:
    accounts = served.app[keys.ACCOUNTS]
    accounts.set_password_hash(academy.teacher_id, Passwords().hash("long enough password"))
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        form = await (await s.get(served.make_url("/signin"))).text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        no_csrf = await s.post(
            served.make_url("/signin"),
            data={"login": "teacher", "password": "long enough password"},
        )
        assert no_csrf.status == 403
        wrong = await s.post(
            served.make_url("/signin"),
            data={"login": "teacher", "password": "nope", "csrf_token": csrf[1]},
        )
        assert wrong.status == 401
        ok = await s.post(
            served.make_url("/signin"),
            data={
                "login": "teacher",
                "password": "long enough password",
                "csrf_token": csrf[1],
                "next": "//evil.example/",
            },
            allow_redirects=False,
        )
        assert ok.status == 303 and ok.headers["Location"] == "/"
        cookie = ok.cookies["sabaq_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax"
        home = await s.get(served.make_url("/"))
        assert "Уголовное право" in await home.text()


async def test_a_sign_in_link_works_once(served: TestServer, academy: Academy) -> None:
    token = served.app[keys.SIGNER].mint_signin(user_id=academy.teacher_id, ttl=60)
    url = served.make_url(f"/signin/link?token={token}&next=/classes/{academy.class_id}")
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        first = await s.get(url, allow_redirects=False)
        assert first.status == 303
        assert first.headers["Location"] == f"/classes/{academy.class_id}"
    async with ClientSession(headers={"Accept-Language": "en"}) as s:
        again = await s.get(url)
        assert again.status == 401
        assert "already used" in await again.text()


def test_next_after_sign_in_stays_on_the_site() -> None:
    from web.pages.signin import _safe_next

    for bad in ("//evil.example/", "/\\evil.example", "/\t\\evil.example", "https://evil.example",
                "/\n/evil.example", "", None, "evil"):  # fmt: skip
        assert _safe_next(bad) == "/", bad
    assert _safe_next("/classes/3?x=1") == "/classes/3?x=1"


async def test_headers_health_and_errors(served: TestServer, academy: Academy) -> None:
    async with ClientSession(headers={"Accept-Language": "en-GB,en;q=0.9"}) as s:
        r = await s.get(served.make_url("/signin"))
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        # Lax: arriving from the portal keeps the token that open tabs use.
        assert r.cookies["sabaq_csrf"]["samesite"] == "Lax"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert (await (await s.get(served.make_url("/healthz"))).json())["status"] == "ok"
        ready = await (await s.get(served.make_url("/readyz"))).json()
        assert ready["status"] == "ready"
        missing = await s.get(served.make_url("/nowhere"))
        assert missing.status == 404 and "does not exist" in await missing.text()
        home = await s.get(served.make_url("/"), allow_redirects=False)
        assert home.status == 303 and home.headers["Location"].startswith("/signin")
        link = await s.get(served.make_url("/signin/link?token=forged"))
        assert link.status == 401


async def test_oversized_body_is_refused_with_a_message(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    client = sign_in(academy.teacher_id)
    resp = await client.post("/language", data={"lang": "x" * 200_000})
    assert resp.status == 413
    assert "too large" in await resp.text() or "слишком" in await resp.text()


async def test_an_id_too_large_for_the_database_is_not_found_not_a_crash(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    staff = sign_in(academy.staff_id)
    huge = "9" * 30
    for path in (
        f"/classes/{huge}", f"/classes/{huge}/attendance", f"/classes/{huge}/attendance.csv",
        f"/classes/{huge}/attendance/live", f"/reports/groups/{huge}",
        f"/reports/learners/{huge}.xlsx", f"/timetable/groups/{huge}", f"/excuses/{huge}",
        f"/timetable/classes/{huge}", f"/ical/groups/{huge}/{'0' * 32}.ics",
    ):  # fmt: skip
        resp = await staff.get(path)
        assert resp.status == 404, (path, resp.status)
    assert (await staff.post(f"/classes/{huge}/join-token")).status == 404


async def test_guessing_passwords_is_slowed_down_per_login_and_per_address(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    accounts = served.app[keys.ACCOUNTS]
    accounts.set_password_hash(academy.teacher_id, Passwords().hash("long enough password"))
    limit = served.app[keys.SETTINGS].signin_attempts
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        form = await (await s.get(served.make_url("/signin"))).text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None

        async def attempt(login: str, password: str) -> ClientResponse:
            return await s.post(
                served.make_url("/signin"),
                data={"login": login, "password": password, "csrf_token": csrf[1]},
                headers={"Accept-Language": "en"},
                allow_redirects=False,
            )

        statuses = [(await attempt("teacher", f"guess {i}")).status for i in range(limit)]
        assert statuses == [401] * limit
        blocked = await attempt("teacher", "long enough password")  # even the right one, for now
        assert blocked.status == 429 and "Too many attempts" in await blocked.text()
        assert int(blocked.headers["Retry-After"]) > 0
        # Another login from the same address is not locked out by the teacher's guesses.
        other = await attempt("staff", "whatever")
        assert other.status == 401
    # Join tokens: a person asking again and again is told to wait; others are not.
    student = sign_in(academy.student_ids[0])
    per_minute = served.app[keys.SETTINGS].join_tokens_per_minute
    for _ in range(per_minute):
        assert (
            await student.post(f"/classes/{academy.class_id}/join-token", headers=JSON)
        ).status == 200
    assert (
        await student.post(f"/classes/{academy.class_id}/join-token", headers=JSON)
    ).status == 429
    classmate = sign_in(academy.student_ids[1])
    assert (await classmate.post(f"/classes/{academy.class_id}/join-token")).status == 200


ROOM_JS = Path(__file__).resolve().parents[3] / "web" / "static" / "room.js"


async def test_the_class_page_says_a_join_not_recorded_and_bad_text_in_the_readers_language(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """The media's refusals the class page shows come in the reader's language, and a join not
    recorded, or media a relay did not set up in time, is tried again (the socket closed, after
    the usual pause), not the end."""
    expected = {
        (academy.student_ids[0], academy.class_id): (
            "журнал посещаемости",
            "недопустимые",
            "не ответил вовремя",
        ),
        (academy.outsider_id, academy.other_class_id): (
            "қатысу журналына",
            "жарамсыз",
            "уақытында жауап бермеді",
        ),
    }
    for (user, class_id), (recorded, bad_text, timed_out) in expected.items():
        page = await (await sign_in(user).get(f"/classes/{class_id}")).text()
        found = re.search(
            r'<script type="application/json" id="room-config">(.*?)</script>', page, re.S
        )
        assert found is not None
        errors = json.loads(html.unescape(found.group(1)))["errors"]
        assert recorded in errors["not_recorded"] and bad_text in errors["bad_text"]
        assert timed_out in errors["media_timeout"]
    script = ROOM_JS.read_text()
    assert re.search(r'msg\.code === "not_recorded"\) busy = cfg\.errors\.not_recorded', script)
    assert re.search(r'msg\.code === "media_timeout"\) busy = cfg\.errors\.media_timeout', script)


def _room_config(page: str) -> dict[str, object]:
    found = re.search(
        r'<script type="application/json" id="room-config">(.*?)</script>', page, re.S
    )
    assert found is not None
    config: dict[str, object] = json.loads(html.unescape(found.group(1)))
    return config


async def test_the_class_page_readies_the_way_in_for_those_who_take_part_near_the_start(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """The page fetches a join token and opens the class server's socket ahead of Join (while
    the check runs) for the teacher and the students, from 15 minutes before the start: not for
    staff looking in, nor for a class days or hours ahead."""

    async def readied(user: int, class_id: int) -> object:
        page = await (await sign_in(user).get(f"/classes/{class_id}")).text()
        return _room_config(page)["prepareJoin"]

    started = academy.class_id
    assert await readied(academy.student_ids[0], started) is True
    assert await readied(academy.teacher_id, started) is True
    assert await readied(academy.staff_id, started) is False  # looking in
    # The class moves out of the way of two planned ahead: one in 14 minutes, one in 3 hours.
    tt = served.app[keys.TIMETABLE]
    tt.cancel_class(started, by=SABAQ, reason="moved")
    now = datetime.fromtimestamp(served.app[keys.SETTINGS].clock(), UTC)
    soon, later = (
        tt.add_class(
            title="Уголовный процесс",
            kind=ClassKind.LECTURE,
            format=ClassFormat.LIVE_ONLINE,
            teacher_id=academy.teacher_id,
            starts_at=now + ahead,
            ends_at=now + ahead + timedelta(minutes=80),
            group_ids=(academy.group_id,),
            on_day_off=True,  # today, whatever the day is
        )
        for ahead in (timedelta(minutes=14), timedelta(hours=3))
    )
    assert await readied(academy.student_ids[0], started) is False  # over
    assert await readied(academy.student_ids[0], soon.id) is True
    assert await readied(academy.teacher_id, soon.id) is True
    assert await readied(academy.teacher_id, later.id) is False
    assert await readied(academy.student_ids[0], later.id) is False
    script = ROOM_JS.read_text()
    assert "if (cfg.prepareJoin !== false) quick.prepare();" in script
    assert script.count("quick.prepare()") == 1  # nowhere else


def test_the_class_page_fills_placeholders_with_peoples_text_as_is() -> None:
    """A name such as "A$&B" or "$'" is shown as written: every placeholder of the class page
    is filled by a function (a string replacement would read ``$&``, ``$'`` and ``$```); and
    the teacher's private answer leaves the next message to everyone."""
    script = ROOM_JS.read_text()
    fills = re.findall(r'\.replace\("\{\w+\}",\s*([^,]*?)\s*=>', script)
    calls = re.findall(r'\.replace\("\{\w+\}"', script)
    assert calls and len(fills) == len(calls), "a placeholder filled by a string"
    assert all(f == "()" for f in fills)
    submit = script[script.index('$("chat-form").addEventListener("submit"') :]
    submit = submit[: submit.index("\n  });")]
    assert re.search(r'if \(text && isHost\) chatTo\.value = "";', submit)


def _card(page: str, section: str) -> str | None:
    """The class page's card ``section`` (its opening tag to its end), None if it is hidden."""
    found = re.search(rf'<section id="{section}"[^>]*>.*?</section>', page, re.S)
    assert found is not None, section
    return None if re.match(r"<section[^>]*\shidden", found.group(0)) else found.group(0)


async def test_a_class_cancelled_held_in_person_or_not_open_yet_is_said_so_not_ended(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """A class that cannot be joined is not "ended" unless it ended: the page says it was
    cancelled (with the timetable's reason), that it is held in person, or — to a guest whose
    invitation opens later — when it opens, in the group's zone; a join is refused in the same
    words (room.js shows them as the page would)."""
    tt, app = served.app[keys.TIMETABLE], served.app
    student = sign_in(academy.student_ids[0])  # of a Russian-speaking group

    async def page_of(class_id: int) -> tuple[str, str]:
        page = await (await student.get(f"/classes/{class_id}")).text()
        state = re.search(r'id="room" data-state="(\w+)"', page)
        assert state is not None
        return state.group(1), page

    tt.cancel_class(academy.class_id, by=SABAQ, reason="болезнь преподавателя")
    state, page = await page_of(academy.class_id)
    card = _card(page, "unavailable")
    assert state == "cancelled" and _card(page, "ended") is None and card is not None
    assert "Это занятие отменено." in card and "Причина: болезнь преподавателя" in card
    refused = await student.post(f"/classes/{academy.class_id}/join-token", headers=JSON)
    error = (await refused.json())["error"]
    assert refused.status == 409 and error["code"] == "class_cancelled"
    assert error["message"] == "Это занятие отменено. Причина: болезнь преподавателя"

    in_person = class_ahead(app, academy, timedelta(minutes=90), ClassFormat.IN_PERSON)
    state, page = await page_of(in_person.id)
    card = _card(page, "unavailable")
    assert state == "in_person" and _card(page, "ended") is None and card is not None
    assert "Это занятие проводится в очной форме." in card and 'id="join"' not in page
    refused = await student.post(f"/classes/{in_person.id}/join-token", headers=JSON)
    assert (await refused.json())["error"]["code"] == "not_online"

    # A guest's invitation opens half an hour (SABAQ_GUEST_LEAD_SECONDS) before the class.
    later = class_ahead(app, academy, timedelta(hours=3))
    _r, token = approved_guest(app, later.id)
    async with ClientSession() as guest:
        invite = await guest.get(served.make_url(f"/invite/{token}"))
        page = await invite.text()
    opens = later.starts_at - timedelta(seconds=app[keys.SETTINGS].guest_lead_seconds)
    zone = tt.group(academy.group_id).timezone
    in_words = zone_name(load_catalogues()["ru"].gettext, zone, opens)  # "время Алматы (UTC+5)"
    when = f"Откроется {format_time(opens, zone, 'ru')}, {in_words}."  # 08.12.2026 08:53
    card = _card(page, "unavailable")
    assert invite.status == 403 and 'data-state="not_open"' in page and card is not None
    assert "Это занятие ещё не открыто." in card and when in card, card
    # An invited guest of a class held in person (its emergency switch online undone) is told
    # so, not that it opens: there is nothing to open.
    _r, token = approved_guest(app, in_person.id)
    async with ClientSession() as guest:
        page = await (await guest.get(served.make_url(f"/invite/{token}"))).text()
    card = _card(page, "unavailable")
    assert 'data-state="in_person"' in page and card is not None
    assert "Это занятие проводится в очной форме." in card and "Откроется" not in card
    # Within its window, the guest's lobby is refused in the same words, and the guest is not
    # recorded as waiting in a lobby for an online class that will not start.
    soon = class_ahead(app, academy, timedelta(minutes=10), ClassFormat.IN_PERSON)
    _r, token = approved_guest(app, soon.id)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as guest:
        await guest.get(served.make_url(f"/invite/{token}"))
        csrf = next(c.value for c in guest.cookie_jar if c.key == "sabaq_csrf")
        asked = await guest.post(
            served.make_url(f"/invite/{token}/join-token"),
            headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
        )
        error = (await asked.json())["error"]
    assert asked.status == 409 and error["code"] == "not_online", error
    assert error["message"] == "Это занятие проводится в очной форме, а не онлайн."
    assert [
        e for e in app[keys.LEDGER].events(soon.id) if e.event.kind.value.startswith("lobby")
    ] == []
