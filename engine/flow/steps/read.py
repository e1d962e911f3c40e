"""pull: read records page by page from a role's connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...errors import Problem, RecordError
from ...expr import Scope
from ..context import RunContext
from ..record import Record
from ..registry import STEPS
from .base import EXPR, ROLE, Step, _check_operation, _check_role


@STEPS.register("pull", options_schema={
    "type": "object", "additionalProperties": False, "required": ["from", "operation"],
    "properties": {
        "from": ROLE,
        "operation": {"type": "string", "description": "A paginated list operation of the connector."},
        "query": {"type": "object", "description": "Extra query parameters."},
        "body": {"type": "object", "description": "Request body (search filters)."},
        "key": {**EXPR, "description": "The record's key (default: id)."},
        "detail": {"type": "object", "additionalProperties": False, "required": ["operation", "param"],
                   "description": "Fetch each record's full detail by id (when the list returns summaries).",
                   "properties": {"operation": {"type": "string"}, "param": {"type": "string"}}},
    }}, doc="Read records page by page from a role's connection.")
class Pull(Step):
    kind = "pull"

    def __init__(self, options: dict, run: RunContext) -> None:
        super().__init__(options, run)
        self.key = run.exprs.jmespath(options.get("key", "id"))

    def records(self, run: RunContext) -> Iterator[Record]:
        conn = run.connection(self.options["from"])
        detail = self.options.get("detail")
        count = 0
        for page in conn.paginate(self.options["operation"], query=self.options.get("query"),
                                  body=self.options.get("body")):
            for item in page.records:
                if detail:
                    item = conn.call(detail["operation"], path_params={detail["param"]: self._key(item)}).record
                yield Record(key=self._key(item), native=item, data=item)
                count += 1
                if run.limit is not None and count >= run.limit:
                    return

    def _key(self, item: Any) -> str:
        value = self.key.evaluate(Scope(item, item, None, {}))
        if value is None:
            raise RecordError("the record has no key", step="pull")
        return str(value)

    @staticmethod
    def check_references(options: Any, ctx: dict) -> list[Problem]:
        found = _check_role(options, "from", ctx)
        found += _check_operation(options, "operation", options.get("operation"), options.get("from"), ctx)
        if options.get("detail"):
            found += _check_operation(options["detail"], "operation", options["detail"].get("operation"),
                                      options.get("from"), ctx)
        return found
