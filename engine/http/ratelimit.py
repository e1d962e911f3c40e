"""Proactive per-connection rate limiters: a call waits before it is sent instead of earning a 429.

Each Connection owns its limiter, so one region's quota or outage never slows another. Both kinds
are thread-safe: the wait is computed and the slot reserved under a lock, then slept outside it,
so concurrent callers queue fairly without holding the lock while sleeping.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from engine.registry import Registry

RATE_LIMITS = Registry("rate_limit")


class Limiter:
    """Interface: `acquire()` before each attempt, `observe()` after each answer, `penalize()`
    when the server refused a request as over the limit."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    _blocked_until = 0.0

    def acquire(self) -> float:  # returns the seconds waited, for stats
        return 0.0

    def acquire_for(self, op: str | None) -> float:
        """`acquire` for one named operation (a limiter that counts cost per operation uses it)."""
        return self.acquire()

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        pass

    def observe_body(self, op: str | None, body: Any) -> None:
        """After `observe`: a limiter whose quota the answer body reports reads it here."""

    def retry_wait(self) -> float | None:
        """After a refused answer: the seconds the quota needs, when the limiter knows them."""
        return None

    def penalize(self, seconds: float) -> None:
        """Hold every caller of this connection back for `seconds` (the caller that got the 429
        sleeps the same time itself, so it does not wait twice)."""
        self._blocked_until = max(self._blocked_until, self.clock() + seconds)

    def budget(self) -> tuple[float, float] | None:
        """(requests per second, burst) this limiter allows now, for a budget shared by several
        processes (see SharedLimiter); None when there is no limit."""
        return None

    def _wait_block(self) -> float:
        wait = self._blocked_until - self.clock()
        if wait > 0:
            self.sleep(wait)
            return wait
        return 0.0


@RATE_LIMITS.register(
    "none",
    options_schema={"type": "object", "properties": {"kind": {"const": "none"}}, "additionalProperties": False},
    doc="No client-side limit.",
)
class NoLimit(Limiter):
    def __init__(self, options: dict, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.clock, self.sleep = clock, sleep

    def acquire(self) -> float:
        return self._wait_block()


# The token bucket's own options, shared by the kinds built on it.
_BUCKET_OPTIONS = {
    "rate": {"type": "number", "exclusiveMinimum": 0, "description": "Requests allowed per `per_seconds`."},
    "per_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 1,
                    "description": "Length of the window `rate` is counted over, in seconds."},
    "burst": {"type": "integer", "minimum": 1, "description": "Bucket capacity; default = rate."},
}


