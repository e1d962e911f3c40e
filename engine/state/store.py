"""The state store interface: everything a flow run or the webhook server remembers.

Callers depend on :class:`StateStore` only; a backend (SQLite now, PostgreSQL later) implements
it. The contract every backend must keep:

- Every method is safe to call from several threads at once, and from several processes sharing
  the same store. Read-modify-write operations (idempotency ledger, leases, dead-letter upsert,
  event claims) are atomic across both.
- Timestamps returned are RFC 3339 strings in UTC with microseconds and a ``Z`` suffix, so they
  sort as text.
- JSON values come back as plain ``dict``/``list``; a ``Decimal`` passed in comes back as its
  string, never as a float, so money keeps its exact digits.
- Secrets are stored only through ``set_token`` (connector tokens, sealed with a key kept
  apart from the data: engine/state/sealed.py). Nothing else redacts for the caller: payloads
  and errors handed to dead letters must already be redacted.

A PostgreSQL backend keeps the same semantics with its own means: ``SELECT ... FOR UPDATE`` or
``INSERT ... ON CONFLICT`` inside a transaction where SQLite uses ``BEGIN IMMEDIATE``,
``FOR UPDATE SKIP LOCKED`` for event claims, the database clock (``now()``) for leases so workers
on several machines agree on expiry, and a pool instead of a connection per thread.
"""

from __future__ import annotations

import json
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.errors import ConnectorError

# Per-record outcome of a run. Kept closed because run_counts() puts action and status names in
# one dict, and a dashboard must be able to tell them apart.
RESULT_STATUSES = ("ok", "failed", "skipped", "dead_letter")

# Terminal states a consumer may give an inbound event; "retry" puts it back in the queue.
EVENT_FINISH_STATUSES = ("done", "failed", "retry")

DEAD_LETTER_STATUSES = ("open", "resolved", "replayed")


class StateError(ConnectorError):
    """The store could not do what was asked (bad argument, closed store, storage failure)."""


class StateBusyError(StateError):
    """Another writer held the database longer than the busy timeout. Safe to retry."""


class FlowBusyError(StateBusyError):
    """Another live run of the same merchant flow holds it."""


class LockTimeout(StateError, TimeoutError):
    """``StateStore.lock`` did not get the lease within ``wait_seconds``."""


class StateUnreachable(StateError):
    """The state's database could not be reached (wrong URL, server down, credentials refused)."""


class BackendNotAvailable(StateError, NotImplementedError):
    """The URL names a backend that this version does not ship."""


@dataclass(frozen=True)
class OnceTicket:
    """Answer of :meth:`StateStore.begin_once`.

    status:
        "new": the caller now holds the entry and must do the work, then call ``complete_once``
        (or ``fail_once``). "done": already done; ``result`` is what was stored.
        "in_progress": another worker holds it and its lease has not expired; do not do the work.
    recovered:
        True with "new" when the previous holder's lease expired without an answer (a crashed
        run). The side effect may or may not have happened: look the remote side up before
        creating again.
    request_changed:
        True when ``request_hash`` was given and differs from the one stored by the first
        attempt. With "done" it means the work was done for a different request (e.g. the order
        changed since it was created): the caller may need an update rather than a create.
    token:
        Identifies this hold; pass it to ``fail_once``/``renew_once`` so a worker whose lease was
        taken over cannot release the new holder's entry.
    """

    scope: str
    key: str
    status: str
    result: dict | None = None
    recovered: bool = False
    request_changed: bool = False
    attempts: int = 0
    token: str | None = None
    last_error: str | None = None
    lease_expires_at: str | None = None

    @property
    def is_new(self) -> bool:
        return self.status == "new"


def utc_rfc3339(epoch_seconds: float) -> str:
    """Fixed-width UTC timestamp; fixed width is what makes text comparison equal time order."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime):
        if obj.tzinfo is None:
            raise TypeError("naive datetime in a stored value; times must be UTC-aware")
        return obj.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(obj, (set, frozenset)):
        raise TypeError("sets have no order; store a sorted list instead")
    raise TypeError(f"cannot store a value of type {type(obj).__name__} as JSON")


def dump_json(value: Any) -> str:
    """JSON text for a stored column: Decimal as string so no digit is ever lost to a float."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)


