"""The JSON API's shapes, once: handlers validate request bodies against them, and the OpenAPI
3.1 document served at /api/v1/openapi.json is built from them."""

from __future__ import annotations

import re
from typing import Any

from access.models import MAX_AGENCY
from admission.models import MAX_DETAILS, MAX_DOCUMENT, ExcuseReason
from admission.status import MAX_NOTE, NotAdmittedReason
from scheduler.models import ClassFormat, ClassKind, ClassStatus
from scheduler.roster import MAX_NAME

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    """A reference to a schema of the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
TIME = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"}
ID = {"type": "integer", "minimum": 1, "maximum": 2**62}

PLAN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "kind", "group_id", "teacher_id", "day", "start", "end"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "discipline": {"type": "string", "maxLength": 200},
        "kind": {"type": "string", "enum": [k.value for k in ClassKind]},
        "format": {"type": "string", "enum": [f.value for f in ClassFormat]},
        "group_id": ID,
        "teacher_id": ID,
        "day": DATE,
        "start": TIME,
        "end": TIME,
        "repeat": {"type": "string", "enum": ["", "weekly"]},
        "weekdays": {
            "type": "array",
            "items": {"type": "integer", "minimum": 0, "maximum": 6},
            "maxItems": 7,
        },
        "until": DATE,
        "except": {"type": "array", "items": DATE, "maxItems": 400},
    },
}

MOVE: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["day", "start", "end"],
    "properties": {
        "day": DATE,
        "start": TIME,
        "end": TIME,
        "reason": {"type": "string", "maxLength": 500},
    },
}

CANCEL: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reason"],
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}},
}

CLASS: Schema = {
    "type": "object",
    "required": [
        "id",
        "title",
        "kind",
        "format",
        "status",
        "teacher_id",
        "group_ids",
        "starts_at",
        "ends_at",
        "time_zone",
    ],
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "discipline": {"type": "string"},
        "kind": {"type": "string", "enum": [k.value for k in ClassKind]},
        "format": {"type": "string", "enum": [f.value for f in ClassFormat]},
        "status": {"type": "string", "enum": [s.value for s in ClassStatus]},
        "teacher_id": {"type": "integer"},
        "group_ids": {"type": "array", "items": {"type": "integer"}},
        "learner_ids": {"type": "array", "items": {"type": "integer"}},
        "individual": {"type": "boolean"},
        "series_id": {"type": ["integer", "null"]},
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "local_start": {"type": "string", "format": "date-time"},
        "local_end": {"type": "string", "format": "date-time"},
        "time_zone": {"type": "string"},
    },
}

JOIN_LINK: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["user_id", "class_id"],
    "properties": {"user_id": ID, "class_id": ID},
}

GROUP: Schema = {
    "type": "object",
    "required": ["id", "name", "language", "time_zone", "active", "members", "teachers"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "language": {"type": "string"},
        "time_zone": {"type": "string"},
        "active": {"type": "boolean"},
        "programme_id": {"type": ["integer", "null"]},
        "starts_on": {"type": ["string", "null"]},
        "ends_on": {"type": ["string", "null"]},
        "members": {"type": "array", "items": {"type": "integer"}},
        "teachers": {"type": "array", "items": {"type": "integer"}},
    },
}

MAX_MEMBERS = 200  # per call; the portal sends a larger group in several
MEMBERS: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["members"],
    "properties": {
        "members": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_MEMBERS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["login", "full_name"],
                "properties": {
                    "login": {"type": "string", "minLength": 1, "maxLength": 64},
                    "full_name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                    "agency": {"type": "string", "maxLength": MAX_AGENCY},
                },
            },
        }
    },
}
MEMBERS_ADDED: Schema = {
    "type": "object",
    "required": ["created", "added", "already", "members", "group"],
    "properties": {
        "created": {"type": "integer"},
        "added": {"type": "integer"},
        "already": {"type": "integer"},
        "members": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["login", "user_id"],
                "properties": {"login": {"type": "string"}, "user_id": {"type": "integer"}},
            },
        },
        "group": _ref("Group"),
    },
}
TEACHER: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["user_id"],
    "properties": {"user_id": ID},
}

EXCUSE_NEW: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "learner_id", "group_id", "reason", "first_day", "last_day", "document",
        "filed_by_user_id",
    ],
    "properties": {
        "learner_id": ID,
        "group_id": ID,  # the learner's group: its institute's director decides
        "reason": {"type": "string", "enum": [r.value for r in ExcuseReason]},
        "first_day": DATE,
        "last_day": DATE,
        "document": {"type": "string", "minLength": 1, "maxLength": MAX_DOCUMENT},
        "details": {"type": "string", "maxLength": MAX_DETAILS},
        "filed_by_user_id": ID,  # the staff member the portal files it as
    },
}  # fmt: skip
EXCUSE: Schema = {
    "type": "object",
    "required": [
        "id", "learner_id", "group_id", "reason", "first_day", "last_day", "status", "steps",
    ],
    "properties": {
        "id": {"type": "integer"},
        "learner_id": {"type": "integer"},
        "group_id": {"type": "integer"},
        "reason": {"type": "string"},
        "first_day": {"type": "string"},
        "last_day": {"type": "string"},
        "document": {"type": "string"},
        "details": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "approved", "rejected"]},
        "decider_id": {"type": ["integer", "null"]},
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["action", "by", "at"],
                "properties": {
                    "action": {"type": "string"},
                    "by": {"type": "string"},
                    "comment": {"type": "string"},
                    "class_id": {"type": ["integer", "null"]},
                    "at": {"type": "string", "format": "date-time"},
                },
            },
        },
    },
}  # fmt: skip

_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
GUEST_REQUEST: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "head_user_id",
        "class_id",
        "guest_name",
        "organisation",
        "position",
        "contact",
        "topic",
        "justification",
    ],
    "properties": {
        "head_user_id": ID,
        "class_id": ID,
        "guest_name": _TEXT,
        "organisation": _TEXT,
        "position": _TEXT,
        "contact": _TEXT,
        "topic": _TEXT,
        "justification": {"type": "string", "minLength": 1, "maxLength": 2000},
        "presents": {"type": "boolean"},
    },
}

GROUP_NEW: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "department_id", "language"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "department_id": ID,
        "language": {"type": "string", "enum": ["kk", "ru"]},
        "time_zone": {"type": "string", "minLength": 1, "maxLength": 64},
        "programme_id": ID,
        "starts_on": DATE,
        "ends_on": DATE,
    },
}

REPORT: Schema = {
    "type": "object",
    "required": ["title", "notes", "header", "rows", "chain_heads"],
    "properties": {
        "title": {"type": "string"},
        "notes": {"type": "array", "items": {"type": "string"}},
        "header": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "array"}},
        "chain_heads": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["class_id", "events", "hash"],
                "properties": {
                    "class_id": {"type": "integer"},
                    "events": {"type": "integer"},
                    "hash": {"type": "string"},
                },
            },
        },
    },
}

ADMISSION_NEW: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["programme_id", "admitted", "note"],
    "properties": {
        "programme_id": ID,
        # A postgraduate programme's status is per discipline; additional education's per course.
        "discipline_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**62},
        "admitted": {"type": "boolean"},
        "reason": {
            "type": ["string", "null"],
            "enum": [*(r.value for r in NotAdmittedReason), None],
        },
        "note": {"type": "string", "minLength": 1, "maxLength": MAX_NOTE},
    },
}

_CHANGE_FIELDS: dict[str, Any] = {
    "programme_id": {"type": "integer"},
    "discipline_id": {"type": ["integer", "null"]},
    "admitted": {"type": "boolean"},
    "reason": {"type": ["string", "null"]},
    "note": {"type": "string"},
    "by": {"type": "string"},
    "at": {"type": "string", "format": "date-time"},
}
ADMISSION_CHANGE: Schema = {
    "type": "object",
    "required": list(_CHANGE_FIELDS),
    "properties": {"id": {"type": "integer"}, **_CHANGE_FIELDS},
}
ADMISSION: Schema = {
    "type": "object",
    "required": ["learner_id", "statuses", "history"],
    "properties": {
        "learner_id": {"type": "integer"},
        "statuses": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["programme_id", "discipline_id", "name", "admitted"],
                "properties": {
                    "programme_id": {"type": "integer"},
                    "discipline_id": {"type": ["integer", "null"]},
                    "name": {"type": "string"},
                    "admitted": {"type": "boolean"},
                    "reason": {"type": ["string", "null"]},
                    "since": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        },
        "history": {"type": "array", "items": _ref("AdmissionChange")},
    },
}

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

ALERT: Schema = {
    "type": "object",
    "required": ["group_id", "month", "reason", "message", "raised_at"],
    "properties": {
        "group_id": {"type": "integer"},
        "month": {"type": "string"},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "raised_at": {"type": "string", "format": "date-time"},
    },
}


def problems(value: Any, schema: Schema, where: str = "") -> list[str]:
    """What in ``value`` does not fit ``schema`` (the subset of JSON Schema used above)."""
    kinds = schema.get("type")
    if kinds is not None:
        allowed = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, k) for k in allowed):
            return [f"{where or 'the body'}: expected {' or '.join(allowed)}"]
    out: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
            out.append(f"{where}: length")
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            out.append(f"{where}: format")
    number = isinstance(value, int) and not isinstance(value, bool)
    if number and not schema.get("minimum", -(10**30)) <= value <= schema.get("maximum", 10**30):
        out.append(f"{where}: out of range")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", 10**9):
            out.append(f"{where}: too many items")
        if len(value) < schema.get("minItems", 0):
            out.append(f"{where}: too few items")
        for i, item in enumerate(value):
            out += problems(item, schema.get("items", {}), f"{where}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{k}: missing" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            out += [f"{k}: not expected" for k in value if k not in props]
        for k, sub in props.items():
            if k in value:
                out += problems(value[k], sub, k)
    return out


def _is(value: Any, kind: str) -> bool:
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
    }[kind]


IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retry with the same key gets the first answer",
    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
}


def _body(name: str) -> dict[str, Any]:
    """A required JSON request body of a named schema."""
    return {"required": True, **_json(_ref(name))}


def _json(schema: Schema) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "Bad input",
        401: "No session and no valid API key",
        403: "Not allowed",
        404: "Not found",
        409: "In conflict with the timetable",
        413: "The body is larger than 64 KiB",
        422: "The Idempotency-Key was used for another request",
        429: "Too many requests",
    }
    return {str(c): {"description": words[c], **_json(_ref("Error"))} for c in codes}


def _range_params() -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "required": True, "schema": DATE} for n in ("from", "to")]


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of /api/v1."""
    classes = {"type": "array", "items": _ref("Class")}
    security: list[dict[str, list[str]]] = [{"apiKey": []}, {"session": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sabaq API",
            "version": "1",
            "description": "The academy's portal drives Sabaq with an API key: "
            "'Authorization: Bearer KEY'. Times are UTC; each class also carries its local "
            "times in its group's zone.",
        },
        "servers": [{"url": "/"}],
        "security": security,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sabaq_session"},
            },
            "schemas": {
                "Class": CLASS,
                "Error": ERROR,
                "Alert": ALERT,
                "Plan": PLAN,
                "Move": MOVE,
                "Cancel": CANCEL,
                "JoinLink": JOIN_LINK,
                "Report": REPORT,
                "GuestRequest": GUEST_REQUEST,
                "NewGroup": GROUP_NEW,
                "Group": GROUP,
                "NewMembers": MEMBERS,
                "MembersAdded": MEMBERS_ADDED,
                "NewTeacher": TEACHER,
                "NewExcuseRequest": EXCUSE_NEW,
                "ExcuseRequest": EXCUSE,
                "NewAdmissionChange": ADMISSION_NEW,
                "AdmissionChange": ADMISSION_CHANGE,
                "Admission": ADMISSION,
            },
        },
        "paths": {
            "/api/v1/groups/{group_id}/timetable": {
                "get": {
                    "operationId": "groupTimetable",
                    "summary": "A group's classes in a range of local days (scope: read)",
                    "parameters": [_path("group_id"), *_range_params()],
                    "responses": {
                        "200": {
                            "description": "The classes",
                            **_json(
                                {
                                    "type": "object",
                                    "required": ["group_id", "classes"],
                                    "properties": {
                                        "group_id": {"type": "integer"},
                                        "classes": classes,
                                    },
                                }
                            ),
                        },
                        **_errors(400, 401, 403, 404),
                    },
                }
            },
            "/api/v1/teachers/{user_id}/timetable": {
                "get": {
                    "operationId": "teacherTimetable",
                    "summary": "A teacher's classes in a range of days (scope: read)",
                    "parameters": [_path("user_id"), *_range_params()],
                    "responses": {
                        "200": {
                            "description": "The classes",
                            **_json(
                                {
                                    "type": "object",
                                    "required": ["teacher_id", "classes"],
                                    "properties": {
                                        "teacher_id": {"type": "integer"},
                                        "classes": classes,
                                    },
                                }
                            ),
                        },
                        **_errors(400, 401, 403, 404),
                    },
                }
            },
            "/api/v1/classes": {
                "post": {
                    "operationId": "planClasses",
                    "summary": "Plan a class, or a weekly series, all or nothing (scope: schedule)",
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": _body("Plan"),
                    "responses": {
                        "201": {
                            "description": "Planned",
                            **_json(
                                {
                                    "type": "object",
                                    "required": ["classes"],
                                    "properties": {"classes": classes},
                                }
                            ),
                        },
                        **_errors(400, 401, 403, 404, 409, 422, 413),
                    },
                }
            },
            "/api/v1/classes/{class_id}/move": {
                "post": {
                    "operationId": "moveClass",
                    "summary": "Move a planned class (scope: schedule)",
                    "parameters": [_path("class_id")],
                    "requestBody": _body("Move"),
                    "responses": {
                        "200": {
                            "description": "Moved",
                            **_json(_ref("Class")),
                        },
                        **_errors(400, 401, 403, 404, 409, 413),
                    },
                }
            },
            "/api/v1/classes/{class_id}/cancel": {
                "post": {
                    "operationId": "cancelClass",
                    "summary": "Cancel a planned class with a reason (scope: schedule)",
                    "parameters": [_path("class_id")],
                    "requestBody": _body("Cancel"),
                    "responses": {
                        "200": {
                            "description": "Cancelled",
                            **_json(_ref("Class")),
                        },
                        **_errors(400, 401, 403, 404, 409, 413),
                    },
                }
            },
            "/api/v1/join-links": {
                "post": {
                    "operationId": "joinLink",
                    "summary": "A ten-minute link that opens one class for its student or"
                    " teacher, and nothing else (scope: join; an API key only)",
                    "requestBody": _body("JoinLink"),
                    "responses": {
                        "201": {
                            "description": "The link",
                            **_json(
                                {
                                    "type": "object",
                                    "required": ["url", "expires_in", "role"],
                                    "properties": {
                                        "url": {"type": "string"},
                                        "expires_in": {"type": "integer"},
                                        "role": {"type": "string"},
                                    },
                                }
                            ),
                        },
                        **_errors(400, 401, 403, 404, 409, 413),
                    },
                }
            },
            "/api/v1/groups": {
                "post": {
                    "operationId": "createGroup",
                    "summary": "Create a group (scope: schedule); an additional-education group"
                    " starts inactive until it has 20 members",
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": _body("NewGroup"),
                    "responses": {
                        "201": {
                            "description": "Created",
                            **_json(_ref("Group")),
                        },
                        **_errors(400, 401, 403, 404, 409, 422, 413),
                    },
                },
                "get": {
                    "operationId": "groups",
                    "summary": "The groups, a page at a time (scope: read)",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 0, "maximum": 10**9},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of groups",
                            **_json(
                                {
                                    "type": "object",
                                    "required": ["items", "total", "next_offset"],
                                    "properties": {
                                        "items": {
                                            "type": "array",
                                            "items": _ref("Group"),
                                        },
                                        "total": {"type": "integer"},
                                        "next_offset": {"type": ["integer", "null"]},
                                    },
                                }
                            ),
                        },
                        **_errors(400, 401, 403),
                    },
                },
            },
            "/api/v1/reports/groups/{group_id}": {
                "get": {
                    "operationId": "groupReport",
                    "summary": "A group's month: learners × classes with totals and the chain"
                    " heads it was built from (scope: reports)",
                    "parameters": [
                        _path("group_id"),
                        {
                            "name": "month",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The report",
                            **_json(_ref("Report")),
                        },
                        **_errors(400, 401, 403, 404),
                    },
                }
            },
            "/api/v1/reports/learners/{user_id}": {
                "get": {
                    "operationId": "learnerReport",
                    "summary": "A learner's history, the digital footprint (scope: reports)",
                    "parameters": [_path("user_id")],
                    "responses": {
                        "200": {
                            "description": "The report",
                            **_json(_ref("Report")),
                        },
                        **_errors(401, 403, 404),
                    },
                }
            },
            "/api/v1/groups/{group_id}/members": {
                "post": {
                    "operationId": "addMembers",
                    "summary": "Students into a group (scope: schedule): unknown logins become"
                    " student accounts, known students are added; all or none, every wrong one"
                    " named; a repeat changes nothing",
                    "parameters": [_path("group_id")],
                    "requestBody": _body("NewMembers"),
                    "responses": {
                        "200": {
                            "description": "Added",
                            **_json(_ref("MembersAdded")),
                        },
                        **_errors(400, 401, 403, 404, 413),
                    },
                }
            },
            "/api/v1/groups/{group_id}/teachers": {
                "post": {
                    "operationId": "addTeacher",
                    "summary": "A teacher for a group (scope: schedule)",
                    "parameters": [_path("group_id")],
                    "requestBody": _body("NewTeacher"),
                    "responses": {
                        "200": {
                            "description": "The group",
                            **_json(_ref("Group")),
                        },
                        **_errors(400, 401, 403, 404, 413),
                    },
                }
            },
            "/api/v1/guest-requests": {
                "post": {
                    "operationId": "fileGuestRequest",
                    "summary": "File a guest request as the head of the class's department"
                    " (scope: schedule); the director decides it in Sabaq",
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": _body("GuestRequest"),
                    "responses": {
                        "201": {
                            "description": "Filed",
                            **_json(
                                {
                                    "type": "object",
                                    "required": ["id", "class_id", "status"],
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "class_id": {"type": "integer"},
                                        "status": {"type": "string"},
                                    },
                                }
                            ),
                        },
                        **_errors(400, 401, 403, 404, 409, 413, 422),
                    },
                }
            },
            "/api/v1/learners/{user_id}/admission": {
                "get": {
                    "operationId": "learnerAdmission",
                    "summary": "A learner's admission status per discipline or course, and its"
                    " history (scope: read)",
                    "parameters": [_path("user_id")],
                    "responses": {
                        "200": {
                            "description": "The statuses and their history",
                            **_json(_ref("Admission")),
                        },
                        **_errors(401, 403, 404),
                    },
                },
                "post": {
                    "operationId": "changeAdmission",
                    "summary": "Record a change of a learner's admission status, with why"
                    " (scope: schedule); a learner no longer admitted is taken out of a running"
                    " control at once",
                    "parameters": [_path("user_id")],
                    "requestBody": _body("NewAdmissionChange"),
                    "responses": {
                        "201": {
                            "description": "Recorded",
                            **_json(_ref("AdmissionChange")),
                        },
                        "200": {
                            "description": "The learner already has this status: nothing new",
                            **_json(_ref("AdmissionChange")),
                        },
                        **_errors(400, 401, 403, 404, 413),
                    },
                },
            },
            "/api/v1/excuse-requests": {
                "post": {
                    "operationId": "fileExcuseRequest",
                    "summary": "File a learner's excuse request (clause 12) as the staff member"
                    " named (scope: schedule); the director of the group's institute decides it"
                    " in Sabaq",
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": _body("NewExcuseRequest"),
                    "responses": {
                        "201": {
                            "description": "Filed",
                            **_json(_ref("ExcuseRequest")),
                        },
                        **_errors(400, 401, 403, 404, 413, 422),
                    },
                }
            },
            "/api/v1/excuse-requests/{request_id}": {
                "get": {
                    "operationId": "excuseRequest",
                    "summary": "An excuse request with its status and history (scope: schedule)",
                    "parameters": [_path("request_id")],
                    "responses": {
                        "200": {
                            "description": "The request",
                            **_json(_ref("ExcuseRequest")),
                        },
                        **_errors(401, 403, 404),
                    },
                }
            },
            "/api/v1/guarantee/alerts": {
                "get": {
                    "operationId": "guaranteeAlerts",
                    "summary": "Open alerts of the monthly guarantee (scope: read)",
                    "responses": {
                        "200": {
                            "description": "The alerts",
                            **_json(
                                {
                                    "type": "object",
                                    "required": ["alerts"],
                                    "properties": {
                                        "alerts": {
                                            "type": "array",
                                            "items": _ref("Alert"),
                                        }
                                    },
                                }
                            ),
                        },
                        **_errors(401, 403),
                    },
                }
            },
        },
    }
