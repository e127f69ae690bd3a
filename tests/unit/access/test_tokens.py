"""Join and sign-in tokens: minted, checked and refused by their own clock."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from access.errors import TokenExpired, TokenInvalid, TokenWrongClass
from access.models import ClassRole, RoomMode
from access.tokens import TokenSigner


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(secrets.token_bytes(32))


def test_join_token_round_trip_and_refusals(signer: TokenSigner) -> None:
    token = signer.mint_join(
        user_id=7, class_id=3, role=ClassRole.LEARNER, display_name="Д", media_url="u"
    )
    claims = signer.verify_join(token, class_id=3)
    assert (claims.user_id, claims.class_id, claims.role) == (7, 3, ClassRole.LEARNER)
    with pytest.raises(TokenWrongClass):
        signer.verify_join(token, class_id=4)
    with pytest.raises(TokenInvalid):
        TokenSigner(secrets.token_bytes(32)).verify_join(token, class_id=3)
    # A sign-in token never passes for a join token, nor the reverse.
    with pytest.raises(TokenInvalid, match="not a join token"):
        signer.verify_join(signer.mint_signin(user_id=7, ttl=60), class_id=3)
    with pytest.raises(TokenInvalid):
        signer.verify_signin(token)
    expired = signer.mint_join(
        user_id=7, class_id=3, role=ClassRole.LEARNER, display_name="Д", media_url="u", ttl=-1
    )
    with pytest.raises(TokenExpired):
        signer.verify_join(expired, class_id=3)


def test_relay_token_names_the_relay_node_for_one_class(signer: TokenSigner) -> None:
    token = signer.mint_relay(class_id=3, node_id="media-2.ab12")
    assert signer.verify_relay(token, class_id=3) == "media-2.ab12"
    with pytest.raises(TokenWrongClass):
        signer.verify_relay(token, class_id=4)
    with pytest.raises(TokenInvalid):  # another cluster's secret
        TokenSigner(secrets.token_bytes(32)).verify_relay(token, class_id=3)
    # A join token (which a browser holds) never opens a link between nodes, nor the reverse.
    join = signer.mint_join(
        user_id=7, class_id=3, role=ClassRole.HOST, display_name="Д", media_url="u"
    )
    with pytest.raises(TokenInvalid, match="not a relay token"):
        signer.verify_relay(join, class_id=3)
    with pytest.raises(TokenInvalid):
        signer.verify_join(token, class_id=3)
    with pytest.raises(TokenExpired):
        signer.verify_relay(signer.mint_relay(class_id=3, node_id="n", ttl=-1), class_id=3)


def test_tokens_are_minted_and_judged_by_the_injected_clock() -> None:
    """A server whose clock says 29 February 2028 accepts the tokens it minted then, and
    refuses them once its clock has passed their end, whatever the wall clock says."""
    now = [datetime(2028, 2, 29, 23, 59, tzinfo=UTC).timestamp()]
    signer = TokenSigner(secrets.token_bytes(32), clock=lambda: now[0])
    token = signer.mint_signin(user_id=7, ttl=120)
    assert signer.verify_signin(token).user_id == 7
    now[0] += 119
    assert signer.verify_signin(token).user_id == 7
    now[0] += 1
    with pytest.raises(TokenExpired):
        signer.verify_signin(token)
    now[0] -= 3600  # minted in what is, for this clock, the future
    with pytest.raises(TokenInvalid, match="not yet valid"):
        signer.verify_signin(token)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenSigner(b"short")


def test_a_join_token_carries_the_room_s_starting_mode(signer: TokenSigner) -> None:
    def mint(mode: RoomMode | None) -> str:
        return signer.mint_join(
            user_id=7,
            class_id=3,
            role=ClassRole.LEARNER,
            display_name="Д",
            media_url="u",
            mode=mode,
        )

    assert signer.verify_join(mint(RoomMode.SEMINAR), class_id=3).mode is RoomMode.SEMINAR
    assert signer.verify_join(mint(None), class_id=3).mode is None  # older tokens say nothing
    forged = signer._encode(
        "join",
        {
            "sub": "7",
            "cls": 3,
            "role": "learner",
            "name": "Д",
            "media": "u",
            "jti": "j",
            "mode": "party",
        },
        60,
    )
    with pytest.raises(TokenInvalid):
        signer.verify_join(forged, class_id=3)
