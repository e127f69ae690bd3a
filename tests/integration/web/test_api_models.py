"""The API's request models say what is wrong with a body in the words the API has always
used ("where: what", in the order of the fields), and the document lists every API route."""

from __future__ import annotations

from itertools import chain
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from pydantic import BaseModel

from access.api_keys import Scope
from tests.conftest import Academy
from web.api import models as api_models
from web.api import schemas as api_json
from web.api.openapi import document
from web.core import keys
from web.core.app import ROUTE_TABLES

# Each body with the problems the hand-written validator this replaced reported for it.
CASES: list[tuple[type[BaseModel], dict[str, Any], list[str]]] = [
    (
        api_models.Plan,
        {},
        [
            "title: missing",
            "kind: missing",
            "group_id: missing",
            "teacher_id: missing",
            "day: missing",
            "start: missing",
            "end: missing",
        ],
    ),
    (
        api_models.Plan,
        {"title": 5},
        [
            "kind: missing",
            "group_id: missing",
            "teacher_id: missing",
            "day: missing",
            "start: missing",
            "end: missing",
            "title: expected string",
        ],
    ),
    (
        api_models.Plan,
        {
            "title": "Криминалистика",
            "kind": "seminar",
            "group_id": 1,
            "teacher_id": 2,
            "day": "2027-03-01",
            "start": "9:00",
            "end": "10:20",
            "extra": 1,
        },
        ["extra: not expected", "start: format"],
    ),
    (
        api_models.Plan,
        {
            "title": "Криминалистика",
            "kind": "party",
            "group_id": True,
            "teacher_id": 1.0,
            "day": "2027-03-01",
            "start": "09:00",
            "end": "10:20",
            "format": 1,
        },
        [
            "kind: one of lecture, seminar, practical, consultation, midterm_control, exam,"
            " introduction",
            "format: expected string",
            "group_id: expected integer",
            "teacher_id: expected integer",
        ],
    ),
    (
        api_models.Plan,
        {
            "title": "",
            "kind": "seminar",
            "group_id": 1,
            "teacher_id": 2,
            "day": "2027-03-01",
            "start": "09:00",
            "end": "10:20",
            "weekdays": [1, 9, 2, 3, 4, 5, 6, "x"],
            "except": ["2027-3-1"],
        },
        [
            "title: length",
            "weekdays: too many items",
            "weekdays[1]: out of range",
            "weekdays[7]: expected integer",
            "except[0]: format",
        ],
    ),
    (
        api_models.Plan,
        {
            "title": "Криминалистика",
            "kind": "seminar",
            "group_id": 4611686018427387905,
            "teacher_id": 0,
            "day": "2027-03-01",
            "start": "09:00",
            "end": "10:20",
            "repeat": "daily",
            "discipline": None,
        },
        [
            "discipline: expected string",
            "group_id: out of range",
            "teacher_id: out of range",
            "repeat: one of , weekly",
        ],
    ),
    (api_models.Move, {"day": "x"}, ["start: missing", "end: missing", "day: format"]),
    (api_models.Cancel, {"reason": ""}, ["reason: length"]),
    (api_models.JoinLink, {"user_id": "x"}, ["class_id: missing", "user_id: expected integer"]),
    (api_models.NewMembers, {"members": []}, ["members: too few items"]),
    (
        api_models.NewMembers,
        {
            "members": [
                {"login": "x"},
                5,
                {"login": "", "full_name": "X", "agency": 1, "role": "admin"},
            ]
        },
        [
            "full_name: missing",
            "members[1]: expected object",
            "role: not expected",
            "login: length",
            "agency: expected string",
        ],
    ),
    (
        api_models.NewAdmissionChange,
        {"admitted": "no"},
        ["programme_id: missing", "note: missing", "admitted: expected boolean"],
    ),
    (
        api_models.NewAdmissionChange,
        {"programme_id": 1, "discipline_id": 0, "admitted": False, "reason": "lazy", "note": "x"},
        [
            "discipline_id: out of range",
            "reason: one of assignments_incomplete, intermediate_test_failed, None",
        ],
    ),
    (
        api_models.NewAdmissionChange,
        {"programme_id": 1, "discipline_id": None, "admitted": False, "reason": 5, "note": "x"},
        ["reason: expected string or null"],
    ),
    (
        api_models.NewExcuseRequest,
        {
            "learner_id": 1,
            "group_id": 1,
            "reason": "lazy",
            "first_day": "2026-03-02",
            "last_day": "2026-03-04",
            "document": "",
            "filed_by_user_id": 1,
        },
        ["reason: one of illness, bereavement, service_duty, other", "document: length"],
    ),
    (
        api_models.NewGroup,
        {"name": "X", "department_id": 1, "language": "en", "time_zone": ""},
        ["language: one of kk, ru", "time_zone: length"],
    ),
    (
        api_models.GuestRequest,
        {
            "head_user_id": 1,
            "class_id": 1,
            "guest_name": "G" * 201,
            "organisation": "o",
            "position": "p",
            "contact": "c",
            "topic": "t",
            "justification": "j",
            "presents": "yes",
        },
        ["guest_name: length", "presents: expected boolean"],
    ),
]


@pytest.mark.parametrize(("model", "body", "expected"), CASES)
def test_a_wrong_body_is_told_what_is_wrong_in_the_apis_words(
    model: type[BaseModel], body: dict[str, Any], expected: list[str]
) -> None:
    assert api_json.problems(body, model) == expected


def test_a_body_that_fits_has_no_problems() -> None:
    plan = {
        "title": "Т", "kind": "seminar", "group_id": 1, "teacher_id": 2, "day": "2027-03-01",
        "start": "09:00", "end": "10:20", "repeat": "weekly", "weekdays": [0, 6],
        "until": "2027-04-01", "except": ["2027-03-08"], "discipline": "", "format": "in_person",
    }  # fmt: skip
    assert api_json.problems(plan, api_models.Plan) == []


async def test_the_client_reads_the_problems_in_the_400(
    served: TestServer, academy: Academy
) -> None:
    _key, secret = served.app[keys.API_KEYS].create("p", frozenset(Scope), academy.staff_id)
    async with ClientSession(base_url=served.make_url("/")) as portal:
        resp = await portal.post(
            "/api/v1/classes",
            json={"title": 5, "kind": "seminar", "group_id": True, "extra": 1},
            headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"},
        )
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["code"] == "bad_body"
    assert error["message"] == (
        "The body does not fit the API: teacher_id: missing; day: missing; start: missing; "
        "end: missing; extra: not expected; title: expected string; group_id: expected integer."
    )


def test_every_api_route_is_an_operation_of_the_document() -> None:
    doc = document(chain.from_iterable(ROUTE_TABLES))
    operations = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert ("post", "/api/v1/classes") in operations and len(operations) == 42
    unmarked = web.RouteTableDef()

    @unmarked.get("/api/v1/nothing/{thing_id:\\d+}")
    async def nothing(request: web.Request) -> web.Response:
        raise AssertionError  # never called

    with pytest.raises(LookupError, match=r"/api/v1/nothing/\{thing_id\}"):
        document(chain(chain.from_iterable(ROUTE_TABLES), unmarked))
