"""What handlers use of a request: its session and language, rendering, redirects, errors as
the person reads them, API callers, JSON bodies, downloads and idempotent answers. The
middlewares that set these up are in middlewares.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as day_time
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from jinja2.ext import _make_new_gettext, _make_new_ngettext

from access.api_keys import ApiKey, Scope
from access.audit import Actor
from access.models import Role, User
from access.sqlite_store import Session
from access.text import encodable
from attendance.export import Table, to_csv, to_xlsx
from control.idempotency import KeyReused, fingerprint, valid_key
from scheduler.labels import zone_name

from . import clock, keys
from .i18n import LANGUAGE_NAMES, format_time

log = logging.getLogger("sabaq.web")

SESSION_COOKIE = "sabaq_session"
CSRF_COOKIE = "sabaq_csrf"
LANG_COOKIE = "sabaq_lang"
MAX_BODY = 64 * 1024
# Routes (by name) that take files larger than MAX_BODY: their bodies may hold the excuse
# documents' total (settings) besides the form's fields.
UPLOAD_ROUTES = frozenset({"excuse-file"})
# Who may send an upload route its larger body (the excuse's filers: the learner, staff); for
# anyone else, and anyone not signed in, the usual limit holds before a byte is parsed.
UPLOADERS = frozenset({Role.STUDENT, Role.STAFF, Role.ADMIN})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def too_large(_: Callable[[str], str]) -> str:
    return _("The request is too large: at most {n} KB.").replace("{n}", str(MAX_BODY // 1024))


def upload_too_large(_: Callable[[str], str], limit: int) -> str:
    return _("The files are too large: at most {n} MB in all.").replace(
        "{n}", f"{limit / (1024 * 1024):.0f}"
    )


SESSION_KEY: web.RequestKey[Session | None] = web.RequestKey("session")
API_KEY_KEY: web.RequestKey[ApiKey | None] = web.RequestKey("api_key")
LANG_KEY = web.RequestKey("lang", str)
CSRF_KEY = web.RequestKey("csrf", str)


class PageError(Exception):
    """An error for the person: a status and a message already in their language."""

    def __init__(self, status: int, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def session_of(request: web.Request) -> Session | None:
    return request.get(SESSION_KEY)


def require_session(request: web.Request) -> Session:
    s = session_of(request)
    if s is None:
        raise web.HTTPSeeOther(f"/signin?next={request.path_qs}")
    return s


def gettext_of(request: web.Request) -> Callable[[str], str]:
    cat = request.app[keys.CATALOGUES][request.get(LANG_KEY, "en")]
    return cat.gettext


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    env = request.app[keys.TEMPLATES]
    lang = request.get(LANG_KEY, "en")
    cat = request.app[keys.CATALOGUES][lang]
    session = session_of(request)
    body = env.get_template(template).render(
        # The page's language in its own context, not the environment's globals: pages are
        # rendered on worker threads too (``web.core.offload``), several languages at once.
        gettext=_make_new_gettext(cat.gettext),
        ngettext=_make_new_ngettext(cat.ngettext),
        request=request,
        user=session.user if session else None,
        # the header's badge: the signed-in person's unread notices
        notices_unread=request.app[keys.NOTICES].unread(session.user.id)
        if session and keys.NOTICES in request.app
        else 0,
        lang=lang,
        languages=LANGUAGE_NAMES,
        csrf_token=request.get(CSRF_KEY, ""),
        format_time=lambda dt, tz, fmt="short": format_time(dt, tz, lang, fmt),
        zone_name=lambda zone, at=None: zone_name(cat.gettext, zone, _moment(request, zone, at)),
        static=lambda name: str(request.app.router["static"].url_for(filename=name)),
        **context,
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def _moment(request: web.Request, zone: str, at: datetime | date | None) -> datetime:
    """The moment a zone's offset is shown for: ``at`` (a day: its noon in ``zone``), or now."""
    if isinstance(at, datetime):
        return at
    if isinstance(at, date):
        try:
            return datetime.combine(at, day_time(12), ZoneInfo(zone))
        except (KeyError, ValueError):
            pass
    return clock.utc_now(request)


