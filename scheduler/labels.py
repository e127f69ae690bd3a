"""The timetable's values and refusals in words, in the language of a gettext function the
caller passes in: classes' kinds, statuses and formats, the class a new one conflicts with, the
non-working days' names, a month's and a time zone's names (``babel.cfg`` extracts this module
for the catalogues)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_skeleton

from .errors import ClassConflict
from .guarantee_months import GroupMonth, MonthState, outside_reason
from .models import ClassFormat, ClassKind, ClassStatus, Group, LiveClass, TimetableAction

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Marks a message for the catalogues where it is defined; it is translated where shown."""
    return message


def kind_labels(_: Gettext) -> dict[ClassKind, str]:
    return {
        ClassKind.LECTURE: _("Lecture"),
        ClassKind.SEMINAR: _("Seminar"),
        ClassKind.PRACTICAL: _("Practical class"),
        ClassKind.CONSULTATION: _("Consultation"),
        ClassKind.MIDTERM_CONTROL: _("Midterm control"),
        ClassKind.EXAM: _("Exam"),
        ClassKind.INTRODUCTION: _("Introductory class"),
    }


def action_labels(_: Gettext) -> dict[TimetableAction, str]:
    """What was done to a class, in its history."""
    return {
        TimetableAction.PLANNED: _("Planned"),
        TimetableAction.MOVED: _("Moved"),
        TimetableAction.CANCELLED: _("Cancelled"),
        TimetableAction.SWITCHED_ONLINE: _("Switched to live online"),
        TimetableAction.SWITCH_UNDONE: _("Switch to online undone"),
        TimetableAction.SWITCH_MADE: _("Emergency switch made"),
        TimetableAction.SWITCH_LIFTED: _("Emergency switch lifted"),
        TimetableAction.MISSED: _("Missed"),
        TimetableAction.ALERT: _("Alert"),
        TimetableAction.CONFIRMED: _("Confirmed"),
    }


def class_status_labels(_: Gettext) -> dict[ClassStatus, str]:
    return {
        ClassStatus.PLANNED: _("Planned"),
        ClassStatus.LIVE: _("Live now"),
        ClassStatus.HELD: _("Held"),
        ClassStatus.CANCELLED: _("Cancelled"),
        ClassStatus.MISSED: _("Missed"),
    }


def format_labels(_: Gettext) -> dict[ClassFormat, str]:
    return {ClassFormat.LIVE_ONLINE: _("Live online"), ClassFormat.IN_PERSON: _("In person")}


def conflict_message(_: Gettext, exc: ClassConflict, zone: str) -> str:
    """The class in the way, named, in words a staff member reads (in the language of ``_``)."""
    texts = {
        "teacher": _('The teacher already has a class at that time: "{title}", {when}.'),
        "group": _('The group already has a class at that time: "{title}", {when}.'),
        "learner": _('The student already has a class at that time: "{title}", {when}.'),
    }
    tz = ZoneInfo(zone)
    c = exc.conflicting
    when = (
        f"{c.starts_at.astimezone(tz):%d.%m.%Y %H:%M}–{c.ends_at.astimezone(tz):%H:%M}"
        f" {zone_aside(_, zone, c.starts_at)}"
    )
    return texts[exc.who].replace("{title}", c.title).replace("{when}", when)


# The public holidays' names as the ``holidays`` library gives them (English), translated here
# so that every language reads them from one catalogue.
HOLIDAY_NAMES = (
    N_("New Year's Day"),
    N_("Orthodox Christmas"),
    N_("International Women's Day"),
    N_("Constitution Day"),
    N_("Nowruz Holiday"),
    N_("Kazakhstan's People Solidarity Holiday"),
    N_("Defender of the Fatherland Day"),
    N_("Victory Day"),
    N_("Capital Day"),
    N_("Eid al-Adha"),
    N_("Republic Day"),
    N_("Independence Day"),
    N_("First President Day"),
)
_SUBSTITUTED = re.compile(r"^Day off \(substituted from (\d\d)/(\d\d)/(\d{4})\)$")


