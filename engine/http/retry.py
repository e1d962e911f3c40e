"""Backoff arithmetic and Retry-After parsing. The attempt loop itself lives in client.py."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """`retry:` of a connector spec. Attempts count the first try, so 5 means up to 4 retries."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.5
    on_status: frozenset[int] = field(default_factory=lambda: frozenset({429, 500, 502, 503, 504}))
    retry_on_timeout: bool = True
    respect_retry_after: bool = True

    @classmethod
    def from_spec(cls, spec: dict | None) -> RetryPolicy:
        spec = spec or {}
        base = cls()
        return cls(
            max_attempts=int(spec.get("max_attempts", base.max_attempts)),
            base_delay=float(spec.get("base_delay", base.base_delay)),
            max_delay=float(spec.get("max_delay", base.max_delay)),
            jitter=float(spec.get("jitter", base.jitter)),
            on_status=frozenset(int(s) for s in spec.get("on_status", base.on_status)),
            retry_on_timeout=bool(spec.get("retry_on_timeout", base.retry_on_timeout)),
            respect_retry_after=bool(spec.get("respect_retry_after", base.respect_retry_after)),
        )

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number `attempt` (1-based): min(base * 2^(n-1), max) + jitter."""
        delay = min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)
        return delay + (rng.uniform(0, self.jitter) if self.jitter else 0.0)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value: delta seconds (fractions such as '2.0' occur) or an HTTP
    date. None when absent or unreadable; never negative."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)
