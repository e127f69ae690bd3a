"""The API's guest requests: the portal files one for a class, the director decides on the pages."""

from __future__ import annotations

import logging

from aiohttp import web

from access.api_keys import Scope
from access.errors import UserNotFound
from admission import guest_service as guest_rules
from admission.errors import AdmissionError

from ..core import clock, keys
from ..core.http import PageError, api_caller, gettext_of, idempotent
from . import models as api_models
from .calls import json_body
from .openapi import operation

log = logging.getLogger("sabaq.web.api")
routes = web.RouteTableDef()


GUEST_FIELDS = ("guest_name", "organisation", "position", "contact", "topic", "justification")


@routes.post("/api/v1/guest-requests")
@operation(
    "fileGuestRequest",
    "File a guest request as the head of the class's department (scope: schedule); the"
    " director decides it in Sabaq",
    answers={201: ("Filed", api_models.GuestRequestFiled)},
    errors=(400, 401, 403, 404, 409, 413, 422),
    body=api_models.GuestRequest,
    idempotent=True,
)
async def file_guest_request(request: web.Request) -> web.Response:
    """A guest request filed through the portal, as the head of department the portal names
    (scope: schedule); only the director decides it, in Sabaq."""
    _ = gettext_of(request)
    caller = api_caller(request, Scope.SCHEDULE)
    raw = await request.read()
    body = await json_body(request, api_models.GuestRequest)

    def run() -> web.Response:
        try:
            head = request.app[keys.ACCOUNTS].get(body["head_user_id"])
        except UserNotFound:
            raise PageError(404, _("There is no such user."), "not_found") from None
        if caller.user is not None and caller.user.id != head.id:
            raise PageError(403, _("Guests are requested by the head of the class's department."),
                            "not_the_head")  # fmt: skip
        c = request.app[keys.TIMETABLE].get_class(body["class_id"])
        try:
            guest_rules.check_file(request.app[keys.TIMETABLE], c, head)
        except AdmissionError as exc:
            message = (
                _("This class is over.")
                if exc.code == "class_over"
                else _("Guests are requested by the head of the class's department.")
            )
            raise PageError(409 if exc.code == "class_over" else 403, message, exc.code) from None
        fields = {k: body[k].strip() for k in GUEST_FIELDS}
        try:
            r = request.app[keys.GUESTS].file(
                class_id=c.id, **fields, presents=bool(body.get("presents", False)),
                by_id=head.id, by_name=head.full_name, at=clock.now(request),
            )  # fmt: skip
        except ValueError:
            raise PageError(400, _("Fill in every field of the guest."), "bad_body") from None
        log.info("guest request %s filed through %s for head %s", r.id, caller.name, head.id)
        return web.json_response(
            {"id": r.id, "class_id": r.class_id, "status": r.status.value}, status=201
        )

    return idempotent(request, raw, run)
