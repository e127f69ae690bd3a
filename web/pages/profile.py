"""One's own account: the profile page (a new password, the language, ending one's other
sessions) and the page of a set-password link, which sets a password once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from access.addresses import MAX_ADDRESS
from access.audit import Action
from access.errors import TokenInvalid, UserNotFound
from access.models import User
from access.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    PasswordProblem,
    password_problem,
)
from access.tokens import PasswordSetClaims

from ..core import keys, policy
from ..core.http import (
    LANG_COOKIE,
    SESSION_COOKIE,
    PageError,
    actor,
    gettext_of,
    redirect,
    render,
    require_session,
)
from ..core.i18n import LANGUAGE_NAMES
from .people import address_problem
from .signin import too_many

log = logging.getLogger("sabaq.web.profile")
routes = web.RouteTableDef()


def problem_message(_: Callable[[str], str], problem: PasswordProblem) -> str:
    messages = {
        PasswordProblem.TOO_SHORT: _("A password needs at least {n} characters.").replace(
            "{n}", str(MIN_PASSWORD_LENGTH)
        ),
        PasswordProblem.TOO_LONG: _("A password has at most {n} characters.").replace(
            "{n}", str(MAX_PASSWORD_LENGTH)
        ),
        PasswordProblem.COMMON: _(
            "This password is on the list of the most common passwords: choose another."
        ),
        PasswordProblem.IS_LOGIN: _("The password must not be your login."),
    }
    return messages[problem]


def new_password_problem(request: web.Request, user: User, new: str, again: str) -> str | None:
    _ = gettext_of(request)
    if new != again:
        return _("The two new passwords differ.")
    problem = password_problem(new, user.login)
    return None if problem is None else problem_message(_, problem)


async def hashed(request: web.Request, password: str) -> str:
    """argon2 off the event loop (it takes tens of milliseconds of CPU on purpose)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, request.app[keys.PASSWORDS].hash, password)


# -- the profile ----------------------------------------------------------------------------------
def _profile(
    request: web.Request, user: User, *, error: str | None = None, done: str | None = None,
    status: int = 200, email_error: str | None = None, email: str | None = None,
) -> web.Response:  # fmt: skip
    if email is None:
        email = request.app[keys.ACCOUNTS].get(user.id).email or ""
    return render(
        request,
        "profile.html",
        {
            "error": error,
            "done": done,
            "email": email,
            "email_error": email_error,
            "min_length": MIN_PASSWORD_LENGTH,
            "max_length": MAX_PASSWORD_LENGTH,
            "has_password": request.app[keys.ACCOUNTS].by_login(user.login)[1] is not None,
        },
        status=status,
    )


@routes.get("/profile")
async def profile(request: web.Request) -> web.Response:
    return _profile(request, require_session(request).user)


def _form_text(form: Any, name: str) -> str:
    return str(form.get(name, ""))[: MAX_PASSWORD_LENGTH + 1]


@routes.post("/profile/password")
async def change_password(request: web.Request) -> web.Response:
    """A new password, the current one given; every other session of the person ends.

    Wrong current passwords are slowed down as sign-in's are (per account here: whoever tries
    holds its session already), so a session left open on a shared computer is no way to guess
    the password at leisure."""
    _ = gettext_of(request)
    user = require_session(request).user
    form = await request.post()
    current, new = _form_text(form, "current"), _form_text(form, "new")
    backoff, key = request.app[keys.LIMITS].signin_per_login_and_address, f"profile:{user.id}"
    wait = backoff.blocked(key, time.time())
    if wait is not None:
        log.warning("password changes over the limit for user %s", user.id)
        response = _profile(request, user, error=too_many(request, wait), status=429)
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    backoff.fail(key, time.time())  # until the password proves right
    _login, stored = request.app[keys.ACCOUNTS].by_login(user.login)
    loop = asyncio.get_running_loop()
    passwords = request.app[keys.PASSWORDS]
    right = stored is not None and await loop.run_in_executor(
        None, passwords.verify, stored, current
    )
    if not right:
        backoff.undo(key)
        backoff.fail(key, time.time())  # the wait runs from the answer
        return _profile(request, user, error=_("The current password is wrong."), status=400)
    backoff.clear(key)
    problem = new_password_problem(request, user, new, _form_text(form, "again"))
    if problem is not None:
        return _profile(request, user, error=problem, status=400)
    request.app[keys.ACCOUNTS].change_password(
        user.id,
        await hashed(request, new),
        keep_session=request.cookies.get(SESSION_COOKIE, ""),
        actor=actor(user),
    )
    log.info("user %s changed their password", user.id)
    return _profile(request, user, done=_("Your password is changed. Your other sessions ended."))


