"""SQLite backend: one file per merchant, WAL mode, safe across threads and processes.

Connections. A file store gives each thread its own connection (``threading.local``). A sqlite3
connection has one transaction at a time, so a connection shared by threads would let one thread's
statements land inside another thread's ``BEGIN IMMEDIATE``; guarding it with a lock would fix
that but serialize every read too, throwing away WAL's readers-alongside-a-writer. With one
connection per thread, SQLite's own file locking (``BEGIN IMMEDIATE`` plus ``busy_timeout``) is
the single mechanism that orders writers, whether they are threads or processes.

``:memory:`` is the exception: every connection to ``:memory:`` is a different database, and the
shared-cache alternative fails with "table is locked" instead of waiting. So an in-memory store
keeps one connection and holds an ``RLock`` for each whole operation or transaction.

Writes that read before they write run in ``BEGIN IMMEDIATE``: the write lock is taken up front,
so two writers never both read the old value, and a deferred transaction never has to upgrade
(in WAL an upgrade that loses the race fails at once, without waiting for the busy timeout).

Writers in one process first take turns on a lock per database file, shared by every store open
on that file. SQLite's busy handler makes a blocked writer sleep (up to 100 ms a time) and retry,
so a writer can starve while other threads keep taking the file's lock between its retries: a
webhook acknowledgement waited seconds behind a flow run's stream of small writes that way. A
thread blocked on the process lock is woken as soon as it is free. Other processes still meet at
SQLite's own lock and busy timeout.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.state.store import (
    StateBusyError,
    StateError,
    load_json,
    utc_rfc3339,
)

log = logging.getLogger(__name__)

DEFAULT_ONCE_LEASE_SECONDS = 300.0

# Headers that can carry credentials. Webhooks are verified before they are stored, so nothing
# later needs them, and secrets must not sit in the event table.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

# Ordered migrations: (version, description, statements). A schema change appends an entry;
# never edit one that has shipped, because existing files already ran it.
MIGRATIONS: list[tuple[int, str, tuple[str, ...]]] = [
    (1, "initial schema", (
        """CREATE TABLE id_map (
            entity TEXT NOT NULL, connection TEXT NOT NULL, key TEXT NOT NULL,
            remote_id TEXT NOT NULL, extra TEXT, updated_at TEXT NOT NULL,
            PRIMARY KEY (entity, connection, key))""",
        # Webhooks carry remote ids; the reverse look-up must not scan.
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
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
            entity TEXT NOT NULL, key TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL,
            detail TEXT, recorded_at TEXT NOT NULL)""",
        "CREATE INDEX run_result_by_run ON run_result (run_id, status)",
        """CREATE TABLE dead_letter (
            id INTEGER PRIMARY KEY, run_id TEXT, merchant TEXT NOT NULL, flow TEXT NOT NULL,
            step TEXT NOT NULL, entity TEXT NOT NULL, key TEXT NOT NULL,
            payload TEXT NOT NULL, error TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'replayed')),
            attempts INTEGER NOT NULL DEFAULT 1, note TEXT NOT NULL DEFAULT '',
            replay_run_id TEXT, replay_ok INTEGER, replayed_at TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, resolved_at TEXT)""",
        # At most one open entry per record; the upsert relies on it and the database enforces it
        # even if a future code path forgets.
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
            payload_raw BLOB NOT NULL, headers TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0, claimed_by TEXT, claim_expires_at TEXT,
            error TEXT, received_at TEXT NOT NULL, finished_at TEXT,
            PRIMARY KEY (source, event_id))""",
        "CREATE INDEX inbound_event_queue ON inbound_event (status, received_at)",
    )),
    (2, "stock reservations of orders not yet in the merchant system", (
        """CREATE TABLE reservation (
            connection TEXT NOT NULL, order_key TEXT NOT NULL, sku TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            status TEXT NOT NULL CHECK (status IN ('held', 'released')),
            reason TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (connection, order_key, sku))""",
        "CREATE INDEX reservation_held ON reservation (status, sku)",
    )),
    (3, "inbound events: retry backoff and what processing did", (
        # A retried event waits until not_before (backoff); outcome says which flows took it.
        "ALTER TABLE inbound_event ADD COLUMN not_before TEXT",
        "ALTER TABLE inbound_event ADD COLUMN outcome TEXT",
    )),
    (4, "audit log of actions taken by people (the operations page)", (
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY, at TEXT NOT NULL, merchant TEXT NOT NULL, actor TEXT NOT NULL,
            action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL)""",
        "CREATE INDEX audit_log_by_merchant ON audit_log (merchant, id)",
    )),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]
assert [m[0] for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1)), "migrations must be 1..n"


_FILE_LOCKS: dict[str, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: str) -> threading.Lock:
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(path, threading.Lock())


def _forget_file_locks() -> None:
    # A forked child starts with no writer of its own: a lock held by a parent thread would never
    # be released there.
    global _FILE_LOCKS_GUARD
    _FILE_LOCKS.clear()
    _FILE_LOCKS_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_forget_file_locks)


