"""Payloads sealed for a round trip through a page: compressed JSON, base64 and an HMAC-SHA256,
so that what comes back is what was sent (an import's preview, confirmed later). Unsealing
refuses a payload sealed with another key, tampered with, or unpacking too large."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from collections.abc import Mapping
from typing import Any

MAX_SEALED = 4 * 1024 * 1024  # bytes of a payload, uncompressed


def import_key(secret: bytes) -> bytes:
    """The key that signs previews (derived, so it signs nothing else)."""
    return hmac.new(secret, b"sabaq/group-import/v1", hashlib.sha256).digest()


def seal(key: bytes, payload: Mapping[str, Any]) -> str:
    """A payload as text for a hidden field: compressed JSON, base64, an HMAC-SHA256."""
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    blob = base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode()
    return f"{blob}.{hmac.new(key, blob.encode(), hashlib.sha256).hexdigest()}"


def unseal(key: bytes, token: str) -> Any:
    """The payload of a sealed token; None when it was not sealed with this key."""
    blob, _, sig = token.partition(".")
    expected = hmac.new(key, blob.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sig.encode(), expected.encode()):
        return None
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.urlsafe_b64decode(blob), MAX_SEALED)
        if inflate.unconsumed_tail:
            return None
        return json.loads(raw)
    except (binascii.Error, zlib.error, ValueError):
        return None
