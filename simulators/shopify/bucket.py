"""The REST leaky bucket (section 2.5): one per app and shop, `size` calls that drain at a fixed rate."""

from __future__ import annotations

import math
from collections.abc import Callable


class LeakyBucket:
    def __init__(self, size: int, leak_per_second: float, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.size = size
        self.leak_per_second = leak_per_second
        self.level = 0.0
        self.stamp = clock()
        # Shopify is seen answering `Retry-After: 2.0` whatever the fill; None computes the real
        # wait until one call fits instead. Which one production does is UNCONFIRMED.
        self.fixed_retry_after: float | None = 2.0

    def _drain(self) -> None:
        now = self.clock()
        self.level = max(0.0, self.level - (now - self.stamp) * self.leak_per_second)
        self.stamp = now

    def take(self) -> float | None:
        """Admit one call; returns None when admitted, else the seconds to wait."""
        self._drain()
        if self.level + 1 > self.size + 1e-9:
            wait = (self.level + 1 - self.size) / self.leak_per_second if self.leak_per_second else 60.0
            return self.fixed_retry_after if self.fixed_retry_after is not None else wait
        self.level += 1
        return None

    def used(self) -> int:
        self._drain()
        return math.ceil(self.level - 1e-9)

    def header(self) -> str:
        return f"{self.used()}/{self.size}"

    def configure(self, values: dict) -> None:
        self._drain()
        if "size" in values:
            self.size = int(values["size"])
        if "leak_per_second" in values:
            self.leak_per_second = float(values["leak_per_second"])
        if "retry_after" in values:
            value = values["retry_after"]
            self.fixed_retry_after = None if value is None else float(value)
        self.level = min(self.level, float(self.size))

    def reset(self) -> None:
        self.level, self.stamp = 0.0, self.clock()

    def as_dict(self) -> dict:
        return {
            "size": self.size,
            "leak_per_second": self.leak_per_second,
            "used": self.used(),
            "retry_after": self.fixed_retry_after,
        }
