"""Request plumbing: sessions, language, CSRF, security headers, errors, rendering."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.typedefs import Middleware

from access.api_keys import ApiKey, ApiKeyInvalid, Scope
from access.errors import AccessError
from access.models import Role, User
from access.sqlite_store import Session
from attendance.export import Table, to_csv, to_xlsx
from control.idempotency import KeyReused, fingerprint, valid_key
from scheduler.errors import ClassNotFound, GroupNotFound, SchedulerError

from . import api_json, api_models, keys
from .errors import message_of, status_of
from .i18n import LANGUAGE_NAMES, format_time, negotiate
from .settings import Settings, is_loopback

log = logging.getLogger("sabaq.web")

SESSION_COOKIE = "sabaq_session"
CSRF_COOKIE = "sabaq_csrf"
LANG_COOKIE = "sabaq_lang"
MAX_BODY = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def too_large(_: Callable[[str], str]) -> str:
    return _("The request is too large: at most {n} KB.").replace("{n}", str(MAX_BODY // 1024))


SESSION_KEY: web.RequestKey[Session | None] = web.RequestKey("session")
API_KEY_KEY: web.RequestKey[ApiKey | None] = web.RequestKey("api_key")
LANG_KEY = web.RequestKey("lang", str)
CSRF_KEY = web.RequestKey("csrf", str)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none';"
    " frame-ancestors 'none'; form-action 'self'"
)


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


def _lang_for(request: web.Request, session: Session | None) -> str:
    settings = request.app[keys.SETTINGS]
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in settings.languages:
        return cookie
    if session is not None:
        if session.user.language in settings.languages:
            return session.user.language
        groups = request.app[keys.TIMETABLE].groups_of_member(session.user.id)
        if groups:
            return groups[0].language
    negotiated = negotiate(request.headers.get("Accept-Language", ""), settings.languages)
    return negotiated or settings.default_language


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    env = request.app[keys.TEMPLATES]
    lang = request.get(LANG_KEY, "en")
    cat = request.app[keys.CATALOGUES][lang]
    env.install_gettext_callables(  # type: ignore[attr-defined]
        cat.gettext, cat.ngettext, newstyle=True
    )
    session = session_of(request)
    body = env.get_template(template).render(
        request=request,
        user=session.user if session else None,
        lang=lang,
        languages=LANGUAGE_NAMES,
        csrf_token=request.get(CSRF_KEY, ""),
        format_time=lambda dt, tz, fmt="short": format_time(dt, tz, lang, fmt),
        static=lambda name: str(request.app.router["static"].url_for(filename=name)),
        **context,
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def redirect(location: str) -> web.Response:
    """A 303 as a plain response, so the middleware still adds headers and cookies to it."""
    return web.Response(status=303, headers={"Location": location})


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _error_response(request: web.Request, status: int, code: str, message: str) -> web.Response:
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


async def json_body(
    request: web.Request, model: type[api_models.Request] | None = None
) -> dict[str, Any]:
    """The request's JSON object, fitting ``model`` (the shape the OpenAPI document shows),
    or a 400 that says what is wrong."""
    _ = gettext_of(request)
    try:
        body = await request.json()
    except ValueError:
        raise PageError(400, _("The body is not valid JSON."), "bad_json") from None
    if not isinstance(body, dict):
        raise PageError(400, _("The body is not valid JSON."), "bad_json")
    if not _encodable(body):
        raise PageError(400, _("The body is not valid JSON."), "bad_json")
    found = api_json.problems(body, model) if model is not None else []
    if found:
        raise PageError(
            400,
            _("The body does not fit the API: {problems}.").replace(
                "{problems}", "; ".join(found[:10])
            ),
            "bad_body",
        )
    return body


def _encodable(value: Any) -> bool:
    """Whether every string in ``value`` is text (JSON may carry a lone UTF-16 surrogate,
    which no database or page can take)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    return True


# What a session opened by a join link reaches besides its class's pages.
_OPEN_PATHS = frozenset({"/signin", "/signin/link", "/signout", "/language", "/healthz", "/readyz"})
_OPEN_PREFIXES = ("/static/", "/media/")


def reaches(session: Session, path: str) -> bool:
    """Whether ``session`` may ask for ``path``: anything, unless a join link opened it for
    one class — then that class's pages and what the class page itself uses."""
    if session.class_id is None:
        return True
    own = f"/classes/{session.class_id}"
    return (
        path == own
        or path.startswith(own + "/")
        or path in _OPEN_PATHS
        or path.startswith(_OPEN_PREFIXES)
    )


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if request.path.startswith("/api/") and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def _csp(request: web.Request) -> str:
    """The policy; in a cluster, pages may also connect to the media nodes' signaling."""
    cluster = request.app.get(keys.CLUSTER)
    if cluster is None or not cluster.connect_sources:
        return CSP
    return CSP.replace("connect-src 'self'", f"connect-src 'self' {cluster.connect_sources}")


