"""Writing a message in its reader's language: callers (notices, a guest's invite, the HR
services' mail) mark their subject and body with ``N_`` and have them rendered here from the
application's catalogues, then queue them in the outbox (``keys.MAIL``)."""

from __future__ import annotations

import gettext
from dataclasses import dataclass

from access.models import User

from .i18n import LANGUAGES


@dataclass(frozen=True, slots=True)
class Rendered:
    language: str
    subject: str
    body: str


def language_of(user: User, default: str) -> str:
    """The language a person reads their mail in: the one they chose on their profile, or
    the academy's default."""
    return user.language if user.language in LANGUAGES else default


def translate(
    catalogues: dict[str, gettext.NullTranslations], language: str, message: str,
    **values: object,
) -> str:  # fmt: skip
    """``message`` in ``language`` with its ``{name}`` placeholders filled (the English text
    when the language has no catalogue)."""
    catalogue = catalogues.get(language) or gettext.NullTranslations()
    text = catalogue.gettext(message)
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def render(
    catalogues: dict[str, gettext.NullTranslations], language: str, subject: str, body: str,
    **values: object,
) -> Rendered:  # fmt: skip
    """A message's subject and body (both marked with ``N_``) in ``language``."""
    return Rendered(
        language,
        translate(catalogues, language, subject, **values),
        translate(catalogues, language, body, **values),
    )
