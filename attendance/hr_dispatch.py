"""The agencies' HR services told by e-mail (clauses 18, 19), as rules: when each monthly
mail is due, which month it covers, and the key it is queued under. Free of storage and I/O:
``sqlite_hr_dispatch`` keeps the schedule and the log; ``web.core.hr_mail`` writes the mail.

Two mails a month go to each agency's HR service (to every address it has), once it has
learners in a group:

- **the timetable** of the coming month: the classes of the groups its employees are in, each
  at its time in its group's zone (clause 18: the Academy brings the timetable to the HR
  services' notice); due by default on the 25th at 10:00;
- **the attendance** of the past month: the agency report's rows for its employees (clause 19:
  records kept, cooperation with the HR services); due by default on the 3rd at 10:00.

The schedule is the academy's (one rule per kind, in the academy's zone): staff set the day of
the month (1–31: a day past the month's end is its last day, so "31" is every month's last day)
and the hour, or switch a kind off. A mail is due from its moment until the end of that month;
one missed altogether (the server was off for the rest of the month) is sent by hand ("Send
now" on the agency's page). Each scheduled mail is queued under the key
``hr:<agency>:<kind>:<month>``, so it is queued once whatever runs the job (a restart, a second
run); a mail sent by hand has a key of its own."""

from __future__ import annotations

import enum
from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from access.models import Role

HR_MAIL_MANAGERS = frozenset({Role.STAFF, Role.ADMIN})


class DispatchKind(enum.StrEnum):
    TIMETABLE = "timetable"  # the coming month's classes
    ATTENDANCE = "attendance"  # the past month's attendance


class DispatchReason(enum.StrEnum):
    SCHEDULED = "scheduled"  # by the schedule
    MANUAL = "manual"  # "Send now" by staff
    RESENT = "resent"  # "Send again" of an earlier dispatch


@dataclass(frozen=True, slots=True)
class DispatchRule:
    """When one kind of mail goes: on ``day`` (1–31, the month's last day if it has fewer) at
    ``hour`` (0–23) in the academy's zone; ``enabled`` False: never by the schedule."""

    kind: DispatchKind
    day: int
    hour: int
    enabled: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.day <= 31:
            raise ValueError(f"The day of the month is 1 to 31, not {self.day}")
        if not 0 <= self.hour <= 23:
            raise ValueError(f"The hour is 0 to 23, not {self.hour}")


DEFAULT_RULES = {
    DispatchKind.TIMETABLE: DispatchRule(DispatchKind.TIMETABLE, 25, 10),
    DispatchKind.ATTENDANCE: DispatchRule(DispatchKind.ATTENDANCE, 3, 10),
}


def month_text(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def shift_month(year: int, month: int, by: int) -> tuple[int, int]:
    """The month ``by`` months after (before, if negative) ``year``-``month``."""
    n = year * 12 + (month - 1) + by
    return n // 12, n % 12 + 1


def covered(kind: DispatchKind, year: int, month: int) -> str:
    """The month (YYYY-MM) the mail sent in ``year``-``month`` covers: the next one for the
    timetable (December's is January's of the next year), the previous one for attendance."""
    return month_text(*shift_month(year, month, 1 if kind is DispatchKind.TIMETABLE else -1))


def due_moment(rule: DispatchRule, year: int, month: int, zone: str) -> datetime:
    """When ``rule``'s mail is due in ``year``-``month`` (UTC): its day (the month's last day if
    the month is shorter) at its hour in ``zone``."""
    day = min(rule.day, monthrange(year, month)[1])
    return datetime(year, month, day, rule.hour, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def due_month(rule: DispatchRule, now: datetime, zone: str) -> str | None:
    """The month whose mail of ``rule``'s kind is due at ``now`` (aware), or None: from the due
    moment of the current month (in ``zone``) to that month's end."""
    if not rule.enabled:
        return None
    local = now.astimezone(ZoneInfo(zone))
    if now < due_moment(rule, local.year, local.month, zone):
        return None
    return covered(rule.kind, local.year, local.month)


def scheduled_key(agency_id: int, kind: DispatchKind, month: str) -> str:
    """The outbox key of the scheduled mail: one per agency, kind and month."""
    return f"hr:{agency_id}:{kind.value}:{month}"


def again_key(agency_id: int, kind: DispatchKind, month: str, token: str) -> str:
    """The outbox key of a mail sent by hand (``token``: new for each)."""
    return f"{scheduled_key(agency_id, kind, month)}:again:{token}"


def may_send_hr_mail(role: Role) -> bool:
    """Setting the schedule, reading the log, sending by hand: staff and administrators."""
    return role in HR_MAIL_MANAGERS


@dataclass(frozen=True, slots=True)
class Dispatch:
    """One mail to an agency's HR service, as logged: what, for which month, when it was
    queued, to whom, under which outbox key, why, and by whom (None: the schedule)."""

    id: int
    agency_id: int
    kind: DispatchKind
    month: str
    at: float
    recipients: tuple[str, ...]
    mail_key: str
    reason: DispatchReason
    by_user_id: int | None = None
    by_name: str = ""


def schedule_of(form: Mapping[str, object]) -> list[DispatchRule]:
    """The schedule staff set on the agencies' page: each kind's day of the month, hour and
    whether it goes; ValueError when a day or an hour is not one."""
    rules = []
    for kind in DispatchKind:
        day = int(str(form.get(f"{kind.value}_day", "")))
        hour = int(str(form.get(f"{kind.value}_hour", "")))
        rules.append(DispatchRule(kind, day, hour, f"{kind.value}_enabled" in form))
    return rules
