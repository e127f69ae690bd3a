"""What counts as text where people's words come in (HTTP JSON bodies, WebSocket messages)."""

from __future__ import annotations

from typing import Any


def encodable(value: Any) -> bool:
    """Whether every string in ``value`` (dict keys included) can be written as UTF-8: JSON may
    carry a lone UTF-16 surrogate, which no database, page or other participant can take."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(encodable(k) and encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(encodable(v) for v in value)
    return True
