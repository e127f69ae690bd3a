"""Signing in and out: the password form (throttled per login and address), one-time sign-in
links, and the language a person reads the pages in."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from urllib.parse import urlsplit

from aiohttp import web

from access.api_keys import ApiKeyInvalid
from access.errors import TokenInvalid, UserNotFound
from access.models import User
from access.passwords import Passwords
from access.throttle import address_key, login_at

from ..core import keys
from ..core.http import (
    LANG_COOKIE,
    SESSION_COOKIE,
    Caller,
    PageError,
    gettext_of,
    redirect,
    render,
    session_of,
    set_session_cookie,
)

log = logging.getLogger("sabaq.web.views")
routes = web.RouteTableDef()


def _safe_next(value: str | None) -> str:
    """Only same-site paths are followed after sign-in."""
    if not value or not value.startswith("/") or value[1:2] == "/":
        return "/"
    # Browsers drop tabs and newlines and read "\\" as "/": "/\t\\evil" would leave the site.
    if "\\" in value or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


# -- sign-in ----------------------------------------------------------------------------------
@routes.get("/signin")
async def signin_form(request: web.Request) -> web.Response:
    return render(
        request,
        "signin.html",
        {
            "next": _safe_next(request.query.get("next")),
            "error": None,
            "login": request.query.get("login", "")[:64],
            "password_set": request.query.get("set") == "1",
        },
    )


@routes.post("/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    form = await request.post()
    login = str(form.get("login", "")).strip().lower()[:64]
    password = str(form.get("password", ""))[:1024]
    nxt = _safe_next(str(form.get("next", "/")))
    accounts, passwords = request.app[keys.ACCOUNTS], request.app[keys.PASSWORDS]
    limits, now = request.app[keys.LIMITS], time.time()
    address = address_key(request.remote)
    # Only failed attempts count, per login and address and per address — never per login
    # alone: someone guessing a password elsewhere does not lock its owner out.
    pair = login_at(login, address)
    wait = limits.signin_per_address.blocked(address, now)
    if wait is None:
        wait = limits.signin_per_login_and_address.blocked(pair, now)
    if wait is not None:
        log.warning("sign-in attempts over the limit for %r from %s", login, request.remote)
        response = render(
            request,
            "signin.html",
            {"next": nxt, "error": too_many(request, wait)},
            status=429,
        )
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    # Counted as a failure until the password proves right: guesses sent all at once wait
    # like guesses sent one by one.
    limits.signin_per_address.fail(address, now)
    limits.signin_per_login_and_address.fail(pair, now)
    try:
        user, stored = accounts.by_login(login)
    except UserNotFound:
        user, stored = None, None
    # argon2 takes tens of milliseconds of CPU on purpose: off the event loop, which also
    # carries the media plane in the single-process deployment.
    loop = asyncio.get_running_loop()
    # An unknown login costs the same argon2 check as a known one: timing tells nothing.
    valid = await loop.run_in_executor(
        None, passwords.verify, stored or _dummy_hash(passwords), password
    )
    if user is None or stored is None or not valid:
        log.info("sign-in failed for %r", login)
        # The waits run from the answer, however long the check took.
        for backoff, key in ((limits.signin_per_address, address),
                             (limits.signin_per_login_and_address, pair)):  # fmt: skip
            backoff.undo(key)
            backoff.fail(key, time.time())
        return render(
            request,
            "signin.html",
            {"next": nxt, "error": _("The login or the password is wrong.")},
            status=401,
        )
    limits.signin_per_address.undo(address)
    limits.signin_per_login_and_address.clear(pair)
    if not user.active:  # told only to who knows the password
        log.info("sign-in refused: user %s is deactivated", user.id)
        return render(
            request,
            "signin.html",
            {"next": nxt, "error": _("This account is deactivated: it cannot sign in.")},
            status=403,
        )
    if stored is not None and passwords.needs_rehash(stored):
        rehashed = await loop.run_in_executor(None, passwords.hash, password)
        accounts.set_password_hash(user.id, rehashed)
    return _signed_in(request, user, nxt)


def _signed_in(
    request: web.Request, user: User, nxt: str, class_id: int | None = None
) -> web.StreamResponse:
    token, _session = request.app[keys.ACCOUNTS].open_session(user.id, class_id=class_id)
    log.info(
        "signed in user=%s role=%s%s",
        user.id,
        user.role.value,
        "" if class_id is None else f" for class {class_id} only",
    )
    response = redirect(nxt)
    set_session_cookie(response, request, token)
    return response


_DUMMY: list[str] = []


def _dummy_hash(passwords: Passwords) -> str:
    if not _DUMMY:
        _DUMMY.append(passwords.hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def too_many(request: web.Request, wait: float) -> str:
    _ = gettext_of(request)
    if wait < 59.5:
        seconds = max(1, round(wait))
        return _("Too many attempts. Try again in {n} s.").replace("{n}", str(seconds))
    minutes = max(1, -(-round(wait) // 60))
    return _("Too many attempts. Try again in {n} min.").replace("{n}", str(minutes))


def limited(request: web.Request, wait: float | None) -> None:
    """A 429 that says how long to wait, if a rate limit says so."""
    if wait is not None:
        raise PageError(429, too_many(request, wait), "rate_limited")


@routes.get("/signin/link")
async def signin_link(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    accounts = request.app[keys.ACCOUNTS]
    limits, address, now = request.app[keys.LIMITS], address_key(request.remote), time.time()
    limited(request, limits.signin_per_address.blocked(address, now))
    try:
        claims = request.app[keys.SIGNER].verify_signin(request.query.get("token", ""))
        user = accounts.get(claims.user_id)
        if not user.active:
            raise TokenInvalid("The account is deactivated")
    except (TokenInvalid, UserNotFound):
        limits.signin_per_address.hit(address, now)
        raise PageError(
            401, _("This sign-in link is not valid or has expired."), "token_invalid"
        ) from None
    made_by = None
    if claims.class_id is not None:  # a join link: its portal key must still be in force
        try:
            key = request.app[keys.API_KEYS].get(claims.key_id or 0)
        except ApiKeyInvalid:
            key = None
        if key is None or not key.active or not key.maker_active:  # revoked, or its maker gone
            raise PageError(
                401, _("This sign-in link is not valid or has expired."), "token_invalid"
            )
        made_by = Caller(None, key).name
    if not accounts.use_signin_link(claims.jti, claims.expires_at):
        limits.signin_per_address.hit(address, now)
        raise PageError(
            401,
            _("This sign-in link was already used. Each link signs in once; ask for a new one."),
            "token_used",
        )
    if claims.class_id is None:
        return _signed_in(request, user, _safe_next(request.query.get("next")))
    # A join link opens its class, and only it: the session it starts reaches nothing else
    # (someone signed in already as this person keeps their own session).
    log.info("join link used: user=%s class=%s, link made by %s", user.id, claims.class_id, made_by)
    current = session_of(request)
    if current is not None and current.user.id == user.id and current.class_id is None:
        return redirect(f"/classes/{claims.class_id}")
    return _signed_in(request, user, f"/classes/{claims.class_id}", claims.class_id)


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    request.app[keys.ACCOUNTS].close_session(request.cookies.get(SESSION_COOKIE, ""))
    response = redirect("/signin")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.post("/language")
async def set_language(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    form = await request.post()
    lang = str(form.get("lang", ""))
    if lang not in request.app[keys.SETTINGS].languages:
        raise PageError(400, _("Unknown language."), "bad_language")
    session = session_of(request)
    if session is not None:
        request.app[keys.ACCOUNTS].set_language(session.user.id, lang)
    response = redirect(_safe_next(str(form.get("next", "/"))))
    response.set_cookie(LANG_COOKIE, lang, samesite="Lax", max_age=365 * 86400, path="/")
    return response
