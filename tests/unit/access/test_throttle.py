"""Rate limits and the growing wait after failed sign-ins, by an explicit clock."""

from __future__ import annotations

import pytest

from access.throttle import Backoff, RateLimiter, address_key


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
