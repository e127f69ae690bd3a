"""The API's way into a class: a ten-minute join link that opens one class for the portal's
student or teacher."""

from __future__ import annotations

import logging

from aiohttp import web

from access.api_keys import Scope
from access.errors import UserNotFound
from access.models import ClassRole

from ..core import keys
from ..core.http import PageError, api_caller, gettext_of
from ..pages.classes import JOINABLE, class_role
from . import models as api_models
from .calls import json_body
from .openapi import operation

log = logging.getLogger("sabaq.web.api")
routes = web.RouteTableDef()

JOIN_LINK_TTL = 600.0  # a join link signs its person in within ten minutes, once


@routes.post("/api/v1/join-links")
@operation(
    "joinLink",
    "A ten-minute link that opens one class for its student or teacher, and nothing else"
    " (scope: join; an API key only)",
    answers={201: ("The link", api_models.JoinLinkMade)},
    errors=(400, 401, 403, 404, 409, 413),
    body=api_models.JoinLink,
)
async def join_link(request: web.Request) -> web.Response:
    """A short-lived link that opens one class for a portal user, its student or teacher
    (scope: join). Only the portal's API key makes one: from a person's session it would let
    staff act as anyone."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.JOIN)
    if caller.key is None:
        raise PageError(
            403,
            _("Join links are made by the portal with its API key, not from a signed-in session."),
            "api_key_required",
        )
    body = await json_body(request, api_models.JoinLink)
    c = request.app[keys.TIMETABLE].get_class(body["class_id"])
    try:
        user = request.app[keys.ACCOUNTS].get(body["user_id"])
    except UserNotFound:
        raise PageError(404, _("There is no such user."), "not_found") from None
    if not user.active:
        raise PageError(
            403, _("This account is deactivated: it cannot sign in."), "account_deactivated"
        )
    role = class_role(request, user, c)  # 403 if the person has no place in the class
    if role not in (ClassRole.LEARNER, ClassRole.HOST):
        # A link signs its person in: only for the class's students and teacher, the portal's
        # users — never for staff, a director or an administrator.
        raise PageError(
            403, _("Join links are for the class's students and teacher."), "not_a_participant"
        )
    if c.status not in JOINABLE:
        raise PageError(409, _("This class is over."), "class_over")
    token = request.app[keys.SIGNER].mint_signin(
        user_id=user.id, ttl=JOIN_LINK_TTL, class_id=c.id, key_id=caller.key.id
    )
    url = f"{request.scheme}://{request.host}/signin/link?token={token}&next=/classes/{c.id}"
    log.info("join link for user %s, class %s, made by %s", user.id, c.id, caller.name)
    return web.json_response(
        {"url": url, "expires_in": int(JOIN_LINK_TTL), "role": role.value}, status=201
    )
