"""Passwords: the rules a new password must meet, and hashing with argon2id.

The rules follow NIST SP 800-63B-4 (2025), section 3.1.1.2, for passwords used on their own
(single-factor, as Sabaq's are): at least ``MIN_PASSWORD_LENGTH`` = 15 characters, any
characters (spaces and every script included), up to ``MAX_PASSWORD_LENGTH`` (NIST asks for at
least 64), no composition rules (no "a digit and a capital"), and a check against a list of
passwords known to be common and against the account's own login. No password expires.

The common passwords are the 20,000 of Django's ``CommonPasswordValidator`` (compiled by Royce
Williams from breach corpora, shipped in Django under the BSD-3-Clause licence, see
``common-passwords.LICENSE``), kept here: those of 8 characters or more (shorter ones fail
the length rule anyway), lower-cased, one a line, gzipped.
"""

from __future__ import annotations

import enum
import functools
import gzip
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 15
MAX_PASSWORD_LENGTH = 256
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")


class PasswordProblem(enum.StrEnum):
    """Why a new password is refused."""

    TOO_SHORT = "password_too_short"
    TOO_LONG = "password_too_long"
    COMMON = "password_common"
    IS_LOGIN = "password_is_login"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased (read once)."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip())


def password_problem(password: str, login: str) -> PasswordProblem | None:
    """What is wrong with ``password`` as the new password of ``login``, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return PasswordProblem.TOO_SHORT
    if len(password) > MAX_PASSWORD_LENGTH:
        return PasswordProblem.TOO_LONG
    folded = password.strip().casefold()
    if login and folded == login.casefold():
        return PasswordProblem.IS_LOGIN
    if folded in common_passwords():
        return PasswordProblem.COMMON
    return None


class Passwords:
    """Hashes and checks passwords; parameters are argon2-cffi's RFC 9106 defaults."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters")
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
