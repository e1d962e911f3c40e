"""SQLite backend: one file per merchant, WAL mode, safe across threads and processes (see
`core` for how connections and transactions work).

One module per typed part of the state (ID map, hashes, cursors, ledger, runs, dead letters,
leases, values, events, stock reservations, stock locks, audit log), each a mixin over the connections in `core`; SQLiteStore puts them
together behind the StateStore interface.
"""

from __future__ import annotations

from engine.state.sqlite.audit import AuditPart
from engine.state.sqlite.core import MIGRATIONS, SCHEMA_VERSION, SQLiteCore
from engine.state.sqlite.cursors import CursorsPart
from engine.state.sqlite.dead_letters import DeadLettersPart
from engine.state.sqlite.events import EventsPart
from engine.state.sqlite.hashes import HashesPart
from engine.state.sqlite.id_map import IdMapPart
from engine.state.sqlite.leases import LeasesPart
from engine.state.sqlite.ledger import LedgerPart
from engine.state.sqlite.reservations import ReservationsPart
from engine.state.sqlite.runs import RunsPart
from engine.state.sqlite.stock import StockPart
from engine.state.sqlite.values import ValuesPart
from engine.state.store import StateStore


class SQLiteStore(IdMapPart, HashesPart, CursorsPart, LedgerPart, ReservationsPart, RunsPart, DeadLettersPart, LeasesPart, ValuesPart, EventsPart,
                  StockPart, AuditPart, SQLiteCore, StateStore):
    """State in one SQLite file (or ``:memory:`` for tests and dry runs without a file).

    clock: seconds since the epoch, like ``time.time``; tests pass a fake one to expire leases.
    synchronous: "NORMAL" (default) never corrupts and survives a process crash, but a power
        loss can drop the last commits. A webhook receiver that acknowledges after storing may
        want "FULL" so an acknowledged event survives power loss too.
    """


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStore"]
