"""The JSON API's shapes, once, as pydantic models: handlers validate request bodies with them,
and the OpenAPI 3.1 document's component schemas are generated from them (web/openapi.py).

Request models refuse what they do not name and take no coercion (strict: "1" is not 1, true
is not 1, 1.0 is not 1). A field that may be left out has a default only to be optional: the
handlers read the body as sent, and the document shows no defaults."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import ErrorDetails, core_schema

from access.models import MAX_AGENCY
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
else:
    KindValue = Literal[tuple(k.value for k in ClassKind)]
    FormatValue = Literal[tuple(f.value for f in ClassFormat)]
    StatusValue = Literal[tuple(s.value for s in ClassStatus)]
    ExcuseReasonValue = Literal[tuple(r.value for r in ExcuseReason)]
    NotAdmittedValue = Literal[tuple(r.value for r in NotAdmittedReason)]

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


class Move(Request):
    day: Date
    start: Time
    end: Time
    reason: Annotated[str, Field(max_length=500)] = ""


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


REQUESTS: tuple[type[Request], ...] = (
    Plan, Move, Cancel, JoinLink, NewGroup, NewMembers, NewTeacher, GuestRequest,
    NewExcuseRequest, NewAdmissionChange,
)  # fmt: skip


class _Generator(GenerateJsonSchema):
    """The document's dialect: no generated titles, descriptions or defaults (the handlers
    read what was sent), and an optional scalar as a list of types, as JSON Schema writes it."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        out.pop("title", None)
        out.pop("description", None)
        return out

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        kind = inner.get("type")
        if not isinstance(kind, str):
            return super().nullable_schema(schema)
        out = {**inner, "type": [kind, "null"]}
        if "enum" in inner:
            out["enum"] = [*inner["enum"], None]
        return out


REF = "#/components/schemas/{model}"


def component_schemas(models: Iterable[type[BaseModel]]) -> dict[str, JsonSchemaValue]:
    """The schemas of ``models`` and of every model they contain, by name, referring to one
    another as ``#/components/schemas/Name``."""
    _refs, top = models_json_schema(
        [(m, "validation") for m in models], ref_template=REF, schema_generator=_Generator
    )
    return dict(top.get("$defs", {}))


def scalar_schema(annotation: Any) -> JsonSchemaValue:
    """The schema of a type of the models (a parameter's)."""
    return TypeAdapter(annotation).json_schema(schema_generator=_Generator)


def _schema_at(
    schemas: dict[str, JsonSchemaValue], node: JsonSchemaValue, loc: tuple[int | str, ...]
) -> JsonSchemaValue:
    """The schema of the value at ``loc`` under ``node``."""
    for step in loc:
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[1]]
        node = (
            node.get("items", {})
            if isinstance(step, int)
            else node.get("properties", {}).get(step, {})
        )
    while "$ref" in node:
        node = schemas[node["$ref"].rsplit("/", 1)[1]]
    return node


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {dict: "object", list: "array", str: "string", float: "number", type(None): "null"}.get(
        type(value), "?"
    )


_WORDS = {
    "string_too_short": "length",
    "string_too_long": "length",
    "string_pattern_mismatch": "format",
    "greater_than_equal": "out of range",
    "less_than_equal": "out of range",
    "too_long": "too many items",
    "too_short": "too few items",
}


def problems(body: Any, model: type[BaseModel]) -> list[str]:
    """What in ``body`` does not fit ``model``, each as "where: what", in the order of the
    model's fields (missing ones first, then ones not expected, then each field's own)."""
    try:
        model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    else:
        return []
    schemas = _schemas_of(model)
    root = schemas[model.__name__]
    found: list[tuple[tuple[int, ...], str]] = []
    for error in list(errors):
        if error["type"] == "too_long" and len(error["loc"]) == 1:
            errors += _items_of(model, str(error["loc"][0]), error["input"])
    for error in errors:
        loc = tuple(error["loc"])
        found.append(
            (_order(schemas, root, loc, error["type"]), _problem(schemas, root, loc, error))
        )
    return [text for _key, text in sorted(found, key=lambda f: f[0])]


@functools.cache
def _schemas_of(model: type[BaseModel]) -> dict[str, JsonSchemaValue]:
    return component_schemas([model])


def _items_of(model: type[BaseModel], name: str, items: Any) -> list[ErrorDetails]:
    """The problems of the items of a field's list that is too long (pydantic stops at its
    length; the answer names the wrong items too)."""
    annotation: Any = next(
        f.annotation for k, f in model.model_fields.items() if (f.alias or k) == name
    )
    try:
        TypeAdapter[Any](annotation).validate_python(items, strict=True)  # without the length bound
    except ValidationError as exc:
        return [{**e, "loc": (name, *e["loc"])} for e in exc.errors(include_url=False)]
    return []


def _where(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return ""
    if isinstance(loc[-1], int):
        return f"{_where(loc[:-1])}[{loc[-1]}]"
    return str(loc[-1])


def _problem(
    schemas: dict[str, JsonSchemaValue],
    root: JsonSchemaValue,
    loc: tuple[int | str, ...],
    error: Any,
) -> str:
    kind = error["type"]
    if kind == "missing":
        return f"{loc[-1]}: missing"
    if kind == "extra_forbidden":
        return f"{loc[-1]}: not expected"
    node = _schema_at(schemas, root, loc)
    allowed = node.get("type")
    allowed = allowed if isinstance(allowed, list) else [allowed] if allowed else []
    where = _where(loc)
    value = error["input"]
    if (
        allowed
        and _json_type(value) not in allowed
        and not (_json_type(value) == "integer" and "number" in allowed)
    ):
        return f"{where or 'the body'}: expected {' or '.join(allowed)}"
    word = _WORDS.get(kind)
    if kind == "literal_error":
        return f"{where}: one of {', '.join(map(str, node.get('enum', [])))}"
    return f"{where}: {word or error['msg']}"


def _order(
    schemas: dict[str, JsonSchemaValue],
    node: JsonSchemaValue,
    loc: tuple[int | str, ...],
    kind: str,
) -> tuple[int, ...]:
    """Where a problem comes among the others: in an object, the missing fields (in the order
    the schema requires them), then the unexpected ones (as sent), then each field's own
    problems in the schema's order; in an array, its length, then its items in turn."""
    key: list[int] = []
    for i, step in enumerate(loc):
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[1]]
        last = i == len(loc) - 1
        if isinstance(step, int):
            key += [1, step]
            node = node.get("items", {})
        elif last and kind == "missing":
            key += [0, list(node.get("required", [])).index(step)]
        elif last and kind == "extra_forbidden":
            key += [1, 0]
        else:
            key += [2, list(node.get("properties", {})).index(step)]
            node = node.get("properties", {}).get(step, {})
    return (*key, 0)