def load_json(text: str | None) -> Any:
    # Not engine.decimal_json: dump_json writes every Decimal as a string, so a number with a
    # fraction here was a float the engine made (a time, a weight) and reads back as that float.
    return None if text is None else json.loads(text)


def normalize_error(error: dict | BaseException | str) -> dict:
    """Shape a dead-letter error as ``{message, type, chain, field_errors}``.

    Accepts an exception too, so a flow can hand over what it caught; the chain follows
    ``__cause__``/``__context__`` to the root, which is what people need to fix a record.
    """
    if isinstance(error, BaseException):
        chain: list[str] = []
        seen: set[int] = set()
        cur: BaseException | None = error.__cause__ or error.__context__
        while cur is not None and id(cur) not in seen:
            seen.add(id(cur))
            chain.append(f"{type(cur).__name__}: {cur}")
            cur = cur.__cause__ or cur.__context__
        return {
            "message": str(error),
            "type": type(error).__name__,
            "chain": chain,
            "field_errors": list(getattr(error, "field_errors", []) or []),
        }
    if isinstance(error, str):
        return {"message": error, "type": "", "chain": [], "field_errors": []}
    if not isinstance(error, dict) or "message" not in error:
        raise StateError("a dead-letter error must be a dict with at least 'message'")
    out = dict(error)
    out.setdefault("type", "")
    out["chain"] = list(out.get("chain") or [])
    out["field_errors"] = list(out.get("field_errors") or [])
    return out


