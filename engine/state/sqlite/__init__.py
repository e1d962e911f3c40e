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

One module per typed part of the state (ID map, hashes, cursors, ledger, runs, dead letters,
leases, values, events), each a mixin over the connections in `core`; SQLiteStore puts them
together behind the StateStore interface.
"""

from __future__ import annotations

from engine.state.sqlite.core import MIGRATIONS, SCHEMA_VERSION, SQLiteCore
from engine.state.sqlite.cursors import CursorsPart
from engine.state.sqlite.dead_letters import DeadLettersPart
from engine.state.sqlite.events import EventsPart
from engine.state.sqlite.hashes import HashesPart
from engine.state.sqlite.id_map import IdMapPart
from engine.state.sqlite.leases import LeasesPart
from engine.state.sqlite.ledger import LedgerPart
from engine.state.sqlite.runs import RunsPart
from engine.state.sqlite.values import ValuesPart
from engine.state.store import StateStore


class SQLiteStore(IdMapPart, HashesPart, CursorsPart, LedgerPart, RunsPart, DeadLettersPart, LeasesPart, ValuesPart, EventsPart, SQLiteCore, StateStore):
    """State in one SQLite file (or ``:memory:`` for tests and dry runs without a file).

    clock: seconds since the epoch, like ``time.time``; tests pass a fake one to expire leases.
    synchronous: "NORMAL" (default) never corrupts and survives a process crash, but a power
        loss can drop the last commits. A webhook receiver that acknowledges after storing may
        want "FULL" so an acknowledged event survives power loss too.
    """


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStore"]
