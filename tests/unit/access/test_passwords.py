"""Passwords hashed with Argon2id, and too short ones refused."""

from __future__ import annotations

import pytest

from access.passwords import Passwords


def test_passwords() -> None:
    pw = Passwords()
    h = pw.hash("correct horse battery")
    assert h.startswith("$argon2id$")
    assert pw.verify(h, "correct horse battery")
    assert not pw.verify(h, "wrong horse battery")
    assert not pw.verify("not a hash", "x")
    with pytest.raises(ValueError, match="at least"):
        pw.hash("short")
