"""The server's clock: what time it is for a request, read from the settings (tests inject
one that starts on a chosen day), never from the wall clock directly."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from . import keys


def now(request: web.Request) -> float:
    """Seconds since the epoch, by the server's clock."""
    return request.app[keys.SETTINGS].clock()


def utc_now(request: web.Request) -> datetime:
    return datetime.fromtimestamp(now(request), UTC)


def today(request: web.Request, zone: str) -> date:
    """The day it is in the zone."""
    return datetime.fromtimestamp(now(request), ZoneInfo(zone)).date()