def body_deadline(seconds: float) -> Middleware:
    """A request's body must have arrived ``seconds`` after its head, or the request ends with
    408 and its connection is closed — however the handler reads it (the head's own bound is
    the server's keep-alive timeout, ``server_limits``)."""

    @web.middleware
    async def deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists or request.content.is_eof():
            return await handler(request)
        loop = asyncio.get_running_loop()
        bound = asyncio.timeout(None)

        def expire() -> None:
            if not request.content.is_eof():
                bound.reschedule(loop.time())

        timer = loop.call_later(seconds, expire)
        try:
            async with bound:
                return await handler(request)
        except TimeoutError:
            if not bound.expired():
                raise
        finally:
            timer.cancel()
        log.info("%s %s: the body did not arrive in %s s", request.method, request.path, seconds)
        catalogues = request.config_dict.get(keys.CATALOGUES)  # none on a media node
        _ = catalogues[request.get(LANG_KEY, "en")].gettext if catalogues else str
        response = web.Response(status=408, text=_("The request took too long to arrive."))
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        request.protocol.force_close()  # at once: no waiting for the rest of the body
        return response

    return deadline


def server_limits(settings: Settings) -> dict[str, Any]:
    """The server's handler arguments: an idle connection, or one whose request head has not
    arrived in full, is closed after the header timeout."""
    return {"keepalive_timeout": settings.header_timeout_seconds}


@web.middleware
async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Behind the TLS front (SABAQ_BEHIND_PROXY): the scheme and the client's address are the
    ones the front saw. Believed only from a peer on this machine; the last address of
    X-Forwarded-For is the one the front appended."""
    if request.app[keys.SETTINGS].behind_proxy and is_loopback(request.remote or ""):
        changes: dict[str, str] = {}
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            changes["scheme"] = proto
        client = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        with contextlib.suppress(ValueError):
            changes["remote"] = str(ipaddress.ip_address(client))
        if changes:
            request = request.clone(**changes)  # type: ignore[arg-type]
    return await handler(request)


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session or API key, language and CSRF in; security headers and error pages out."""
    accounts = request.app[keys.ACCOUNTS]
    bearer = _bearer(request)
    api_key: ApiKey | None = None
    if bearer is not None:  # the portal: the key alone speaks, cookies are not looked at
        session = None
        try:
            api_key = request.app[keys.API_KEYS].verify(bearer)
        except ApiKeyInvalid:
            log.warning(
                "API call with an unknown or revoked key: %s %s", request.method, request.path
            )
            return json_error(401, "api_key_invalid", "The API key is unknown or revoked.")
    else:
        session = accounts.session(request.cookies.get(SESSION_COOKIE, ""))
    request[API_KEY_KEY] = api_key
    request[SESSION_KEY] = session
    request[LANG_KEY] = _lang_for(request, session)
    csrf = request.cookies.get(CSRF_COOKIE) or ""
    new_csrf = not csrf or len(csrf) > 128
    if new_csrf:
        csrf = secrets.token_urlsafe(32)
    request[CSRF_KEY] = csrf
    _ = gettext_of(request)
    try:
        if session is not None and not reaches(session, request.path):
            raise PageError(
                403,
                _("This link opens one class only. Sign in with your password to see the rest."),
                "class_only",
            )
        writes = request.method not in ("GET", "HEAD", "OPTIONS") and not (
            request.path.startswith("/media/")
        )
        if writes and request.content_length is not None and request.content_length > MAX_BODY:
            raise PageError(413, too_large(_), "too_large")
        # No CSRF check for a key: no cookie of the browser's is used by such a request.
        if writes and api_key is None:
            sent = request.headers.get("X-CSRF-Token", "")
            if not sent and request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                sent = str((await request.post()).get("csrf_token", ""))
            if new_csrf or not hmac.compare_digest(sent.encode(), csrf.encode()):
                raise PageError(
                    403,
                    _("The form has expired. Go back, reload the page and try again."),
                    "csrf_failed",
                )
        response = await handler(request)
    except PageError as exc:
        response = _error_response(request, exc.status, exc.code, exc.message)
    except (ClassNotFound, GroupNotFound) as exc:
        log.info("not found: %s", exc)
        response = _error_response(request, status_of(exc), exc.code, message_of(_, exc))
    except (SchedulerError, AccessError) as exc:
        log.info("refused: %s", exc)
        response = _error_response(request, 409, exc.code, str(exc))
    except web.HTTPRedirection:
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        messages = {
            404: _("This page does not exist."),
            405: _("This action is not allowed here."),
            413: too_large(_),
        }
        response = _error_response(
            request, exc.status, f"http_{exc.status}", messages.get(exc.status, exc.reason)
        )
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        response = _error_response(
            request, 500, "internal", _("Something went wrong on our side. Try again.")
        )
    if api_key is not None:  # every call of the portal is attributed, refused ones too
        log.info(
            "api key=%s (%s) %s %s -> %s",
            api_key.id, api_key.name, request.method, request.path, response.status,
        )  # fmt: skip
    if new_csrf and not response.prepared:
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=True,
            # Lax, like the session: with Strict, arriving from the portal would mint a new
            # token and break the forms and reconnects of tabs already open.
            samesite="Lax",
            secure=request.secure,
            path="/",
        )
    if not response.prepared:
        h = response.headers
        h.setdefault("Content-Security-Policy", _csp(request))
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault(
            "Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)"
        )
        if request.secure:
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


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