def day_name(_: Gettext, name: str) -> str:
    """A non-working day's name in the reader's language: a public holiday's (the library's
    English name, "(observed)" or "(estimated)" after it), or staff's words as they wrote them."""
    moved = _SUBSTITUTED.match(name)
    if moved:
        month, day, year = moved.groups()
        return _("Day off (moved from {day})").replace("{day}", f"{day}.{month}.{year}")
    for suffix, words in (
        (" (observed)", _("{name} (moved day off)")),
        (" (estimated)", _("{name} (date estimated)")),
    ):
        if name.endswith(suffix):
            base = name.removesuffix(suffix)
            if base in HOLIDAY_NAMES:
                return words.replace("{name}", _(base))
    return _(name) if name in HOLIDAY_NAMES else name


def month_labels(_: Gettext) -> dict[MonthState, str]:
    """A group-month's state on the guarantee's page."""
    return {
        MonthState.GREEN: _("a live class was held"),
        MonthState.AMBER: _("a live class is planned"),
        MonthState.RED: _("no live class"),
        MonthState.OUTSIDE: _("outside the study period"),
    }


def month_detail(
    _: Gettext,
    group: Group,
    first: date,
    gm: GroupMonth,
    class_of: Callable[[int], LiveClass],
    reason: Callable[[str], str],
) -> str:
    """What settles a group-month (``first``, its first day), or why it is red: the study
    period it is outside of, its open alert (``reason``: a logged reason in words), or the class
    held or planned (its time in the group's zone)."""
    if gm.state is MonthState.OUTSIDE:
        if outside_reason(group, first) == "before" and group.starts_on:
            return _("the study period starts on {day}").replace(
                "{day}", f"{group.starts_on:%d.%m.%Y}"
            )
        if group.ends_on:
            return _("the study period ended on {day}").replace(
                "{day}", f"{group.ends_on:%d.%m.%Y}"
            )
        return ""
    if gm.alert:
        return reason(f"{gm.alert}:{gm.month}")
    if gm.class_id:
        c = class_of(gm.class_id)
        return f"{c.title}, {c.starts_at.astimezone(ZoneInfo(group.timezone)):%d.%m %H:%M}"
    return ""


def month_name(month: str | date, language: str) -> str:
    """A month (``YYYY-MM``, or any day of it) as its name and year in ``language``, in the form
    CLDR gives for a month of a year: "2026 ж. желтоқсан", "декабрь 2026 г.", "December 2026"."""
    first = date.fromisoformat(month + "-01") if isinstance(month, str) else month
    return format_skeleton("yMMMM", first, locale=language)


# Kazakhstan's zones by their cities' names, each as "<city> time" in the reader's language
# (Russian declines the city: "время Костаная"); another zone is shown by its id.
ZONE_NAMES = {
    "Asia/Almaty": N_("Almaty time"),
    "Asia/Qostanay": N_("Kostanay time"),
    "Asia/Aqtobe": N_("Aktobe time"),
    "Asia/Aqtau": N_("Aktau time"),
    "Asia/Atyrau": N_("Atyrau time"),
    "Asia/Oral": N_("Oral time"),
    "Asia/Qyzylorda": N_("Kyzylorda time"),
}


def utc_offset(zone: str, at: datetime) -> str:
    """``zone``'s offset from UTC at the moment ``at``: "UTC+5", "UTC+5:30", "UTC-3", "UTC"."""
    offset = at.astimezone(ZoneInfo(zone)).utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    if not minutes:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")


def _zone_parts(_: Gettext, zone: str, at: datetime) -> tuple[str, str | None]:
    name = ZONE_NAMES.get(zone)
    try:
        offset: str | None = utc_offset(zone, at)
    except (ZoneInfoNotFoundError, ValueError):
        offset = None
    return (_(name) if name else zone), offset


def zone_name(_: Gettext, zone: str, at: datetime) -> str:
    """A time zone as a person reads it, with its offset at the moment ``at`` (a zone may
    change its offset in summer): "Almaty time (UTC+5)", "Алматы уақыты (UTC+5)", "время
    Алматы (UTC+5)"; a zone outside Kazakhstan by its id, "Europe/Berlin (UTC+1)"."""
    name, offset = _zone_parts(_, zone, at)
    return f"{name} ({offset})" if offset else name


def zone_aside(_: Gettext, zone: str, at: datetime) -> str:
    """``zone_name`` in brackets after a time: "(Almaty time, UTC+5)"."""
    name, offset = _zone_parts(_, zone, at)
    return f"({name}, {offset})" if offset else f"({name})"
