"""The JSON API's shapes, once, as pydantic models: handlers validate request bodies with them
(web/api_json.py words the problems), and the OpenAPI 3.1 document's component schemas are
generated from them (web/openapi.py).

Request models refuse what they do not name and take no coercion (strict: "1" is not 1, true
is not 1, 1.0 is not 1). A field that may be left out has a default only to be optional: the
handlers read the body as sent, and the document shows no defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from access.addresses import MAX_ADDRESS
from access.audit import Action, ActorKind, ObjectKind
from access.models import MAX_AGENCY, Role
from admission.models import MAX_DETAILS, MAX_DOCUMENT, ExcuseReason
from admission.status import MAX_NOTE, NotAdmittedReason
from scheduler.models import ClassFormat, ClassKind, ClassStatus
from scheduler.roster import MAX_NAME

if TYPE_CHECKING:  # the enumerations' values as literals: inline enums in the document
    KindValue = str
    FormatValue = str
    StatusValue = str
    ExcuseReasonValue = str
    NotAdmittedValue = str
    RoleValue = str
    ActorKindValue = str
    ActionValue = str
    ObjectKindValue = str
else:
    KindValue = Literal[tuple(k.value for k in ClassKind)]
    FormatValue = Literal[tuple(f.value for f in ClassFormat)]
    StatusValue = Literal[tuple(s.value for s in ClassStatus)]
    ExcuseReasonValue = Literal[tuple(r.value for r in ExcuseReason)]
    NotAdmittedValue = Literal[tuple(r.value for r in NotAdmittedReason)]
    RoleValue = Literal[tuple(r.value for r in Role)]
    ActorKindValue = Literal[tuple(k.value for k in ActorKind)]
    ActionValue = Literal[tuple(a.value for a in Action)]
    ObjectKindValue = Literal[tuple(k.value for k in ObjectKind)]

MAX_MEMBERS = 200  # per call; the portal sends a larger group in several

Id = Annotated[int, Field(ge=1, le=2**62)]
Date = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", json_schema_extra={"format": "date"})]
Time = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Text = Annotated[str, Field(min_length=1, max_length=200)]
MAX_PAGE = 200  # groups a page at most
PageLimit = Annotated[int, Field(ge=1, le=MAX_PAGE)]
PageOffset = Annotated[int, Field(ge=0, le=10**9)]
Month = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")]
Year = Annotated[int, Field(ge=2000, le=2100)]


class Request(BaseModel):
    """A request body: only the fields named, each of its exact JSON type."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Response(BaseModel):
    """A response body (documented; the handlers build it)."""

    model_config = ConfigDict(strict=True)


# The timetable


class Plan(Request):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    discipline: Annotated[str, Field(max_length=200)] = ""
    kind: KindValue
    format: FormatValue = "live_online"
    group_id: Id
    teacher_id: Id
    day: Date
    start: Time
    end: Time
    repeat: Literal["", "weekly"] = ""
    weekdays: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(max_length=7)] = []
    until: Date = ""
    except_: Annotated[list[Date], Field(max_length=400, alias="except")] = []
    # Planned on a non-working day of the academy calendar only when this says so (else 409).
    on_day_off: bool = False


class Move(Request):
    day: Date
    start: Time
    end: Time
    reason: Annotated[str, Field(max_length=500)] = ""
    on_day_off: bool = False  # moved onto a non-working day only when this says so


class Cancel(Request):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class Class(Response):
    id: int
    title: str
    discipline: str = ""
    kind: KindValue
    format: FormatValue
    status: StatusValue
    teacher_id: int
    group_ids: list[int]
    learner_ids: list[int] = []
    individual: bool = False
    series_id: int | None = None
    starts_at: DateTime
    ends_at: DateTime
    local_start: DateTime = ""
    local_end: DateTime = ""
    time_zone: str


class GroupTimetable(Response):
    group_id: int
    classes: list[Class]


class TeacherTimetable(Response):
    teacher_id: int
    classes: list[Class]


class PlannedClasses(Response):
    classes: list[Class]


class Alert(Response):
    group_id: int
    month: str
    reason: str
    message: str
    raised_at: DateTime


class Alerts(Response):
    alerts: list[Alert]


class GuaranteeRun(Request):
    dry_run: bool = True  # only say what it would do, writing nothing


class GuaranteeClass(Response):
    group_id: int
    group: str
    month: str  # YYYY-MM, in the group's zone
    class_id: int | None  # None in a dry run: not planned yet
    teacher_id: int
    starts_at: DateTime  # in the group's zone
    ends_at: DateTime
    timezone: str


class GuaranteeAlert(Response):
    group_id: int
    group: str
    month: str
    reason: str
    message: str


class GuaranteeMonth(Response):
    group_id: int
    month: str


class GuaranteeOutcome(Response):
    dry_run: bool
    classes: list[GuaranteeClass]  # planned, or (dry run) it would plan
    alerts: list[GuaranteeAlert]  # raised, or it would raise
    cleared: list[GuaranteeMonth]  # alerts cleared: the month is settled
    missed: list[int]  # classes marked missed: never started
    closed: list[int]  # classes live long past their end, decided held or missed
    confirmed: list[int]  # its proposals nobody confirmed in time, confirmed by it


# The academy calendar


class CalendarDay(Response):
    day: Date
    off: bool  # a non-working day
    name: str  # in the reader's language (a public holiday's), or as staff wrote it
    source: Literal["holiday", "staff"]
    holiday: str | None = None  # the public holiday a day staff set overrides


class CalendarYear(Response):
    year: int
    days: list[CalendarDay]


