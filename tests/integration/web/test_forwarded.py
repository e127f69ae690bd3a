"""Behind the TLS front (SABAQ_BEHIND_PROXY, compose.yaml): links and cookies follow the scheme
the front saw, and limits count the clients, not the front."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestServer

from access.passwords import Passwords
from tests.conftest import Academy, free_port, seed_academy
from web.core import keys
from web.core.app import create_app
from web.core.http import CSRF_COOKIE, SESSION_COOKIE
from web.core.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, behind_proxy=True, signin_attempts=1)


def via_front(client: str) -> dict[str, str]:
    return {"X-Forwarded-Proto": "https", "X-Forwarded-For": client}


async def test_cookies_are_secure_and_the_site_https_only(served: TestServer) -> None:
    async with ClientSession() as http:
        resp = await http.get(served.make_url("/signin"), headers=via_front("203.0.113.7"))
        assert resp.status == 200
        assert "Secure" in resp.headers["Set-Cookie"]
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    # Not through the front: plain HTTP on loopback, as before.
    async with ClientSession() as http:
        resp = await http.get(served.make_url("/signin"))
        assert "Secure" not in resp.headers["Set-Cookie"]
        assert "Strict-Transport-Security" not in resp.headers


async def test_failed_sign_ins_count_per_client(served: TestServer) -> None:
    async def attempt(client: str, login: str) -> int:
        async with ClientSession() as http:
            # A CSRF cookie and its token, as the sign-in form sends them.
            csrf = secrets.token_urlsafe(16)
            resp = await http.post(
                served.make_url("/signin"),
                data={"login": login, "password": "wrong password", "csrf_token": csrf},
                headers={**via_front(client), "Cookie": f"{CSRF_COOKIE}={csrf}"},
            )
            return resp.status

    # Five failures (five times the per-login limit) from one client close its address...
    for n in range(5):
        assert await attempt("203.0.113.7", f"nobody{n}") != 429
    assert await attempt("203.0.113.7", "someone") == 429
    # ...not everyone else's behind the same front.
    assert await attempt("198.51.100.20", "someone") != 429


async def test_the_headers_are_not_believed_unless_configured(settings: Settings) -> None:
    direct = dataclasses.replace(settings, behind_proxy=False)
    server = TestServer(create_app(direct), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        async with ClientSession() as http:
            resp = await http.get(server.make_url("/signin"), headers=via_front("203.0.113.7"))
            assert "Secure" not in resp.headers["Set-Cookie"]
    finally:
        await server.close()


@pytest.fixture
async def front(settings: Settings) -> AsyncIterator[tuple[TestServer, Academy]]:
    """Sabaq behind the front with the shipped limits (10 failures per login and address, 50
    per address), the teacher with a password."""
    shipped = dataclasses.replace(settings, signin_attempts=10)
    server = TestServer(create_app(shipped), host="127.0.0.1", port=free_port())
    await server.start_server()
    academy = seed_academy(server.app)
    hashed = Passwords().hash("the right one, truly")
    server.app[keys.ACCOUNTS].set_password_hash(academy.teacher_id, hashed)
    yield server, academy
    await server.close()


async def sign_in_from(
    server: TestServer, client: str, login: str, password: str
) -> ClientResponse:
    async with ClientSession() as http:
        csrf = secrets.token_urlsafe(16)
        resp = await http.post(
            server.make_url("/signin"),
            data={"login": login, "password": password, "csrf_token": csrf},
            headers={**via_front(client), "Cookie": f"{CSRF_COOKIE}={csrf}"},
            allow_redirects=False,
        )
        await resp.read()
        return resp


async def test_guessing_a_teachers_password_locks_out_the_guesser_not_the_teacher(
    front: tuple[TestServer, Academy],
) -> None:
    server, _academy = front
    for n in range(10):
        assert (await sign_in_from(server, "203.0.113.7", "teacher", f"guess {n}")).status == 401
    # The guesser is slowed down: not even the right password goes through from there now...
    slowed = await sign_in_from(server, "203.0.113.7", "teacher", "the right one, truly")
    assert slowed.status == 429 and int(slowed.headers["Retry-After"]) >= 1
    # ...while the teacher, from an address that has not failed, is let in.
    teacher = await sign_in_from(server, "198.51.100.20", "teacher", "the right one, truly")
    assert teacher.status == 303 and SESSION_COOKIE in teacher.cookies
    # The guesser's waits grow with every failure after them.
    waits = []
    for _ in range(2):
        wait = int(slowed.headers["Retry-After"])
        waits.append(wait)
        await asyncio.sleep(wait + 0.1)
        assert (await sign_in_from(server, "203.0.113.7", "teacher", "again")).status == 401
        slowed = await sign_in_from(server, "203.0.113.7", "teacher", "again")
        assert slowed.status == 429
    assert int(slowed.headers["Retry-After"]) > waits[-1] > waits[0]


async def test_failures_behind_a_classroom_nat_do_not_lock_out_the_classroom(
    front: tuple[TestServer, Academy],
) -> None:
    server, _academy = front
    accounts = server.app[keys.ACCOUNTS]
    accounts.set_password_hash(
        accounts.by_login("student01")[0].id, Passwords().hash("own password 01")
    )
    # A classroom behind one address: 50 mistyped passwords among 20 students.
    for n in range(50):
        login = f"student{n % 20 + 1:02d}"
        assert (await sign_in_from(server, "203.0.113.7", login, "typo")).status == 401

    async def signs_in(login: str, password: str) -> None:
        """In at once, or after a wait of a moment — not of the window."""
        resp = await sign_in_from(server, "203.0.113.7", login, password)
        if resp.status == 429:
            wait = int(resp.headers["Retry-After"])
            assert wait <= 2
            await asyncio.sleep(wait + 0.1)
            resp = await sign_in_from(server, "203.0.113.7", login, password)
        assert resp.status == 303

    await signs_in("teacher", "the right one, truly")
    await signs_in("student01", "own password 01")  # one of those who mistyped, too
