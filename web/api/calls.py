"""What the API's handlers share: a request's body against its model, in the API's words, and
the caller who may act for staff."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from access.api_keys import Scope

from ..core.http import Caller, PageError, api_caller, gettext_of, json_object
from ..pages.classes import EDITORS
from . import models, schemas


async def json_body(request: web.Request, model: type[models.Request]) -> dict[str, Any]:
    """The request's JSON object, fitting ``model`` (the shape the OpenAPI document shows),
    or a 400 that says what is wrong."""
    _ = gettext_of(request)
    body = await json_object(request)
    found = schemas.problems(body, model)
    if found:
        raise PageError(
            400,
            _("The body does not fit the API: {problems}.").replace(
                "{problems}", "; ".join(found[:10])
            ),
            "bad_body",
        )
    return body


def staff_or_portal(request: web.Request, scope: Scope, refusal: str) -> Caller:
    """The portal with a key of ``scope``, or a signed-in staff member (403 ``refusal`` for
    anyone else)."""
    caller = api_caller(request, scope)
    if caller.user is not None and caller.user.role not in EDITORS:
        raise PageError(403, refusal, "forbidden")
    return caller