@RATE_LIMITS.register(
    "token_bucket",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "token_bucket"},
            **_BUCKET_OPTIONS,
            "max_concurrent": {"type": "integer", "minimum": 1,
                               "description": "At most this many requests of the connection in flight at once "
                                              "(a platform that refuses more concurrent calls); unset: no cap."},
        },
        "required": ["kind", "rate"],
        "additionalProperties": False,
    },
    doc="Classic token bucket: `rate` tokens per `per_seconds`, at most `burst` saved up; optionally at most "
        "`max_concurrent` requests in flight.",
)
class TokenBucket(Limiter):
    def __init__(self, options: dict, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.rate = float(options["rate"]) / float(options.get("per_seconds", 1))
        self.capacity = float(options.get("burst", options["rate"]))
        self.clock, self.sleep = clock, sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()
        # A slot is taken before the token and given back by observe(), which the client calls once
        # per acquire() whatever the outcome (an answer, a transport error, an auth failure).
        cap = options.get("max_concurrent")
        self._slots = threading.BoundedSemaphore(int(cap)) if cap else None

    def budget(self) -> tuple[float, float] | None:
        return self.rate, self.capacity

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def acquire(self) -> float:
        blocked = self._wait_block()
        queued = 0.0
        if self._slots is not None and not self._slots.acquire(blocking=False):
            started = self.clock()
            self._slots.acquire()
            queued = max(0.0, self.clock() - started)
        with self._lock:
            self._refill(self.clock())
            # Tokens may go negative: that is a reservation, and the caller sleeps it off.
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self.sleep(wait)
        return blocked + queued + wait

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        if self._slots is not None:
            try:
                self._slots.release()
            except ValueError:  # more observe() than acquire() calls: nothing is held
                pass


_CALL_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@RATE_LIMITS.register(
    "leaky_bucket_header",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "leaky_bucket_header"},
            "bucket_size": {"type": "integer", "minimum": 1, "description": "Bucket capacity."},
            "leak_per_second": {"type": "number", "exclusiveMinimum": 0, "description": "Drain rate (Standard: 2)."},
            "header": {
                "type": "string",
                "description": "Response header carrying `used/size`; corrects the local model.",
            },
            "headroom": {
                "type": "integer",
                "minimum": 0,
                "default": 2,
                "description": "Slots kept free for clock drift and other clients of the same app.",
            },
            "leak_follows_size": {
                "type": "boolean",
                "default": False,
                "description": "The platform drains a larger bucket faster, in proportion (a plan with ten "
                               "times the bucket leaks ten times faster): when the header reports another "
                               "size, the leak rate scales with it.",
            },
        },
        "required": ["kind", "bucket_size", "leak_per_second", "header"],
        "additionalProperties": False,
    },
    doc="Leaky bucket modelled locally and corrected from a `used/size` response header.",
)
class LeakyBucketHeader(Limiter):
    def __init__(self, options: dict, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.size = int(options["bucket_size"])
        self.leak = float(options["leak_per_second"])
        self.header = str(options["header"])
        self.headroom = int(options.get("headroom", 2))
        self.leak_per_slot = self.leak / self.size if options.get("leak_follows_size") else None
        self.clock, self.sleep = clock, sleep
        self._level = 0.0
        self._stamp = clock()
        self._in_flight = 0
        self._lock = threading.Lock()

    def budget(self) -> tuple[float, float] | None:
        return self.leak, float(max(1, self.size - self.headroom))

    @property
    def level(self) -> float:
        with self._lock:
            self._drain(self.clock())
            return self._level

    def _drain(self, now: float) -> None:
        self._level = max(0.0, self._level - (now - self._stamp) * self.leak)
        self._stamp = now

    def acquire(self) -> float:
        blocked = self._wait_block()
        with self._lock:
            now = self.clock()
            self._drain(now)
            limit = max(1, self.size - self.headroom)
            # Reserve the slot now (the level may exceed the limit: later callers queue behind).
            self._level += 1
            self._in_flight += 1
            wait = max(0.0, (self._level - limit) / self.leak)
        if wait > 0:
            self.sleep(wait)
        return blocked + wait

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        value = _header(headers, self.header)
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            match = _CALL_LIMIT.match(value) if value else None
            if not match:
                return
            used, size = int(match.group(1)), int(match.group(2))
            self._drain(self.clock())
            self.size = size  # the plan may differ from the spec (Plus stores have larger buckets)
            if self.leak_per_slot is not None:
                self.leak = self.leak_per_slot * size
            # The server's count is the truth at answer time. Requests still in flight (sent or
            # reserved by a caller that is still sleeping) may not be in it yet, so they are added
            # on top: this over-counts a little under concurrency, which only costs a short wait.
            self._level = float(used + self._in_flight)

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._drain(self.clock())
            self._level = max(self._level, float(self.size))  # a 429 means the bucket is full
        super().penalize(seconds)


@RATE_LIMITS.register(
    "usage_quota_header",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "usage_quota_header"},
            **_BUCKET_OPTIONS,
            "header": {"type": "string", "description": "Response header reporting the quota's use."},
            "pattern": {"type": "string", "default": "(?P<used>\\d+)\\s*/\\s*(?P<max>\\d+)",
                        "description": "Regular expression over the header with the groups `used` and `max` "
                                       "(the first match counts)."},
            "reserve_percent": {"type": "number", "minimum": 0, "maximum": 100, "default": 10,
                                "description": "Share of the quota left to the account's other clients: once "
                                               "the header reports this little left, calls stop with a "
                                               "rate-limit error instead of using it up."},
            "recheck_seconds": {"type": "number", "minimum": 1, "default": 300,
                                "description": "While the quota is short, one call per this many seconds goes "
                                               "through, to read the header again (the quota frees up over time)."},
        },
        "required": ["kind", "rate", "header"],
        "additionalProperties": False,
    },
    doc="Token bucket plus a long-period quota (a daily API allocation) read from a usage header; stops "
        "before the quota runs out.",
)
class UsageQuotaHeader(TokenBucket):
    def __init__(self, options: dict, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        super().__init__(options, clock=clock, sleep=sleep)
        self.header = str(options["header"])
        self.pattern = re.compile(options.get("pattern", r"(?P<used>\d+)\s*/\s*(?P<max>\d+)"))
        self.reserve = float(options.get("reserve_percent", 10)) / 100
        self.recheck = float(options.get("recheck_seconds", 300))
        self.used: int | None = None
        self.max: int | None = None
        self._checked = 0.0

    def exhausted(self) -> bool:
        return self.used is not None and bool(self.max) and self.used >= self.max * (1 - self.reserve)

    def acquire(self) -> float:
        if self.exhausted() and self.clock() - self._checked < self.recheck:
            from engine.http.errors import RateLimitedError

            raise RateLimitedError(
                f"API quota nearly used up: {self.used} of {self.max} (header {self.header}); the last "
                f"{self.reserve:.0%} is left to the account's other clients. Calls resume as the quota frees up",
                op="rate_limit", retryable=True)
        return super().acquire()

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        value = _header(headers, self.header)
        match = self.pattern.search(value) if value else None
        if match:
            with self._lock:
                self.used, self.max = int(match.group("used")), int(match.group("max"))
                self._checked = self.clock()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    get: Any = getattr(headers, "get", None)
    value = get(name) if get else None
    if value is None:
        lower = name.lower()
        for k, v in headers.items():
            if k.lower() == lower:
                return v
    return value


class SharedBudget(Protocol):
    """A connection's call budget kept where every process calling it sees it (the PostgreSQL
    state: ``PostgresStore.reserve_call``)."""

    def reserve_call(self, name: str, rate: float, burst: float) -> float:
        """Reserve the next call slot of ``name``; the seconds to wait before sending (<= 0: now)."""

    def hold_calls(self, name: str, seconds: float, rate: float, burst: float) -> None:
        """No call of ``name`` before ``seconds`` from now (the platform answered 429)."""


class SharedLimiter(Limiter):
    """A connection's own limiter, then its share of a budget common to every worker: N workers
    calling one shop never send more than the limit together. The own limiter keeps reading the
    platform's headers (a plan's larger bucket raises the shared rate with it)."""

    def __init__(self, inner: Limiter, budget: SharedBudget, name: str) -> None:
        self.inner, self.budget_store, self.name = inner, budget, name
        self.clock, self.sleep = inner.clock, inner.sleep

    def budget(self) -> tuple[float, float] | None:
        return self.inner.budget()

    def acquire(self) -> float:
        waited = self.inner.acquire()
        allowed = self.inner.budget()
        if allowed is None:
            return waited
        wait = self.budget_store.reserve_call(self.name, *allowed)
        if wait > 0:
            self.sleep(wait)
            waited += wait
        return waited

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        self.inner.observe(status, headers)

    def penalize(self, seconds: float) -> None:
        self.inner.penalize(seconds)
        allowed = self.inner.budget()
        if allowed is not None:
            self.budget_store.hold_calls(self.name, seconds, *allowed)

    def __getattr__(self, name: str) -> Any:  # the own limiter's figures (level, size, rate...)
        return getattr(self.inner, name)


def build_limiter(options: dict | None, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> Limiter:
    options = options or {"kind": "none"}
    return RATE_LIMITS.get(options["kind"]).impl(options, clock=clock, sleep=sleep)
