"""The signed-in person's unread notices, for the header's badge to refresh."""

from __future__ import annotations

from aiohttp import web

from ..core import keys
from ..core.http import API_KEY_KEY, PageError, gettext_of, session_of
from . import models as api_models
from .openapi import operation

routes = web.RouteTableDef()


@routes.get("/api/v1/notices/unread")
@operation(
    "unreadNotices",
    "How many of the signed-in person's notices are unread (a person's session; an API key"
    " has no notices)",
    answers={200: ("The count", api_models.UnreadNotices)},
    errors=(401, 403),
)
async def unread_notices(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    if request.get(API_KEY_KEY) is not None:
        raise PageError(403, _("Notices are a person's: an API key has none."), "no_notices")
    session = session_of(request)
    if session is None:
        raise PageError(401, _("Sign in to read your notices."), "unauthenticated")
    return web.json_response({"unread": request.app[keys.NOTICES].unread(session.user.id)})
