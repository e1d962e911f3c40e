"""The merchant system's SKU index read again: every SKU of its catalog with its ids, recorded in
the ID map (entity "sku"). Shared by the steps that find a record's ids by SKU (resolve_skus) and
a record's SKU by id (identify): both read the same index, so one refresh window per connection
serves both."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from engine.flow.context import RunContext
from engine.flow.steps.base import ACTIONS, EXPR
from engine.lang.expr import Scope

# The options both steps take from the connector's entities.<entity>.sku_index.
SKU_INDEX_OPTIONS = {
    "operation": {"type": "string", "description": "The read that lists the catalog (from the connector's "
                                                   "entities.<entity>.sku_index)."},
    "query": {"type": "object", "description": "Its query."},
    "body": {"type": "object", "description": "Its body."},
    "items": {**EXPR, "description": "Over each record read: [{sku, id, ...other ids}]."},
    "refresh_minutes": {"type": "integer", "minimum": 0, "default": 10,
                        "description": "Read the catalog again on a miss at most this often (per connection)."},
    "actions": ACTIONS,
}


def read_sku_index(run: RunContext, options: dict, items: Any, conn: str,
                   found: Callable[[str, str, dict], None]) -> bool:
    """Read the catalog's SKUs again unless the connection's refresh window has not passed; call
    `found(sku, id, other ids)` for each and record them (not in a dry run). False when not read."""
    if items is None or not options.get("operation"):
        return False
    window = 60 * int(options.get("refresh_minutes", 10))
    now = run.now() if run.now else time.time()
    last = (run.store.kv_get("sku_index", conn) or {}).get("at", 0)
    if window and now - last < window:
        return False
    connection = run.connection(options["on"])
    count = 0
    for page in connection.paginate(options["operation"], query=options.get("query"), body=options.get("body")):
        for item in page.records:
            for entry in items.evaluate(Scope(item, item, None, {})) or []:
                if not isinstance(entry, dict) or entry.get("sku") in (None, "") or entry.get("id") is None:
                    continue
                extra = {k: str(v) for k, v in entry.items() if k not in ("sku", "id") and v is not None}
                sku, remote_id = str(entry["sku"]), str(entry["id"])
                count += 1
                found(sku, remote_id, extra)
                if not run.dry_run:
                    run.store.map_id("sku", conn, sku, remote_id, extra)
    if not run.dry_run:
        run.store.kv_set("sku_index", conn, {"at": now, "skus": count})
    return True
