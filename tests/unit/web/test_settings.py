"""Settings from the environment: a secret is needed, and TLS off loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.environment import ConfigError
from web.core.settings import Settings, watch_url


def test_settings_need_a_secret_and_tls_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SABAQ_SECRET_KEY is not set"):
        Settings.from_env({})
    with pytest.raises(ConfigError, match="at least 32"):
        Settings.from_env({"SABAQ_SECRET_KEY": "short"})
    with pytest.raises(ConfigError, match="HTTPS"):
        Settings.from_env({"SABAQ_SECRET_KEY": "k" * 40, "SABAQ_HOST": "0.0.0.0"})
    s = Settings.from_env({"SABAQ_SECRET_KEY": "k" * 40, "SABAQ_ICE_ADDRESSES": "127.0.0.1, ::1"})
    assert s.ice_addresses == ("127.0.0.1", "::1") and s.ice_servers == ()


def test_smtp_settings(tmp_path: Path) -> None:
    base = {"SABAQ_SECRET_KEY": "k" * 40}
    url = Settings.from_env(base | {"SABAQ_PUBLIC_URL": "https://sabaq.academy.kz"})
    assert url.public_url == "https://sabaq.academy.kz"
    with pytest.raises(ConfigError, match="SABAQ_PUBLIC_URL"):
        Settings.from_env(base | {"SABAQ_PUBLIC_URL": "sabaq.academy.kz"})
    off = Settings.from_env(base)
    assert not off.mail_enabled and off.smtp_host == ""
    on = Settings.from_env(
        base | {"SABAQ_SMTP_HOST": "mail.academy.kz", "SABAQ_SMTP_FROM": "sabaq@academy.kz",
                "SABAQ_SMTP_USER": "sabaq", "SABAQ_SMTP_PASSWORD": "pw-Zq81"}
    )  # fmt: skip
    assert on.mail_enabled and on.smtp_security == "starttls" and on.smtp_port == 587
    assert (
        "pw-Zq81" not in repr(on) and on.smtp_password == "pw-Zq81"
    )  # the password is never printed
    local = Settings.from_env(
        base | {"SABAQ_SMTP_HOST": "127.0.0.1", "SABAQ_SMTP_FROM": "sabaq@academy.kz"}
    )
    assert local.smtp_security == "none" and local.smtp_port == 25
    tls = Settings.from_env(
        base | {"SABAQ_SMTP_HOST": "mail.kz", "SABAQ_SMTP_FROM": "a@b.kz",
                "SABAQ_SMTP_SECURITY": "TLS", "SABAQ_SMTP_PORT": "2465"}
    )  # fmt: skip
    assert (tls.smtp_security, tls.smtp_port) == ("tls", 2465)
    with pytest.raises(ConfigError, match="SABAQ_SMTP_FROM"):
        Settings.from_env(base | {"SABAQ_SMTP_HOST": "mail.academy.kz"})
    with pytest.raises(ConfigError, match="starttls, tls or none"):
        Settings.from_env(
            base | {"SABAQ_SMTP_HOST": "m.kz", "SABAQ_SMTP_FROM": "a@b.kz",
                    "SABAQ_SMTP_SECURITY": "ssl"}
        )  # fmt: skip
    with pytest.raises(ConfigError, match="SABAQ_SMTP_PORT"):
        Settings.from_env(
            base | {"SABAQ_SMTP_HOST": "m.kz", "SABAQ_SMTP_FROM": "a@b.kz", "SABAQ_SMTP_PORT": "x"}
        )
    with pytest.raises(ConfigError, match="unencrypted"):
        Settings.from_env(
            base | {"SABAQ_SMTP_HOST": "m.kz", "SABAQ_SMTP_FROM": "a@b.kz",
                    "SABAQ_SMTP_SECURITY": "none", "SABAQ_SMTP_USER": "u"}
        )  # fmt: skip


def test_notices_are_collected_every_few_seconds_or_never() -> None:
    key = {"SABAQ_SECRET_KEY": "k" * 40}
    assert Settings.from_env(key).notice_interval_seconds == 2
    assert (
        Settings.from_env(key | {"SABAQ_NOTICE_INTERVAL_SECONDS": "0"}).notice_interval_seconds == 0
    )
    with pytest.raises(ConfigError, match="SABAQ_NOTICE_INTERVAL_SECONDS"):
        Settings.from_env(key | {"SABAQ_NOTICE_INTERVAL_SECONDS": "often"})


def test_the_metrics_token_is_long_and_never_shown() -> None:
    base = {"SABAQ_SECRET_KEY": "k" * 40}
    assert Settings.from_env(base).metrics_token == ""  # this machine only
    token = "t0k3n" * 8
    s = Settings.from_env(base | {"SABAQ_METRICS_TOKEN": f" {token} "})
    assert s.metrics_token == token
    assert token not in repr(s)
    with pytest.raises(ConfigError, match="SABAQ_METRICS_TOKEN must be at least 16"):
        Settings.from_env(base | {"SABAQ_METRICS_TOKEN": "short"})


def test_where_the_control_node_watches_a_media_node() -> None:
    base = {"SABAQ_SECRET_KEY": "k" * 40, "SABAQ_PORT": "8081"}
    assert Settings.from_env(base).watch_url == "http://127.0.0.1:8081/node/watch"
    assert watch_url("", "0.0.0.0", 8081, tls=True) == "https://127.0.0.1:8081/node/watch"
    assert watch_url("", "::", 8081, tls=False) == "http://[::1]:8081/node/watch"
    assert watch_url("", "fd00::2", 8081, tls=False) == "http://[fd00::2]:8081/node/watch"
    told = Settings.from_env(base | {"SABAQ_NODE_ADDRESS": "10.0.0.7:9001"})
    assert told.watch_url == "http://10.0.0.7:9001/node/watch"
    assert (
        Settings.from_env(base | {"SABAQ_NODE_ADDRESS": "[fd00::7]:9001"}).watch_url
        == "http://[fd00::7]:9001/node/watch"
    )
    for wrong in ("10.0.0.7", "10.0.0.7:0", "10.0.0.7:http", "fd00::7:9001", ":9001", "a b:1"):
        with pytest.raises(ConfigError, match="SABAQ_NODE_ADDRESS"):
            Settings.from_env(base | {"SABAQ_NODE_ADDRESS": wrong})
