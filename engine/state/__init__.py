"""Durable state: ID map, hashes, cursors, idempotency ledger, runs, dead letters, leases, tokens,
inbound events. Callers use :func:`open_store` and the :class:`StateStore` interface only, so the
backend is a deployment choice (a SQLite file per merchant, or one PostgreSQL database shared by
many merchants and workers)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from engine.state.hashing import canonical_json, content_hash
from engine.state.sealed import KEY_ENV as STATE_KEY_ENV
from engine.state.sealed import TokenKeyError
from engine.state.sqlite import SQLiteStore
from engine.state.store import (
    BackendNotAvailable,
    FlowBusyError,
    LockTimeout,
    OnceTicket,
    StateBusyError,
    StateError,
    StateStore,
    StateUnreachable,
)

__all__ = [
    "BackendNotAvailable",
    "FlowBusyError",
    "LockTimeout",
    "OnceTicket",
    "SQLiteStore",
    "StateBusyError",
    "StateError",
    "STATE_KEY_ENV",
    "STATE_URL_ENV",
    "StateStore",
    "StateUnreachable",
    "TokenKeyError",
    "canonical_json",
    "content_hash",
    "is_postgres_url",
    "open_store",
]

_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")

# Where a deployment points every merchant's state at once (e.g. one PostgreSQL database for all
# workers); it wins over the merchant file's state.url.
STATE_URL_ENV = "CONNECTOR_STATE_URL"


def is_postgres_url(location: str | None) -> bool:
    return isinstance(location, str) and location.strip().lower().split("://", 1)[0] in _POSTGRES_SCHEMES \
        and "://" in location


def open_store(url_or_path: str, **options: Any) -> StateStore:
    """Open the state store named by a URL or a path.

    - ``sqlite:///abs/path.db`` (three slashes, then the absolute path), or a plain path
      (relative paths are taken from the current directory);
    - ``:memory:`` or ``sqlite://`` for a throw-away in-memory store;
    - ``postgresql://user:password@host:port/database`` (or ``postgres://``) for PostgreSQL,
      with optional ``?schema=NAME&pool_max=N``; several merchants share one database, each in
      its own schema (``namespace``, the merchant's name, picks it unless ``schema`` is given).

    ``options`` go to the backend (e.g. ``clock``, ``once_lease_seconds``, ``synchronous``);
    ``namespace`` is used by PostgreSQL only (a SQLite file holds one merchant already).
    """
    if not isinstance(url_or_path, str) or not url_or_path:
        raise StateError("state store location must be a non-empty string")
    target = url_or_path.strip()
    if target == ":memory:":
        options.pop("namespace", None)
        return SQLiteStore(":memory:", **options)
    # Only "scheme://" counts as a URL: "C:\state.db" or "state:v2.db" are paths.
    if "://" not in target:
        options.pop("namespace", None)
        return SQLiteStore(target, **options)
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    if scheme in _POSTGRES_SCHEMES:
        try:
            from engine.state.postgres import PostgresStore
        except ImportError as exc:  # the driver is a dependency; a broken install says so clearly
            raise BackendNotAvailable(f"the PostgreSQL state backend needs psycopg and psycopg-pool: {exc}") from None
        return PostgresStore(target, **options)
    options.pop("namespace", None)
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
