"""Behind the TLS front (SABAQ_BEHIND_PROXY, compose.yaml): links and cookies follow the scheme
the front saw, and limits count the clients, not the front."""

from __future__ import annotations

import dataclasses
import secrets

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from tests.conftest import free_port
from web.app import create_app
from web.http import CSRF_COOKIE
from web.settings import Settings


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
