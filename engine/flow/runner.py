"""Build a merchant's flow (connections, compiled mappings, steps) and run it record by record.

One bad record never stops a run: its error, step and payload go to the dead-letter queue and
the next record is processed. Connection-level failures (auth, outage) end the run early with
the records so far recorded, because every further record would fail the same way.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConnectorError, Problem, RecordError, SpecError
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.flow.registry import STEPS
from engine.flow.run_lease import RunLease
from engine.flow.steps import Pull, Step
from engine.http import Connection, HttpCallError
from engine.http.breaker import Breaker, BreakerPolicy, ConnectionDown
from engine.http.ratelimit import SharedLimiter
from engine.lang.expr import ExprEvalError
from engine.project.loader import Document, Project
from engine.project.plan import build_plan
from engine.project.secrets import REDACTOR, SecretRef, expand_settings, resolve_credentials
from engine.project.yamlpos import plain
from engine.state import STATE_KEY_ENV, STATE_URL_ENV, is_postgres_url, open_store
from engine.state.store import FlowBusyError

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What a run did. `counts` has every record; `results` has the first KEEP_LETTERS dead letters
    and, in a real run, the first KEEP_RESULTS other outcomes (each record's result and letter is in
    the state store already: `connector runs show`, `connector dlq list`), so a run's memory does
    not grow with the catalog. A dry run writes nothing anywhere else, so it keeps the outcomes and
    planned bodies of the plan it prints, up to KEEP_PLAN records: a dry run of a whole large
    catalog still runs in flat memory, and `not_kept` says how many outcomes its counts hold beyond
    those shown (`letters_not_kept` the same for dead letters)."""

    KEEP_RESULTS = 1000
    KEEP_PLAN = 1000
    KEEP_LETTERS = 1000

    run_id: str
    merchant: str
    flow: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    results: list[dict] = field(default_factory=list)
    planned: list[dict] = field(default_factory=list)
    status: str = "ok"
    error: str = ""
    seconds: float = 0.0
    not_kept: int = 0  # dry run: outcomes beyond KEEP_PLAN, counted but not kept
    letters_not_kept: int = 0  # dead letters beyond KEEP_LETTERS, counted but not kept

    def add(self, action: str) -> None:
        self.counts[action] = self.counts.get(action, 0) + 1

    @property
    def dead_letters(self) -> list[dict]:
        """The results of the records that went (in a dry run: would go) to the dead-letter queue."""
        return [r for r in self.results if r["action"] == "dead_letter"]


