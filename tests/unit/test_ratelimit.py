"""Sliding-window rate limiter, driven by a fake clock (no sleeping)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from services.common import ratelimit
from services.common.errors import RateLimited
from services.common.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


def test_allows_up_to_the_limit_then_refuses(clock):
    limiter = RateLimiter(limit=3, window_seconds=60)
    for _ in range(3):
        limiter.check("1.2.3.4", "posts")
    with pytest.raises(RateLimited):
        limiter.check("1.2.3.4", "posts")


def test_limit_is_per_key(clock):
    limiter = RateLimiter(limit=2, window_seconds=60)
    limiter.check("a", "posts")
    limiter.check("a", "posts")
    limiter.check("b", "posts")
    limiter.check("b", "posts")
    with pytest.raises(RateLimited):
        limiter.check("a", "posts")
    with pytest.raises(RateLimited):
        limiter.check("b", "posts")


@pytest.mark.parametrize(("elapsed", "retry_after"), [(0.0, 60), (0.5, 60), (30.0, 30), (59.2, 1), (59.9999, 1)])
def test_retry_after_is_the_whole_seconds_until_a_slot_frees_and_at_least_one(clock, elapsed, retry_after):
    limiter = RateLimiter(limit=1, window_seconds=60)
    limiter.check("k", "logins")
    clock.now += elapsed
    with pytest.raises(RateLimited) as caught:
        limiter.check("k", "logins")
    assert caught.value.retry_after == retry_after
    assert caught.value.retry_after >= 1 and isinstance(caught.value.retry_after, int)
    assert caught.value.status == 429


def test_window_slides_one_hit_at_a_time(clock):
    limiter = RateLimiter(limit=2, window_seconds=60)
    limiter.check("k", "posts")        # t=0
    clock.now += 30
    limiter.check("k", "posts")        # t=30
    clock.now += 29.9                  # t=59.9: both still in the window
    with pytest.raises(RateLimited):
        limiter.check("k", "posts")
    clock.now += 0.1                   # t=60: the first hit leaves the window
    limiter.check("k", "posts")
    with pytest.raises(RateLimited) as caught:   # t=60: hits at 30 and 60
        limiter.check("k", "posts")
    assert caught.value.retry_after == 30


def test_refused_attempts_do_not_extend_the_block(clock):
    limiter = RateLimiter(limit=1, window_seconds=10)
    limiter.check("k", "posts")
    for _ in range(5):
        clock.now += 1
        with pytest.raises(RateLimited):
            limiter.check("k", "posts")
    clock.now += 5                     # t=10: the only counted hit has left the window
    limiter.check("k", "posts")


def test_message_names_the_action_but_never_the_key(clock):
    limiter = RateLimiter(limit=1, window_seconds=60)
    limiter.check("203.0.113.7", "login attempts")
    with pytest.raises(RateLimited) as caught:
        limiter.check("203.0.113.7", "login attempts")
    assert "login attempts" in str(caught.value)
    assert "203.0.113.7" not in str(caught.value)


def test_idle_keys_are_forgotten_once_the_table_is_large(clock):
    limiter = RateLimiter(limit=5, window_seconds=60)
    for i in range(100_000):
        limiter.check(f"old-{i}", "posts")
    clock.now += 61
    limiter.check("fresh-1", "posts")
    limiter.check("fresh-2", "posts")
    assert set(limiter._hits) == {"fresh-1", "fresh-2"}
