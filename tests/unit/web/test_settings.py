"""Settings from the environment: a secret is needed, and TLS off loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from web.core.settings import ConfigError, Settings


def test_settings_need_a_secret_and_tls_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SABAQ_SECRET_KEY is not set"):
        Settings.from_env({})
    with pytest.raises(ConfigError, match="at least 32"):
        Settings.from_env({"SABAQ_SECRET_KEY": "short"})
    with pytest.raises(ConfigError, match="HTTPS"):
        Settings.from_env({"SABAQ_SECRET_KEY": "k" * 40, "SABAQ_HOST": "0.0.0.0"})
    s = Settings.from_env({"SABAQ_SECRET_KEY": "k" * 40, "SABAQ_ICE_ADDRESSES": "127.0.0.1, ::1"})
    assert s.ice_addresses == ("127.0.0.1", "::1") and s.ice_servers == ()


def test_notices_are_collected_every_few_seconds_or_never() -> None:
    key = {"SABAQ_SECRET_KEY": "k" * 40}
    assert Settings.from_env(key).notice_interval_seconds == 2
    assert (
        Settings.from_env(key | {"SABAQ_NOTICE_INTERVAL_SECONDS": "0"}).notice_interval_seconds == 0
    )
    with pytest.raises(ConfigError, match="SABAQ_NOTICE_INTERVAL_SECONDS"):
        Settings.from_env(key | {"SABAQ_NOTICE_INTERVAL_SECONDS": "often"})
