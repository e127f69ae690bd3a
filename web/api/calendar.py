"""The API's academy calendar: a year's non-working days and the days staff set; staff (or a
key with "schedule") set a day off or a working day, or forget one."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from access.api_keys import Scope
from scheduler.models import check_day
from scheduler.planning import Actor
from scheduler.workdays import DayKind

from ..core import keys
from ..core.http import PageError, api_caller, gettext_of
from ..pages.academy_calendar import asked_year, year_rows
from ..pages.classes import EDITORS
from ..pages.timetable import actor
from . import models as api_models
from .calls import json_body
from .openapi import operation, query

routes = web.RouteTableDef()


def _editor(request: web.Request) -> Actor:
    """Who changes the calendar: staff or an admin signed in, or a key with "schedule"."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.SCHEDULE)
    if caller.user is None:
        return Actor(None, caller.name)
    if caller.user.role not in EDITORS:
        raise PageError(403, _("The academy calendar is kept by staff."), "forbidden")
    return actor(caller.user)


def _day(request: web.Request, raw: str) -> date:
    _ = gettext_of(request)
    try:
        day = date.fromisoformat(raw)
        check_day(day)
    except ValueError:
        raise PageError(400, _("Give a day of the years 2000 to 2100."), "bad_day") from None
    return day


@routes.get("/api/v1/calendar")
@operation(
    "academyCalendar",
    "A year's non-working days and the days staff set (scope: read)",
    answers={200: ("The year's days", api_models.CalendarYear)},
    errors=(400, 401, 403),
    query=(query("year", api_models.Year),),
)
async def calendar_json(request: web.Request) -> web.Response:
    api_caller(request, Scope.READ)  # everyone signed in, any key that reads
    year = asked_year(request)
    rows = year_rows(request, request.app[keys.TIMETABLE].academy_calendar().year(year))
    return web.json_response(
        {
            "year": year,
            "days": [
                {
                    "day": r["day"].isoformat(),
                    "off": r["off"],
                    "name": r["name"],
                    "source": r["source"].value,
                    "holiday": r["holiday"],
                }
                for r in rows
            ],
        }
    )


@routes.put("/api/v1/calendar/days")
@operation(
    "setCalendarDay",
    "Set a day off or a working day in the academy calendar (scope: schedule)",
    answers={200: ("The day as set", api_models.CalendarDay)},
    errors=(400, 401, 403, 413),
    body=api_models.SetCalendarDay,
)
async def set_day_json(request: web.Request) -> web.Response:
    by = _editor(request)
    body = await json_body(request, api_models.SetCalendarDay)
    day = _day(request, str(body["day"]))
    tt = request.app[keys.TIMETABLE]
    tt.set_day(day, DayKind(body["kind"]), str(body["name"]), by=by)
    row = next(
        r for r in year_rows(request, tt.academy_calendar().year(day.year)) if r["day"] == day
    )
    return web.json_response(
        {
            "day": day.isoformat(),
            "off": row["off"],
            "name": row["name"],
            "source": row["source"].value,
            "holiday": row["holiday"],
        }
    )


@routes.delete("/api/v1/calendar/days")
@operation(
    "removeCalendarDay",
    "Forget what staff set for a day: it is as the law has it again (scope: schedule)",
    answers={200: ("Removed", api_models.CalendarDayRemoved)},
    errors=(400, 401, 403, 404),
    query=(query("day", api_models.Date, required=True),),
)
async def unset_day_json(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    _editor(request)
    day = _day(request, request.query.get("day", ""))
    if not request.app[keys.TIMETABLE].unset_day(day):
        raise PageError(404, _("Nothing was set for this day."), "not_found")
    return web.json_response({"day": day.isoformat(), "removed": True})
