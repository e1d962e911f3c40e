"""The plan: a project compiled once, and what `connector validate`, `run`, and later `serve` and the
workers execute.

Building it loads every file once with positions, compiles every connector once, resolves every
merchant flow binding against its connectors, compiles every mapping a binding uses (with the
merchant's overrides), and compiles every expression through one compiler that keeps the result.
Running takes steps, mappings and connectors from here; nothing a consultant wrote is compiled
again, and nothing fails at run time for a reason validate could have seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.errors import Problem
from engine.flow.resolve import ResolvedStep, mappings_used, resolve_for_merchant
from engine.lang.expr import ExpressionCompiler
from engine.lang.mapping import MappingPlan
from engine.project.loader import Document, Project
from engine.project.overrides import effective
from engine.project.schemas import SchemaSet
from engine.project.validate import Validator
from engine.project.yamlpos import plain


class PlanCompiler(ExpressionCompiler):
    """The plan's one expression compiler: each distinct expression is compiled once and the
    compiled object kept on the plan (not in a global cache), so building a run's steps from the
    plan looks expressions up instead of compiling them again."""

    def __init__(self) -> None:
        super().__init__()
        self._compiled: dict[tuple[str, str], Any] = {}

    def _once(self, kind: str, source: Any, compile_: Any) -> Any:
        if not isinstance(source, str):
            return compile_(source)  # let the compiler say what is wrong
        found = self._compiled.get((kind, source))
        if found is None:
            found = self._compiled[(kind, source)] = compile_(source)
        return found

    def jmespath(self, source: str) -> Any:
        return self._once("jmespath", source, super().jmespath)

    def template(self, source: str) -> Any:
        return self._once("template", source, super().template)


@dataclass(frozen=True)
class FlowPlan:
    """One merchant's binding of one flow, resolved and compiled."""

    merchant: str
    local: str  # the merchant's name for the binding (catalog, listing_status...)
    flow: str  # the shared flow's name
    document: Any  # the flow as the merchant sees it (overrides merged)
    roles: Mapping[str, str]  # role -> connection name
    options: Mapping[str, Any]  # the flow's option defaults with the binding's options over them
    steps: tuple[ResolvedStep, ...]
    mappings: Mapping[str, MappingPlan]


@dataclass(frozen=True)
class Plan:
    project: Project
    exprs: PlanCompiler
    schemas: SchemaSet
    connectors: Mapping[str, Any]  # connector name -> CompiledConnector
    flows: Mapping[tuple[str, str], FlowPlan]  # (merchant, local flow name) -> FlowPlan
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if getattr(p, "severity", "error") == "error"]

    def flow(self, merchant: str, local: str) -> FlowPlan | None:
        return self.flows.get((merchant, local))

    def stock_writers(self, merchant: str) -> dict[str, tuple[str, ...]]:
        """The merchant's flows that write a channel's stock (a stock step), by the channel's
        connection name."""
        return dict(self._stock_writers.get(merchant, {}))

    @cached_property
    def _stock_writers(self) -> dict[str, dict[str, tuple[str, ...]]]:
        # Asked by every flow run (the catalog flow's leave_stock step): worked out once per plan.
        out: dict[str, dict[str, list[str]]] = {}
        for (owner, local), flow in sorted(self.flows.items()):
            for step in flow.steps:
                if step.kind == "stock" and step.options.get("to") in flow.roles:
                    writers = out.setdefault(owner, {}).setdefault(flow.roles[step.options["to"]], [])
                    if local not in writers:
                        writers.append(local)
        return {owner: {conn: tuple(flows) for conn, flows in conns.items()} for owner, conns in out.items()}


def build_plan(project: Project, schemas: SchemaSet | None = None) -> Plan:
    """Validate the project and, when nothing is wrong, compile and resolve everything it holds."""
    schemas = schemas or SchemaSet()
    exprs = PlanCompiler()
    validator = Validator(project, schemas, exprs)
    problems = validator.run()
    errors = [p for p in problems if getattr(p, "severity", "error") == "error"]
    if errors:
        return Plan(project, exprs, schemas, MappingProxyType({}), MappingProxyType({}), tuple(problems))
    connectors = dict(validator.connectors)
    flows: dict[tuple[str, str], FlowPlan] = {}
    for merchant in project.documents["merchant"].values():
        for local, binding in (merchant.doc.get("flows") or {}).items():
            flows[(merchant.name, local)] = _flow_plan(project, merchant, local, binding, validator)
    return Plan(project, exprs, schemas, MappingProxyType(connectors), MappingProxyType(flows), tuple(problems))


def _flow_plan(project: Project, merchant: Document, local: str, binding: Any, validator: Validator) -> FlowPlan:
    flow_doc = effective(project, merchant, "flow", binding["flow"])
    roles = plain(binding.get("connections") or {})
    defaults = {k: v.get("default") for k, v in plain(flow_doc.get("options") or {}).items() if "default" in v}
    steps = tuple(resolve_for_merchant(project, merchant.doc, flow_doc, roles, options=binding.get("options")))
    mappings = {}
    for name in sorted(mappings_used(list(steps))):
        compiled = validator.compile_mapping(effective(project, merchant, "mapping", name))
        if compiled is not None:  # validate has reported why not
            mappings[name] = compiled
    return FlowPlan(merchant=merchant.name, local=local, flow=binding["flow"], document=flow_doc,
                    roles=MappingProxyType(roles), options=MappingProxyType({**defaults, **plain(binding.get("options") or {})}),
                    steps=steps, mappings=MappingProxyType(mappings))


def plan_paths(paths: list[str | Path], *, include_shipped: bool = True) -> Plan:
    return build_plan(Project.load(paths, include_shipped=include_shipped))
