"""The JSON API's shapes for administration, as pydantic models like the others of
``web.api.models``: the academy's structure (institutes, departments and agencies, never
deleted: archived) and the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from access.addresses import MAX_ADDRESS
from scheduler.structure import MAX_CONTACTS, MAX_STRUCTURE_NAME

from .models import ActionValue, ActorKindValue, DateTime, Id, ObjectKindValue, Request, Response

StructureName = Annotated[str, Field(min_length=1, max_length=MAX_STRUCTURE_NAME)]
Contacts = Annotated[
    list[Annotated[str, Field(min_length=3, max_length=MAX_ADDRESS)]],
    Field(max_length=MAX_CONTACTS),
]


class NewInstitute(Request):
    name: StructureName
    director_id: Id | None = None  # an account of a director


class InstituteChange(Request):
    """What is sent changes; what is left out stays (``director_id: null`` clears it)."""

    name: StructureName = ""
    director_id: Id | None = None
    archived: bool = False


class Institute(Response):
    id: int
    name: str
    director_id: int | None
    archived: bool


class Institutes(Response):
    items: list[Institute]


class NewDepartment(Request):
    institute_id: Id
    name: StructureName
    head_id: Id | None = None  # an account of a head of department


class DepartmentChange(Request):
    """What is sent changes; what is left out stays (``head_id: null`` clears it)."""

    name: StructureName = ""
    head_id: Id | None = None
    archived: bool = False


class Department(Response):
    id: int
    institute_id: int
    name: str
    head_id: int | None
    archived: bool


class Departments(Response):
    items: list[Department]


class NewAgency(Request):
    name: StructureName
    contacts: Contacts = []  # noqa: RUF012 (a pydantic field): the HR service's addresses


class AgencyChange(Request):
    """What is sent changes; what is left out stays (``contacts`` replaces them all)."""

    name: StructureName = ""
    contacts: Contacts = []  # noqa: RUF012 (a pydantic field, copied per instance)
    archived: bool = False


class Agency(Response):
    id: int
    name: str
    contacts: list[str]
    archived: bool


class Agencies(Response):
    items: list[Agency]


# The audit trail


AuditWho = Annotated[str, Field(pattern=r"^(cli|(user|api_key):\d{1,18})$")]


class AuditActor(Response):
    kind: ActorKindValue
    id: int | None  # none for the command line
    name: str  # as it was at the time


class AuditRecord(Response):
    id: int
    at: DateTime  # UTC
    actor: AuditActor
    action: ActionValue
    object_kind: ObjectKindValue
    object_id: int | None  # none for an import (many accounts) or the settings
    object_label: str  # the object's login or name at the time
    before: dict[str, Any]  # the changed fields only, as they were
    after: dict[str, Any]  # and as they became


class AuditPage(Response):
    items: list[AuditRecord]
    total: int
    next_offset: int | None
