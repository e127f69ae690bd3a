"""Who is on this machine for /metrics without a token."""

from __future__ import annotations

import pytest

from control.environment import local_peer


@pytest.mark.parametrize("remote", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_clients_are_local(remote: str) -> None:
    assert local_peer(remote)


@pytest.mark.parametrize(
    "remote", ["203.0.113.7", "10.0.0.2", "::ffff:10.0.0.2", "fe80::1", "", None, "localhost"]
)
def test_anyone_else_is_not(remote: str | None) -> None:
    assert not local_peer(remote)
