"""Time-limited TURN credentials for coturn's REST API mode (``use-auth-secret`` with
``static-auth-secret``): the username is ``expiry:user`` and the password the base64 of
HMAC-SHA1 over the username with the shared secret. coturn checks both without asking Sabaq,
and refuses the username once its expiry has passed. Sabaq mints them only for people it has
just let into a class."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

MAX_TTL = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class TurnCredentials:
    username: str
    credential: str
    expires: int  # Unix time

    def ice_server(self, urls: tuple[str, ...]) -> dict[str, Any]:
        """The entry of ``RTCConfiguration.iceServers`` a browser uses them with."""
        return {"urls": list(urls), "username": self.username, "credential": self.credential}


def turn_credentials(secret: str, user: str, now: float, ttl: float) -> TurnCredentials:
    """Credentials for ``user`` that coturn accepts until ``now + ttl``."""
    if not secret:
        raise ValueError("A TURN shared secret is needed")
    if not 0 < ttl <= MAX_TTL:
        raise ValueError(f"TURN credentials last between 0 and {MAX_TTL:.0f} seconds")
    if ":" in user:
        raise ValueError("A TURN user name has no colon (coturn splits on it)")
    expires = int(now + ttl)
    username = f"{expires}:{user}"
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredentials(username, base64.b64encode(mac).decode(), expires)
