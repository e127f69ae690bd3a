"""TURN credentials for coturn's REST API mode: the test vector, the settings, and who gets
them (only a person just let into a class)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from access.turn import turn_credentials
from control.environment import ConfigError
from tests.conftest import Academy, SignIn, free_port
from web.core.app import create_app
from web.core.settings import Settings

TURN_URLS = ("turn:turn.example.edu:3478?transport=udp", "turns:turn.example.edu:443?transport=tcp")


def test_credentials_are_hmac_sha1_of_expiry_and_user() -> None:
    # Computed apart: echo -n "1700003600:c7u42" | openssl dgst -sha1 -hmac north-secret -binary
    # | base64
    minted = turn_credentials("north-secret", "c7u42", now=1700000000.4, ttl=3600)
    assert minted.username == "1700003600:c7u42"
    assert minted.credential == "7XKlsbwC9dzkKNKfM36KVZ3rt0o="
    assert minted.expires == 1700003600
    mac = hmac.new(b"north-secret", minted.username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(minted.credential) == mac
    assert minted.ice_server(TURN_URLS) == {
        "urls": list(TURN_URLS), "username": minted.username, "credential": minted.credential,
    }  # fmt: skip
    for bad in (("", "u", 60.0), ("s", "a:b", 60.0), ("s", "u", 0.0), ("s", "u", 90000.0)):
        with pytest.raises(ValueError, match="TURN"):
            turn_credentials(bad[0], bad[1], now=0, ttl=bad[2])


def test_settings_want_a_secret_with_turn_urls() -> None:
    base = {"SABAQ_SECRET_KEY": secrets.token_urlsafe(48)}
    with pytest.raises(ConfigError, match="SABAQ_TURN_SECRET"):
        Settings.from_env(base | {"SABAQ_TURN_URLS": TURN_URLS[0]})
    with pytest.raises(ConfigError, match="turn: or turns:"):
        Settings.from_env(base | {"SABAQ_TURN_URLS": "http://x", "SABAQ_TURN_SECRET": "s"})
    ok = Settings.from_env(
        base | {"SABAQ_TURN_URLS": ",".join(TURN_URLS), "SABAQ_TURN_SECRET": "north-secret"}
    )
    assert ok.turn_urls == TURN_URLS
    assert "north-secret" not in repr(ok)


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[TestServer]:
    """The application with a TURN relay configured (replaces conftest's for this module)."""
    configured = replace(settings, turn_urls=TURN_URLS, turn_secret="north-secret")
    server = TestServer(create_app(configured), host="127.0.0.1", port=free_port())
    await server.start_server()
    yield server
    await server.close()


async def test_only_a_person_let_into_the_class_gets_relay_credentials(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    async def ask(user_id: int) -> tuple[int, dict[str, Any]]:
        resp = await sign_in(user_id).post(
            f"/classes/{academy.class_id}/join-token", headers={"Accept": "application/json"}
        )
        body: dict[str, Any] = await resp.json()
        return resp.status, body

    status, granted = await ask(academy.student_ids[0])
    assert status == 200
    relay: dict[str, Any] = granted["ice_servers"][0]
    assert len(granted["ice_servers"]) == 1
    assert relay["urls"] == list(TURN_URLS)
    expiry, who = relay["username"].split(":")
    assert who == f"c{academy.class_id}u{academy.student_ids[0]}"
    mac = hmac.new(b"north-secret", relay["username"].encode(), hashlib.sha1).digest()
    assert relay["credential"] == base64.b64encode(mac).decode()
    assert int(expiry) > time.time() + 3600
    status, refused = await ask(academy.outsider_id)  # a student of another group
    assert status == 403 and "ice_servers" not in refused
    page = await (await sign_in(academy.student_ids[0]).get(f"/classes/{academy.class_id}")).text()
    assert "north-secret" not in page and "credential" not in page