def _require(**values: Any) -> None:
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            raise StateError(f"{name} must be a non-empty string, got {value!r}")


def _row_dict(row: sqlite3.Row, json_cols: tuple[str, ...] = (), bool_cols: tuple[str, ...] = ()) -> dict:
    out = dict(row)
    for c in json_cols:
        out[c] = load_json(out[c])
    for c in bool_cols:
        if out[c] is not None:
            out[c] = bool(out[c])
    return out


class SQLiteCore:
    """The connections of a store in one SQLite file (or ``:memory:`` for tests and dry runs without a file).

    clock: seconds since the epoch, like ``time.time``; tests pass a fake one to expire leases.
    synchronous: "NORMAL" (default) never corrupts and survives a process crash, but a power
        loss can drop the last commits. A webhook receiver that acknowledges after storing may
        want "FULL" so an acknowledged event survives power loss too.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time,
                 busy_timeout_seconds: float = 30.0,
                 once_lease_seconds: float = DEFAULT_ONCE_LEASE_SECONDS,
                 synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StateError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self._clock = clock
        self._busy_ms = int(busy_timeout_seconds * 1000)
        self._once_lease = float(once_lease_seconds)
        self._synchronous = synchronous.upper()
        self._closed = False
        self._memory = str(path) == ":memory:"
        if self._memory:
            self.path = ":memory:"
        else:
            p = Path(path).expanduser().resolve()
            if not p.parent.is_dir():
                raise StateError(f"state directory {p.parent} does not exist")
            self.path = str(p)
            self._create_private(p)
        self._local = threading.local()
        self._registry_lock = threading.Lock()
        self._conns: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._pid = os.getpid()
        self._mem_lock = threading.RLock()
        self._mem_conn: sqlite3.Connection | None = None
        if self._memory:
            self._mem_conn = self._connect()
        self._migrate()

    # ---- connections ----------------------------------------------------------------------

    @staticmethod
    def _create_private(p: Path) -> None:
        # The file holds connector tokens: create it owner-only. SQLite gives the -wal and -shm
        # files the same mode as the database file.
        try:
            os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the module never opens transactions behind our back; every
        # transaction below is an explicit BEGIN. check_same_thread=False only so close() may
        # close connections made by other threads; each is still used by one thread only.
        conn = sqlite3.connect(self.path, timeout=self._busy_ms / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        if not self._memory:
            # Persistent in the file, so this is a no-op after the first connection; it is
            # repeated because any process may be the first to open a new file.
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("state file %s could not use WAL (journal_mode=%s); writers will block "
                            "readers", self.path, mode)
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _thread_conn(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:
            # A forked child must not use its parent's connections (SQLite forbids carrying them
            # across fork). They are dropped, not closed: closing could checkpoint or unlink WAL
            # files the parent is still using.
            self._local = threading.local()
            self._conns = []
            self._pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._registry_lock:
                alive = []
                for ref, c in self._conns:
                    t = ref()
                    if t is None or not t.is_alive():
                        c.close()  # its thread is gone, so nobody else is using it
                    else:
                        alive.append((ref, c))
                alive.append((weakref.ref(threading.current_thread()), conn))
                self._conns = alive
        return conn

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise StateError("state store is closed")
        try:
            if self._memory:
                with self._mem_lock:
                    if self._closed or self._mem_conn is None:
                        raise StateError("state store is closed")
                    yield self._mem_conn
            else:
                yield self._thread_conn()
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise StateBusyError(f"state database busy (busy_timeout {self._busy_ms} ms): {e}") from e
            raise StateError(f"state database error: {e}") from e
        except sqlite3.Error as e:
            raise StateError(f"state database error: {e}") from e

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._use() as conn:
            if conn.in_transaction:
                # Only possible if a method calls another inside its transaction: a bug here.
                raise StateError("nested state transaction")
            lock = None if self._memory else _file_lock(self.path)
            if lock is not None and not lock.acquire(timeout=self._busy_ms / 1000):
                raise StateBusyError(f"state database busy: no turn to write within {self._busy_ms} ms")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                if lock is not None:
                    lock.release()

    def _migrate(self) -> None:
        with self._write() as conn:
            conn.execute("""CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)""")
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StateError(f"state file {self.path} has schema version {current}, newer than "
                                 f"this engine's {SCHEMA_VERSION}; upgrade the engine")
            for version, description, statements in MIGRATIONS:
                if version <= current:
                    continue
                for stmt in statements:
                    conn.execute(stmt)
                conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                             (version, description, self._ts()))

    def schema_version(self) -> int:
        with self._use() as conn:
            return conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._memory:
            with self._mem_lock:
                if self._mem_conn is not None:
                    self._mem_conn.close()
                    self._mem_conn = None
            return
        with self._registry_lock:
            conns, self._conns = self._conns, []
        if os.getpid() == self._pid:
            for _, c in conns:
                c.close()
        self._local = threading.local()

    # ---- time -----------------------------------------------------------------------------

    def _ts(self, offset: float = 0.0) -> str:
        return utc_rfc3339(self._clock() + offset)
