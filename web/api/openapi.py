"""The OpenAPI 3.1 document of /api/v1, built from the route table: each API handler carries
its operation (``@operation`` under its route), the paths and their path parameters come from
the routes, and the bodies' schemas from the models of web/api_models.py."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from ..core.http import render
from . import models as api_models
from . import schemas as api_json

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JsonObject = dict[str, Any]

PREFIX = "/api/v1/"
# The routes of the API that are not operations of it: the document and its page.
UNDOCUMENTED = frozenset({"/api/v1/openapi.json", "/api/v1/docs"})

ERRORS = {
    400: "Bad input",
    401: "No session and no valid API key",
    403: "Not allowed",
    404: "Not found",
    409: "In conflict with the timetable",
    413: "The body is larger than 64 KiB",
    422: "The Idempotency-Key was used for another request, or a day outside the study period",
    429: "Too many requests",
}

IDEMPOTENCY_KEY: JsonObject = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retry with the same key gets the first answer",
    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
}


def _schema_of(annotation: Any) -> JsonObject:
    """The JSON schema of a scalar type of the models (a path or query parameter)."""
    return dict(api_json.scalar_schema(annotation))


def query(name: str, annotation: Any, *, required: bool = False) -> JsonObject:
    """A query parameter of a type of the models."""
    return {"name": name, "in": "query", "required": required, "schema": _schema_of(annotation)}


# A range of days: from and to, both included.
RANGE = (query("from", api_models.Date, required=True), query("to", api_models.Date, required=True))


@dataclass(frozen=True)
class Operation:
    """An operation of the API, as the document shows it."""

    operation_id: str
    summary: str
    answers: dict[int, tuple[str, type[BaseModel]]]
    errors: tuple[int, ...]
    body: type[api_models.Request] | None = None
    idempotent: bool = False  # takes an Idempotency-Key
    query: tuple[JsonObject, ...] = field(default=())


_OPERATIONS: dict[Handler, Operation] = {}


def operation(
    operation_id: str,
    summary: str,
    *,
    answers: dict[int, tuple[str, type[BaseModel]]],
    errors: tuple[int, ...],
    body: type[api_models.Request] | None = None,
    idempotent: bool = False,
    query: tuple[JsonObject, ...] = (),
) -> Callable[[Handler], Handler]:
    """Mark a handler as an operation of the API (written under its route's decorator). An
    idempotent one answers 422 to a reused Idempotency-Key, so its document always says so."""
    if idempotent:
        errors = tuple(sorted({*errors, 422}))
    op = Operation(operation_id, summary, answers, errors, body, idempotent, query)

    def mark(handler: Handler) -> Handler:
        _OPERATIONS[handler] = op
        return handler

    return mark


def _json(schema: JsonObject) -> JsonObject:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(model: type[BaseModel]) -> JsonObject:
    return {"$ref": api_json.REF.format(model=model.__name__)}


_PARAM = re.compile(r"\{(\w+)(?::(?:[^{}]|\{[^{}]*\})*)?\}")


def _route_of(route: web.AbstractRouteDef | web.AbstractRoute) -> tuple[str, str, Any] | None:
    """(method, path template, handler) of a route or route definition, if it is one of a
    path; the template without the routes' patterns (``{group_id}``)."""
    if isinstance(route, web.RouteDef):
        return route.method, _PARAM.sub(r"{\1}", route.path), route.handler
    if isinstance(route, web.AbstractRoute) and route.resource is not None:
        return route.method, route.resource.canonical, route.handler
    return None


def document(routes: Iterable[web.AbstractRouteDef | web.AbstractRoute]) -> JsonObject:
    """The OpenAPI 3.1 document of the API operations among ``routes`` (an application's
    router's, or the route tables'). A route under /api/v1 that is not an operation is an
    error: the document lists every one."""
    paths: dict[str, JsonObject] = {}
    models: list[type[BaseModel]] = [api_models.Error]
    for route in routes:
        found = _route_of(route)
        if found is None:
            continue
        method, path, handler = found
        if not path.startswith(PREFIX) or path in UNDOCUMENTED or method == "HEAD":
            continue
        op = _OPERATIONS.get(handler)
        if op is None:
            raise LookupError(f"{method} {path} is not marked as an operation of the API")
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _schema_of(api_models.Id)}
            for name in _PARAM.findall(path)
        ]
        if op.idempotent:
            parameters.append(IDEMPOTENCY_KEY)
        parameters += op.query
        item: JsonObject = {"operationId": op.operation_id, "summary": op.summary}
        if parameters:
            item["parameters"] = parameters
        if op.body is not None:
            item["requestBody"] = {"required": True, **_json(_ref(op.body))}
            models.append(op.body)
        responses: JsonObject = {}
        for status, (description, model) in op.answers.items():
            responses[str(status)] = {"description": description, **_json(_ref(model))}
            models.append(model)
        for status in op.errors:
            responses[str(status)] = {
                "description": ERRORS[status],
                **_json(_ref(api_models.Error)),
            }
        item["responses"] = responses
        paths.setdefault(path, {})[method.lower()] = item
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
        "security": [{"apiKey": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sabaq_session"},
            },
            "schemas": api_json.component_schemas(models),
        },
        "paths": paths,
    }


routes = web.RouteTableDef()


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app.router.routes()))


@routes.get("/api/v1/docs")
async def api_docs(request: web.Request) -> web.Response:
    """The API's reference, read from the same document (no scripts from elsewhere)."""
    doc = document(request.app.router.routes())
    operations = [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]
    return render(request, "api_docs.html", {"doc": doc, "operations": operations})
