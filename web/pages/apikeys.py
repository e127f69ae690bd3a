"""API keys for the academy's portal: staff create them with scopes (shown once) and revoke them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web

from access.api_keys import MAX_NAME, ApiKeyInvalid, Scope
from access.models import User
from control.webhook_addresses import AddressRefused
from scheduler.models import DEFAULT_TIMEZONE

from ..core import keys
from ..core.http import PageError, actor, gettext_of, redirect, render, require_role
from .classes import EDITORS

log = logging.getLogger("sabaq.web.apikeys")
routes = web.RouteTableDef()


def scope_labels(request: web.Request) -> dict[Scope, str]:
    _ = gettext_of(request)
    return {
        Scope.READ: _("read groups, classes and the timetable"),
        Scope.SCHEDULE: _("plan, move and cancel classes"),
        Scope.JOIN: _("make join links for the portal's users"),
        Scope.REPORTS: _("read attendance reports"),
        Scope.PEOPLE: _("manage accounts of teachers, staff and students (not administrators)"),
        Scope.AUDIT: _("read the audit trail of administrative changes"),
    }


def _staff(request: web.Request) -> User:
    _ = gettext_of(request)
    return require_role(request, EDITORS, _("API keys are managed by staff."))


def _page(
    request: web.Request, *, secret: str | None = None, error: str | None = None, status: int = 200
) -> web.Response:
    store = request.app[keys.API_KEYS]
    response = render(
        request,
        "apikeys.html",
        {
            "keys": [(k, datetime.fromtimestamp(k.created_at, UTC)) for k in store.listed()],
            "scopes": list(scope_labels(request).items()),
            "secret": secret,
            "error": error,
            "max_name": MAX_NAME,
            "zone": DEFAULT_TIMEZONE,
        },
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/api-keys")
async def api_keys_page(request: web.Request) -> web.Response:
    _staff(request)
    return _page(request)


@routes.post("/api-keys")
async def create_api_key(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    user = _staff(request)
    form = await request.post()
    try:
        scopes = frozenset(Scope(str(s)) for s in form.getall("scope", []))
        key, secret = request.app[keys.API_KEYS].create(
            str(form.get("name", "")), scopes, user.id, actor(user)
        )
    except ValueError:
        return _page(
            request,
            error=_("Give the key a name (at most {n} characters) and at least one scope.").replace(
                "{n}", str(MAX_NAME)
            ),
            status=400,
        )
    log.info("API key %s (%s) created by %s with %s", key.id, key.name, user.id, sorted(scopes))
    return _page(request, secret=secret)


@routes.post("/api-keys/{key_id:\\d{1,18}}/revoke")
async def revoke_api_key(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _staff(request)
    try:
        key = request.app[keys.API_KEYS].revoke(
            int(request.match_info["key_id"]), user.id, actor(user)
        )
    except ApiKeyInvalid:
        raise PageError(404, _("There is no such key."), "not_found") from None
    log.info("API key %s (%s) revoked by %s", key.id, key.name, user.id)
    return redirect("/api-keys")


# -- webhooks -------------------------------------------------------------------------------------
def _webhooks_page(
    request: web.Request, *, secret: str | None = None, error: str | None = None, status: int = 200
) -> web.Response:
    store = request.app[keys.WEBHOOKS]
    response = render(
        request,
        "webhooks.html",
        {
            "endpoints": store.endpoints(),
            "deliveries": [
                (d, datetime.fromtimestamp(d.created_at, UTC)) for d in store.deliveries()
            ],
            "secret": secret,
            "error": error,
            "zone": DEFAULT_TIMEZONE,
        },
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/webhooks")
async def webhooks_page(request: web.Request) -> web.Response:
    _staff(request)
    return _webhooks_page(request)


@routes.post("/webhooks")
async def add_webhook(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    user = _staff(request)
    form = await request.post()
    try:
        endpoint = request.app[keys.WEBHOOKS].add(str(form.get("url", "")), user.id, actor(user))
    except AddressRefused as exc:
        if exc.problem == "this_machine" and exc.host == str(exc.address):
            error = _(
                "Webhooks do not go to this machine, nor to link-local or multicast addresses."
            )
        elif exc.problem == "this_machine":
            error = _(
                "Webhooks do not go to this machine, nor to link-local or multicast addresses:"
                " {host} is {address}."
            )
        else:
            error = _(
                "{host} is the IP address {address} written in an unusual way: write it as four"
                " decimal numbers ({address})."
            )
        error = error.replace("{host}", exc.host).replace("{address}", str(exc.address))
        return _webhooks_page(request, error=error, status=400)
    except ValueError:
        return _webhooks_page(
            request, error=_("Give the address as https://… (at most 500 characters)."), status=400
        )
    log.info("webhook %s (%s) added by %s", endpoint.id, endpoint.url, user.id)
    return _webhooks_page(request, secret=endpoint.secret)


@routes.post("/webhooks/{endpoint_id:\\d{1,18}}/disable")
async def disable_webhook(request: web.Request) -> web.StreamResponse:
    user = _staff(request)
    request.app[keys.WEBHOOKS].disable(int(request.match_info["endpoint_id"]), actor(user))
    log.info("webhook %s disabled by %s", request.match_info["endpoint_id"], user.id)
    return redirect("/webhooks")
