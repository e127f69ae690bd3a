"""What counts as an e-mail address, once for every place that keeps one (an account's own
address, an agency's HR contacts, a guest's contact)."""

from __future__ import annotations

import re

MAX_ADDRESS = 254
# A pragmatic address: something@domain.tld, no spaces; the mail server has the last word.
_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


def is_address(text: str) -> bool:
    """Whether ``text`` (as given: no spaces at the ends) is an e-mail address."""
    return len(text) <= MAX_ADDRESS and _ADDRESS.match(text) is not None


def optional_address(raw: str | None) -> str | None:
    """An account's optional address as kept: blank is none; anything else must be an
    address (``ValueError`` naming it if not)."""
    text = (raw or "").strip()
    if not text:
        return None
    if not is_address(text):
        raise ValueError(f"{text[:MAX_ADDRESS]!r} is not an e-mail address")
    return text
