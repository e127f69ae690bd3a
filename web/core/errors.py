"""The one table from a domain error's ``code`` to the HTTP status it answers with and the
message a person reads, in their language, filled from the error's values. Views catch domain
errors by their type and show them through here; none reads an error's English text."""

from __future__ import annotations

from collections.abc import Callable

from admission.errors import DisciplineNotNamed
from scheduler.errors import (
    ClassNotFound,
    ClassTooLong,
    EndsBeforeStart,
    GroupNotFound,
    NoWeekdays,
    PlannedInPast,
    RuleEndsBeforeStart,
    TooManyOccurrences,
)

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
        DisciplineNotNamed.code: (
            400,
            _("A midterm control or an exam names one of the programme's disciplines: {names}."),
        ),
    }


def _values(exc: Exception) -> dict[str, str]:
    """The values an error's message is filled with."""
    if isinstance(exc, TooManyOccurrences):
        return {"n": str(exc.limit)}
    if isinstance(exc, DisciplineNotNamed):
        return {"names": ", ".join(exc.names)}
    return {}


def _code(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    if not isinstance(code, str):
        raise TypeError(f"{type(exc).__name__} is not a domain error with a code")
    return code


def status_of(exc: Exception) -> int:
    """The HTTP status the error answers with."""
    return _table(str)[_code(exc)][0]


def message_of(_: Gettext, exc: Exception) -> str:
    """The error's message in the language of ``_``, with its values."""
    message = _table(_)[_code(exc)][1]
    for name, value in _values(exc).items():
        message = message.replace("{" + name + "}", value)
    return message
