"""Canonical JSON and content hashes.

The diff step skips a push when a record's hash equals the one stored after the last successful
push, so the hash must depend only on the record's content, never on dict insertion order or on
how a mapping happened to build the dict.

Decimal choice: a Decimal is rendered as ``str(value)``, so ``Decimal("1.10")`` and
``Decimal("1.1")`` hash differently. Canonical money is a decimal *string* and is sent to the
platforms as written; if a source system starts sending "1.10" where it sent "1.1", the text we
would push changed, so a push is the honest outcome. Normalising would also make a Decimal and
the string a mapping produced from it disagree. A Decimal and its string hash the same on purpose.
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from typing import Any


def _plain(obj: Any) -> Any:
    """Return a tree of JSON-native values; reject anything whose rendering would be ambiguous."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"cannot hash non-finite Decimal {obj}")
        return str(obj)
    if isinstance(obj, float):
        # NaN != NaN would make a record look changed forever.
        if not math.isfinite(obj):
            raise ValueError(f"cannot hash non-finite float {obj}")
        return obj
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            # json.dumps would turn 1 into "1" and let {1: x} collide with {"1": x}.
            if not isinstance(k, str):
                raise TypeError(f"cannot hash a dict with a non-string key {k!r}")
            out[k] = _plain(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    # Sets have no order and other objects have no defined rendering: a silent str() would make
    # hashes depend on reprs that change between versions.
    raise TypeError(f"cannot hash a value of type {type(obj).__name__}")


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, Decimal as its string, UTF-8 text kept as is."""
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def content_hash(obj: Any) -> str:
    """Hex sha256 of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()