class SetCalendarDay(Request):
    day: Date
    kind: Literal["day_off", "working_day"]
    name: Annotated[str, Field(min_length=1, max_length=200)]


class CalendarDayRemoved(Response):
    day: Date
    removed: bool


# Emergency switches (clause 3)
class Switch(Response):
    id: int
    first_day: Date  # inclusive, in each group's time zone
    last_day: Date
    group_ids: list[int]  # empty: every group
    reason: str
    by: str
    at: DateTime
    in_force: bool  # not lifted: classes planned or moved into its days go online too
    class_ids: list[int]  # the classes it holds online (lifting returns them to in person)
    lifted_at: DateTime | None
    lifted_by: str | None


class Switches(Response):
    switches: list[Switch]


class NewSwitch(Request):
    first_day: Date
    last_day: Date
    group_ids: Annotated[list[Id], Field(max_length=1000)] = []  # these groups, or
    all_groups: bool = False  # every group (then no group_ids)
    reason: Annotated[str, Field(min_length=1, max_length=500)]


# Join links


class JoinLink(Request):
    user_id: Id
    class_id: Id


class JoinLinkMade(Response):
    url: str
    expires_in: int
    role: str


# Groups


class Group(Response):
    id: int
    name: str
    language: str
    time_zone: str
    active: bool
    programme_id: int | None = None
    starts_on: str | None = None
    ends_on: str | None = None
    members: list[int]
    teachers: list[int]


class GroupPage(Response):
    items: list[Group]
    total: int
    next_offset: int | None


class NewGroup(Request):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    department_id: Id
    language: Literal["kk", "ru"]
    time_zone: Annotated[str, Field(min_length=1, max_length=64)] = "Asia/Almaty"
    programme_id: Id = 1
    starts_on: Date = ""
    ends_on: Date = ""


class NewMember(Request):
    login: Annotated[str, Field(min_length=1, max_length=64)]
    full_name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    agency: Annotated[str, Field(max_length=MAX_AGENCY)] = ""


class NewMembers(Request):
    members: Annotated[list[NewMember], Field(min_length=1, max_length=MAX_MEMBERS)]


class AddedMember(Response):
    login: str
    user_id: int


class MembersAdded(Response):
    created: int
    added: int
    already: int
    members: list[AddedMember]
    group: Group


class NewTeacher(Request):
    user_id: Id


# People


Email = Annotated[str, Field(min_length=3, max_length=MAX_ADDRESS)]


class Person(Response):
    id: int
    login: str
    full_name: str
    role: RoleValue
    department_id: int | None
    active: bool
    email: str | None  # where notices go


class PersonPage(Response):
    items: list[Person]
    total: int
    next_offset: int | None


class NewPerson(Request):
    login: Annotated[str, Field(min_length=2, max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]+$")]
    full_name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    role: RoleValue
    department_id: Id | None = None
    email: Email | None = None  # an e-mail address for notices


class PersonChange(Request):
    full_name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)] = ""
    role: RoleValue = "teacher"
    department_id: Id | None = None
    email: Email | None = None  # null removes the address


# Guest requests


class GuestRequest(Request):
    head_user_id: Id
    class_id: Id
    guest_name: Text
    organisation: Text
    position: Text
    contact: Text
    topic: Text
    justification: Annotated[str, Field(min_length=1, max_length=2000)]
    presents: bool = False


class GuestRequestFiled(Response):
    id: int
    class_id: int
    status: str


# Excuse requests


class NewExcuseRequest(Request):
    learner_id: Id
    group_id: Id  # the learner's group: its institute's director decides
    reason: ExcuseReasonValue
    first_day: Date
    last_day: Date
    document: Annotated[str, Field(min_length=1, max_length=MAX_DOCUMENT)]
    details: Annotated[str, Field(max_length=MAX_DETAILS)] = ""
    filed_by_user_id: Id  # the staff member the portal files it as


class ExcuseStep(Response):
    action: str
    by: str
    comment: str = ""
    class_id: int | None = None
    at: DateTime


class ExcuseRequest(Response):
    id: int
    learner_id: int
    group_id: int
    reason: str
    first_day: str
    last_day: str
    document: str = ""
    details: str = ""
    status: Literal["pending", "approved", "rejected"]
    decider_id: int | None = None
    steps: list[ExcuseStep]


# Reports


class ChainHead(Response):
    class_id: int
    events: int
    hash: str


class Report(Response):
    title: str
    notes: list[str]
    header: list[str]
    rows: list[list[object]]
    chain_heads: list[ChainHead]


# Admission


class NewAdmissionChange(Request):
    programme_id: Id
    # A postgraduate programme's status is per discipline; additional education's per course.
    discipline_id: Id | None = None
    admitted: bool
    reason: NotAdmittedValue | None = None
    note: Annotated[str, Field(min_length=1, max_length=MAX_NOTE)]


class AdmissionChange(Response):
    id: int = 0
    programme_id: int
    discipline_id: int | None
    admitted: bool
    reason: str | None
    note: str
    by: str
    at: DateTime


class AdmissionStatus(Response):
    programme_id: int
    discipline_id: int | None
    name: str
    admitted: bool
    reason: str | None = None
    since: DateTime | None = None


class Admission(Response):
    learner_id: int
    statuses: list[AdmissionStatus]
    history: list[AdmissionChange]


# Errors


class ErrorDetail(Response):
    code: str
    message: str


class Error(Response):
    error: ErrorDetail


class UnreadNotices(Response):
    """How many of the signed-in person's notices are unread (the header's badge)."""

    unread: int
