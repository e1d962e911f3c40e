"""Deterministic 19-digit numeric string IDs and request ids, drawn from one seeded generator."""

from __future__ import annotations

import random
import time

# Two-digit prefixes keep IDs of different kinds visually apart, the way TikTok's do
# (product ids start with 17, order ids with 57, ...), while staying 19 digits long.
PREFIXES = {
    "product": "17", "sku": "17", "order": "57", "line_item": "57", "package": "11",
    "cancel": "45", "return": "46", "return_line": "46", "brand": "70", "file": "73",
    "notification": "73", "image": "", "warehouse": "70",
}


class IdFactory:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"tiktok-ids:{seed}")
        # Request ids draw from their own generator, so how many calls (or injected faults) came
        # first never shifts the entity ids a test expects.
        self.request_rng = random.Random(f"tiktok-requests:{seed}")
        self.issued: set[str] = set()

    def new(self, kind: str) -> str:
        prefix = PREFIXES.get(kind, "70")
        while True:
            digits = 19 - len(prefix)
            value = prefix + str(self.rng.randrange(10 ** (digits - 1), 10**digits))
            if value not in self.issued:
                self.issued.add(value)
                return value

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def request_id(self, now: float) -> str:
        # Real request ids are a UTC timestamp followed by an uppercase hex tail.
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
        return stamp + "".join(self.request_rng.choice("0123456789ABCDEF") for _ in range(20))