@routes.post("/profile/email")
async def profile_email(request: web.Request) -> web.Response:
    """One's own address for notices (blank: none)."""
    _ = gettext_of(request)
    user = require_session(request).user
    raw = str((await request.post()).get("email", "")).strip()[: MAX_ADDRESS + 1]
    problem = address_problem(_, raw)
    if problem is not None:
        return _profile(request, user, email_error=problem, email=raw, status=400)
    request.app[keys.ACCOUNTS].set_email(user.id, raw or None)
    log.info("user %s changed their e-mail address", user.id)
    return _profile(request, user, done=_("Your e-mail address is saved."))


@routes.post("/profile/language")
async def profile_language(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = require_session(request).user
    lang = str((await request.post()).get("lang", ""))
    if lang not in request.app[keys.SETTINGS].languages or lang not in LANGUAGE_NAMES:
        raise PageError(400, _("Unknown language."), "bad_language")
    request.app[keys.ACCOUNTS].set_language(user.id, lang)
    response = redirect("/profile")
    response.set_cookie(LANG_COOKIE, lang, samesite="Lax", max_age=365 * 86400, path="/")
    return response


@routes.post("/profile/sessions/end")
async def end_other_sessions(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    user = require_session(request).user
    ended = request.app[keys.ACCOUNTS].end_sessions(
        user.id, keep=request.cookies.get(SESSION_COOKIE, "")
    )
    log.info("user %s ended %d other sessions", user.id, ended)
    return _profile(request, user, done=_("Sessions ended: {n}.").replace("{n}", str(ended)))


# -- a set-password link --------------------------------------------------------------------------
def _claims(request: web.Request, token: str) -> tuple[PasswordSetClaims, User]:
    """The link's claims and its account, if the link may still set a password: signed,
    unexpired, unused, issued after the last password change, the account active."""
    _ = gettext_of(request)
    accounts = request.app[keys.ACCOUNTS]
    try:
        claims = request.app[keys.SIGNER].verify_password_set(token)
        user = accounts.get(claims.user_id)
        changed = accounts.password_changed_at(user.id)
        if not user.active or (changed is not None and changed >= claims.issued_at):
            raise TokenInvalid("The account changed since")
        # Not for a role the account has since been given (a teacher made an administrator),
        # nor once its issuer may no longer issue it (demoted, deactivated).
        issuer = accounts.get(claims.issuer_id)
        if (
            user.role.value != claims.role
            or not issuer.active
            or not policy.issues_link(request, issuer, user)
        ):
            raise TokenInvalid("The link's issuer or role changed since")
    except (TokenInvalid, UserNotFound):
        raise PageError(
            401,
            _("This set-password link is not valid, was used or has expired. Ask for a new one."),
            "token_invalid",
        ) from None
    return claims, user


def _set_form(
    request: web.Request, token: str, user: User, error: str | None = None, status: int = 200
) -> web.Response:
    response = render(
        request,
        "password_set.html",
        {
            "token": token,
            "person": user,
            "error": error,
            "min_length": MIN_PASSWORD_LENGTH,
            "max_length": MAX_PASSWORD_LENGTH,
        },
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/password/set")
async def password_set_form(request: web.Request) -> web.Response:
    token = request.query.get("token", "")[:4096]
    user = _claims(request, token)[1]  # refused here already if it cannot be used
    return _set_form(request, token, user)


@routes.post("/password/set")
async def password_set(request: web.Request) -> web.StreamResponse:
    """The password of a link's account; the link is spent, and every session of the
    account ends (a forgetful user's old ones too)."""
    _ = gettext_of(request)
    form = await request.post()
    token = str(form.get("token", ""))[:4096]
    claims, user = _claims(request, token)
    new = _form_text(form, "new")
    problem = new_password_problem(request, user, new, _form_text(form, "again"))
    if problem is not None:
        return _set_form(request, token, user, problem, 400)
    password_hash = await hashed(request, new)
    accounts = request.app[keys.ACCOUNTS]
    # Spent only now, with nothing awaited between it and the write: two tabs, one password.
    if not accounts.use_signin_link(claims.jti, claims.expires_at):
        raise PageError(
            401,
            _("This set-password link is not valid, was used or has expired. Ask for a new one."),
            "token_used",
        )
    accounts.change_password(user.id, password_hash, actor=actor(user), action=Action.PASSWORD_SET)
    log.info("user %s set their password through a link", user.id)
    return redirect(f"/signin?login={user.login}&set=1")
