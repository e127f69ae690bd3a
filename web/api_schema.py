"""The JSON API's request shapes: handlers validate request bodies against them (the OpenAPI
document's schemas are generated from the models of web/api_models.py)."""

from __future__ import annotations

import re
from typing import Any

from access.models import MAX_AGENCY
from admission.models import MAX_DETAILS, MAX_DOCUMENT, ExcuseReason
from admission.status import MAX_NOTE, NotAdmittedReason
from scheduler.models import ClassFormat, ClassKind
from scheduler.roster import MAX_NAME

from . import api_models

Schema = dict[str, Any]


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

JOIN_LINK: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["user_id", "class_id"],
    "properties": {"user_id": ID, "class_id": ID},
}

MAX_MEMBERS = api_models.MAX_MEMBERS
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
