"""Durable state: ID map, hashes, cursors, idempotency ledger, runs, dead letters, leases, tokens,
inbound events. Callers use :func:`open_store` and the :class:`StateStore` interface only, so the
backend is a deployment choice (SQLite file per merchant now, PostgreSQL later)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from engine.state.hashing import canonical_json, content_hash
from engine.state.sqlite import SQLiteStore
from engine.state.store import (
    BackendNotAvailable,
    FlowBusyError,
    LockTimeout,
    OnceTicket,
    StateBusyError,
    StateError,
    StateStore,
)

__all__ = [
    "BackendNotAvailable",
    "FlowBusyError",
    "LockTimeout",
    "OnceTicket",
    "SQLiteStore",
    "StateBusyError",
    "StateError",
    "StateStore",
    "canonical_json",
    "content_hash",
    "open_store",
]

_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def open_store(url_or_path: str, **options: Any) -> StateStore:
    """Open the state store named by a URL or a path.

    - ``sqlite:///abs/path.db`` (three slashes, then the absolute path), or a plain path
      (relative paths are taken from the current directory);
    - ``:memory:`` or ``sqlite://`` for a throw-away in-memory store;
    - ``postgresql://...`` is reserved for the PostgreSQL backend, not built yet.

    ``options`` go to the backend (e.g. ``clock``, ``once_lease_seconds``, ``synchronous``).
    """
    if not isinstance(url_or_path, str) or not url_or_path:
        raise StateError("state store location must be a non-empty string")
    target = url_or_path.strip()
    if target == ":memory:":
        return SQLiteStore(":memory:", **options)
    # Only "scheme://" counts as a URL: "C:\state.db" or "state:v2.db" are paths.
    if "://" not in target:
        return SQLiteStore(target, **options)
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    if scheme in _POSTGRES_SCHEMES:
        raise BackendNotAvailable(
            "the PostgreSQL state backend is not built yet; use a SQLite file for now "
            "(sqlite:///absolute/path/merchant.db or a plain path)")
    if scheme != "sqlite":
        raise StateError(f"unknown state store scheme {parts.scheme!r} in {target!r}; "
                         "expected sqlite:///absolute/path.db, a plain path, or :memory:")
    if parts.netloc:
        raise StateError(f"{target!r}: a SQLite URL has no host; write sqlite:///absolute/path.db "
                         "(three slashes)")
    if parts.query or parts.fragment:
        raise StateError(f"{target!r}: SQLite URLs take no query options; pass them as keyword "
                         "arguments to open_store")
    if parts.path in ("", "/", "/:memory:"):
        return SQLiteStore(":memory:", **options)
    return SQLiteStore(unquote(parts.path), **options)