def redirect(location: str) -> web.Response:
    """A 303 as a plain response, so the middleware still adds headers and cookies to it."""
    return web.Response(status=303, headers={"Location": location})


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def error_response(request: web.Request, status: int, code: str, message: str) -> web.Response:
    if wants_json(request):
        return json_error(status, code, message)
    return render(request, "error.html", {"status": status, "message": message}, status)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls the JSON API: a signed-in person, or the portal with an API key."""

    user: User | None
    key: ApiKey | None

    @property
    def name(self) -> str:
        if self.key is not None:
            return f"API: {self.key.name} (#{self.key.id})"
        return self.user.full_name if self.user else ""

    @property
    def actor(self) -> Actor:
        """The caller as the audit trail names them."""
        if self.key is not None:
            return Actor.api_key(self.key.id, self.key.name)
        assert self.user is not None
        return actor(self.user)


def actor(user: User) -> Actor:
    """A signed-in person as the audit trail names them."""
    return Actor.user(user.id, user.full_name)


def api_caller(request: web.Request, scope: Scope) -> Caller:
    """The caller of an API operation: an API key must carry ``scope``; a person must be
    signed in (what their role allows is the handler's to check)."""
    _ = gettext_of(request)
    key = request.get(API_KEY_KEY)
    if key is not None:
        if scope not in key.scopes:
            raise PageError(
                403,
                _("This API key does not have the scope {scope}.").replace("{scope}", scope.value),
                "scope_missing",
            )
        return Caller(None, key)
    session = session_of(request)
    if session is None:
        raise PageError(401, _("Sign in, or send an API key."), "unauthenticated")
    return Caller(session.user, None)


def require_role(request: web.Request, roles: frozenset[Role], message: str) -> User:
    """The signed-in person, if their role is one of ``roles``; 403 with ``message`` if not."""
    user = require_session(request).user
    if user.role not in roles:
        raise PageError(403, message, "forbidden")
    return user


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object of text, or a 400 that says it is not one."""
    _ = gettext_of(request)
    try:
        body = await request.json()
    except ValueError:
        raise PageError(400, _("The body is not valid JSON."), "bad_json") from None
    if not isinstance(body, dict):
        raise PageError(400, _("The body is not valid JSON."), "bad_json")
    if not encodable(body):
        raise PageError(400, _("The body is not valid JSON."), "bad_json")
    return body


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path="/",
        max_age=12 * 3600,
    )


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(table: Table, stem: str, fmt: str) -> web.Response:
    """A report as a CSV (UTF-8 with BOM) or XLSX attachment."""
    if fmt == "csv":
        body, ctype = to_csv(table), "text/csv; charset=utf-8"
    else:
        body, ctype = to_xlsx(table), XLSX
    return web.Response(
        body=body,
        headers={
            "Content-Type": ctype,
            "Content-Disposition": f'attachment; filename="{stem}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


def idempotent(request: web.Request, raw: bytes, run: Callable[[], web.Response]) -> web.Response:
    """``run`` once per ``Idempotency-Key`` of the caller: a retry gets the first answer back
    (``Idempotent-Replayed: true``); the key with another request is refused (422). Nothing is
    awaited between looking the key up and recording the answer."""
    _ = gettext_of(request)
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return run()
    if not valid_key(key):
        raise PageError(
            400, _("An Idempotency-Key is 1 to 100 printable characters."), "bad_idempotency_key"
        )
    api_key, session = request.get(API_KEY_KEY), session_of(request)
    caller = f"key:{api_key.id}" if api_key else f"user:{session.user.id if session else 0}"
    store, moment = request.app[keys.IDEMPOTENCY], time.time()
    print_ = fingerprint(request.method, request.path, raw)
    try:
        found = store.answer(caller, key, print_, moment)
    except KeyReused:
        raise PageError(
            422, _("This Idempotency-Key was used for another request."), "idempotency_key_reused"
        ) from None
    if found is not None:
        replay = web.Response(text=found.body, status=found.status, content_type="application/json")
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    response = run()
    assert response.text is not None
    store.remember(caller, key, print_, response.status, response.text, moment)
    return response
