"""Languages: Kazakh, Russian, English. Catalogues are gettext .po files under ``locale/``,
compiled in memory when the application starts."""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from control.words import N_ as N_  # one marker and one list of languages for pages and mail
from scheduler.models import LANGUAGES as LANGUAGES

LOCALE_DIR = Path(__file__).parents[1] / "locale"


LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def load_catalogues(languages: Iterable[str] = LANGUAGES) -> dict[str, gettext.NullTranslations]:
    out: dict[str, gettext.NullTranslations] = {}
    for lang in languages:
        po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
        if not po.exists():
            out[lang] = gettext.NullTranslations()
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=lang)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        out[lang] = gettext.GNUTranslations(buf)
    return out


def negotiate(accept_language: str, supported: Iterable[str]) -> str | None:
    """The best supported language for an Accept-Language header, or None."""
    wanted: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")[:20]):
        piece = part.strip()
        if not piece:
            continue
        lang, _, q = piece.partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        wanted.append((-weight, i, lang.strip().lower().split("-")[0]))
    supported = tuple(supported)
    for _, _, lang in sorted(wanted):
        if lang in supported:
            return lang
    return None


# A date and time the same way in every language, as the pages' dates are (``%d.%m.%Y``): CLDR's
# "short" gives a two-digit year in Kazakh and English but four in Russian ("07.12.26",
# "12/7/26", "07.12.2026"), and its "medium" a different order in each.
PATTERNS = {"short": "dd.MM.yyyy HH:mm", "medium": "dd.MM.yyyy HH:mm:ss"}


def format_time(moment: datetime, tz: str, lang: str, fmt: str = "short") -> str:
    """``moment`` in the zone ``tz``: "short" (07.12.2026 09:00) or "medium" (with seconds) in
    one pattern for every language; any other CLDR name ("full": words) or pattern as given."""
    pattern = PATTERNS.get(fmt, fmt)
    return format_datetime(moment, format=pattern, tzinfo=ZoneInfo(tz), locale=Locale.parse(lang))
