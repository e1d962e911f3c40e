"""PostgreSQL backend: the state of many merchants in one database (a schema each), shared by
workers on several machines. See ``core`` for connections, locks and time; ``parts`` for the
operations written with PostgreSQL's own locking. The rest of the SQL is the SQLite backend's."""

from __future__ import annotations

from engine.state.postgres.core import MIGRATIONS, SCHEMA_VERSION, PostgresCore, redact_url, schema_name
from engine.state.postgres.parts import (
    PgAuditPart,
    PgCallBudgetPart,
    PgDeadLettersPart,
    PgEventsPart,
    PgIdMapPart,
    PgLeasesPart,
    PgLedgerPart,
    PgReservationsPart,
)
from engine.state.sqlite.audit import AuditPart
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


class PostgresStore(PgAuditPart, PgCallBudgetPart, PgLedgerPart, PgLeasesPart, PgEventsPart, PgDeadLettersPart, PgReservationsPart, PgIdMapPart,
                    IdMapPart, HashesPart, CursorsPart, LedgerPart, ReservationsPart, RunsPart, DeadLettersPart,
                    LeasesPart, ValuesPart, EventsPart, StockPart, AuditPart, PostgresCore, StateStore):
    """State of one merchant in one schema of a PostgreSQL database (see ``PostgresCore`` for
    the URL and options)."""


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresStore", "redact_url", "schema_name"]
