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
