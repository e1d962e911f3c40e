"""A circuit breaker per connection: when a platform is down, stop calling it.

Closed (normal): every attempt goes out. A run of `failures` consecutive failed attempts (no answer,
or a status the connector retries, 429 aside: a throttled platform is up) opens it, and so does a
credential the platform refuses for good. Open: no attempt goes out; every call raises ConnectionDown
at once, so the records wait for the next run instead of each spending the whole retry chain. After
`cooldown` seconds the next call is a probe (half-open): its success closes the breaker, its failure
opens it for another cooldown.

The state is kept in the state store (`set_breaker`), so `connector run` started while `serve` has a
connection down sees it down too, and /healthz and `connector breakers` can show it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import ConnectorError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """`breaker:` of a connector spec, or of a merchant's connection (which wins key by key)."""

    enabled: bool = True
    # Consecutive failed attempts that open it. By default two more than one call's retries, so a
    # request the platform fails for reasons of its own never opens it alone.
    failures: int = 8
    cooldown: float = 60.0  # seconds open before a probe may go
    open_on_auth: bool = True  # a refused credential opens it at once (every call would be refused)

    @classmethod
    def from_spec(cls, *specs: Mapping[str, Any] | None, max_attempts: int | None = None) -> BreakerPolicy:
        merged: dict[str, Any] = {}
        for spec in specs:
            merged.update(spec or {})
        base = cls()
        default = base.failures if max_attempts is None else max_attempts + 2
        return cls(
            enabled=bool(merged.get("enabled", base.enabled)),
            failures=max(1, int(merged.get("failures", default))),
            cooldown=max(0.0, float(merged.get("cooldown", base.cooldown))),
            open_on_auth=bool(merged.get("open_on_auth", base.open_on_auth)),
        )


class ConnectionDown(ConnectorError):
    """The connection's breaker is open: nothing was sent. Not a fault of the record: it waits."""

    retryable = True

    def __init__(self, connection: str, since: float | None, wait: float | None, reason: str) -> None:
        self.connection, self.since, self.wait, self.reason = connection, since, wait, reason
        wait_text = f"; next probe in {wait:.0f} s" if wait is not None else ""
        super().__init__(f"connection {connection} is down ({reason}){wait_text}: its records were not sent and "
                         "wait for the next run")


class Breaker:
    """Thread-safe. `persist` is called with the new state whenever it opens or closes."""

    def __init__(self, name: str, policy: BreakerPolicy | None = None, *,
                 clock: Callable[[], float] = time.time,
                 persist: Callable[[dict], None] | None = None,
                 initial: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self.clock = clock
        self.persist = persist
        self._lock = threading.Lock()
        self.state = CLOSED
        self.failures = 0
        self.opened_at: float | None = None
        self.reason = ""
        self.trips = 0
        self.cause = ""  # "auth" or "outage" while open
        self._probing = False
        self._probe_now = False
        if initial and initial.get("state") in (OPEN, HALF_OPEN):
            # A breaker left half-open by a process that died is open: a probe decides again.
            self.state, self.opened_at = OPEN, float(initial.get("opened_at") or self.clock())
            self.reason = str(initial.get("reason") or "")
            self.trips = int(initial.get("trips") or 0)
            self.cause = str(initial.get("cause") or "outage")
            # Refused credentials need a person, who fixes them and runs again: that run probes at once.
            self._probe_now = self.cause == "auth"

    # -- the call's side --------------------------------------------------------------------------
    def before(self) -> None:
        """Called before each attempt: raises ConnectionDown while open (and while another call probes)."""
        if not self.policy.enabled:
            return
        with self._lock:
            if self.state == CLOSED:
                return
            until = (self.opened_at or 0.0) + self.policy.cooldown
            if self.state == OPEN and (self.clock() >= until or self._probe_now) and not self._probing:
                self.state, self._probing, self._probe_now = HALF_OPEN, True, False  # this call is the probe
                return
            raise ConnectionDown(self.name, self.opened_at, max(0.0, until - self.clock()), self.reason)

    def success(self) -> None:
        """The platform answered (any answer but a retryable failure): it is up."""
        if not self.policy.enabled:
            return
        with self._lock:
            was = self.state
            self.failures, self._probing = 0, False
            if was == CLOSED:
                return
            self.state, self.opened_at, self.reason, self.cause = CLOSED, None, "", ""
        self._save()

    def failure(self, reason: str, *, fatal: bool = False) -> bool:
        """A failed attempt. True when the breaker is (now) open: the caller stops retrying."""
        if not self.policy.enabled:
            return False
        with self._lock:
            self.failures += 1
            opens = (fatal and self.policy.open_on_auth) or self.state == HALF_OPEN \
                or self.failures >= self.policy.failures
            if not opens:
                return self.state == OPEN
            self.state, self.opened_at, self._probing = OPEN, self.clock(), False
            self.reason, self.trips = reason[:300], self.trips + 1
            self.cause = "auth" if fatal else "outage"
        self._save()
        return True

    def new_run(self) -> None:
        """A run starts. Refused credentials need a person, who fixes them and runs again: each run
        probes them once (one call) instead of waiting out the cooldown."""
        with self._lock:
            if self.state == OPEN and self.cause == "auth":
                self._probe_now = True

    def release_probe(self) -> None:
        """A probe that ended neither way (its caller raised something else): let the next call probe."""
        with self._lock:
            if self.state == HALF_OPEN:
                self.state, self._probing = OPEN, False

    # -- reporting ----------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            until = None if self.opened_at is None else self.opened_at + self.policy.cooldown
            return {"state": self.state, "failures": self.failures, "opened_at": self.opened_at,
                    "probe_after": until, "reason": self.reason, "cause": self.cause, "trips": self.trips,
                    "threshold": self.policy.failures, "cooldown": self.policy.cooldown}

    def _save(self) -> None:
        if self.persist is None:
            return
        try:
            self.persist(self.snapshot())
        except Exception:  # noqa: BLE001  (the store being busy must not turn an answer into a failure)
            pass


def describe(state: Mapping[str, Any] | None, now: float | None = None) -> str:
    """One line for a stored breaker state: `closed`, `open since ... (reason), probe in 40 s`."""
    if not state or state.get("state") == CLOSED:
        return CLOSED
    now = time.time() if now is None else now
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(state.get("opened_at") or now)))
    wait = max(0.0, float(state.get("probe_after") or now) - now)
    probe = f", probe in {wait:.0f} s" if wait else ", next call probes"
    return f"open since {since} ({state.get('reason') or 'failures'}){probe}"


def breaker_label(state: dict | None) -> str:
    """A stored breaker state in a word or two for tables: closed, open (reason), half_open."""
    if not state:
        return "closed"
    name = str(state.get("state") or "closed")
    reason = str(state.get("reason") or "")
    return f"{name} ({reason})" if name != "closed" and reason else name
