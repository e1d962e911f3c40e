"""Token buckets per (app, shop, endpoint) (1.7: the real quota is UNCONFIRMED; default 50/s)."""

from __future__ import annotations

import math
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_second: float, clock: Callable[[], float]) -> None:
        self.per_second = per_second
        self.clock = clock
        self.buckets: dict[tuple, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def take(self, key: tuple) -> float | None:
        """None when allowed; otherwise seconds to wait (what Retry-After carries)."""
        rate = self.per_second
        if rate <= 0:  # disabled
            return None
        now = self.clock()
        capacity = max(rate, 1.0)  # one second worth of burst
        tokens, last = self.buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - last) * rate)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            return None
        self.buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate

    @staticmethod
    def retry_after_header(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
