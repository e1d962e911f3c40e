"""What every step kind shares: option fragments, reference checks, the Step base class."""

from __future__ import annotations

from typing import Any

from engine.errors import Problem, did_you_mean
from engine.flow.context import RunContext
from engine.flow.record import Record
from engine.project.yamlpos import problem_at

ROLE = {"type": "string", "description": "A flow role (see the flow's `roles:`)."}
EXPR = {"type": "string", "description": "JMESPath expression.", "x-expression": "jmespath"}
TEMPLATE = {"type": "string", "description": "Jinja template.", "x-expression": "template"}
# Expressions evaluated on the record itself (not on a response or a pulled page): validate holds the
# fields they read to the canonical entity the records are at that step.
ON_RECORD = {"x-on-record": True}
ENTITY = {"type": "string", "description": "A canonical entity (product, listing, order...)."}
ACTIONS = {"type": "array", "items": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
           "description": "Run this step only for records whose planned action is one of these (create, update, "
                          "price_update, inventory_update, or a write a decide step chose, e.g. cancel)."}


def _problem(options: Any, key: str, message: str, hint: str = "") -> Problem:
    return problem_at(options, [key], message, hint)


def _check_role(options: Any, key: str, ctx: dict) -> list[Problem]:
    role = options.get(key)
    if role is not None and role not in ctx["roles"]:
        return [_problem(options, key, f"unknown role {role!r}", "roles of this flow: " + ", ".join(ctx["roles"]))]
    return []


def _check_operation(options: Any, key: str, op: Any, role: str | None, ctx: dict) -> list[Problem]:
    """With a merchant binding, the operation must exist in the bound connector."""
    connection = (ctx.get("bindings") or {}).get(role) if role else None
    if not connection or op is None:
        return []
    connector = ctx["project"].get("connector", connection["connector"])
    if connector is None:
        return []
    ops = list((connector.doc.get("operations") or {}).keys())
    if op not in ops:
        return [_problem(options, key, f"connector {connector.name!r} has no operation {op!r}",
                         did_you_mean(op, ops))]
    return []


def _check_mapping(options: Any, key: str, ctx: dict) -> list[Problem]:
    name = options.get(key)
    project = ctx["project"]
    if name is not None and project.get("mapping", name) is None:
        return [_problem(options, key, f"unknown mapping {name!r}", did_you_mean(name, project.names("mapping")))]
    return []


class Step:
    kind = ""

    def __init__(self, options: dict, run: RunContext) -> None:
        self.options = options
        self.only = set(options.get("actions") or [])

    def applies(self, record: Record) -> bool:
        return not self.only or record.action in self.only

    def process(self, record: Record, run: RunContext) -> Record | None:
        raise NotImplementedError

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        return []
