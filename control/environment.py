"""The ``SABAQ_*`` environment read into values, each checked: a value that is wrong is a
``ConfigError`` whose message names the variable and what it should be
(``web.core.settings.Settings.from_env`` reads them all into the process's settings); and
whether an address is this machine's (``is_loopback``, ``local_peer``)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import TypedDict


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_peer(remote: str | None) -> bool:
    """Whether a client at ``remote`` is on this machine (an IPv4 client of a dual-stack
    socket included)."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # a dual-stack socket's IPv4 client
    return address.is_loopback


def csv_values(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def node_address(raw: str) -> str:
    """``host:port`` (an IPv6 host in brackets), or empty."""
    raw = raw.strip()
    if not raw:
        return ""
    host, sep, port = raw.rpartition(":")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not bare:
        raise ConfigError(f"SABAQ_NODE_ADDRESS must be host:port, not {raw!r}")
    if ":" in bare and bare == host:
        raise ConfigError(
            f"SABAQ_NODE_ADDRESS: put an IPv6 host in brackets ([::1]:8081), not {raw!r}"
        )
    if not all(c.isalnum() or c in ".-:" for c in bare):
        raise ConfigError(f"SABAQ_NODE_ADDRESS must be host:port, not {raw!r}")
    return raw


def number(env: Mapping[str, str], name: str, default: float, zero: bool = False) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value != value or value == float("inf") or value < 0 or (value == 0 and not zero):
        raise ConfigError(
            f"{name} must be a {'non-negative' if zero else 'positive'} number, not {raw!r}"
        )
    return value


def flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "no", "false", "off"):
        return False
    if raw in ("1", "yes", "true", "on"):
        return True
    raise ConfigError(f"{name} is 1 or 0, not {raw!r}")


def turn_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    urls = csv_values(env.get("SABAQ_TURN_URLS", ""))
    for url in urls:
        if not url.startswith(("turn:", "turns:")):
            raise ConfigError(f"SABAQ_TURN_URLS: {url!r} is not a turn: or turns: URL")
    if urls and not env.get("SABAQ_TURN_SECRET"):
        raise ConfigError("SABAQ_TURN_URLS is set but SABAQ_TURN_SECRET (coturn's) is not")
    return urls


def working_days(raw: str) -> tuple[int, ...]:
    try:
        days = tuple(sorted({int(d) for d in csv_values(raw)}))
    except ValueError:
        days = ()
    if not days or not all(0 <= d <= 6 for d in days):
        raise ConfigError(
            f"SABAQ_WORKING_DAYS lists days of the week, 0 (Monday) to 6 (Sunday), not {raw!r}"
        )
    return days


HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


def working_hours(raw: str) -> tuple[str, str]:
    text = raw.strip()
    if not HOURS.match(text) or text[6:] <= text[:5]:
        raise ConfigError(f"SABAQ_WORKING_HOURS is like 09:00-18:00, not {raw!r}")
    return text[:5], text[6:]


MIN_METRICS_TOKEN = 16
SMTP_SECURITIES = ("starttls", "tls", "none")
SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class SmtpValues(TypedDict, total=False):
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    smtp_password: str
    smtp_from: str


def smtp(env: Mapping[str, str]) -> SmtpValues:
    """The SABAQ_SMTP_* settings; none of them without SABAQ_SMTP_HOST."""
    host = env.get("SABAQ_SMTP_HOST", "").strip()
    if not host:
        return {}
    security = env.get("SABAQ_SMTP_SECURITY", "").strip().lower()
    if not security:
        security = "none" if is_loopback(host) else "starttls"
    if security not in SMTP_SECURITIES:
        raise ConfigError(f"SABAQ_SMTP_SECURITY is starttls, tls or none, not {security!r}")
    raw_port = env.get("SABAQ_SMTP_PORT", "").strip()
    try:
        port = int(raw_port) if raw_port else SMTP_PORTS[security]
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ConfigError(f"SABAQ_SMTP_PORT must be a port number, not {raw_port!r}")
    return {
        "smtp_host": host,
        "smtp_port": port,
        "smtp_security": security,
        "smtp_user": env.get("SABAQ_SMTP_USER", "").strip(),
        "smtp_password": env.get("SABAQ_SMTP_PASSWORD", ""),
        "smtp_from": env.get("SABAQ_SMTP_FROM", "").strip(),
    }
