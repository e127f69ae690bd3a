"""One rule for what an e-mail address is: an account's own, and an agency's HR contacts."""

from __future__ import annotations

import pytest

from access.addresses import MAX_ADDRESS, is_address, optional_address
from scheduler.errors import BadContactAddress
from scheduler.structure import clean_contacts


@pytest.mark.parametrize(
    "text", ["a@b.kz", "kadry.hr@mvd.gov.kz", "айгерім@академия.қаз", "x+tag@sub.example.com"]
)
def test_addresses(text: str) -> None:
    assert is_address(text) and optional_address(f"  {text} ") == text
    assert clean_contacts([text]) == (text,)


@pytest.mark.parametrize(
    "text",
    ["a@b", "@b.kz", "a@@b.kz", "a b@c.kz", "a@b.kz, c@d.kz", "<a@b.kz>", "a@b.kz\r\nBcc: x@y.kz",
     "a" * MAX_ADDRESS + "@b.kz"],
)  # fmt: skip
def test_not_addresses(text: str) -> None:
    assert not is_address(text)
    with pytest.raises(ValueError, match="not an e-mail address"):
        optional_address(text)
    with pytest.raises(BadContactAddress):
        clean_contacts([text])


def test_blank_is_no_address() -> None:
    assert optional_address("") is None and optional_address("   ") is None
    assert optional_address(None) is None
