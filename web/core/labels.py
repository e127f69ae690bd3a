"""Words for the timetable's values and refusals, shared by the pages that show them."""

from __future__ import annotations

import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

from aiohttp import web

from access.models import Role
from admission.status import NotAdmittedReason
from scheduler.errors import ClassConflict
from scheduler.models import ClassFormat, ClassKind, ClassStatus

from .http import gettext_of
from .i18n import N_


def kind_labels(_: Callable[[str], str]) -> dict[ClassKind, str]:
    return {
        ClassKind.LECTURE: _("Lecture"),
        ClassKind.SEMINAR: _("Seminar"),
        ClassKind.PRACTICAL: _("Practical class"),
        ClassKind.CONSULTATION: _("Consultation"),
        ClassKind.MIDTERM_CONTROL: _("Midterm control"),
        ClassKind.EXAM: _("Exam"),
        ClassKind.INTRODUCTION: _("Introductory class"),
    }


def not_admitted_labels(_: Callable[[str], str]) -> dict[NotAdmittedReason, str]:
    return {
        NotAdmittedReason.ASSIGNMENTS_INCOMPLETE: _("assignments on the portal not completed"),
        NotAdmittedReason.INTERMEDIATE_TEST_FAILED: _(
            "intermediate tests or case tasks not passed"
        ),
    }


def class_status_labels(_: Callable[[str], str]) -> dict[ClassStatus, str]:
    return {
        ClassStatus.PLANNED: _("Planned"),
        ClassStatus.LIVE: _("Live now"),
        ClassStatus.HELD: _("Held"),
        ClassStatus.CANCELLED: _("Cancelled"),
        ClassStatus.MISSED: _("Missed"),
    }


def format_labels(_: Callable[[str], str]) -> dict[ClassFormat, str]:
    return {ClassFormat.LIVE_ONLINE: _("Live online"), ClassFormat.IN_PERSON: _("In person")}


def conflict_message(request: web.Request, exc: ClassConflict, zone: str) -> str:
    """The class in the way, named, in words a staff member reads."""
    _ = gettext_of(request)
    texts = {
        "teacher": _('The teacher already has a class at that time: "{title}", {when}.'),
        "group": _('The group already has a class at that time: "{title}", {when}.'),
        "learner": _('The student already has a class at that time: "{title}", {when}.'),
    }
    tz = ZoneInfo(zone)
    c = exc.conflicting
    when = f"{c.starts_at.astimezone(tz):%d.%m.%Y %H:%M}–{c.ends_at.astimezone(tz):%H:%M} ({zone})"
    return texts[exc.who].replace("{title}", c.title).replace("{when}", when)


def role_labels(_: Callable[[str], str]) -> dict[Role, str]:
    """The roles as the regulation names them."""
    return {
        Role.STUDENT: _("Student"),
        Role.TEACHER: _("Teacher"),
        Role.HEAD_OF_DEPARTMENT: _("Head of department"),
        Role.DIRECTOR: _("Institute director"),
        Role.STAFF: _("Staff of the academic methods unit"),
        Role.ADMIN: _("Administrator"),
    }


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


def day_name(_: Callable[[str], str], name: str) -> str:
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
