"""Rules that need no network: tokens, passwords, the ledger's chain, reports, settings."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from access.errors import TokenExpired, TokenInvalid, TokenWrongClass
from access.events import MEDIA_KINDS, EventKind
from access.ids import uuid7
from access.models import ClassRole
from access.passwords import Passwords
from access.tokens import TokenSigner
from attendance.models import IncomingEvent
from attendance.presence import held, intervals_by_user, seconds_present
from attendance.sqlite_ledger import SqliteLedger
from scheduler.errors import InvalidTransition
from scheduler.models import ClassStatus, check_transition
from streaming.redis_events import decode
from web.core.database import MIGRATIONS, connect, migrate
from web.core.i18n import load_catalogues, negotiate
from web.core.ratelimit import Backoff, RateLimiter, address_key
from web.core.settings import ConfigError, Settings


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(secrets.token_bytes(32))


def test_join_token_round_trip_and_refusals(signer: TokenSigner) -> None:
    token = signer.mint_join(
        user_id=7, class_id=3, role=ClassRole.LEARNER, display_name="Д", media_url="u"
    )
    claims = signer.verify_join(token, class_id=3)
    assert (claims.user_id, claims.class_id, claims.role) == (7, 3, ClassRole.LEARNER)
    with pytest.raises(TokenWrongClass):
        signer.verify_join(token, class_id=4)
    with pytest.raises(TokenInvalid):
        TokenSigner(secrets.token_bytes(32)).verify_join(token, class_id=3)
    # A sign-in token never passes for a join token, nor the reverse.
    with pytest.raises(TokenInvalid, match="not a join token"):
        signer.verify_join(signer.mint_signin(user_id=7, ttl=60), class_id=3)
    with pytest.raises(TokenInvalid):
        signer.verify_signin(token)
    expired = signer.mint_join(
        user_id=7, class_id=3, role=ClassRole.LEARNER, display_name="Д", media_url="u", ttl=-1
    )
    with pytest.raises(TokenExpired):
        signer.verify_join(expired, class_id=3)


def test_tokens_are_minted_and_judged_by_the_injected_clock() -> None:
    """A server whose clock says 29 February 2028 accepts the tokens it minted then, and
    refuses them once its clock has passed their end, whatever the wall clock says."""
    now = [datetime(2028, 2, 29, 23, 59, tzinfo=UTC).timestamp()]
    signer = TokenSigner(secrets.token_bytes(32), clock=lambda: now[0])
    token = signer.mint_signin(user_id=7, ttl=120)
    assert signer.verify_signin(token).user_id == 7
    now[0] += 119
    assert signer.verify_signin(token).user_id == 7
    now[0] += 1
    with pytest.raises(TokenExpired):
        signer.verify_signin(token)
    now[0] -= 3600  # minted in what is, for this clock, the future
    with pytest.raises(TokenInvalid, match="not yet valid"):
        signer.verify_signin(token)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenSigner(b"short")


def test_passwords() -> None:
    pw = Passwords()
    h = pw.hash("correct horse battery")
    assert h.startswith("$argon2id$")
    assert pw.verify(h, "correct horse battery")
    assert not pw.verify(h, "wrong horse battery")
    assert not pw.verify("not a hash", "x")
    with pytest.raises(ValueError, match="at least"):
        pw.hash("short")


def test_uuid7_is_time_ordered_and_versioned() -> None:
    a, b = uuid7(1_000), uuid7(2_000)
    assert a.version == 7 and a.variant == "specified in RFC 4122"
    assert a < b


def _event(kind: EventKind, user: int | None, t: float, class_id: int = 1) -> IncomingEvent:
    return IncomingEvent(
        id=str(uuid7()), kind=kind, class_id=class_id, node="n", node_seq=0, origin_time=t,
        user_id=user, role="learner",
    )  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "t.sqlite3")


def test_the_one_event_vocabulary_keeps_the_values_stored_in_chains() -> None:
    # The kinds are hashed into every chain already written: a renamed value would fail the
    # verification of those chains.
    assert {k.name: k.value for k in EventKind} == {
        "CLASS_STARTED": "class_started",
        "CLASS_ENDED": "class_ended",
        "JOINED": "joined",
        "LEFT": "left",
        "DISCONNECTED": "disconnected",
        "RECONNECTED": "reconnected",
        "REMOVED": "removed",
        "RECORDING_STARTED": "recording_started",
        "RECORDING_STOPPED": "recording_stopped",
        "CHAT_MESSAGE": "chat_message",
        "MARK_OVERRIDDEN": "mark_overridden",
        "LOBBY_ENTERED": "lobby_entered",
        "LOBBY_ADMITTED": "lobby_admitted",
    }


def test_a_media_node_reports_only_the_media_kinds() -> None:
    # A kind the control plane records itself, arriving from the media plane, is not an event.
    assert {EventKind.MARK_OVERRIDDEN, EventKind.LOBBY_ENTERED} & MEDIA_KINDS == set()
    doc = {
        "id": str(uuid7()), "class_id": 1, "node": "n", "seq": 1, "origin_time": 1.0,
        "user_id": 2, "participant_id": None, "role": None, "data": {},
    }  # fmt: skip
    for kind in EventKind:
        fields = {"event": json.dumps({**doc, "kind": kind.value})}
        if kind in MEDIA_KINDS:
            assert decode(fields).kind is kind
        else:
            with pytest.raises(ValueError, match="not an event a media node reports"):
                decode(fields)
    with pytest.raises(ValueError, match="not a valid EventKind"):
        decode({"event": json.dumps({**doc, "kind": "teleported"})})


def test_ledger_is_idempotent_chained_and_append_only(db: sqlite3.Connection) -> None:
    ledger = SqliteLedger(db)
    e1 = _event(EventKind.JOINED, 5, 100.0)
    first, new = ledger.append(e1)
    again, new_again = ledger.append(e1)
    assert new and not new_again and again == first
    ledger.append(_event(EventKind.LEFT, 5, 160.0))
    ledger.append(_event(EventKind.JOINED, 9, 100.0, class_id=2))
    assert len(ledger.events(1)) == 2
    assert ledger.events(1)[1].prev_hash == first.hash
    assert ledger.verify(1) is None
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE ledger_events SET origin_time = 0")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM ledger_events")


def test_ledger_verify_names_the_first_broken_link(db: sqlite3.Connection) -> None:
    ledger = SqliteLedger(db)
    for t in (1.0, 2.0, 3.0):
        ledger.append(_event(EventKind.JOINED, 5, t))
    # Whoever holds the file drops the triggers and rewrites history...
    db.executescript(
        "DROP TRIGGER ledger_events_no_update;"
        "UPDATE ledger_events SET origin_time = 99 WHERE seq = 2;"
    )
    broken = ledger.verify(1)
    assert broken is not None and broken.seq == 2 and "content" in broken.reason


def test_report_lists_absentees_and_merges_second_tabs(db: sqlite3.Connection) -> None:
    ledger = SqliteLedger(db)
    for ev in [
        _event(EventKind.JOINED, 1, 0.0),
        _event(EventKind.JOINED, 1, 10.0),  # a second tab: not a second person
        _event(EventKind.LEFT, 1, 600.0),
        _event(EventKind.JOINED, 2, 60.0),
        _event(EventKind.CLASS_ENDED, None, 1200.0),
    ]:
        ledger.append(ev)
    rows = intervals_by_user(ledger.events(1))
    assert [(i.start, i.end) for i in rows[1]] == [(0.0, 600.0)]
    assert rows[2][-1].end == 1200.0  # closed by the class's end, not left running
    assert seconds_present(rows[2], now=5000.0) == 1140.0
    assert 3 not in rows
    events = ledger.events(1)
    assert held(events, [1, 2, 3], [1], min_live_seconds=600, now=2000.0)
    assert not held(events, [1, 2, 3], [1], min_live_seconds=601, now=2000.0)
    assert not held(events, [3], [1], min_live_seconds=1, now=2000.0)
    # Two hosts (the teacher and a presenting guest) there at once count that time once:
    # user 1 from 0 to 600 and user 2 from 60 to 1200 make 1200 s, not 1740.
    assert held(events, [1], [1, 2], min_live_seconds=1200, now=2000.0)
    assert not held(events, [1], [1, 2], min_live_seconds=1201, now=2000.0)


def test_status_transitions() -> None:
    check_transition(ClassStatus.PLANNED, ClassStatus.LIVE)
    with pytest.raises(InvalidTransition, match='"held" to "live"'):
        check_transition(ClassStatus.HELD, ClassStatus.LIVE)


def test_migrations_apply_once_in_order(db: sqlite3.Connection) -> None:
    assert migrate(db) == []
    names = [r[0] for r in db.execute("SELECT name FROM schema_migrations ORDER BY position")]
    assert names == [n for n, _ in MIGRATIONS]
    db.execute("INSERT INTO schema_migrations VALUES ('zz_future', 999, 0)")
    db.commit()
    with pytest.raises(RuntimeError, match="newer Sabaq"):
        migrate(db)


def test_settings_need_a_secret_and_tls_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SABAQ_SECRET_KEY is not set"):
        Settings.from_env({})
    with pytest.raises(ConfigError, match="at least 32"):
        Settings.from_env({"SABAQ_SECRET_KEY": "short"})
    with pytest.raises(ConfigError, match="HTTPS"):
        Settings.from_env({"SABAQ_SECRET_KEY": "k" * 40, "SABAQ_HOST": "0.0.0.0"})
    s = Settings.from_env({"SABAQ_SECRET_KEY": "k" * 40, "SABAQ_ICE_ADDRESSES": "127.0.0.1, ::1"})
    assert s.ice_addresses == ("127.0.0.1", "::1") and s.ice_servers == ()


def test_language_negotiation_and_catalogues() -> None:
    assert negotiate("kk-KZ,ru;q=0.8,en;q=0.5", ("kk", "ru", "en")) == "kk"
    assert negotiate("de, en;q=0.1, ru;q=0.9", ("kk", "ru", "en")) == "ru"
    assert negotiate("de", ("kk", "ru", "en")) is None
    assert negotiate("ru;q=abc, en", ("ru", "en")) == "en"
    cats = load_catalogues()
    assert cats["ru"].gettext("Sign in") == "Войти"
    assert cats["kk"].gettext("Sign in") == "Кіру"
    assert cats["en"].gettext("Sign in") == "Sign in"


def test_sessions_expire(db: sqlite3.Connection) -> None:
    from access.models import Role
    from access.sqlite_store import SqliteAccounts

    accounts = SqliteAccounts(db)
    user = accounts.create_user(login="a.b", full_name="А Б", role=Role.STUDENT)
    token, _ = accounts.open_session(user.id, ttl=-1)
    assert accounts.session(token) is None
    token, _ = accounts.open_session(user.id)
    session = accounts.session(token)
    assert session is not None and session.user == user and session.expires_at > time.time()
    accounts.close_session(token)
    assert accounts.session(token) is None


def test_a_rate_limit_is_a_sliding_window_that_never_forgets_a_blocked_key() -> None:
    limiter = RateLimiter(3, 10.0, max_keys=2)
    assert [limiter.hit("a", t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    assert limiter.hit("a", 3.0) == pytest.approx(7.0)  # the first hit leaves the window at 10
    assert limiter.blocked("a", 3.0) == pytest.approx(7.0)  # asking counts nothing
    assert limiter.hit("a", 10.0) is None  # it has left
    assert limiter.blocked("a", 10.0) == pytest.approx(1.0)  # 1, 2 and 10 are in the window
    # A flood of new keys pushes the table past its bound: quiet keys go, the blocked one stays.
    for i in range(50):
        assert limiter.hit(f"flood-{i}", 10.2) is None
    assert limiter.hit("a", 10.5) == pytest.approx(0.5)
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") == "2001:db8::/64"
    assert address_key("127.0.0.1") == "127.0.0.1"


def test_failed_sign_ins_wait_longer_and_longer_after_the_free_ones() -> None:
    backoff = Backoff(3, 300.0, base=1.0, max_keys=2)
    for t in (0.0, 1.0, 2.0):
        assert backoff.blocked("a", t) is None
        backoff.fail("a", t)
    # After the free failures: a wait from the last, doubling with each further failure...
    waits = []
    t = 2.0
    for _ in range(5):
        wait = backoff.blocked("a", t)
        assert wait is not None
        waits.append(wait)
        assert backoff.hit("a", t) == wait  # asking while waiting counts nothing
        t += wait
        assert backoff.hit("a", t) is None  # a failure once the wait is over
    assert waits == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0])
    # ...up to half the window, and hammering on at that pace stays that slow.
    for _ in range(20):
        t += backoff.blocked("a", t) or 0.0
        backoff.fail("a", t)
    assert backoff.blocked("a", t) == pytest.approx(150.0)
    # A failure taken back (the password was right) is not one.
    backoff.fail("b", 0.0)
    backoff.undo("b")
    backoff.fail("b", 0.1)
    backoff.fail("b", 0.2)
    assert backoff.blocked("b", 0.3) is None
    # A flood of new keys does not set a waiting key free; a window of quiet does.
    for i in range(50):
        backoff.fail(f"flood-{i}", t)
    assert backoff.blocked("a", t) == pytest.approx(150.0)
    assert backoff.blocked("a", t + 300.0) is None and backoff.failures("a", t + 300.0) == 0
    # Per address the waits double every ten failures, so a classroom's typos cost seconds.
    per_address = Backoff(50, 300.0, doubling=10)
    for n in range(60):
        per_address.fail("nat", float(n) * 0.01)
    assert per_address.blocked("nat", 0.6) == pytest.approx(1.99, abs=0.01)
