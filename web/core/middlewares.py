"""The application's middlewares, one concern each, in the order ``MIDDLEWARES`` lists them
(the first is the outermost): the client's address behind the TLS front, the body's deadline,
authentication, language, security headers, the CSRF cookie, errors as pages or JSON, a join
link's one class, the body's size, the CSRF check. Each one's after-part sees the response of
those inside it, error pages included."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from access.api_keys import ApiKey, ApiKeyInvalid
from access.errors import AccessError
from access.sqlite_store import Session
from control.environment import is_loopback
from scheduler.errors import ClassNotFound, GroupNotFound, SchedulerError

from . import keys
from .errors import known, message_of, status_of
from .http import (
    API_KEY_KEY,
    CSRF_COOKIE,
    CSRF_KEY,
    LANG_COOKIE,
    LANG_KEY,
    MAX_BODY,
    SESSION_COOKIE,
    SESSION_KEY,
    UPLOAD_ROUTES,
    UPLOADERS,
    PageError,
    error_response,
    gettext_of,
    json_error,
    session_of,
    too_large,
    upload_too_large,
)
from .i18n import negotiate
from .settings import Settings

log = logging.getLogger("sabaq.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none';"
    " frame-ancestors 'none'; form-action 'self'"
)

# Whether this request minted its CSRF token (no cookie, or one too long to be ours).
NEW_CSRF_KEY = web.RequestKey("new_csrf", bool)

# What a session opened by a join link reaches besides its class's pages.
_OPEN_PATHS = frozenset(
    {"/signin", "/signin/link", "/signout", "/language", "/healthz", "/readyz", "/favicon.ico"}
)
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


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The session of the cookie, or the API key of the bearer header (the portal: the key
    alone speaks, cookies are not looked at); an unknown key is answered 401 at once. Every
    call with a key is logged with its answer, refused ones too."""
    api_key: ApiKey | None = None
    bearer = _bearer(request)
    if bearer is not None:
        session = None
        try:
            api_key = request.app[keys.API_KEYS].verify(bearer)
        except ApiKeyInvalid as exc:
            log.warning("API call refused (%s): %s %s", exc, request.method, request.path)
            return json_error(401, "api_key_invalid", f"{exc}.")
    else:
        session = request.app[keys.ACCOUNTS].session(request.cookies.get(SESSION_COOKIE, ""))
    request[API_KEY_KEY] = api_key
    request[SESSION_KEY] = session
    response = await handler(request)
    if api_key is not None:
        log.info(
            "api key=%s (%s) %s %s -> %s",
            api_key.id, api_key.name, request.method, request.path, response.status,
        )  # fmt: skip
    return response


@web.middleware
async def language(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The language of the pages: the cookie's, the person's, their group's, the browser's."""
    request[LANG_KEY] = _lang_for(request, session_of(request))
    return await handler(request)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The content security policy and the other headers every answer carries."""
    response = await handler(request)
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


@web.middleware
async def csrf_cookie(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The CSRF token of the cookie, or a new one, set on the answer."""
    csrf = request.cookies.get(CSRF_COOKIE) or ""
    new_csrf = not csrf or len(csrf) > 128
    if new_csrf:
        csrf = secrets.token_urlsafe(32)
    request[CSRF_KEY] = csrf
    request[NEW_CSRF_KEY] = new_csrf
    response = await handler(request)
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
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors crossing into HTTP once: a page error, a domain error by its code, an HTTP
    error in the person's words, anything unexpected logged and answered 500 — as a page, or
    as JSON to the API."""
    _ = gettext_of(request)
    try:
        return await handler(request)
    except PageError as exc:
        return error_response(request, exc.status, exc.code, exc.message)
    except (ClassNotFound, GroupNotFound) as exc:
        log.info("not found: %s", exc)
        return error_response(request, status_of(exc), exc.code, message_of(_, exc))
    except SchedulerError as exc:
        log.info("refused: %s", exc)
        if known(exc):  # in the table: its status and the person's words
            return error_response(request, status_of(exc), exc.code, message_of(_, exc))
        return error_response(request, 409, exc.code, str(exc))
    except AccessError as exc:
        log.info("refused: %s", exc)
        return error_response(request, 409, exc.code, str(exc))
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
        return error_response(
            request, exc.status, f"http_{exc.status}", messages.get(exc.status, exc.reason)
        )
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(
            request, 500, "internal", _("Something went wrong on our side. Try again.")
        )


@web.middleware
async def one_class(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A session opened by a join link reaches its class's pages only."""
    session = session_of(request)
    if session is not None and not reaches(session, request.path):
        _ = gettext_of(request)
        raise PageError(
            403,
            _("This link opens one class only. Sign in with your password to see the rest."),
            "class_only",
        )
    return await handler(request)


def _writes(request: web.Request) -> bool:
    return request.method not in ("GET", "HEAD", "OPTIONS") and not (
        request.path.startswith("/media/")
    )


@web.middleware
async def body_size(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A write whose declared body is over MAX_BODY (an upload route's: MAX_BODY and the
    documents' total) is refused before it is read."""
    limit = MAX_BODY
    session = session_of(request)
    if (
        request.match_info.route.name in UPLOAD_ROUTES
        and request.content_type == "multipart/form-data"
        and session is not None
        and session.user.role in UPLOADERS
    ):  # documents, from someone who may file them: up to the settings' total
        limit += request.app[keys.SETTINGS].excuse_total_bytes
    length = request.content_length
    if _writes(request) and length is not None and length > limit:
        _ = gettext_of(request)
        message = too_large(_) if limit == MAX_BODY else upload_too_large(_, limit)
        raise PageError(413, message, "too_large")
    if limit != MAX_BODY:
        request = request.clone(client_max_size=limit)
    return await handler(request)


@web.middleware
async def csrf_check(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A write from the browser carries the CSRF token (header or form field). No check for
    an API key: no cookie of the browser's is used by such a request."""
    if _writes(request) and request.get(API_KEY_KEY) is None:
        sent = request.headers.get("X-CSRF-Token", "")
        form = None
        if not sent and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            form = await request.post()
            sent = str(form.get("csrf_token", ""))
        csrf = request[CSRF_KEY]
        if request[NEW_CSRF_KEY] or not hmac.compare_digest(sent.encode(), csrf.encode()):
            _ = gettext_of(request)
            for upload in (form or {}).values():  # no handler will read (and close) them
                if isinstance(upload, web.FileField):
                    upload.file.close()
            raise PageError(
                403,
                _("The form has expired. Go back, reload the page and try again."),
                "csrf_failed",
            )
    return await handler(request)


def middlewares(settings: Settings) -> list[Middleware]:
    """The control node's middlewares, outermost first."""
    return [
        forwarded,
        body_deadline(settings.body_timeout_seconds),
        authenticate,
        language,
        security_headers,
        csrf_cookie,
        errors,
        one_class,
        body_size,
        csrf_check,
    ]