class StoreTokenStore:
    """Connector tokens (rotating refresh tokens) persisted in the merchant's state store."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def get(self, key: str) -> dict | None:
        return self.store.get_token(key)

    def set(self, key: str, value: dict) -> None:
        self.store.set_token(key, value)


class Merchant:
    """A loaded merchant project: its file, the project around it, its state store, its connections."""

    def __init__(self, merchant_file: str | Path, *, extra_paths: list[Path] | None = None,
                 environ: dict | None = None, transports: dict[str, Any] | None = None,
                 state_url: str | None = None) -> None:
        path = Path(merchant_file)
        # The merchant's folder is its project, as `connector validate FOLDER` sees it: flows and
        # mappings written beside the merchant file are known to the run too.
        self.project = Project.load([path, path.parent, *(extra_paths or [])])
        self.document = next((d for d in self.project.documents["merchant"].values()
                              if d.path.resolve() == path.resolve()), None)
        if self.document is None:
            raise SpecError(self.project.problems or [Problem(f"{path} is not a merchant file", None)])
        self.plan = build_plan(self.project)
        if self.plan.errors:
            raise SpecError(self.plan.errors)
        self.doc = self.document.doc
        self.name = self.doc["name"]
        self.base_dir = path.parent
        self.environ = environ
        self.transports = transports or {}
        self.schemas = self.plan.schemas
        # The environment's state URL (one database for every merchant of a deployment) wins over
        # the merchant file's.
        url = (state_url or (environ or {}).get(STATE_URL_ENV) or os.environ.get(STATE_URL_ENV)
               or (self.doc.get("state") or {}).get("url"))
        if url is None:
            (self.base_dir / ".state").mkdir(exist_ok=True)
            url = str(self.base_dir / ".state" / f"{self.name}.db")
        self.state_url = url
        self.store = open_store(url, namespace=self.name)
        self._use_token_key(url)
        self._connections: dict[str, Connection] = {}

    def _use_token_key(self, url: str) -> None:
        """Rotated tokens are sealed with state.key, else CONNECTOR_STATE_KEY, else a key file
        beside the SQLite state (or in the project's .state folder for a PostgreSQL state)."""
        ref = (self.doc.get("state") or {}).get("key")
        key = SecretRef.parse(ref, self.base_dir).resolve(self.environ) if ref else \
            (self.environ or {}).get(STATE_KEY_ENV)
        key_file = str(self.base_dir / ".state" / f"{self.name}.key") if is_postgres_url(url) else None
        self.store.use_token_key(key, origin="state.key" if ref else STATE_KEY_ENV, key_file=key_file)

    def connection(self, name: str) -> Connection:
        if name not in self._connections:
            conn = self.doc["connections"][name]
            spec = self.plan.connectors[conn["connector"]]
            credentials = resolve_credentials(plain(conn.get("credentials") or {}), self.base_dir, self.environ)
            # The breaker's state is the store's, so every process serving this merchant sees it.
            breaker = Breaker(name, BreakerPolicy.from_spec(spec.spec.get("breaker"), plain(conn.get("breaker") or {}),
                                                          max_attempts=spec.retry.max_attempts),
                              persist=lambda state, _n=name: self.store.set_breaker(_n, state),
                              initial=self.store.get_breaker(name))
            self._connections[name] = Connection(
                spec, settings=expand_settings(plain(conn.get("settings") or {}), self.environ),
                credentials=credentials,
                token_store=StoreTokenStore(self.store), transport=self.transports.get(name), name=name,
                breaker=breaker)
            if hasattr(self.store, "reserve_call"):
                # State shared by several workers: so is each connection's call budget.
                made = self._connections[name]
                made.limiter = SharedLimiter(made.limiter, self.store, f"{name}")
        return self._connections[name]

    def flow_names(self) -> list[str]:
        return list((self.doc.get("flows") or {}).keys())

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self.store.close()


class FlowRun:
    """One run of one merchant flow."""

    def __init__(self, merchant: Merchant, flow: str, *, dry_run: bool = False, limit: int | None = None,
                 mode: str = "run", skus: list[str] | None = None) -> None:
        binding = (merchant.doc.get("flows") or {}).get(flow)
        if binding is None:
            raise ConnectorError(f"merchant {merchant.name} has no flow {flow!r}; "
                                 f"enabled: {', '.join(merchant.flow_names()) or 'none'}")
        self.merchant = merchant
        plan = merchant.plan.flow(merchant.name, flow)
        roles = dict(plan.roles)
        self.ctx = RunContext(
            merchant=merchant.name, flow=flow, flow_name=plan.flow,
            options=dict(plan.options),
            connections={role: merchant.connection(name) for role, name in roles.items()},
            connection_names=roles,
            connection_meta={role: {"region": merchant.doc["connections"][name].get("region"),
                                    "currency": merchant.doc["connections"][name].get("currency"),
                                    "connector": merchant.doc["connections"][name]["connector"]}
                             for role, name in roles.items()},
            store=merchant.store, dry_run=dry_run, limit=limit, schemas=merchant.schemas,
            exprs=merchant.plan.exprs, plans=dict(plan.mappings), mode=mode,
            skus=tuple(sorted(skus)) if skus else None,
            stock_writers=merchant.plan.stock_writers(merchant.name),
        )
        self.ctx.restock = self._restock
        # The plan's steps, resolved and compiled when the merchant was loaded; a run only binds
        # them to its connections and state.
        self.steps: list[Step] = [STEPS.get(step.kind).impl(step.options, self.ctx) for step in plan.steps]
        if not self.steps or not isinstance(self.steps[0], Pull):
            raise SpecError(Problem("a flow run by `connector run` starts with a pull step", plan.document.loc))

    def _restock(self, skus: list[str]) -> None:
        """The merchant's stock flows write these SKUs again now: as jobs on a worker (the run's
        defer_stock), else in one run of each here (a run about these SKUs, as a job makes)."""
        skus = sorted(set(skus))
        if not skus or self.ctx.dry_run:
            return
        if self.ctx.defer_stock is not None:
            self.ctx.defer_stock(skus)
            return
        for flow in dict.fromkeys(flow for writers in self.ctx.stock_writers.values() for flow in writers):
            try:
                # Nothing pulled: the stock step reads these SKUs' levels again itself.
                report = FlowRun(self.merchant, flow, skus=skus).run(records=iter(()))
            except FlowBusyError as exc:  # a run about the same SKUs is writing them now
                log.info("%s / %s: stock of %d SKU(s) not written again here: %s", self.ctx.merchant, flow,
                         len(skus), exc)
                continue
            log.info("%s / %s: stock of %d SKU(s) written again: %s %s", self.ctx.merchant, flow, len(skus),
                     report.status, report.counts)

    # ------------------------------------------------------------------ running

    def run(self, records: Iterator[Record] | None = None,
            progress: Callable[[Record, str], None] | None = None) -> RunReport:
        ctx, store = self.ctx, self.merchant.store
        # A reconciliation holds a lease of its own: it may run beside the flow's runs, whose
        # writes it serializes with per record (the steps' own locks), never beside another one.
        name = ctx.flow if ctx.mode == "run" else f"{ctx.flow}:{ctx.mode}"
        if ctx.skus:  # a run about some SKUs only: runs about other SKUs go on beside it
            name += ":sku:" + ",".join(ctx.skus)
        lease = None if ctx.dry_run else RunLease(store, ctx.merchant, name)
        if lease is not None:
            lease.acquire()  # FlowBusyError when another live run of this flow holds it
            ctx.exclusive = True
        try:
            return self._run(records, progress, lease)
        finally:
            # Steps that keep a per-run table in the state store (the SKUs claimed so far) drop it.
            for step in self.steps:
                close = getattr(step, "close", None)
                if close is not None:
                    close(ctx)
            ctx.exclusive = False
            if lease is not None:
                lease.release()

    def _run(self, records: Iterator[Record] | None, progress: Callable[[Record, str], None] | None,
             lease: RunLease | None) -> RunReport:
        ctx, store = self.ctx, self.merchant.store
        started = time.monotonic()
        ctx.run_id = "dry-run" if ctx.dry_run else store.start_run(ctx.merchant, ctx.flow, False, ctx.options)
        report = RunReport(ctx.run_id, ctx.merchant, ctx.flow, ctx.dry_run)
        for conn in ctx.connections.values():
            if getattr(conn, "breaker", None) is not None:
                conn.breaker.new_run()
        source = records if records is not None else self.steps[0].records(ctx)
        if ctx.dry_run:
            ctx.planned = _Kept(report.KEEP_PLAN)  # the bodies shown with the first outcomes
        kept = letters = 0  # outcomes other than dead letters, and dead letters, held in report.results

        def handle(record: Record, start: int = 1) -> None:
            nonlocal kept, letters
            if lease is not None:
                lease.keep()
            outcome = self.process(record, start)
            report.add(outcome["action"])
            if outcome["action"] == "gathered":
                return  # held by a step until the read ends; its group's outcome is recorded
            if outcome["action"] == "dead_letter":
                if letters < report.KEEP_LETTERS:
                    report.results.append(outcome)
                    letters += 1
                else:
                    report.letters_not_kept += 1
            elif kept < (report.KEEP_PLAN if ctx.dry_run else report.KEEP_RESULTS):
                report.results.append(outcome)
                kept += 1
            elif ctx.dry_run:
                report.not_kept += 1
            if progress:
                progress(record, outcome["action"])

        try:
            for record in source:
                handle(record)
            # A step that gathers records (stock levels summed per SKU and listing) lets them go
            # once the read has ended, grouped; each group goes on from that step.
            for index, step in enumerate(self.steps[1:], start=1):
                drain = getattr(step, "drain", None)
                if drain is None:
                    continue
                groups = iter(drain(ctx))
                try:
                    for record in groups:
                        handle(record, index)
                finally:
                    getattr(groups, "close", lambda: None)()
        except HttpCallError as exc:  # auth or outage: every further record would fail the same way
            report.status, report.error = "failed", REDACTOR.text(str(exc))
        except ConnectionDown as exc:  # a breaker is open: the record in hand and the rest wait
            report.status, report.error = "down", REDACTOR.text(str(exc))
            report.add("not_synced")
        if report.status == "ok":
            # A step may take a refused call as its record's failure; a breaker it opened (refused
            # credentials, an outage) still ends the run as the connection's failure, never as a success.
            for role, conn in ctx.connections.items():
                state = conn.breaker.snapshot() if getattr(conn, "breaker", None) is not None else {}
                if state.get("state", "closed") != "closed":
                    report.status = "down"
                    report.error = REDACTOR.text(f"connection {ctx.connection_names.get(role, role)} is down "
                                                 f"({state['reason']})")
                    break
        if report.status == "ok" and records is None and isinstance(self.steps[0], Pull):
            # Only a read that reached its end without a connection-level failure may move an
            # incremental cursor; a failed run reads the same window again next time.
            self.steps[0].finish(ctx)
        report.planned = ctx.planned
        report.seconds = time.monotonic() - started
        if not ctx.dry_run:
            store.finish_run(ctx.run_id, report.status, {"counts": report.counts, "error": report.error})
        return report

    def process(self, record: Record, start: int = 1) -> dict:
        """Take one record through the steps from `start` (1: the one after the pull)."""
        ctx, store = self.ctx, self.merchant.store
        step_name = "pull"
        arrived = record.key  # a step may re-key the record (a remote id found to be a catalog key)
        if record.read_error is not None:
            return self._dead_letter(record, step_name, record.read_error)
        try:
            for step in self.steps[start:]:
                step_name = step.kind
                if not step.applies(record):
                    continue
                record = step.process(record, ctx)
                if record.done or record.action in ("skip", "queued", "held", "gathered"):
                    break
        except (RecordError, HttpCallError) as exc:
            return self._dead_letter(record, step_name, exc)
        except ExprEvalError as exc:  # an expression of the step's options failed on this record's data
            error = RecordError(f"{step_name}: {exc}", step=step_name)
            error.__cause__ = exc
            return self._dead_letter(record, step_name, error)
        action = record.action or "processed"
        outcome = {"key": record.key, "action": action, "status": "ok", "remote_id": record.remote_id,
                   "detail": record.detail}
        if ctx.dry_run:
            # What the plan shows (the fields an update changes). A real run's report keeps the
            # first outcomes without them: a record and its last snapshot are each a whole product,
            # and a thousand of them held to the end of a run were most of its memory.
            outcome.update(previous=record.previous, canonical=record.canonical)
        if not ctx.dry_run and action != "gathered":
            status = "skipped" if action in ("skip", "queued", "untracked", "held") else "ok"
            store.record_result(ctx.run_id, ctx.flow_name, record.key, action.replace("+", ","), status,
                                {"remote_id": record.remote_id, **record.detail})
            if status == "ok":  # the record went through: its own open letters are closed, under either key
                for key in dict.fromkeys((record.key, arrived)):
                    for letter_id in store.open_dead_letter_ids(ctx.merchant, ctx.flow, key):
                        store.mark_replayed(letter_id, ctx.run_id, True)
        return outcome

    def _dead_letter(self, record: Record, step: str, exc: Exception) -> dict:
        ctx, store = self.ctx, self.merchant.store
        chain, cause = [], exc
        while cause is not None and len(chain) < 5:
            chain.append(f"{type(cause).__name__}: {cause}")
            cause = cause.__cause__ or cause.__context__
        error = REDACTOR.data({
            "message": str(exc), "type": type(exc).__name__, "chain": chain,
            "field_errors": getattr(exc, "field_errors", []),
            "retryable": bool(getattr(exc, "retryable", False)),
            # What a person recognises the record by; the key alone is a remote id.
            "label": self.record_label(record.canonical, record.native),
        })
        outcome = {"key": record.key, "action": "dead_letter", "status": "failed", "step": step, "error": error}
        if not ctx.dry_run:
            store.add_dead_letter(ctx.run_id, ctx.merchant, ctx.flow, step, ctx.flow_name, record.key,
                                  REDACTOR.data(record.native), error)
            store.record_result(ctx.run_id, ctx.flow_name, record.key, (record.action or "sync").replace("+", ","),
                                "dead_letter", {"step": step, "message": error["message"], "label": error["label"]})
        return outcome

    @staticmethod
    def record_label(canonical: Any, native: Any, *, shown_skus: int = 3, title_chars: int = 60) -> str:
        """A short name for a record, e.g. `Camp Mug (SKUs MUG-1, MUG-2)`: the title and SKUs of the
        canonical record when it was mapped, else of the native payload (`title` or `name`, and
        `variants[].sku`, `skus[].seller_sku` or `sku`). Empty when neither has any of them."""
        title, skus = "", []
        for source in (canonical, native):
            if not isinstance(source, dict):
                continue
            if not title:
                title = next((str(source[k]).strip() for k in ("title", "name")
                              if isinstance(source.get(k), str | int) and str(source[k]).strip()), "")
            if not skus:
                items = [i for k in ("variants", "skus") if isinstance(source.get(k), list)
                         for i in source[k] if isinstance(i, dict)]
                skus = [str(s) for s in (i.get("sku") or i.get("seller_sku") for i in items) if s not in (None, "")]
                skus = skus or ([str(source["sku"])] if source.get("sku") not in (None, "") else [])
        title = " ".join(title.split())
        if len(title) > title_chars:
            title = title[:title_chars].rsplit(" ", 1)[0] + "…"
        if not skus:
            return title
        more = f" +{len(skus) - shown_skus} more" if len(skus) > shown_skus else ""
        listed = f"SKU{'s' if len(skus) > 1 else ''} {', '.join(skus[:shown_skus])}{more}"
        return f"{title} ({listed})" if title else listed


class _Kept(list):
    """A dry run's planned writes: the first `limit` are kept, later ones only counted."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.dropped = limit, 0

    def append(self, item: Any) -> None:
        if len(self) < self.limit:
            super().append(item)
        else:
            self.dropped += 1


def replay_records(store: Any, merchant: str, flow: str, ids: list[int] | None = None) -> Iterator[Record]:
    """Open dead letters of a flow as records, with their (possibly edited) payloads."""
    for letter in store.list_dead_letters(merchant=merchant, flow=flow):
        if ids and letter["id"] not in ids:
            continue
        yield Record(key=letter["key"], native=letter["payload"], data=letter["payload"])


def load_merchant(path: str | Path, **kwargs: Any) -> Merchant:
    return Merchant(path, **kwargs)


__all__ = ["FlowRun", "Merchant", "RunReport", "load_merchant", "replay_records", "Document"]
