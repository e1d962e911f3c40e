"""Everything a running flow needs: its options, connections by role, the state store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.lang.expr import ExpressionCompiler
from engine.lang.mapping import MappingPlan
from engine.project.schemas import SchemaSet


@dataclass
class RunContext:
    merchant: str
    flow: str  # the merchant's local name for the flow
    flow_name: str  # the shared flow file's name
    options: dict
    connections: dict[str, Any]  # role -> engine.http.Connection
    connection_names: dict[str, str]  # role -> merchant connection name
    connection_meta: dict[str, dict]  # role -> {region, currency, connector}
    store: Any  # engine.state.StateStore
    dry_run: bool = False
    # This run holds the flow's run lease: no other run of the flow is alive, so a create left
    # "in progress" in the ledger belongs to a run that ended without finishing it.
    exclusive: bool = False
    run_id: str = ""
    limit: int | None = None
    plans: dict[str, MappingPlan] = field(default_factory=dict)
    schemas: SchemaSet | None = None
    exprs: ExpressionCompiler = field(default_factory=ExpressionCompiler)
    now: Callable[[], float] | None = None
    planned: list[dict] = field(default_factory=list)  # dry run: what would be written
    # "run" (sync what changed) or "reconcile" (compare with what the channel holds now and repair
    # the differences); steps that cannot reconcile ignore it.
    mode: str = "run"
    # A run about these SKUs only (a per-SKU inventory job): a stock step computes and writes them,
    # whatever the pull gathered.
    skus: tuple[str, ...] | None = None
    # When set, a stock step hands the SKUs whose stock changed to it instead of writing them
    # itself, and a hold step the SKUs it held or let go: each becomes a job of its own that runs
    # the merchant's stock flows for that SKU (engine.jobs), under a per-SKU lock.
    defer_stock: Callable[[list[str]], None] | None = None
    # The run's events were claimed before (the process holding them died, or a run failed on
    # them): what a step did then may be in the state while what should have followed is not.
    redelivered: bool = False
    # The merchant's flows that write a channel's stock (a stock step), by channel connection; and
    # how to have them write some SKUs again now (their per-SKU runs, or jobs on a worker).
    stock_writers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    restock: Callable[[list[str]], None] | None = None

    def connection(self, role: str) -> Any:
        return self.connections[role]

    def conn_name(self, role: str) -> str:
        return self.connection_names[role]

    def connection_settings(self, role: str | None) -> dict:
        """The settings of the role's connection that its connector lets mappings see
        (`mapping_settings:`), e.g. which of its prices to take per market."""
        conn = self.connections.get(role) if role else None
        compiled = getattr(conn, "spec", None)
        names = (getattr(compiled, "spec", None) or {}).get("mapping_settings") or ()
        settings = getattr(conn, "settings", None) or {}
        return {name: settings[name] for name in names if name in settings}

    def mapping_context(self, role: str | None = None) -> dict:
        """Context handed to mappings: flow options plus the role's market.

        The market decides: the connection's region and currency win over flow options (and over
        option defaults); `connector validate` refuses an option that contradicts them.
        """
        ctx = {**self.connection_settings(role), **self.options}
        if role and role in self.connection_names:
            ctx["connection"] = self.connection_names[role]  # e.g. canonical orders name their channel
        if role and role in self.connection_meta:
            meta = self.connection_meta[role]
            if meta.get("region") or "region" not in ctx:
                ctx["region"] = meta.get("region")
            if meta.get("currency"):
                ctx["currency"] = meta["currency"]
        return ctx
