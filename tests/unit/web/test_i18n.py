"""The reader's language from Accept-Language, and the catalogues."""

from __future__ import annotations

from web.core.i18n import load_catalogues, negotiate


def test_language_negotiation_and_catalogues() -> None:
    assert negotiate("kk-KZ,ru;q=0.8,en;q=0.5", ("kk", "ru", "en")) == "kk"
    assert negotiate("de, en;q=0.1, ru;q=0.9", ("kk", "ru", "en")) == "ru"
    assert negotiate("de", ("kk", "ru", "en")) is None
    assert negotiate("ru;q=abc, en", ("ru", "en")) == "en"
    cats = load_catalogues()
    assert cats["ru"].gettext("Sign in") == "Войти"
    assert cats["kk"].gettext("Sign in") == "Кіру"
    assert cats["en"].gettext("Sign in") == "Sign in"
