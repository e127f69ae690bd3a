"""Settings, built from the environment in one place; tests build them directly."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from access.addresses import is_address
from access.tokens import MIN_SECRET_BYTES
from admission.documents import Limits
from control.environment import (
    MIN_METRICS_TOKEN,
    SMTP_SECURITIES,
    ConfigError,
    csv_values,
    flag,
    is_loopback,
    node_address,
    number,
    smtp,
    turn_urls,
    working_days,
    working_hours,
)
from scheduler.guarantee import GuaranteeRules


def watch_url(node_address: str, host: str, port: int, tls: bool) -> str:
    """``node_address``, or else ``host:port`` with a wildcard host read as loopback."""
    address = node_address
    if not address:
        if host in ("", "0.0.0.0"):  # noqa: S104 (a wildcard read, not bound)
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{'https' if tls else 'http'}://{address}/node/watch"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    secret_key: bytes
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Base URL the browser uses for the media node; empty means "the same origin as the page".
    media_url: str = ""
    ice_addresses: tuple[str, ...] = ()
    ice_servers: tuple[str, ...] = ()
    # coturn in REST API mode: its URLs (UDP, and TCP/TLS on 443 for networks that block UDP),
    # the shared secret (from the environment only) and how long minted credentials last.
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = field(default="", repr=False)
    turn_ttl_seconds: float = 43200.0
    node_id: str = "media-1"
    join_token_ttl: float = 120.0
    reconnect_grace_seconds: float = 60.0
    # A publisher's peer connection from which no media arrives for this long is taken for dead
    # (closed or expired without a word): its viewers are told, its page reconnects.
    publisher_silence_seconds: float = 15.0
    # How long a new speaker must be the loudest before the seminar's stage moves to them.
    active_speaker_hold_seconds: float = 1.5
    node_heartbeat_seconds: float = 5.0
    # host:port where the control node reaches this media node directly, to watch that its
    # process is alive (empty: SABAQ_HOST:SABAQ_PORT, a wildcard host read as loopback).
    node_address: str = ""
    live_refresh_seconds: float = 15.0
    recording_retention_days: float = 365.0
    held_min_live_seconds: float = 600.0
    late_after_minutes: float = 10.0
    present_percent: float = 80.0
    default_language: str = "ru"
    languages: tuple[str, ...] = field(default=("kk", "ru", "en"))
    # How often webhooks are collected and sent (0: never); hosts allowed even though they
    # are this machine or link-local (a portal on the same box).
    webhook_interval_seconds: float = 1.0
    webhook_allowed_hosts: tuple[str, ...] = ()
    # E-mail (notices, guests' invites): no host, no mail (nothing is queued). The password
    # comes from the environment only; security is starttls, tls or none.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = ""
    # How often the outbox is looked at (0: never: tests deliver themselves), and the first
    # wait after a failed try (doubling).
    smtp_interval_seconds: float = 5.0
    smtp_retry_seconds: float = 30.0
    # The address people open Sabaq at (https://sabaq.academy.kz), for links in e-mail.
    public_url: str = ""
    # How often notices are made of what happened (0: never; tests collect themselves).
    notice_interval_seconds: float = 2.0
    # How often the HR services' monthly mail is looked at (0: never; tests run it themselves).
    hr_mail_interval_seconds: float = 300.0
    # Worker processes that build reports and exports beside the media's event loop (0: worker
    # threads of this process, which still hold the interpreter's lock; control/workers.py).
    report_processes: int = 2
    # How long before a class a guest's invite opens (the lobby).
    guest_lead_seconds: float = 1800.0
    # Failed sign-ins per login and address in a window before the waits begin (five times as
    # many per address), and the first wait, doubling with further failures (per address:
    # every signin_attempts failures), at most half the window; failures are forgotten after
    # a window without one; join tokens a person may ask for in a minute.
    signin_attempts: int = 10
    signin_window_seconds: float = 300.0
    signin_wait_seconds: float = 1.0
    # How long a client may take to send a request's head (from connecting, or from the end of
    # its previous request: also how long an idle connection is kept), and then its body.
    header_timeout_seconds: float = 15.0
    body_timeout_seconds: float = 30.0
    # The documents of an excuse request: how many files, how large each and all of them.
    excuse_files: int = 5
    excuse_file_bytes: int = 5 * 1024 * 1024
    excuse_total_bytes: int = 15 * 1024 * 1024
    join_tokens_per_minute: int = 30
    # The monthly guarantee: how often it runs (0: never), and where it may plan a class; it looks
    # at every month of a study period, and at the current and this many months ahead for a
    # group whose period has no end.
    guarantee_interval_seconds: float = 900.0
    guarantee_notice_days: int = 2
    guarantee_months_ahead: int = 1
    guarantee_confirm_days: int = 3  # its proposals nobody confirmed are confirmed then
    working_days: tuple[int, ...] = (0, 1, 2, 3, 4)  # 0 = Monday
    working_hours: tuple[str, str] = ("09:00", "18:00")  # local, in each group's zone
    # A cluster (`sabaq control`, `sabaq media`) finds itself through Redis; empty: one process.
    redis_url: str = field(default="", repr=False)  # may carry a password
    node_capacity: int = 200  # participants a media node takes
    node_dead_after_seconds: float = 15.0  # silent this long (Redis reachable): declared dead
    control_lock_seconds: float = 10.0  # a killed control node's lock lapses after this
    event_buffer_events: int = 100_000  # events a media node keeps on disk while Redis is away
    # /readyz is not ready while the oldest event not yet delivered to the register is older.
    event_delay_bound_seconds: float = 30.0
    # Behind a TLS front on this machine: its X-Forwarded-Proto and X-Forwarded-For are believed
    # (from loopback peers only), so links say https, cookies are Secure, limits count clients.
    behind_proxy: bool = False
    # /metrics (Prometheus): with a token, for whoever sends it as a Bearer token; without one,
    # for clients on this machine only (never through the TLS front).
    metrics_token: str = field(default="", repr=False)
    # What time it is, for everything that asks (never from the environment): tests run the
    # server on chosen days through it.
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.excuse_files <= 20 or not (
            0 < self.excuse_file_bytes <= self.excuse_total_bytes <= 100 * 1024 * 1024
        ):
            raise ConfigError(
                "SABAQ_EXCUSE_FILES is 1 to 20, and SABAQ_EXCUSE_FILE_BYTES is at most"
                " SABAQ_EXCUSE_TOTAL_BYTES, itself at most 100 MB"
            )
        if len(self.secret_key) < MIN_SECRET_BYTES:
            raise ConfigError(f"SABAQ_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes long")
        if not is_loopback(self.host) and not (self.tls_cert and self.tls_key):
            raise ConfigError(
                f"Serving on {self.host} needs HTTPS: browsers give camera and microphone only"
                " to secure pages. Set SABAQ_TLS_CERT and SABAQ_TLS_KEY, or bind to 127.0.0.1."
            )

        if self.smtp_host:
            if self.smtp_security not in SMTP_SECURITIES:
                raise ConfigError(
                    f"SABAQ_SMTP_SECURITY is starttls, tls or none, not {self.smtp_security!r}"
                )
            if not is_address(self.smtp_from):
                raise ConfigError(
                    "SABAQ_SMTP_HOST is set: SABAQ_SMTP_FROM must be the address mail is sent"
                    f" from (like sabaq@academy.kz), not {self.smtp_from!r}"
                )
            if self.smtp_user and self.smtp_security == "none" and not is_loopback(self.smtp_host):
                raise ConfigError(
                    "SABAQ_SMTP_USER would send its password unencrypted to"
                    f" {self.smtp_host}: set SABAQ_SMTP_SECURITY to starttls or tls"
                )

        if self.metrics_token and len(self.metrics_token) < MIN_METRICS_TOKEN:
            raise ConfigError(
                f"SABAQ_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN} characters long"
                " (generate one with `openssl rand -hex 32`)"
            )

        if self.public_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", self.public_url):
            raise ConfigError(
                f"SABAQ_PUBLIC_URL is the address people open Sabaq at, like"
                f" https://sabaq.academy.kz, not {self.public_url!r}"
            )

    @property
    def mail_enabled(self) -> bool:
        return bool(self.smtp_host)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "sabaq.sqlite3"

    @property
    def heads_dir(self) -> Path:
        """Published chain heads; copy this folder elsewhere (see README)."""
        return self.data_dir / "chain-heads"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def document_limits(self) -> Limits:
        return Limits(self.excuse_files, self.excuse_file_bytes, self.excuse_total_bytes)

    @property
    def documents_dir(self) -> Path:
        """The excuse requests' documents (outside the static files; served only through the
        policy)."""
        return self.data_dir / "excuse-documents"

    @property
    def guarantee_rules(self) -> GuaranteeRules:
        """The monthly guarantee's rules: where and how far ahead it may plan a class."""
        start, end = (dt.time.fromisoformat(t) for t in self.working_hours)
        return GuaranteeRules(
            working_days=frozenset(self.working_days),
            day_starts=start,
            day_ends=end,
            notice_days=self.guarantee_notice_days,
            months_ahead=self.guarantee_months_ahead,
            confirm_days=self.guarantee_confirm_days,
        )

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def watch_url(self) -> str:
        """Where the control node watches this media node's process (``GET /node/watch`` on
        its own address, not through a proxy: the answer must come from the process itself)."""
        return watch_url(self.node_address, self.host, self.port, self.tls)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        secret = env.get("SABAQ_SECRET_KEY", "")
        if not secret:
            raise ConfigError(
                "SABAQ_SECRET_KEY is not set. Generate one with"
                " `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
        try:
            port = int(env.get("SABAQ_PORT", "8080"))
        except ValueError:
            raise ConfigError("SABAQ_PORT must be a whole number") from None
        cert, key = env.get("SABAQ_TLS_CERT"), env.get("SABAQ_TLS_KEY")
        return cls(
            data_dir=Path(env.get("SABAQ_DATA_DIR", "data")),
            secret_key=secret.encode(),
            host=env.get("SABAQ_HOST", "127.0.0.1"),
            port=port,
            tls_cert=Path(cert) if cert else None,
            tls_key=Path(key) if key else None,
            media_url=env.get("SABAQ_MEDIA_URL", ""),
            ice_addresses=csv_values(env.get("SABAQ_ICE_ADDRESSES", "")),
            ice_servers=csv_values(env.get("SABAQ_ICE_SERVERS", "")),
            turn_urls=turn_urls(env),
            turn_secret=env.get("SABAQ_TURN_SECRET", ""),
            turn_ttl_seconds=number(env, "SABAQ_TURN_TTL_SECONDS", 43200),
            node_id=env.get("SABAQ_NODE_ID", "media-1"),
            held_min_live_seconds=number(env, "SABAQ_HELD_MIN_LIVE_SECONDS", 600, zero=True),
            late_after_minutes=number(env, "SABAQ_LATE_AFTER_MINUTES", 10, zero=True),
            present_percent=number(env, "SABAQ_PRESENT_PERCENT", 80),
            reconnect_grace_seconds=number(env, "SABAQ_RECONNECT_GRACE_SECONDS", 60, zero=True),
            publisher_silence_seconds=number(env, "SABAQ_PUBLISHER_SILENCE_SECONDS", 15),
            active_speaker_hold_seconds=number(
                env, "SABAQ_ACTIVE_SPEAKER_HOLD_SECONDS", 1.5, zero=True
            ),
            node_heartbeat_seconds=number(env, "SABAQ_NODE_HEARTBEAT_SECONDS", 5),
            node_address=node_address(env.get("SABAQ_NODE_ADDRESS", "")),
            recording_retention_days=number(env, "SABAQ_RECORDING_RETENTION_DAYS", 365),
            default_language=env.get("SABAQ_DEFAULT_LANGUAGE", "ru"),
            webhook_interval_seconds=number(env, "SABAQ_WEBHOOK_INTERVAL_SECONDS", 1, zero=True),
            notice_interval_seconds=number(env, "SABAQ_NOTICE_INTERVAL_SECONDS", 2, zero=True),
            hr_mail_interval_seconds=number(env, "SABAQ_HR_MAIL_INTERVAL_SECONDS", 300, zero=True),
            report_processes=int(number(env, "SABAQ_REPORT_PROCESSES", 2, zero=True)),
            guest_lead_seconds=number(env, "SABAQ_GUEST_LEAD_SECONDS", 1800, zero=True),
            signin_attempts=int(number(env, "SABAQ_SIGNIN_ATTEMPTS", 10)),
            signin_window_seconds=number(env, "SABAQ_SIGNIN_WINDOW_SECONDS", 300),
            signin_wait_seconds=number(env, "SABAQ_SIGNIN_WAIT_SECONDS", 1),
            header_timeout_seconds=number(env, "SABAQ_HEADER_TIMEOUT_SECONDS", 15),
            body_timeout_seconds=number(env, "SABAQ_BODY_TIMEOUT_SECONDS", 30),
            excuse_files=int(number(env, "SABAQ_EXCUSE_FILES", 5)),
            excuse_file_bytes=int(number(env, "SABAQ_EXCUSE_FILE_BYTES", 5 * 1024 * 1024)),
            excuse_total_bytes=int(number(env, "SABAQ_EXCUSE_TOTAL_BYTES", 15 * 1024 * 1024)),
            join_tokens_per_minute=int(number(env, "SABAQ_JOIN_TOKENS_PER_MINUTE", 30)),
            guarantee_interval_seconds=number(
                env, "SABAQ_GUARANTEE_INTERVAL_SECONDS", 900, zero=True
            ),
            guarantee_notice_days=int(number(env, "SABAQ_GUARANTEE_NOTICE_DAYS", 2, zero=True)),
            guarantee_months_ahead=int(number(env, "SABAQ_GUARANTEE_MONTHS_AHEAD", 1, zero=True)),
            guarantee_confirm_days=int(number(env, "SABAQ_GUARANTEE_CONFIRM_DAYS", 3, zero=True)),
            working_days=working_days(env.get("SABAQ_WORKING_DAYS", "0,1,2,3,4")),
            working_hours=working_hours(env.get("SABAQ_WORKING_HOURS", "09:00-18:00")),
            redis_url=env.get("REDIS_URL", ""),
            node_capacity=int(number(env, "SABAQ_NODE_CAPACITY", 200)),
            node_dead_after_seconds=number(env, "SABAQ_NODE_DEAD_AFTER_SECONDS", 15),
            control_lock_seconds=number(env, "SABAQ_CONTROL_LOCK_SECONDS", 10),
            event_buffer_events=int(number(env, "SABAQ_EVENT_BUFFER_EVENTS", 100000)),
            event_delay_bound_seconds=number(env, "SABAQ_EVENT_DELAY_BOUND_SECONDS", 30),
            behind_proxy=flag(env, "SABAQ_BEHIND_PROXY"),
            metrics_token=env.get("SABAQ_METRICS_TOKEN", "").strip(),
            smtp_interval_seconds=number(env, "SABAQ_SMTP_INTERVAL_SECONDS", 5, zero=True),
            smtp_retry_seconds=number(env, "SABAQ_SMTP_RETRY_SECONDS", 30),
            public_url=env.get("SABAQ_PUBLIC_URL", "").strip(),
            **smtp(env),
        )
