"""Writing a message in its reader's language: callers (notices, a guest's invite, the HR
services' mail) mark their subject and body with ``N_`` and have them rendered here from the
application's catalogues (``babel.cfg`` extracts ``control/`` as well as ``web/``), then queue
them in the outbox (``control.mail``). The catalogues are passed in: ``web.core.i18n`` loads
them, and control imports nothing of ``web``."""

from __future__ import annotations

import gettext
from collections.abc import Callable
from dataclasses import dataclass

from access.models import User
from scheduler.models import LANGUAGES

Gettext = Callable[[str], str]
Catalogues = dict[str, gettext.NullTranslations]


def N_(message: str) -> str:
    """Marks a message for the catalogues where it is defined; it is translated where shown."""
    return message


@dataclass(frozen=True, slots=True)
class Rendered:
    language: str
    subject: str
    body: str


def language_of(user: User, default: str) -> str:
    """The language a person reads their mail in: the one they chose on their profile, or
    the academy's default."""
    return user.language if user.language in LANGUAGES else default


def gettext_in(catalogues: Catalogues, language: str) -> Gettext:
    """The gettext of ``language``'s catalogue (the English text when it has none)."""
    return (catalogues.get(language) or gettext.NullTranslations()).gettext


def translate(catalogues: Catalogues, language: str, message: str, **values: object) -> str:
    """``message`` in ``language`` with its ``{name}`` placeholders filled (the English text
    when the language has no catalogue)."""
    text = gettext_in(catalogues, language)(message)
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def render(
    catalogues: Catalogues, language: str, subject: str, body: str, **values: object
) -> Rendered:
    """A message's subject and body (both marked with ``N_``) in ``language``."""
    return Rendered(
        language,
        translate(catalogues, language, subject, **values),
        translate(catalogues, language, body, **values),
    )
