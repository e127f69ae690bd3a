"""Errors of the scheduler."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import LiveClass


class SchedulerError(Exception):
    code = "scheduler_error"


class ClassNotFound(SchedulerError):
    code = "class_not_found"


class GroupNotFound(SchedulerError):
    code = "group_not_found"


class DisciplineNotFound(SchedulerError):
    code = "discipline_not_found"


class DisciplineNameTaken(SchedulerError, ValueError):
    """A programme already has a discipline of that name (letter case aside)."""

    code = "discipline_name_taken"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"The programme already has a discipline named {name!r}")


class DisciplineInUse(SchedulerError, ValueError):
    """A discipline that classes name, or other records refer to, cannot be removed."""

    code = "discipline_in_use"

    def __init__(self, name: str, classes: int) -> None:
        self.name = name
        self.classes = classes  # classes of the programme's groups that name it; 0: other records
        if classes:
            why = f"{classes} class(es) of the programme's groups name it"
        else:
            why = "other records refer to it"
        super().__init__(f"The discipline {name!r} cannot be removed: {why}")


class GroupNotReady(SchedulerError):
    """A group that may not be activated (an additional-education group below 20)."""

    code = "group_not_ready"


class InvalidTransition(SchedulerError):
    code = "invalid_transition"


class ClassConflict(SchedulerError):
    """A new or moved class would put a teacher, a group or a learner in two classes at once."""

    code = "class_conflict"

    def __init__(self, who: str, conflicting: LiveClass) -> None:
        self.who = who  # "teacher", "group" or "learner"
        self.conflicting = conflicting
        super().__init__(
            f"The {who} already has class {conflicting.id} ({conflicting.title!r})"
            f" from {conflicting.starts_at:%Y-%m-%d %H:%M} to {conflicting.ends_at:%H:%M} UTC"
        )


# -- the rules of a plan: each refusal names its rule by ``code`` and carries its values; views
# -- show it in the reader's language from them, never from the English text. ``ValueError`` as
# -- well: a bad value given.
class EndsBeforeStart(SchedulerError, ValueError):
    """A class ends when or before it starts."""

    code = "ends_before_start"

    def __init__(self) -> None:
        super().__init__("A class must end after it starts")


class ClassTooLong(SchedulerError, ValueError):
    """A class lasts longer than the longest a class may last."""

    code = "class_too_long"

    def __init__(self, longest: timedelta) -> None:
        self.longest = longest
        super().__init__(f"A class lasts at most {longest // timedelta(hours=1)} hours")


class RuleEndsBeforeStart(SchedulerError, ValueError):
    """A weekly rule's last day comes before its first."""

    code = "rule_ends_before_start"

    def __init__(self) -> None:
        super().__init__("The rule ends before it starts")


class NoWeekdays(SchedulerError, ValueError):
    """A weekly rule names no day of the week, or one that is not 0 (Monday) to 6 (Sunday)."""

    code = "no_weekdays"

    def __init__(self) -> None:
        super().__init__("Choose the days of the week (0 = Monday … 6 = Sunday)")


class TooManyOccurrences(SchedulerError, ValueError):
    """A weekly rule makes more classes than one rule may."""

    code = "too_many_occurrences"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"A rule makes at most {limit} classes")


class PlannedInPast(SchedulerError, ValueError):
    """Classes are planned for a time to come: this one starts now or before."""

    code = "planned_in_past"

    def __init__(self, starts_at: datetime, now: datetime) -> None:
        self.starts_at = starts_at
        self.now = now
        super().__init__(f"A class starting at {starts_at:%Y-%m-%d %H:%M} UTC is not to come")


# -- the academy's structure: institutes, departments, agencies ----------------------------------
class InstituteNotFound(SchedulerError):
    code = "institute_not_found"


class DepartmentNotFound(SchedulerError):
    code = "department_not_found"


class AgencyNotFound(SchedulerError):
    code = "agency_not_found"


class StructureNameTaken(SchedulerError, ValueError):
    """Another institute (a department of the same institute, another agency) has the name,
    letter case aside."""

    code = "structure_name_taken"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"The name {name!r} is taken")


class BadStructureName(SchedulerError, ValueError):
    """An empty name, or one longer than a name may be."""

    code = "bad_structure_name"

    def __init__(self, longest: int) -> None:
        self.longest = longest
        super().__init__(f"Give a name of 1 to {longest} characters")


class BadContactAddress(SchedulerError, ValueError):
    """An HR service's contact that is not an e-mail address, or too many of them."""

    code = "bad_contact_address"

    def __init__(self, address: str, most: int) -> None:
        self.address = address
        self.most = most
        super().__init__(f"{address!r} is not an e-mail address (at most {most} addresses)")


class WrongRoleFor(SchedulerError, ValueError):
    """A director who is not an account of a director, a head who is not one of a head of
    department (or no such account)."""

    code = "wrong_role_for"

    def __init__(self, post: str) -> None:
        self.post = post  # "director" or "head_of_department"
        super().__init__(f"The person named is not an account of the role {post}")


class ArchivedParent(SchedulerError, ValueError):
    """A department added to, or brought back into, an archived institute."""

    code = "archived_parent"

    def __init__(self) -> None:
        super().__init__("The institute is archived")


# -- the academy calendar and the study period ----------------------------------------------------
class NonWorkingDay(SchedulerError, ValueError):
    """A class planned (or moved) onto a non-working day of the academy calendar without being
    confirmed: the day and why it is off (a public holiday's or the staff's name for it)."""

    code = "non_working_day"

    def __init__(self, day: date, name: str) -> None:
        self.day = day
        self.name = name
        super().__init__(f"{day} is a non-working day ({name}); confirm to plan on it")


class OutsideStudyPeriod(SchedulerError, ValueError):
    """A class of a group on a day outside the group's study period."""

    code = "outside_study_period"

    def __init__(self, group: str, day: date, starts_on: date | None, ends_on: date | None) -> None:
        self.group = group
        self.day = day
        self.starts_on = starts_on
        self.ends_on = ends_on
        super().__init__(
            f"{day} is outside the study period of group {group!r}"
            f" ({starts_on or '…'} to {ends_on or '…'})"
        )


class GroupInactive(SchedulerError, ValueError):
    """A class for a group that is not active."""

    code = "group_inactive"

    def __init__(self, group: str) -> None:
        self.group = group
        super().__init__(f"Group {group!r} is not active")


class BadCalendarDay(SchedulerError, ValueError):
    """A day of the academy calendar without a name, with a name too long, or out of range."""

    code = "bad_calendar_day"

    def __init__(self, longest: int) -> None:
        self.longest = longest
        super().__init__(f"Give a day within the timetable's years and a name of 1 to {longest}")


class ArchivedDepartment(SchedulerError):
    """A group made in a department that is archived, or whose institute is."""

    code = "archived_department"

    def __init__(self) -> None:
        super().__init__("The department is archived, or its institute is")
