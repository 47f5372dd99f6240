"""In-memory sliding-window rate limiter.

Keys may be client IP addresses: they live only here, in memory, for the
length of a window, and never reach a table or a log (docs/security.md, privacy).
One limiter per app instance (no process globals); a multi-instance
deployment limits per instance, which is the documented trade-off.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from services.common.errors import RateLimited


@dataclass
class RateLimiter:
    limit: int
    window_seconds: float
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, key: str, what: str) -> None:
        """Count a hit for ``key``; raise :class:`RateLimited` with Retry-After when over the limit."""
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_seconds:
            hits.popleft()
        if len(hits) >= self.limit:
            retry = max(1, math.ceil(hits[0] + self.window_seconds - now))
            raise RateLimited(f"too many {what}; try again in {retry}s", retry_after=retry)
        hits.append(now)
        if len(self._hits) > 100_000:
            self._evict(now)

    def _evict(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_seconds]:
            del self._hits[key]

    def over(self, key: str) -> int | None:
        """Seconds until ``key`` is under the limit again, or None when it is not over it (counts nothing)."""
        now = time.monotonic()
        hits = self._hits.get(key)
        while hits and hits[0] <= now - self.window_seconds:
            hits.popleft()
        if hits is None or len(hits) < self.limit:
            return None
        return max(1, math.ceil(hits[0] + self.window_seconds - now))

    def add(self, key: str) -> float:
        """Count a hit for ``key`` without refusing it; returns its stamp (for :meth:`release`)."""
        now = time.monotonic()
        self._hits.setdefault(key, deque()).append(now)
        if len(self._hits) > 100_000:
            self._evict(now)
        return now

    def release(self, key: str, stamp: float) -> None:
        """Un-count one hit counted at ``stamp`` (an attempt that turned out not to count)."""
        hits = self._hits.get(key)
        if hits is not None:
            try:
                hits.remove(stamp)
            except ValueError:
                pass


@dataclass(frozen=True)
class LoginAttempt:
    handle: str
    address: str
    address_stamp: float
    pair_stamp: float


@dataclass
class LoginGuard:
    """Limits on password guessing that a stranger cannot turn into a lock-out.

    Only **failed** logins count, in three places:

    * per (handle, client address), ``AUTH_ATTEMPTS_PER_MINUTE``: one address guessing one handle is
      refused (429, before the password is checked) after that many failures in a minute;
    * per client address, the same limit: one address spraying many handles is refused;
    * per handle from every address, ``AUTH_FAILURES_PER_HANDLE_PER_HOUR`` (higher): a guess spread over
      many addresses. Over it, the handle is closed (429, password not checked) to addresses that have
      **not** signed in to it successfully within ``KNOWN_LOGIN_ADDRESS_DAYS``; the owner at an address
      they used before still signs in (their own typos count per pair, as anyone's).

    A success counts nothing and gives back the slots its attempt reserved. Slots are reserved
    *before* the password is checked, so a burst of concurrent guesses cannot overrun a limit.
    Never refusing a correct password outright would tell a guesser which guess was right (200 vs
    429), so over the per-handle limit an unknown address is refused whatever it sends.
    Known addresses are kept as keyed digests (a per-process random key), in memory only.
    """

    per_pair: RateLimiter
    per_address: RateLimiter
    per_handle: RateLimiter
    known_seconds: float
    max_known: int = 100_000
    _known: dict[bytes, float] = field(default_factory=dict)
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @classmethod
    def create(cls, *, failures_per_minute: int, handle_failures_per_hour: int,
               known_address_days: float) -> "LoginGuard":
        return cls(per_pair=RateLimiter(failures_per_minute, 60), per_address=RateLimiter(failures_per_minute, 60),
                   per_handle=RateLimiter(handle_failures_per_hour, 3600), known_seconds=known_address_days * 86400)

    def begin(self, handle: str, address: str) -> LoginAttempt:
        """Before checking a password: raise :class:`RateLimited`, or reserve this attempt's slots."""
        handle = handle.lower()
        retry = self.per_handle.over(f"handle:{handle}")
        if retry is not None and not self._is_known(handle, address):
            raise RateLimited(f"too many login attempts; try again in {retry}s", retry_after=retry)
        address_stamp = self._reserve(self.per_address, f"addr:{address}")
        try:
            pair_stamp = self._reserve(self.per_pair, self._pair(handle, address))
        except RateLimited:
            self.per_address.release(f"addr:{address}", address_stamp)
            raise
        return LoginAttempt(handle, address, address_stamp, pair_stamp)

    def failed(self, attempt: LoginAttempt) -> None:
        self.per_handle.add(f"handle:{attempt.handle}")

    def abandon(self, attempt: LoginAttempt) -> None:
        """The attempt reached no verdict on the password: give its slots back."""
        self.per_address.release(f"addr:{attempt.address}", attempt.address_stamp)
        self.per_pair.release(self._pair(attempt.handle, attempt.address), attempt.pair_stamp)

    def succeeded(self, attempt: LoginAttempt) -> None:
        self.abandon(attempt)
        now = time.monotonic()
        if len(self._known) >= self.max_known:
            self._known = {k: v for k, v in self._known.items() if v > now}
            while len(self._known) >= self.max_known:  # still full: forget the oldest
                del self._known[next(iter(self._known))]
        key = self._digest(attempt.handle, attempt.address)
        self._known.pop(key, None)
        self._known[key] = now + self.known_seconds

    def known_keys(self) -> list[str]:
        return [k.hex() for k in self._known]

    def _is_known(self, handle: str, address: str) -> bool:
        expiry = self._known.get(self._digest(handle, address))
        return expiry is not None and expiry > time.monotonic()

    def _pair(self, handle: str, address: str) -> str:
        return f"pair:{handle}\x00{address}"

    def _digest(self, handle: str, address: str) -> bytes:
        return hmac.new(self._secret, f"{handle}\x00{address}".encode(), hashlib.sha256).digest()[:16]

    @staticmethod
    def _reserve(limiter: RateLimiter, key: str) -> float:
        limiter.check(key, "login attempts")
        return limiter._hits[key][-1]
