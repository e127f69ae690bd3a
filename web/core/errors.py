"""The one table from a domain error's ``code`` to the HTTP status it answers with and the
message a person reads, in their language, filled from the error's values. Views catch domain
errors by their type and show them through here; none reads an error's English text."""

from __future__ import annotations

from collections.abc import Callable

from admission.errors import DisciplineNotNamed
from scheduler.errors import (
    AgencyNotFound,
    ArchivedDepartment,
    ArchivedParent,
    BadCalendarDay,
    BadContactAddress,
    BadStructureName,
    ClassNotFound,
    ClassTooLong,
    DepartmentNotFound,
    EndsBeforeStart,
    GroupInactive,
    GroupNotFound,
    InstituteNotFound,
    NonWorkingDay,
    NoWeekdays,
    OutsideStudyPeriod,
    PlannedInPast,
    RuleEndsBeforeStart,
    StructureNameTaken,
    TooManyOccurrences,
    WrongRoleFor,
)
from scheduler.labels import day_name

Gettext = Callable[[str], str]


def _table(_: Gettext) -> dict[str, tuple[int, str]]:
    """Code → (status, message with ``{name}`` placeholders), translated by ``_``."""
    return {
        ClassNotFound.code: (404, _("There is no such class or group.")),
        GroupNotFound.code: (404, _("There is no such class or group.")),
        EndsBeforeStart.code: (400, _("The class must end after it starts.")),
        ClassTooLong.code: (400, _("A class lasts at most 12 hours.")),
        RuleEndsBeforeStart.code: (400, _("The last day of the rule comes after the first.")),
        NoWeekdays.code: (400, _("Choose the days of the week.")),
        TooManyOccurrences.code: (400, _("A rule makes at most {n} classes.")),
        PlannedInPast.code: (400, _("Classes are planned for a time to come.")),
        InstituteNotFound.code: (404, _("There is no such institute.")),
        DepartmentNotFound.code: (404, _("There is no such department.")),
        AgencyNotFound.code: (404, _("There is no such agency.")),
        StructureNameTaken.code: (409, _("The name {name} is taken.")),
        BadStructureName.code: (400, _("Give a name of 1 to {n} characters.")),
        BadContactAddress.code: (
            400,
            _("{address} is not an e-mail address (give at most {n} addresses)."),
        ),
        WrongRoleFor.code: (
            400,
            _(
                "A director is chosen among the accounts of directors, a head of department"
                " among those of heads of department."
            ),
        ),
        ArchivedParent.code: (409, _("The institute is archived: bring it back first.")),
        NonWorkingDay.code: (
            409,
            _("{day} is a non-working day ({name}). Confirm to plan the class on it anyway."),
        ),
        OutsideStudyPeriod.code: (
            422,
            _(
                "{day} is outside the study period of group {group} ({first} – {last}): its"
                " classes are planned within it."
            ),
        ),
        GroupInactive.code: (
            409,
            _("Group {group} is not active: classes are planned for active groups only."),
        ),
        BadCalendarDay.code: (
            400,
            _("Give a day of the years 2000 to 2100 and a name of 1 to {n} characters."),
        ),
        ArchivedDepartment.code: (
            409,
            _("The department is archived, or its institute is: choose another or bring it back."),
        ),
        DisciplineNotNamed.code: (
            400,
            _("A midterm control or an exam names one of the programme's disciplines: {names}."),
        ),
    }


def _values(exc: Exception, _: Gettext) -> dict[str, str]:
    """The values an error's message is filled with, in the language of ``_``."""
    if isinstance(exc, NonWorkingDay):
        return {"day": exc.day.strftime("%d.%m.%Y"), "name": day_name(_, exc.name)}
    if isinstance(exc, OutsideStudyPeriod):
        return {
            "day": exc.day.strftime("%d.%m.%Y"),
            "group": exc.group,
            "first": exc.starts_on.strftime("%d.%m.%Y") if exc.starts_on else "…",
            "last": exc.ends_on.strftime("%d.%m.%Y") if exc.ends_on else "…",
        }
    if isinstance(exc, GroupInactive):
        return {"group": exc.group}
    if isinstance(exc, BadCalendarDay):
        return {"n": str(exc.longest)}
    if isinstance(exc, TooManyOccurrences):
        return {"n": str(exc.limit)}
    if isinstance(exc, StructureNameTaken):
        return {"name": exc.name}
    if isinstance(exc, BadStructureName):
        return {"n": str(exc.longest)}
    if isinstance(exc, BadContactAddress):
        return {"address": exc.address, "n": str(exc.most)}
    if isinstance(exc, DisciplineNotNamed):
        return {"names": ", ".join(exc.names)}
    return {}


def _code(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    if not isinstance(code, str):
        raise TypeError(f"{type(exc).__name__} is not a domain error with a code")
    return code


def known(exc: Exception) -> bool:
    """Whether the table has the error's code."""
    return getattr(exc, "code", None) in _table(str)


def status_of(exc: Exception) -> int:
    """The HTTP status the error answers with."""
    return _table(str)[_code(exc)][0]


def message_of(_: Gettext, exc: Exception) -> str:
    """The error's message in the language of ``_``, with its values."""
    message = _table(_)[_code(exc)][1]
    for name, value in _values(exc, _).items():
        message = message.replace("{" + name + "}", value)
    return message
