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
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.state.store import (
    DEAD_LETTER_STATUSES,
    EVENT_FINISH_STATUSES,
    RESULT_STATUSES,
    OnceTicket,
    StateBusyError,
    StateError,
    StateStore,
    dump_json,
    load_json,
    normalize_error,
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
]

SCHEMA_VERSION = MIGRATIONS[-1][0]
assert [m[0] for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1)), "migrations must be 1..n"


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


class SQLiteStore(StateStore):
    """State in one SQLite file (or ``:memory:`` for tests and dry runs without a file).

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
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

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

    # ---- ID map ---------------------------------------------------------------------------

    def map_id(self, entity: str, connection: str, key: str, remote_id: str,
               extra: dict | None = None) -> None:
        _require(entity=entity, connection=connection, key=key, remote_id=remote_id)
        with self._write() as conn:
            conn.execute(
                """INSERT INTO id_map VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (entity, connection, key) DO UPDATE SET
                     remote_id = excluded.remote_id, extra = excluded.extra,
                     updated_at = excluded.updated_at""",
                (entity, connection, key, remote_id, None if extra is None else dump_json(extra), self._ts()))

    def get_remote_id(self, entity: str, connection: str, key: str) -> str | None:
        m = self.get_mapping(entity, connection, key)
        return None if m is None else m["remote_id"]

    def get_mapping(self, entity: str, connection: str, key: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute(
                "SELECT remote_id, extra, updated_at FROM id_map WHERE entity=? AND connection=? AND key=?",
                (entity, connection, key)).fetchone()
        return None if row is None else _row_dict(row, ("extra",))

    def find_key_by_remote_id(self, entity: str, connection: str, remote_id: str) -> str | None:
        with self._use() as conn:
            row = conn.execute(
                """SELECT key FROM id_map WHERE entity=? AND connection=? AND remote_id=?
                   ORDER BY updated_at DESC, rowid DESC LIMIT 1""",
                (entity, connection, remote_id)).fetchone()
        return None if row is None else row[0]

    def list_mappings(self, entity: str, connection: str) -> list[dict]:
        with self._use() as conn:
            rows = conn.execute(
                """SELECT key, remote_id, extra, updated_at FROM id_map
                   WHERE entity=? AND connection=? ORDER BY key""", (entity, connection)).fetchall()
        return [_row_dict(r, ("extra",)) for r in rows]

    def delete_mapping(self, entity: str, connection: str, key: str) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM id_map WHERE entity=? AND connection=? AND key=?",
                               (entity, connection, key))
            return cur.rowcount > 0

    # ---- content hashes -------------------------------------------------------------------

    def get_hash(self, entity: str, connection: str, key: str) -> str | None:
        with self._use() as conn:
            row = conn.execute(
                "SELECT digest FROM content_hash WHERE entity=? AND connection=? AND key=?",
                (entity, connection, key)).fetchone()
        return None if row is None else row[0]

    def set_hash(self, entity: str, connection: str, key: str, digest: str) -> None:
        _require(entity=entity, connection=connection, key=key, digest=digest)
        with self._write() as conn:
            conn.execute(
                """INSERT INTO content_hash VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (entity, connection, key) DO UPDATE SET
                     digest = excluded.digest, updated_at = excluded.updated_at""",
                (entity, connection, key, digest, self._ts()))

    # ---- cursors --------------------------------------------------------------------------

    def get_cursor(self, flow: str, connection: str, name: str) -> str | None:
        with self._use() as conn:
            row = conn.execute("SELECT value FROM cursor WHERE flow=? AND connection=? AND name=?",
                               (flow, connection, name)).fetchone()
        return None if row is None else row[0]

    def set_cursor(self, flow: str, connection: str, name: str, value: str) -> None:
        _require(flow=flow, connection=connection, name=name)
        if not isinstance(value, str):
            raise StateError(f"cursor value must be a string, got {type(value).__name__}")
        with self._write() as conn:
            conn.execute(
                """INSERT INTO cursor VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (flow, connection, name) DO UPDATE SET
                     value = excluded.value, updated_at = excluded.updated_at""",
                (flow, connection, name, value, self._ts()))

    # ---- idempotency ledger ---------------------------------------------------------------

    def begin_once(self, scope: str, key: str, request_hash: str | None = None, *,
                   lease_seconds: float | None = None) -> OnceTicket:
        _require(scope=scope, key=key)
        lease = self._once_lease if lease_seconds is None else float(lease_seconds)
        now = self._ts()
        expires = self._ts(lease)
        token = secrets.token_hex(8)
        with self._write() as conn:
            row = conn.execute("SELECT * FROM once_ledger WHERE scope=? AND key=?", (scope, key)).fetchone()
            if row is None:
                conn.execute(
                    """INSERT INTO once_ledger (scope, key, status, request_hash, token, attempts,
                         lease_expires_at, created_at, updated_at)
                       VALUES (?, ?, 'in_progress', ?, ?, 1, ?, ?, ?)""",
                    (scope, key, request_hash, token, expires, now, now))
                return OnceTicket(scope, key, "new", attempts=1, token=token, lease_expires_at=expires)
            changed = (request_hash is not None and row["request_hash"] is not None
                       and request_hash != row["request_hash"])
            if row["status"] == "done":
                return OnceTicket(scope, key, "done", result=load_json(row["result"]),
                                  request_changed=changed, attempts=row["attempts"])
            if row["status"] == "in_progress" and row["lease_expires_at"] > now:
                return OnceTicket(scope, key, "in_progress", request_changed=changed,
                                  attempts=row["attempts"], lease_expires_at=row["lease_expires_at"])
            # Either released by fail_once, or a holder that never answered within its lease.
            recovered = row["status"] == "in_progress"
            attempts = row["attempts"] + 1
            conn.execute(
                """UPDATE once_ledger SET status='in_progress', token=?, attempts=?,
                     lease_expires_at=?, updated_at=?, request_hash=COALESCE(?, request_hash)
                   WHERE scope=? AND key=?""",
                (token, attempts, expires, now, request_hash, scope, key))
            return OnceTicket(scope, key, "new", recovered=recovered, request_changed=changed,
                              attempts=attempts, token=token, last_error=row["error"],
                              lease_expires_at=expires)

    def complete_once(self, scope: str, key: str, result: dict) -> bool:
        _require(scope=scope, key=key)
        body = dump_json(result)
        now = self._ts()
        with self._write() as conn:
            row = conn.execute("SELECT status FROM once_ledger WHERE scope=? AND key=?",
                               (scope, key)).fetchone()
            if row is not None and row["status"] == "done":
                return False
            conn.execute(
                """INSERT INTO once_ledger (scope, key, status, result, attempts, created_at, updated_at)
                   VALUES (?, ?, 'done', ?, 1, ?, ?)
                   ON CONFLICT (scope, key) DO UPDATE SET status='done', result=excluded.result,
                     token=NULL, lease_expires_at=NULL, updated_at=excluded.updated_at""",
                (scope, key, body, now, now))
            return True

    def fail_once(self, scope: str, key: str, error: str, *, token: str | None = None) -> bool:
        _require(scope=scope, key=key)
        with self._write() as conn:
            cur = conn.execute(
                """UPDATE once_ledger SET status='failed', error=?, token=NULL, lease_expires_at=NULL,
                     updated_at=?
                   WHERE scope=? AND key=? AND status='in_progress' AND (? IS NULL OR token=?)""",
                (str(error), self._ts(), scope, key, token, token))
            return cur.rowcount > 0

    def renew_once(self, scope: str, key: str, token: str, *,
                   lease_seconds: float | None = None) -> bool:
        _require(scope=scope, key=key, token=token)
        lease = self._once_lease if lease_seconds is None else float(lease_seconds)
        with self._write() as conn:
            cur = conn.execute(
                """UPDATE once_ledger SET lease_expires_at=?, updated_at=?
                   WHERE scope=? AND key=? AND status='in_progress' AND token=?""",
                (self._ts(lease), self._ts(), scope, key, token))
            return cur.rowcount > 0

    def get_once(self, scope: str, key: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute(
                """SELECT scope, key, status, request_hash, result, error, attempts, lease_expires_at,
                     created_at, updated_at FROM once_ledger WHERE scope=? AND key=?""",
                (scope, key)).fetchone()
        return None if row is None else _row_dict(row, ("result",))

    # ---- runs -----------------------------------------------------------------------------

    def _new_run_id(self) -> str:
        # Time first so ids sort by start; the random tail keeps ids from two processes starting
        # in the same microsecond apart.
        t = datetime.fromtimestamp(self._clock(), tz=UTC)
        return f"{t:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"

    def start_run(self, merchant: str, flow: str, dry_run: bool, options: dict) -> str:
        _require(merchant=merchant, flow=flow)
        run_id = self._new_run_id()
        with self._write() as conn:
            conn.execute(
                """INSERT INTO run (run_id, merchant, flow, dry_run, options, status, started_at)
                   VALUES (?, ?, ?, ?, ?, 'running', ?)""",
                (run_id, merchant, flow, int(bool(dry_run)), dump_json(options or {}), self._ts()))
        return run_id

    def finish_run(self, run_id: str, status: str, summary: dict) -> None:
        _require(run_id=run_id, status=status)
        with self._write() as conn:
            cur = conn.execute("UPDATE run SET status=?, summary=?, finished_at=? WHERE run_id=?",
                               (status, dump_json(summary or {}), self._ts(), run_id))
            if cur.rowcount == 0:
                raise StateError(f"unknown run {run_id!r}")

    def record_result(self, run_id: str, entity: str, key: str, action: str, status: str,
                      detail: dict | None = None) -> None:
        _require(run_id=run_id, entity=entity, key=key, action=action)
        if status not in RESULT_STATUSES:
            raise StateError(f"result status must be one of {', '.join(RESULT_STATUSES)}, not {status!r}")
        if action in RESULT_STATUSES or action == "total":
            raise StateError(f"action {action!r} clashes with a status name in run_counts")
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM run WHERE run_id=?", (run_id,)).fetchone() is None:
                raise StateError(f"unknown run {run_id!r}")
            conn.execute(
                """INSERT INTO run_result (run_id, entity, key, action, status, detail, recorded_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (run_id, entity, key, action, status, None if detail is None else dump_json(detail),
                 self._ts()))

    _RUN_COLS = "run_id, merchant, flow, dry_run, options, status, summary, started_at, finished_at"

    def get_run(self, run_id: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute(f"SELECT {self._RUN_COLS} FROM run WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else _row_dict(row, ("options", "summary"), ("dry_run",))

    def list_runs(self, merchant: str | None = None, flow: str | None = None,
                  limit: int = 20) -> list[dict]:
        where, args = [], []
        if merchant is not None:
            where.append("merchant=?")
            args.append(merchant)
        if flow is not None:
            where.append("flow=?")
            args.append(flow)
        sql = f"SELECT {self._RUN_COLS} FROM run"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, run_id DESC LIMIT ?"
        with self._use() as conn:
            rows = conn.execute(sql, (*args, int(limit))).fetchall()
        return [_row_dict(r, ("options", "summary"), ("dry_run",)) for r in rows]

    def run_results(self, run_id: str, status: str | None = None) -> list[dict]:
        sql = ("SELECT id, run_id, entity, key, action, status, detail, recorded_at FROM run_result "
               "WHERE run_id=?")
        args: list[Any] = [run_id]
        if status is not None:
            sql += " AND status=?"
            args.append(status)
        with self._use() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [_row_dict(r, ("detail",)) for r in rows]

    def run_counts(self, run_id: str) -> dict[str, int]:
        with self._use() as conn:
            rows = conn.execute(
                "SELECT action, status, COUNT(*) FROM run_result WHERE run_id=? GROUP BY action, status",
                (run_id,)).fetchall()
        counts: dict[str, int] = {s: 0 for s in RESULT_STATUSES}
        total = 0
        for action, status, n in rows:
            counts[action] = counts.get(action, 0) + n
            counts[status] = counts.get(status, 0) + n
            total += n
        counts["total"] = total
        return counts

    # ---- dead letters ---------------------------------------------------------------------

    _DLQ_JSON = ("payload", "error")

    def add_dead_letter(self, run_id: str | None, merchant: str, flow: str, step: str, entity: str,
                        key: str, payload: dict, error: dict | BaseException) -> int:
        _require(merchant=merchant, flow=flow, step=step, entity=entity, key=key)
        err = dump_json(normalize_error(error))
        body = dump_json(payload)
        now = self._ts()
        with self._write() as conn:
            row = conn.execute(
                """SELECT id FROM dead_letter
                   WHERE merchant=? AND flow=? AND entity=? AND key=? AND status='open'""",
                (merchant, flow, entity, key)).fetchone()
            if row is not None:
                conn.execute(
                    """UPDATE dead_letter SET attempts=attempts+1, run_id=?, step=?, payload=?, error=?,
                         updated_at=? WHERE id=?""",
                    (run_id, step, body, err, now, row["id"]))
                return int(row["id"])
            cur = conn.execute(
                """INSERT INTO dead_letter (run_id, merchant, flow, step, entity, key, payload, error,
                     status, attempts, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', 1, ?, ?)""",
                (run_id, merchant, flow, step, entity, key, body, err, now, now))
            return int(cur.lastrowid)

    def list_dead_letters(self, merchant: str | None = None, flow: str | None = None,
                          status: str | None = "open") -> list[dict]:
        if status is not None and status not in DEAD_LETTER_STATUSES:
            raise StateError(f"dead-letter status must be one of {', '.join(DEAD_LETTER_STATUSES)}")
        where, args = [], []
        for col, val in (("merchant", merchant), ("flow", flow), ("status", status)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        sql = "SELECT * FROM dead_letter"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._use() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [_row_dict(r, self._DLQ_JSON, ("replay_ok",)) for r in rows]

    def get_dead_letter(self, dlq_id: int) -> dict | None:
        with self._use() as conn:
            row = conn.execute("SELECT * FROM dead_letter WHERE id=?", (int(dlq_id),)).fetchone()
        return None if row is None else _row_dict(row, self._DLQ_JSON, ("replay_ok",))

    def _update_dlq(self, dlq_id: int, sql: str, args: tuple) -> None:
        with self._write() as conn:
            cur = conn.execute(f"UPDATE dead_letter SET {sql} WHERE id=?", (*args, int(dlq_id)))
            if cur.rowcount == 0:
                raise StateError(f"unknown dead letter {dlq_id!r}")

    def update_dead_letter_payload(self, dlq_id: int, payload: dict) -> None:
        self._update_dlq(dlq_id, "payload=?, updated_at=?", (dump_json(payload), self._ts()))

    def resolve_dead_letter(self, dlq_id: int, note: str = "") -> None:
        now = self._ts()
        self._update_dlq(dlq_id, "status='resolved', note=?, resolved_at=?, updated_at=?", (note, now, now))

    def mark_replayed(self, dlq_id: int, run_id: str, ok: bool) -> None:
        now = self._ts()
        if ok:
            self._update_dlq(dlq_id, """status='replayed', replay_run_id=?, replay_ok=1, replayed_at=?,
                               resolved_at=?, updated_at=?""", (run_id, now, now, now))
        else:
            self._update_dlq(dlq_id, "replay_run_id=?, replay_ok=0, replayed_at=?, updated_at=?",
                             (run_id, now, now))

    # ---- leases ---------------------------------------------------------------------------

    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        _require(name=name, owner=owner)
        now = self._ts()
        with self._write() as conn:
            row = conn.execute("SELECT owner, expires_at FROM lease WHERE name=?", (name,)).fetchone()
            if row is not None and row["owner"] != owner and row["expires_at"] > now:
                return False
            conn.execute(
                """INSERT INTO lease VALUES (?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET owner=excluded.owner,
                     expires_at=excluded.expires_at, acquired_at=excluded.acquired_at""",
                (name, owner, self._ts(ttl_seconds), now))
            return True

    def renew_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        # An expired lease nobody took is still ours to renew: taking it would have changed owner.
        with self._write() as conn:
            cur = conn.execute("UPDATE lease SET expires_at=? WHERE name=? AND owner=?",
                               (self._ts(ttl_seconds), name, owner))
            return cur.rowcount > 0

    def release_lease(self, name: str, owner: str) -> bool:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM lease WHERE name=? AND owner=?", (name, owner))
            return cur.rowcount > 0

    def get_lease(self, name: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute("SELECT name, owner, expires_at, acquired_at FROM lease WHERE name=?",
                               (name,)).fetchone()
        return None if row is None else dict(row)

    # ---- key/value ------------------------------------------------------------------------

    def kv_get(self, namespace: str, key: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute("SELECT value FROM kv WHERE namespace=? AND key=?", (namespace, key)).fetchone()
        return None if row is None else load_json(row[0])

    def kv_set(self, namespace: str, key: str, value: dict) -> None:
        _require(namespace=namespace, key=key)
        if not isinstance(value, dict):
            raise StateError("kv values are dicts")
        with self._write() as conn:
            conn.execute(
                """INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET
                     value=excluded.value, updated_at=excluded.updated_at""",
                (namespace, key, dump_json(value), self._ts()))

    def kv_delete(self, namespace: str, key: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM kv WHERE namespace=? AND key=?", (namespace, key)).rowcount > 0

    # ---- inbound events -------------------------------------------------------------------

    def store_event(self, source: str, event_id: str, topic: str, payload_raw: bytes,
                    headers: dict) -> bool:
        _require(source=source, event_id=event_id, topic=topic)
        if not isinstance(payload_raw, (bytes, bytearray, memoryview)):
            raise StateError("payload_raw must be the exact bytes received (signatures cover bytes)")
        kept = {str(k): str(v) for k, v in (headers or {}).items() if str(k).lower() not in _SECRET_HEADERS}
        with self._write() as conn:
            cur = conn.execute(
                """INSERT INTO inbound_event (source, event_id, topic, payload_raw, headers, status,
                     received_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)
                   ON CONFLICT (source, event_id) DO NOTHING""",
                (source, event_id, topic, bytes(payload_raw), dump_json(kept), self._ts()))
            return cur.rowcount > 0

    def claim_events(self, limit: int, owner: str, lease_seconds: float) -> list[dict]:
        _require(owner=owner)
        now = self._ts()
        expires = self._ts(lease_seconds)
        with self._write() as conn:
            rows = conn.execute(
                """SELECT source, event_id, topic, payload_raw, headers, attempts, received_at
                   FROM inbound_event
                   WHERE status='pending' OR (status='processing' AND claim_expires_at <= ?)
                   ORDER BY received_at, rowid LIMIT ?""", (now, int(limit))).fetchall()
            out = []
            for r in rows:
                conn.execute(
                    """UPDATE inbound_event SET status='processing', claimed_by=?, claim_expires_at=?,
                         attempts=attempts+1 WHERE source=? AND event_id=?""",
                    (owner, expires, r["source"], r["event_id"]))
                ev = _row_dict(r, ("headers",))
                ev["payload_raw"] = bytes(ev["payload_raw"])
                ev["attempts"] += 1
                out.append(ev)
            return out

    def finish_event(self, source: str, event_id: str, status: str, error: str | None = None) -> bool:
        if status not in EVENT_FINISH_STATUSES:
            raise StateError(f"event status must be one of {', '.join(EVENT_FINISH_STATUSES)}, not {status!r}")
        now = self._ts()
        with self._write() as conn:
            if status == "retry":
                cur = conn.execute(
                    """UPDATE inbound_event SET status='pending', claimed_by=NULL, claim_expires_at=NULL,
                         error=? WHERE source=? AND event_id=?""", (error, source, event_id))
            else:
                cur = conn.execute(
                    """UPDATE inbound_event SET status=?, error=?, finished_at=?, claimed_by=NULL,
                         claim_expires_at=NULL WHERE source=? AND event_id=?""",
                    (status, error, now, source, event_id))
            return cur.rowcount > 0

    def get_event(self, source: str, event_id: str) -> dict | None:
        with self._use() as conn:
            row = conn.execute("SELECT * FROM inbound_event WHERE source=? AND event_id=?",
                               (source, event_id)).fetchone()
        if row is None:
            return None
        ev = _row_dict(row, ("headers",))
        ev["payload_raw"] = bytes(ev["payload_raw"])
        return ev

