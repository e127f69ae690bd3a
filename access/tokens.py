"""Signed tokens: join and reconnect tokens for the media plane, sign-in links and
set-password links.

Every token is a JWT signed with HS256; the algorithm is pinned on verification and each
purpose has its own ``typ`` claim, so a token minted for one purpose never passes for another.
The media plane verifies join tokens with the shared secret alone, without a database; a join
token's ``jti`` lets the media node admit with it once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from .errors import TokenExpired, TokenInvalid, TokenWrongClass
from .models import ClassRole, RoomMode

ALGORITHM = "HS256"
ISSUER = "sabaq"
MIN_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class JoinClaims:
    """Who may enter which class, as what, and where the media node is."""

    user_id: int
    class_id: int
    role: ClassRole
    display_name: str
    media_url: str
    expires_at: int
    # The token's own id: a join token admits once (the media node spends it on admission).
    token_id: str = ""
    # The mode the class's room starts in, from the class's kind (None: not said, a lecture).
    mode: RoomMode | None = None


@dataclass(frozen=True, slots=True)
class ReconnectClaims:
    """The same participant coming back after a drop, within the grace period."""

    user_id: int
    class_id: int
    participant_id: str
    role: ClassRole
    display_name: str


@dataclass(frozen=True, slots=True)
class SigninClaims:
    user_id: int
    jti: str
    expires_at: int
    # A join link's: the one class it opens, and the API key that made it.
    class_id: int | None = None
    key_id: int | None = None


@dataclass(frozen=True, slots=True)
class PasswordSetClaims:
    user_id: int
    jti: str
    issued_at: int
    expires_at: int
    role: str  # the account's role when the link was issued: a link does not outlive a change
    issuer_id: int  # who issued it: the link is good only while they still may


def _moment(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenInvalid("The token's times are not numbers")
    return float(value)


class TokenSigner:
    """Mints and verifies the tokens of every purpose with one secret."""

    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"The signing secret needs at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._clock = clock  # tokens are minted and checked by the same clock

    def _encode(self, typ: str, claims: dict[str, object], ttl: float) -> str:
        now = int(self._clock())
        payload = {"iss": ISSUER, "typ": typ, "iat": now, "exp": now + int(ttl), **claims}
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def _decode(self, token: str, typ: str) -> dict[str, object]:
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise TokenInvalid("The token is missing or malformed")
        try:
            payload: dict[str, object] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # PyJWT would judge exp and iat by the wall clock: they are judged below, by ours.
                options={
                    "require": ["exp", "iat", "iss", "typ"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenInvalid("The token is not valid") from exc
        if payload.get("typ") != typ:
            raise TokenInvalid(f"The token is not a {typ} token")
        exp, iat, now = _moment(payload["exp"]), _moment(payload["iat"]), self._clock()
        if iat > now:
            raise TokenInvalid("The token is not yet valid")
        if exp <= now:
            raise TokenExpired("The token has expired")
        return payload

    # -- join ---------------------------------------------------------------------------------
    def mint_join(
        self,
        *,
        user_id: int,
        class_id: int,
        role: ClassRole,
        display_name: str,
        media_url: str,
        ttl: float = 300,
        mode: RoomMode | None = None,
    ) -> str:
        claims: dict[str, object] = {
            "sub": str(user_id),
            "cls": class_id,
            "role": role.value,
            "name": display_name,
            "media": media_url,
            "jti": secrets.token_urlsafe(16),
        }
        if mode is not None:
            claims["mode"] = mode.value
        return self._encode("join", claims, ttl)

    def mint_reconnect(self, participant: ReconnectClaims, ttl: float) -> str:
        return self._encode(
            "reconnect",
            {
                "sub": str(participant.user_id),
                "cls": participant.class_id,
                "pid": participant.participant_id,
                "role": participant.role.value,
                "name": participant.display_name,
            },
            ttl,
        )

    def verify_reconnect(self, token: str, *, class_id: int) -> ReconnectClaims:
        p = self._decode(token, "reconnect")
        try:
            claims = ReconnectClaims(
                user_id=int(str(p["sub"])),
                class_id=int(str(p["cls"])),
                participant_id=str(p["pid"]),
                role=ClassRole(str(p["role"])),
                display_name=str(p["name"]),
            )
        except (KeyError, ValueError) as exc:
            raise TokenInvalid("The token lacks a claim") from exc
        if claims.class_id != class_id:
            raise TokenWrongClass(f"The token is for class {claims.class_id}, not {class_id}")
        return claims

    def verify_join(self, token: str, *, class_id: int) -> JoinClaims:
        """Verify a join token for the class the client asked to enter."""
        p = self._decode(token, "join")
        try:
            claims = JoinClaims(
                user_id=int(str(p["sub"])),
                class_id=int(str(p["cls"])),
                role=ClassRole(str(p["role"])),
                display_name=str(p["name"]),
                media_url=str(p["media"]),
                expires_at=int(str(p["exp"])),
                token_id=str(p["jti"]),
                mode=None if p.get("mode") is None else RoomMode(str(p["mode"])),
            )
        except (KeyError, ValueError) as exc:
            raise TokenInvalid("The token lacks a claim") from exc
        if claims.class_id != class_id:
            raise TokenWrongClass(f"The token is for class {claims.class_id}, not {class_id}")
        return claims

    # -- links between media nodes ------------------------------------------------------------
    def mint_relay(self, *, class_id: int, node_id: str, ttl: float = 60) -> str:
        """What a relay node shows the class's origin node to be sent its media (the nodes
        share this secret; a browser never holds one)."""
        return self._encode("relay", {"cls": class_id, "node": node_id}, ttl)

    def verify_relay(self, token: str, *, class_id: int) -> str:
        """The relay node's id, if the token lets it relay this class."""
        p = self._decode(token, "relay")
        try:
            cls, node = int(str(p["cls"])), str(p["node"])
        except (KeyError, ValueError) as exc:
            raise TokenInvalid("The token lacks a claim") from exc
        if cls != class_id:
            raise TokenWrongClass(f"The token is for class {cls}, not {class_id}")
        return node

    # -- sign-in links ------------------------------------------------------------------------
    def mint_signin(
        self, *, user_id: int, ttl: float, class_id: int | None = None, key_id: int | None = None
    ) -> str:
        """A sign-in link's token; ``jti`` lets the control plane accept it only once. With
        ``class_id`` (a join link, made by the portal's API key ``key_id``) it opens that
        class only."""
        claims: dict[str, object] = {"sub": str(user_id), "jti": secrets.token_urlsafe(16)}
        if class_id is not None:
            claims |= {"cls": class_id, "key": key_id}
        return self._encode("signin", claims, ttl)

    def verify_signin(self, token: str) -> SigninClaims:
        p = self._decode(token, "signin")
        try:
            cls, key = p.get("cls"), p.get("key")
            return SigninClaims(
                user_id=int(str(p["sub"])),
                jti=str(p["jti"]),
                expires_at=int(str(p["exp"])),
                class_id=None if cls is None else int(str(cls)),
                key_id=None if key is None else int(str(key)),
            )
        except (KeyError, ValueError) as exc:
            raise TokenInvalid("The token lacks a claim") from exc

    # -- set-password links -------------------------------------------------------------------
    def mint_password_set(self, *, user_id: int, ttl: float, role: str, issuer_id: int) -> str:
        """A set-password link's token: single use (its ``jti`` is spent when the password is
        set), only for a password set after it was issued, for the account's role then, and
        while its issuer still may issue it."""
        claims: dict[str, object] = {
            "sub": str(user_id),
            "jti": secrets.token_urlsafe(16),
            "role": role,
            "by": str(issuer_id),
        }
        return self._encode("password", claims, ttl)

    def verify_password_set(self, token: str) -> PasswordSetClaims:
        p = self._decode(token, "password")
        try:
            return PasswordSetClaims(
                user_id=int(str(p["sub"])),
                jti=str(p["jti"]),
                issued_at=int(str(p["iat"])),
                expires_at=int(str(p["exp"])),
                role=str(p["role"]),
                issuer_id=int(str(p["by"])),
            )
        except (KeyError, ValueError) as exc:
            raise TokenInvalid("The token lacks a claim") from exc
