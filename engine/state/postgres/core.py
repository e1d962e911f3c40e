"""PostgreSQL backend: many merchants in one database, one schema each, shared by every worker.

Connections. A pool (psycopg-pool) per store hands each operation a connection for its duration,
so threads never share a transaction. Connections run in autocommit; an operation that writes
more than one statement opens a transaction (``_write``).

Where SQLite takes the database's single write lock (``BEGIN IMMEDIATE``), PostgreSQL lets
writers run side by side and each read-modify-write protects exactly what it touches: a single
``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` for leases, the ledger's completion and the
dead-letter upsert; ``SELECT ... FOR UPDATE`` for a ledger claim; ``FOR UPDATE SKIP LOCKED`` for
event claims, so workers never wait on each other's events; a transaction-scoped advisory lock
for what has no row to lock yet (an order's reservation, a schema's migration).

Time. Leases and claims compare timestamps written by different machines, so by default the
store's clock is this machine's clock corrected by its offset from the database server's clock,
measured when the store opens: every worker then agrees on expiry to within a round trip. Tests
pass a clock of their own, as with SQLite.

The SQL shared with SQLite is written once (``?`` placeholders, the SQLite parts' statements):
the connection wrapper here turns the placeholders into psycopg's and rows into objects read by
position or by name, like ``sqlite3.Row``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from engine.state.store import StateBusyError, StateError, StateUnreachable, utc_rfc3339

log = logging.getLogger(__name__)

DEFAULT_ONCE_LEASE_SECONDS = 300.0

# Ordered migrations of one merchant's schema: (version, description, statements). A change
# appends an entry; never edit one that has shipped. Version 1 is the SQLite schema as of its
# version 3, in PostgreSQL's types; `seq` columns stand in for SQLite's rowid where order of
# insertion matters.
MIGRATIONS: list[tuple[int, str, tuple[str, ...]]] = [
    (1, "initial schema", (
        """CREATE TABLE id_map (
            entity TEXT NOT NULL, connection TEXT NOT NULL, key TEXT NOT NULL,
            remote_id TEXT NOT NULL, extra TEXT, updated_at TEXT NOT NULL,
            seq BIGSERIAL NOT NULL,
            PRIMARY KEY (entity, connection, key))""",
        "CREATE INDEX id_map_remote ON id_map (entity, connection, remote_id)",
        """CREATE TABLE content_hash (
            entity TEXT NOT NULL, connection TEXT NOT NULL, key TEXT NOT NULL,
            digest TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (entity, connection, key))""",
        """CREATE TABLE cursor (
            flow TEXT NOT NULL, connection TEXT NOT NULL, name TEXT NOT NULL,
            value TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (flow, connection, name))""",
        """CREATE TABLE once_ledger (
            scope TEXT NOT NULL, key TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('in_progress', 'done', 'failed')),
            request_hash TEXT, token TEXT, result TEXT, error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            lease_expires_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (scope, key))""",
        """CREATE TABLE run (
            run_id TEXT PRIMARY KEY, merchant TEXT NOT NULL, flow TEXT NOT NULL,
            dry_run INTEGER NOT NULL, options TEXT NOT NULL, status TEXT NOT NULL,
            summary TEXT, started_at TEXT NOT NULL, finished_at TEXT)""",
        "CREATE INDEX run_by_flow ON run (merchant, flow, started_at)",
        "CREATE INDEX run_by_start ON run (started_at)",
        """CREATE TABLE run_result (
            id BIGSERIAL PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
            entity TEXT NOT NULL, key TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL,
            detail TEXT, recorded_at TEXT NOT NULL)""",
        "CREATE INDEX run_result_by_run ON run_result (run_id, status)",
        """CREATE TABLE dead_letter (
            id BIGSERIAL PRIMARY KEY, run_id TEXT, merchant TEXT NOT NULL, flow TEXT NOT NULL,
            step TEXT NOT NULL, entity TEXT NOT NULL, key TEXT NOT NULL,
            payload TEXT NOT NULL, error TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'replayed')),
            attempts INTEGER NOT NULL DEFAULT 1, note TEXT NOT NULL DEFAULT '',
            replay_run_id TEXT, replay_ok INTEGER, replayed_at TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, resolved_at TEXT)""",
        """CREATE UNIQUE INDEX dead_letter_open ON dead_letter (merchant, flow, entity, key)
            WHERE status = 'open'""",
        "CREATE INDEX dead_letter_by_status ON dead_letter (status, merchant, flow)",
        """CREATE TABLE lease (
            name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at TEXT NOT NULL,
            acquired_at TEXT NOT NULL)""",
        """CREATE TABLE kv (
            namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            updated_at TEXT NOT NULL, PRIMARY KEY (namespace, key))""",
        """CREATE TABLE inbound_event (
            source TEXT NOT NULL, event_id TEXT NOT NULL, topic TEXT NOT NULL,
            payload_raw BYTEA NOT NULL, headers TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0, claimed_by TEXT, claim_expires_at TEXT,
            error TEXT, received_at TEXT NOT NULL, finished_at TEXT,
            not_before TEXT, outcome TEXT, seq BIGSERIAL NOT NULL,
            PRIMARY KEY (source, event_id))""",
        "CREATE INDEX inbound_event_queue ON inbound_event (status, received_at, seq)",
        """CREATE TABLE reservation (
            connection TEXT NOT NULL, order_key TEXT NOT NULL, sku TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            status TEXT NOT NULL CHECK (status IN ('held', 'released')),
            reason TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (connection, order_key, sku))""",
        "CREATE INDEX reservation_held ON reservation (status, sku)",
    )),
]

MIGRATIONS.append((2, "call budgets shared by every worker calling a connection", (
    # GCRA: `tat` is the theoretical arrival time of the next call, in the server's epoch seconds.
    "CREATE TABLE call_budget (name TEXT PRIMARY KEY, tat DOUBLE PRECISION NOT NULL)",
)))

MIGRATIONS.append((3, "audit log of actions taken by people (the operations page)", (
    """CREATE TABLE audit_log (
        id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, merchant TEXT NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL)""",
    "CREATE INDEX audit_log_by_merchant ON audit_log (merchant, id)",
)))

SCHEMA_VERSION = MIGRATIONS[-1][0]
assert [m[0] for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1)), "migrations must be 1..n"

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_STORE_PARAMS = ("schema", "pool_min", "pool_max")


def schema_name(name: str) -> str:
    """A merchant's schema: its name in lower case, anything but letters, digits and ``_`` made
    ``_``, prefixed so it never clashes with PostgreSQL's or the job queue's own."""
    cleaned = re.sub(r"[^a-z0-9_]", "_", name.strip().lower())
    return ("merchant_" + cleaned)[:63]


def redact_url(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL (the store's own query options taken out) and those options."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _STORE_PARAMS}
    rest = [(k, v) for k, v in query if k not in _STORE_PARAMS]
    scheme = "postgresql" if parts.scheme.lower().startswith("postgres") else parts.scheme
    return urlunsplit(parts._replace(scheme=scheme, query=urlencode(rest))), ours


class Row(tuple):
    """A result row read by position (``row[0]``, unpacking) or by column (``row["id"]``,
    ``dict(row)``), as the SQL shared with SQLite expects of ``sqlite3.Row``."""

    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Callable[[Any], Row]:
    names = [c.name for c in cursor.description or ()]
    cls = type("Row", (Row,), {"_index": {n: i for i, n in enumerate(names)}})
    return lambda values: cls(values)


_SQL_CACHE: dict[str, str] = {}


def _sql(text: str) -> str:
    out = _SQL_CACHE.get(text)
    if out is None:
        out = _SQL_CACHE[text] = text.replace("%", "%%").replace("?", "%s")
    return out


class PgConn:
    """A pooled connection speaking the SQLite parts' dialect: ``?`` placeholders, ``rowcount``
    on the returned cursor, rows by position or name."""

    __slots__ = ("raw",)

    def __init__(self, raw: psycopg.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, args: Any = ()) -> psycopg.Cursor:
        return self.raw.execute(_sql(sql), tuple(args) if args is not None else None)

    def executemany(self, sql: str, rows: Any) -> psycopg.Cursor:
        cur = self.raw.cursor()
        cur.executemany(_sql(sql), [tuple(r) for r in rows])
        return cur

    def native(self, sql: str, args: Any = None) -> psycopg.Cursor:
        """A statement in psycopg's own placeholders (``%s``, ``%(name)s``)."""
        return self.raw.execute(sql, args)