class StateStore(ABC):
    """Durable state of one merchant. Use as a context manager or call :meth:`close`."""

    # ---- ID map ---------------------------------------------------------------------------

    @abstractmethod
    def map_id(self, entity: str, connection: str, key: str, remote_id: str,
               extra: dict | None = None) -> None:
        """Remember that ``key`` (the cross-channel key, e.g. master SKU) is ``remote_id`` on
        ``connection``. Replaces an existing mapping for the same (entity, connection, key)."""

    @abstractmethod
    def get_remote_id(self, entity: str, connection: str, key: str) -> str | None:
        """The remote id mapped to ``key``, or None."""

    @abstractmethod
    def get_mapping(self, entity: str, connection: str, key: str) -> dict | None:
        """``{"remote_id", "extra", "updated_at"}`` for ``key``, or None."""

    @abstractmethod
    def find_key_by_remote_id(self, entity: str, connection: str, remote_id: str) -> str | None:
        """Reverse look-up (webhooks carry remote ids). If several keys map to the same remote
        id, the most recently mapped one wins."""

    @abstractmethod
    def list_mappings(self, entity: str, connection: str) -> list[dict]:
        """All mappings of an entity on a connection, ordered by key:
        ``[{"key", "remote_id", "extra", "updated_at"}]``."""

    @abstractmethod
    def delete_mapping(self, entity: str, connection: str, key: str) -> bool:
        """Forget a mapping (the remote object was deleted). True if one existed."""

    # ---- content hashes -------------------------------------------------------------------

    @abstractmethod
    def get_hash(self, entity: str, connection: str, key: str) -> str | None:
        """Digest stored after the last successful push of ``key`` to ``connection``."""

    @abstractmethod
    def set_hash(self, entity: str, connection: str, key: str, digest: str) -> None:
        """Store the digest of what was just pushed (see :func:`engine.state.content_hash`)."""

    # ---- cursors --------------------------------------------------------------------------

    @abstractmethod
    def get_cursor(self, flow: str, connection: str, name: str) -> str | None:
        """Where an incremental pull of ``flow`` on ``connection`` stopped last time."""

    @abstractmethod
    def set_cursor(self, flow: str, connection: str, name: str, value: str) -> None:
        """Move the cursor. Call only after the records before it are recorded."""

    # ---- idempotency ledger ---------------------------------------------------------------

    @abstractmethod
    def begin_once(self, scope: str, key: str, request_hash: str | None = None, *,
                   lease_seconds: float | None = None) -> OnceTicket:
        """Claim the side effect ``(scope, key)``, e.g. ("create:order:store", channel_order_id).

        Atomic across threads and processes: of any number of concurrent callers exactly one
        gets "new". ``lease_seconds`` (default: the store's, 300 s) is how long this hold stays
        valid without ``complete_once``/``fail_once``/``renew_once``; after that another caller
        takes over with ``recovered=True``. A "failed" entry is handed out again as "new".
        """

    @abstractmethod
    def complete_once(self, scope: str, key: str, result: dict) -> bool:
        """Record the side effect as done with ``result`` (e.g. the created remote id).

        Recorded whoever calls it, even a holder whose lease was taken over: the work did happen,
        and "done" is what stops a duplicate. An entry already done keeps its first result and
        this returns False.
        """

    @abstractmethod
    def fail_once(self, scope: str, key: str, error: str, *, token: str | None = None) -> bool:
        """Release an in-progress entry so a retry may try again; never undoes "done".
        With ``token``, only the hold that token belongs to is released. True if released."""

    @abstractmethod
    def renew_once(self, scope: str, key: str, token: str, *,
                   lease_seconds: float | None = None) -> bool:
        """Extend a hold during long work. False if the hold was lost (taken over or finished)."""

    @abstractmethod
    def get_once(self, scope: str, key: str) -> dict | None:
        """Inspect a ledger entry: status (in_progress/done/failed), result, error, attempts..."""

    # ---- stock reservations -----------------------------------------------------------------

    @abstractmethod
    def reserve_stock(self, connection: str, order_key: str, lines: dict[str, int]) -> bool:
        """Hold SKU -> quantity for an order the merchant system has not taken yet (on hold). The
        same hold again changes nothing (False); other lines replace the order's hold."""

    @abstractmethod
    def release_stock(self, connection: str, order_key: str, reason: str) -> bool:
        """Let the order's hold go (it reached the merchant system, or was cancelled). True if one was held."""

    @abstractmethod
    def reservations(self, connection: str | None = None, order_key: str | None = None,
                     status: str | None = "held") -> list[dict]:
        """Reservation rows: connection, order_key, sku, quantity, status, reason, created_at, updated_at."""

    @abstractmethod
    def reserved_stock(self, connection: str | None = None) -> dict[str, int]:
        """SKU -> units held now (what the inventory flow takes off what may be sold)."""

    # ---- runs -----------------------------------------------------------------------------

    @abstractmethod
    def start_run(self, merchant: str, flow: str, dry_run: bool, options: dict) -> str:
        """Open a run in status "running"; return its id. Ids sort by start time."""

    @abstractmethod
    def finish_run(self, run_id: str, status: str, summary: dict) -> None:
        """Close a run with a final status (e.g. ok, partial, failed) and a summary."""

    @abstractmethod
    def record_result(self, run_id: str, entity: str, key: str, action: str, status: str,
                      detail: dict | None = None) -> None:
        """One record's outcome. ``action``: create/update/skip/price_update/...;
        ``status``: one of ok, failed, skipped, dead_letter."""

    @abstractmethod
    def get_run(self, run_id: str) -> dict | None:
        """``{"run_id", "merchant", "flow", "dry_run", "options", "status", "summary",
        "started_at", "finished_at"}`` or None."""

    @abstractmethod
    def list_runs(self, merchant: str | None = None, flow: str | None = None,
                  limit: int = 20) -> list[dict]:
        """Most recent first."""

    @abstractmethod
    def run_results(self, run_id: str, status: str | None = None) -> list[dict]:
        """Per-record results in recording order, optionally only one status."""

    @abstractmethod
    def run_counts(self, run_id: str) -> dict[str, int]:
        """Counts by action and by status in one dict, plus "total". Every status in
        RESULT_STATUSES is present (0 if none); actions appear only when used."""

    # ---- dead letters ---------------------------------------------------------------------

    @abstractmethod
    def add_dead_letter(self, run_id: str | None, merchant: str, flow: str, step: str, entity: str,
                        key: str, payload: dict, error: dict | BaseException) -> int:
        """File a failed record. If an open dead letter exists for the same
        (merchant, flow, entity, key), it is updated (attempts + 1, latest run, step, payload and
        error) and its id returned, so a record failing every run is one entry, not hundreds.
        ``error``: ``{message, type, chain, field_errors}`` (an exception is converted)."""

    @abstractmethod
    def list_dead_letters(self, merchant: str | None = None, flow: str | None = None,
                          status: str | None = "open") -> list[dict]:
        """Oldest first. ``status=None`` lists every status."""

    def open_dead_letter_ids(self, merchant: str, flow: str, key: str) -> list[int]:
        """Ids of the open dead letters of one record of a flow (any entity), oldest first: what
        a run closes after the record went through. A backend answers from an index; this
        default reads the flow's whole queue."""
        return [letter["id"] for letter in self.list_dead_letters(merchant=merchant, flow=flow)
                if letter["key"] == key]

    @abstractmethod
    def get_dead_letter(self, dlq_id: int) -> dict | None:
        """The full record, or None."""

    @abstractmethod
    def update_dead_letter_payload(self, dlq_id: int, payload: dict) -> None:
        """Replace the payload (a person fixed the record before replaying it)."""

    @abstractmethod
    def resolve_dead_letter(self, dlq_id: int, note: str = "") -> None:
        """Close by hand (fixed elsewhere, or not worth replaying)."""

    @abstractmethod
    def mark_replayed(self, dlq_id: int, run_id: str, ok: bool) -> None:
        """Record a replay. ``ok`` closes the entry as "replayed"; a failed replay leaves it
        open (the replay run's own add_dead_letter counts the attempt)."""

    # ---- leases and locks -----------------------------------------------------------------

    @abstractmethod
    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take ``name`` for ``owner`` if free, expired, or already ``owner``'s (then extended)."""

    @abstractmethod
    def renew_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Extend ``owner``'s lease. False if someone else holds it now."""

    @abstractmethod
    def release_lease(self, name: str, owner: str) -> bool:
        """Give the lease back. False if ``owner`` did not hold it."""

    @abstractmethod
    def get_lease(self, name: str) -> dict | None:
        """``{"name", "owner", "expires_at", "acquired_at"}`` (possibly expired) or None."""

    @contextmanager
    def lock(self, name: str, owner: str, ttl: float = 30.0, wait_seconds: float = 10.0,
             poll_seconds: float = 0.05) -> Iterator[None]:
        """Serialize work on ``name`` (e.g. one SKU's inventory) across threads and processes.

        Polls :meth:`acquire_lease` with backoff up to ``wait_seconds`` (wall time, not the
        store's clock, so a test clock cannot make it spin forever) and raises
        :class:`LockTimeout` if it never gets it. ``ttl`` bounds how long a crashed holder blocks
        others; work longer than ``ttl`` must call :meth:`renew_lease`. ``owner`` must be unique
        per holder: the same owner re-acquires its own lease, so two threads sharing an owner
        would both get in.
        """
        deadline = time.monotonic() + wait_seconds
        delay = poll_seconds
        while not self.acquire_lease(name, owner, ttl):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockTimeout(f"lock {name!r} not acquired by {owner!r} within {wait_seconds}s")
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)
        try:
            yield
        finally:
            self.release_lease(name, owner)

    # ---- stock: per-SKU locks, what was offered, listings paused for stock -----------------
    # Every writer of a SKU's stock (a scheduled run, an event worker, a reconciliation) holds the
    # SKU's lock while it reads the source, computes what may be sold and writes the channel, so two
    # writers never interleave their read and write and a stale value never lands after a fresh one.
    # The locks are leases: a holder that dies frees them when their time to live runs out.

    @staticmethod
    def stock_lock_name(connection: str, sku: str) -> str:
        """The lease that guards one SKU of a source connection (the merchant system)."""
        return f"stock:{connection}:{sku}"

    @abstractmethod
    def acquire_stock_locks(self, connection: str, skus: Iterable[str], owner: str, ttl_seconds: float) -> bool:
        """Take the lock of every SKU for ``owner``, all of them or none, atomically: a writer of
        several SKUs (one listing's) never holds some while it waits for others, so two writers
        cannot deadlock. A lock that is free, expired, or already ``owner``'s is taken."""

    @abstractmethod
    def release_stock_locks(self, connection: str, skus: Iterable[str], owner: str) -> int:
        """Give back the locks ``owner`` holds among these SKUs; how many were released."""

    def renew_stock_locks(self, connection: str, skus: Iterable[str], owner: str, ttl_seconds: float) -> bool:
        """Extend ``owner``'s locks during long work. False if any of them was lost (expired and taken)."""
        return all([self.renew_lease(self.stock_lock_name(connection, sku), owner, ttl_seconds)
                    for sku in sorted(set(skus))])

    def stock_lock_holders(self, connection: str, skus: Iterable[str]) -> dict[str, dict]:
        """SKU -> its lease (owner, expires_at), for the SKUs whose lock row exists (it may have expired)."""
        held = {}
        for sku in sorted(set(skus)):
            lease = self.get_lease(self.stock_lock_name(connection, sku))
            if lease is not None:
                held[sku] = lease
        return held

    @contextmanager
    def stock_locks(self, connection: str, skus: Iterable[str], owner: str, ttl: float = 30.0,
                    wait_seconds: float = 10.0, poll_seconds: float = 0.01) -> Iterator[None]:
        """Hold the locks of these SKUs for the duration of the block (see :meth:`lock` for the
        waiting; raises :class:`LockTimeout` when they are not all free within ``wait_seconds``)."""
        wanted = sorted(set(skus))
        deadline = time.monotonic() + wait_seconds
        delay = poll_seconds
        while not self.acquire_stock_locks(connection, wanted, owner, ttl):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                busy = ", ".join(sorted(self.stock_lock_holders(connection, wanted)))
                raise LockTimeout(f"stock locks of {connection} not acquired by {owner!r} within {wait_seconds}s "
                                  f"(held: {busy or 'none any more'})")
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.25)
        try:
            yield
        finally:
            self.release_stock_locks(connection, wanted, owner)

    def get_stock(self, connection: str, sku: str) -> dict | None:
        """What was last offered for ``sku`` on a channel connection: ``{"salable", "warehouses":
        {warehouse: units}, "at"}``, as written by the inventory flow."""
        return self.kv_get(f"stock:{connection}", sku)

    def set_stock(self, connection: str, sku: str, value: dict) -> None:
        self.kv_set(f"stock:{connection}", sku, value)

    def get_stock_paused(self, connection: str, listing: str) -> dict | None:
        """Set while the inventory flow holds a listing deactivated because it sold out (so only
        a listing it deactivated itself is activated again when stock returns)."""
        return self.kv_get(f"stock_paused:{connection}", listing)

    def set_stock_paused(self, connection: str, listing: str, value: dict | None) -> None:
        if value is None:
            self.kv_delete(f"stock_paused:{connection}", listing)
        else:
            self.kv_set(f"stock_paused:{connection}", listing, value)

    # ---- key/value (connector tokens) -----------------------------------------------------

    @abstractmethod
    def kv_get(self, namespace: str, key: str) -> dict | None:
        """A stored value, e.g. kv_get("auth", "shop-us") -> {"access_token": ..., ...}."""

    @abstractmethod
    def kv_set(self, namespace: str, key: str, value: dict) -> None:
        """Store a value durably. Rotating refresh tokens: refresh under
        ``lock("auth:<connection>", ...)`` so two processes never spend the same refresh token."""

    @abstractmethod
    def kv_delete(self, namespace: str, key: str) -> bool:
        """Remove a value. True if it existed."""

    def kv_get_many(self, namespace: str, keys: list[str]) -> dict[str, dict]:
        """The values of those of `keys` that have one (backends answer in a few statements)."""
        found = {key: self.kv_get(namespace, key) for key in dict.fromkeys(keys)}
        return {key: value for key, value in found.items() if value is not None}

    def kv_set_many(self, namespace: str, items: dict[str, dict]) -> None:
        """Store several values of one namespace (backends do it in one transaction)."""
        for key, value in items.items():
            self.kv_set(namespace, key, value)

    def kv_clear(self, namespace: str) -> int:
        """Remove every value of a namespace; the number removed."""
        raise BackendNotAvailable(f"{type(self).__name__} cannot clear a namespace")

    # ---- typed parts kept as values: snapshots, tokens, create quotas ------------------------
    # Steps use these, never kv_* with a namespace string of their own, so every part of the
    # state has one name and one shape, whatever the backend.

    def get_snapshot(self, entity: str, connection: str, key: str) -> Any:
        """The canonical record as last pushed to the connection (for diffs and skip_unchanged)."""
        found = self.kv_get(f"snapshot:{entity}:{connection}", key)
        return found.get("record") if found else None

    def set_snapshot(self, entity: str, connection: str, key: str, record: Any) -> None:
        self.kv_set(f"snapshot:{entity}:{connection}", key, {"record": record})

    # SKUs claimed by the records of one run (the duplicate-SKU check across a whole catalog):
    # a table in the store, not in the run's memory, so a run holds O(record), whatever the
    # catalog's size. `scope` names the run; it is cleared when the run ends.

    def sku_claims(self, scope: str, skus: list[str]) -> dict[str, str]:
        """SKU -> the key of the record that claimed it in this scope, for those of `skus` claimed."""
        return {sku: value["owner"] for sku, value in self.kv_get_many(f"sku_claims:{scope}", skus).items()}

    def claim_skus(self, scope: str, skus: list[str], owner: str) -> None:
        self.kv_set_many(f"sku_claims:{scope}", {sku: {"owner": owner} for sku in skus})

    def clear_sku_claims(self, scope: str) -> int:
        return self.kv_clear(f"sku_claims:{scope}")

    def get_price_memo(self, connection: str, key: str) -> dict | None:
        """What the price rules last set for a record on a connection: per SKU the promotion in
        force, its price and the regular price it replaced (so its end can report the restore)."""
        return self.kv_get(f"price_memo:{connection}", key)

    def set_price_memo(self, connection: str, key: str, memo: dict | None) -> None:
        if memo:
            self.kv_set(f"price_memo:{connection}", key, memo)
        else:
            self.kv_delete(f"price_memo:{connection}", key)

    def kv_replace(self, namespace: str, key: str, old: dict, new: dict) -> bool:
        """Store ``new`` only if the value is still ``old``; True if it was. Backends make the
        comparison and the write one statement; this default is for stores with one writer."""
        if self.kv_get(namespace, key) != old:
            return False
        self.kv_set(namespace, key, new)
        return True

    def get_token(self, key: str) -> dict | None:
        """A connection's rotating credentials (access and refresh tokens with their expiry),
        kept sealed (engine/state/sealed.py). A value stored before tokens were sealed, or sealed
        with a key that is no longer the first, is written back sealed with the first key."""
        # The key first, even with nothing stored yet: a connection reads its tokens before it
        # refreshes them, so a bad key stops it before the platform rotates a token it could not keep.
        sealer = self.token_sealer()
        stored = self.kv_get("tokens", key)
        if stored is None:
            return None
        value, rewrite = sealer.open(stored, f"connection {key!r}")
        if rewrite:
            self.kv_replace("tokens", key, stored, sealer.seal(value))
        return value

    def set_token(self, key: str, value: dict) -> None:
        self.kv_set("tokens", key, self.token_sealer().seal(value))

    # The key that seals tokens: given by the merchant (state.key), else CONNECTOR_STATE_KEY, else
    # a key file beside a SQLite state file; read when tokens are first read or written, so a
    # store no token connection uses never makes a key file.
    _token_key: str | None = None
    _token_key_origin = "state.key"
    _token_key_file: str | None = None
    _token_sealer: Any = None

    def use_token_key(self, key: str | None = None, *, origin: str = "state.key",
                      key_file: str | None = None) -> None:
        """Seal tokens with ``key`` (Fernet keys separated by commas; the first seals), or, when
        it is None and CONNECTOR_STATE_KEY is not set, with the key in ``key_file`` (generated
        owner-only if missing; default: beside a SQLite state file)."""
        self._token_key, self._token_key_origin = key, origin
        self._token_key_file = key_file
        self._token_sealer = None

    def token_sealer(self) -> Any:
        if self._token_sealer is None:
            from engine.state import sealed

            env = os.environ.get(sealed.KEY_ENV)
            if self._token_key:
                made = sealed.TokenSealer.from_text(self._token_key, self._token_key_origin)
            elif env and env.strip():
                made = sealed.TokenSealer.from_text(env, sealed.KEY_ENV)
            else:
                path = getattr(self, "path", None)
                file = self._token_key_file or sealed.default_key_file(path)
                if file is not None:
                    made = sealed.TokenSealer.from_key_file(Path(file))
                elif path == ":memory:":
                    made = sealed.ephemeral_sealer()
                else:
                    raise sealed.TokenKeyError(
                        f"no key to seal connector tokens with: set {sealed.KEY_ENV} (the same on every "
                        "worker) or state.key in the merchant file")
            self._token_sealer = made
        return self._token_sealer

    def get_breaker(self, connection: str) -> dict | None:
        """A connection's circuit breaker as last opened or closed (engine/http/breaker.py)."""
        return self.kv_get("breaker", connection)

    def set_breaker(self, connection: str, value: dict) -> None:
        self.kv_set("breaker", connection, value)

    def creates_on(self, connection: str, day: str) -> int:
        """How many records the connection created on a UTC day (daily listing quotas)."""
        return int((self.kv_get("listing_quota", f"{connection}:{day}") or {}).get("created", 0))

    def count_create(self, connection: str, day: str) -> None:
        self.kv_set("listing_quota", f"{connection}:{day}", {"created": self.creates_on(connection, day) + 1})

    # ---- inbound events -------------------------------------------------------------------
    # A webhook receiver stores each verified event (committed) before it acknowledges it; workers
    # claim events, process them and finish them. A claim is a lease: a worker that dies leaves its
    # events to be claimed again once the lease expires (or at once, by release_event_claims, when
    # its process is known to be gone). `attempts` counts claims, so a poison event that crashes
    # its worker every time still reaches the dead-letter queue.

    @abstractmethod
    def store_event(self, source: str, event_id: str | None, topic: str, payload_raw: bytes,
                    headers: dict) -> bool:
        """Durably store a verified inbound event before it is acknowledged. False if
        (source, event_id) is already stored (a redelivery): acknowledge it and do nothing.
        ``event_id`` None: the platform sends no delivery id; the SHA-256 of the body is used.
        Headers that carry credentials are dropped."""

    def store_events(self, events: list[tuple[str, str | None, str, bytes, dict]]) -> list[bool]:
        """Several ``store_event`` argument tuples committed together (a receiver under a burst
        commits what arrived meanwhile in one transaction). A backend does it in one transaction;
        this default stores them one by one."""
        return [self.store_event(*event) for event in events]

    @abstractmethod
    def claim_events(self, limit: int, owner: str, lease_seconds: float) -> list[dict]:
        """Take up to ``limit`` pending events, oldest first, for ``lease_seconds``. Events whose
        claim expired (a crashed worker) are claimable again; events put back with a backoff wait
        for it. Each: ``{"source", "event_id", "topic", "payload_raw", "headers", "attempts",
        "received_at", "outcome"}``, attempts counting this claim, outcome what earlier attempts
        recorded (None before any)."""

    @abstractmethod
    def renew_event_claims(self, owner: str, lease_seconds: float) -> int:
        """Extend every claim ``owner`` holds (long work); the number renewed."""

    @abstractmethod
    def finish_event(self, source: str, event_id: str, status: str, error: str | None = None, *,
                     retry_in: float = 0.0, count_attempt: bool = True, outcome: dict | None = None) -> bool:
        """``status``: "done", "failed" (terminal), or "retry" (back to pending, claimable again
        after ``retry_in`` seconds; ``count_attempt=False`` when the event was not tried, e.g. the
        flow was busy or the server is stopping). ``outcome``: what processing did (flows, runs)."""

    @abstractmethod
    def event_claim_owners(self) -> list[str]:
        """Owners holding claims now (to find the claims of a worker whose process is gone)."""

    @abstractmethod
    def release_event_claims(self, owner: str) -> int:
        """Put every event ``owner`` holds back in the queue (its process is gone). Their attempts
        stay counted: an event that kills its worker must not be retried forever."""

    @abstractmethod
    def event_backlog(self) -> dict[str, dict]:
        """Events not finished, per source: ``{source: {"pending", "processing", "oldest"}}``."""

    @abstractmethod
    def event_counts(self, source: str | None = None) -> dict[str, int]:
        """Events by status (pending, processing, done, failed), of one source or all."""

    @abstractmethod
    def get_event(self, source: str, event_id: str) -> dict | None:
        """Inspect one stored event, including its status, attempts, last error and outcome."""

    @abstractmethod
    def reclaim_failed_event(self, source: str, event_id: str, owner: str, lease_seconds: float, *,
                             topic: str | None = None, payload_raw: bytes | None = None) -> dict | None:
        """Take a failed (dead-lettered) event back to process it again now, claimed by ``owner``
        as ``claim_events`` would claim it, with one attempt counted; ``topic`` and ``payload_raw``
        replace the stored ones when given (the connector's topics fixed, the payload fixed by
        hand). None when the event is not stored or not failed (already replayed, say)."""

    @abstractmethod
    def purge_events(self, finished_before: str, statuses: tuple[str, ...] = ("done",)) -> int:
        """Delete events of ``statuses`` finished before the RFC 3339 time ``finished_before``.
        Pending and processing events are never purged. Their delivery ids go with them, so a
        platform that redelivers an event older than that is processed again (the flows' writes
        are idempotent, so nothing is created twice)."""

    def dead_letter_event(self, source: str, event_id: str, merchant: str, flow: str, payload: dict,
                          error: dict | BaseException | str) -> int:
        """Give up on an event: it goes to the dead-letter queue (entity "event", keyed by source
        and event id, with its payload and error) and is finished as failed."""
        err = normalize_error(error)
        letter = self.add_dead_letter(None, merchant, flow, "webhook", "event", f"{source}:{event_id}", payload, err)
        self.finish_event(source, event_id, "failed", err["message"])
        return letter

    # ---- audit log ------------------------------------------------------------------------
    # Who did what by hand (a replay, a resolve, an edited payload) and when. Append-only.

    @abstractmethod
    def add_audit_entry(self, merchant: str, actor: str, action: str, target: str,
                        detail: dict | None = None) -> int:
        """Record one action taken by a person; the entry's id. ``detail`` must be redacted."""

    @abstractmethod
    def list_audit_entries(self, merchant: str | None = None, limit: int = 100) -> list[dict]:
        """Most recent first: ``{"id", "at", "merchant", "actor", "action", "target", "detail"}``."""

    # ---- lifecycle ------------------------------------------------------------------------

    @abstractmethod
    def close(self) -> None:
        """Release connections. Call when no other thread is still using the store."""

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
