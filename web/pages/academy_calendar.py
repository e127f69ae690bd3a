"""The academy calendar's page: a year's non-working days (Kazakhstan's public holidays and the
days staff set), its feed for calendar apps; staff set a day off or a working day, or forget
one they set."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from aiohttp import web

from scheduler.errors import BadCalendarDay
from scheduler.labels import day_name
from scheduler.models import EARLIEST_DAY, LATEST_DAY, check_day
from scheduler.workdays import MAX_DAY_NAME, DayKind, DaySource, YearDay

from ..core import clock, keys
from ..core.errors import message_of, status_of
from ..core.http import PageError, gettext_of, redirect, render, require_session
from .classes import EDITORS
from .ical import feed_url
from .timetable import actor, require_editor

log = logging.getLogger("sabaq.web.calendar")
routes = web.RouteTableDef()


def kind_labels(_: Any) -> dict[DayKind, str]:
    return {DayKind.DAY_OFF: _("Day off"), DayKind.WORKING_DAY: _("Working day")}


def asked_year(request: web.Request) -> int:
    """The year asked for (``?year=``), this year if none; 400 outside 2000–2100."""
    _ = gettext_of(request)
    raw = request.query.get("year", "")
    if not raw:
        return clock.utc_now(request).date().year
    try:
        year = int(raw)
    except ValueError:
        year = 0
    if not EARLIEST_DAY.year <= year <= LATEST_DAY.year:  # (and no date() of a huge year)
        raise PageError(400, _("Give a year from 2000 to 2100."), "bad_year")
    return year


def year_rows(request: web.Request, days: list[YearDay]) -> list[dict[str, Any]]:
    """The year's days as the page and the API show them, names in the reader's language."""
    _ = gettext_of(request)
    weekdays = (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))
    return [
        {
            "day": d.day,
            "weekday": weekdays[d.day.weekday()],
            "off": d.off,
            "name": day_name(_, d.name),
            "source": d.source,
            "holiday": day_name(_, d.holiday) if d.holiday else None,
        }
        for d in days
    ]


def _page(
    request: web.Request,
    year: int,
    values: Mapping[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    _ = gettext_of(request)
    user = require_session(request).user
    tt = request.app[keys.TIMETABLE]
    return render(
        request,
        "academy_calendar.html",
        {
            "year": year,
            "rows": year_rows(request, tt.academy_calendar().year(year)),
            "staff": DaySource.STAFF,
            "kinds": list(kind_labels(_).items()),
            "can_edit": user.role in EDITORS,
            "values": values or {"day": "", "kind": DayKind.DAY_OFF.value, "name": ""},
            "error": error,
            "feed": feed_url(request, "calendar", 0),
            "max_name": MAX_DAY_NAME,
        },
        status,
    )


@routes.get("/timetable/calendar")
async def calendar_page(request: web.Request) -> web.Response:
    """Everyone signed in sees the academy calendar; staff change it."""
    return _page(request, asked_year(request))


@routes.post("/timetable/calendar/days")
async def set_day(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_editor(request)
    form = await request.post()
    values = {k: str(form.get(k, "")).strip() for k in ("day", "kind", "name")}
    try:
        day = date.fromisoformat(values["day"])
        check_day(day)
        kind = DayKind(values["kind"])
    except ValueError:
        year = clock.utc_now(request).date().year
        return _page(request, year, values, _("Give the day and whether it is worked."), 400)
    try:
        request.app[keys.TIMETABLE].set_day(day, kind, values["name"], by=actor(user))
    except BadCalendarDay as exc:
        return _page(request, day.year, values, message_of(_, exc), status_of(exc))
    log.info("calendar: %s set %s %s", user.id, day, kind)
    return redirect(f"/timetable/calendar?year={day.year}")


@routes.post("/timetable/calendar/days/{day:\\d{4}-\\d{2}-\\d{2}}/remove")
async def unset_day(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_editor(request)
    try:
        day = date.fromisoformat(request.match_info["day"])
    except ValueError:
        raise PageError(404, _("This page does not exist."), "not_found") from None
    if not request.app[keys.TIMETABLE].unset_day(day):
        raise PageError(404, _("Nothing was set for this day."), "not_found")
    log.info("calendar: %s forgot %s", user.id, day)
    return redirect(f"/timetable/calendar?year={day.year}")