class PostgresCore:
    """The connections of a store in one schema of a PostgreSQL database.

    url: ``postgresql://user:password@host:port/database`` with any libpq options, plus the
        store's own: ``schema`` (default: the ``namespace`` given, made a schema name, else
        ``public``), ``pool_min`` and ``pool_max`` (connections; default 1 and 10).
    namespace: the merchant whose state this is; several merchants share a database this way.
    clock: seconds since the epoch; by default this machine's clock set to the server's.
    synchronous: "OFF" lets commits return before they are on disk (PostgreSQL's
        ``synchronous_commit = off``: a server crash may lose the last ones, never corrupts);
        any other value keeps the server's setting.
    """

    def __init__(self, url: str, *, namespace: str | None = None, clock: Callable[[], float] | None = None,
                 once_lease_seconds: float = DEFAULT_ONCE_LEASE_SECONDS, synchronous: str = "NORMAL",
                 pool_min: int | None = None, pool_max: int | None = None, connect_timeout: float = 30.0) -> None:
        conninfo, ours = split_url(url)
        self.url = redact_url(conninfo)
        self.path = None  # not a file: nothing to reopen with other file settings
        schema = ours.get("schema") or (schema_name(namespace) if namespace else "public")
        if not _SCHEMA_RE.match(schema):
            raise StateError(f"schema {schema!r} in {self.url}: use lower-case letters, digits and _ "
                             "(at most 63, not starting with a digit)")
        self.schema = schema
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StateError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self._conninfo = conninfo
        self._options = f"-c search_path={schema}" + (" -c synchronous_commit=off" if synchronous.upper() == "OFF" else "")
        try:
            self._pool_min = int(ours.get("pool_min") or pool_min or 1)
            self._pool_max = max(int(ours.get("pool_max") or pool_max or 10), self._pool_min)
        except ValueError:
            raise StateError(f"pool_min and pool_max in {self.url} must be whole numbers") from None
        self._connect_timeout = connect_timeout
        self._once_lease = float(once_lease_seconds)
        self._closed = False
        self._pid = os.getpid()
        self._pool_guard = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._lock_base = f"{schema}:"
        self._offset = 0.0
        self._clock = clock or self._server_clock
        try:
            self._open_pool()
            if clock is None:
                self._offset = self._measure_offset()
            self._migrate()
        except BaseException:
            self.close()
            raise

    # ---- connections ----------------------------------------------------------------------

    def _open_pool(self) -> ConnectionPool:
        # One plain connection first: a wrong host, port, user or password fails at once with the
        # server's own reason, where the pool would retry until its timeout.
        try:
            psycopg.connect(self._conninfo, connect_timeout=max(1, int(self._connect_timeout)),
                            options=self._options).close()
        except psycopg.Error as e:
            raise StateUnreachable(f"cannot connect to the PostgreSQL state at {self.url}: "
                                   f"{redact_url(str(e).strip())}") from None
        pool = ConnectionPool(
            self._conninfo, min_size=self._pool_min, max_size=self._pool_max, open=False,
            kwargs={"autocommit": True, "row_factory": _row_factory, "options": self._options},
            timeout=self._connect_timeout, name=f"state-{self.schema}")
        try:
            pool.open(wait=True, timeout=self._connect_timeout)
        except PoolTimeout:
            pool.close()
            raise StateUnreachable(f"cannot connect to the PostgreSQL state at {self.url} within "
                             f"{self._connect_timeout:g}s") from None
        self._pool = pool
        return pool

    def _current_pool(self) -> ConnectionPool:
        if os.getpid() != self._pid:
            # A forked child must not use its parent's connections: they are dropped, not closed
            # (closing would end the parent's sessions), and the child opens its own.
            with self._pool_guard:
                if os.getpid() != self._pid:
                    self._pool = None
                    self._pid = os.getpid()
                    self._pool_guard = threading.Lock()
        pool = self._pool
        if pool is None:
            with self._pool_guard:
                if self._closed:
                    raise StateError("state store is closed")
                pool = self._pool or self._open_pool()
        return pool

    @contextmanager
    def _use(self) -> Iterator[PgConn]:
        if self._closed:
            raise StateError("state store is closed")
        try:
            with self._current_pool().connection() as raw:
                yield PgConn(raw)
        except PoolTimeout as e:
            raise StateBusyError(f"no PostgreSQL state connection free within {self._connect_timeout:g}s "
                                 f"(pool_max {self._pool_max})") from e
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure,
                psycopg.errors.LockNotAvailable) as e:
            raise StateBusyError(f"state database busy: {e}") from e
        except psycopg.OperationalError as e:
            raise StateError(f"PostgreSQL state at {self.url} unreachable: {str(e).strip()}") from e
        except psycopg.Error as e:
            raise StateError(f"state database error: {str(e).strip()}") from e

    @contextmanager
    def _write(self) -> Iterator[PgConn]:
        with self._use() as conn:
            with conn.raw.transaction():
                yield conn

    def _advisory_xact_lock(self, conn: PgConn, name: str) -> None:
        """Hold a lock named ``name`` (within this schema) until the transaction ends."""
        conn.native("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self._lock_base + name,))

    def _migrate(self) -> None:
        with self._use() as conn, conn.raw.transaction():
            # Advisory locks are per database: the schema's name keeps merchants apart, and a
            # second process opening the same schema waits here until the first has migrated it.
            conn.native("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("migrate:" + self.schema,))
            conn.native(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute("""CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)""")
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StateError(f"state schema {self.schema} at {self.url} has schema version {current}, "
                                 f"newer than this engine's {SCHEMA_VERSION}; upgrade the engine")
            for version, description, statements in MIGRATIONS:
                if version <= current:
                    continue
                for stmt in statements:
                    conn.execute(stmt)
                conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)", (version, description, self._ts()))

    def schema_version(self) -> int:
        with self._use() as conn:
            return conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._pool_guard:
            pool, self._pool = self._pool, None
        if pool is not None and os.getpid() == self._pid:
            pool.close()

    # ---- time -----------------------------------------------------------------------------

    def _measure_offset(self) -> float:
        with self._use() as conn:
            before = time.time()
            server = float(conn.native("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])
            after = time.time()
        return server - (before + after) / 2

    def _server_clock(self) -> float:
        return time.time() + self._offset

    def _ts(self, offset: float = 0.0) -> str:
        return utc_rfc3339(self._clock() + offset)
