"""Passwords hashed with Argon2id, and too short ones refused."""

from __future__ import annotations

import pytest

from access.passwords import (
    COMMON_PASSWORDS,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    PasswordProblem,
    Passwords,
    common_passwords,
    password_problem,
)


def test_passwords() -> None:
    pw = Passwords()
    h = pw.hash("correct horse battery")
    assert h.startswith("$argon2id$")
    assert pw.verify(h, "correct horse battery")
    assert not pw.verify(h, "wrong horse battery")
    assert not pw.verify("not a hash", "x")
    with pytest.raises(ValueError, match="at least"):
        pw.hash("short")


def test_new_passwords_follow_nist_800_63b() -> None:
    """At least 15 characters (single-factor), at most 256, no composition rules, not on the
    shipped list of common passwords, not the login."""
    assert MIN_PASSWORD_LENGTH == 15 and MAX_PASSWORD_LENGTH >= 64
    assert password_problem("a" * 14, "teacher") is PasswordProblem.TOO_SHORT
    assert password_problem("x" * 257, "teacher") is PasswordProblem.TOO_LONG
    # no digits, no capitals, no signs: a long phrase is enough; any script, spaces kept
    assert password_problem("correct horse battery staple", "teacher") is None
    assert password_problem("бір екі үш төрт бес алты", "teacher") is None
    assert password_problem("1q2w3e4r5t6y7u8i", "teacher") is PasswordProblem.COMMON
    assert password_problem("ManchesterUnited", "teacher") is PasswordProblem.COMMON
    assert password_problem("Marat.Iskakov.2026", "marat.iskakov.2026") is PasswordProblem.IS_LOGIN


def test_the_common_list_is_shipped_compact_with_its_licence() -> None:
    common = common_passwords()
    assert 8000 < len(common) < 20_001 and "password" in common and "qwertyuiop" in common
    assert all(p == p.casefold() for p in common)
    assert COMMON_PASSWORDS.stat().st_size < 64 * 1024
    licence = COMMON_PASSWORDS.with_name("common-passwords.LICENSE").read_text()
    assert "Django Software Foundation" in licence
