"""Bulk operations (2.6): `bulkOperationRunQuery` runs a query over every object, writes the answer
as JSONL (one object per line; a nested connection's nodes on their own lines with `__parentId`),
and serves the file at the operation's `url`.

One bulk query per app and shop at a time; a second start is refused with the userError Shopify
gives. The operation runs on a worker thread, so polls see CREATED/RUNNING and then COMPLETED;
`bulk_operations/finish` is emitted when it ends. The file is written to disk as it is produced,
so neither the simulator nor the client ever holds the whole result.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import Any

from graphql import FieldNode, GraphQLError, InlineFragmentNode, OperationDefinitionNode, parse
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from .graphql_shapes import QueryError, filter_products, filter_variants, product_node, variant_node
from .state import ShopState
from .values import JSONResponse, gid
from .webhooks import emit

BULK_PREFIX = "/_bulk"
_LOCK = threading.Lock()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ops(state: ShopState) -> dict[str, dict]:
    return state.db.__dict__.setdefault("bulk_operations", {})  # reset with the shop


def _public(op: dict, base_url: str) -> dict:
    out = {k: v for k, v in op.items() if not k.startswith("_")}
    if op["status"] == "COMPLETED" and op.get("_path"):
        out["url"] = f"{base_url}{BULK_PREFIX}/{op['_number']}.jsonl"
    return out


def current(state: ShopState, context: dict) -> dict | None:
    ops = [op for op in _ops(state).values() if op["type"] == "QUERY"]
    return _public(ops[-1], context["base_url"]) if ops else None


def find(state: ShopState, context: dict, ident: str) -> dict | None:
    op = _ops(state).get(ident)
    if op is None:
        return None
    return {**_public(op, context["base_url"]), "__typename": "BulkOperation"}


def run_query(state: ShopState, context: dict, query: str) -> dict:
    with _LOCK:
        running = [op for op in _ops(state).values() if op["status"] in ("CREATED", "RUNNING")]
        if running:
            return {"bulkOperation": None, "userErrors": [{
                "field": ["query"], "code": "OPERATION_IN_PROGRESS",
                "message": f"A bulk query operation for this app and shop is already in progress: {running[0]['id']}."}]}
        try:
            root, connection_field = _plan(query)
        except (GraphQLError, QueryError) as exc:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": str(exc), "code": "INVALID"}]}
        number = state.new_id()
        op = {"id": gid("BulkOperation", number), "status": "CREATED", "errorCode": None, "createdAt": _now(),
              "completedAt": None, "objectCount": "0", "rootObjectCount": "0", "fileSize": None, "url": None,
              "partialDataUrl": None, "query": query, "type": "QUERY", "_number": number, "_path": None}
        _ops(state)[op["id"]] = op
    thread = threading.Thread(target=_run, args=(state, op, root, connection_field), daemon=True,
                              name=f"bulk-{number}")
    thread.start()
    return {"bulkOperation": _public(op, context["base_url"]), "userErrors": []}


def cancel(state: ShopState, context: dict, ident: str) -> dict:
    op = _ops(state).get(ident)
    if op is None:
        return {"bulkOperation": None, "userErrors": [{"field": ["id"], "message": "Bulk operation does not exist"}]}
    if op["status"] in ("CREATED", "RUNNING"):
        op["status"] = "CANCELING"
    return {"bulkOperation": _public(op, context["base_url"]), "userErrors": []}


def _plan(query: str) -> tuple[str, FieldNode]:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    [field] = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    if field.name.value not in ("products", "productVariants"):
        raise QueryError(f"bulk queries over {field.name.value!r} are not simulated")
    return field.name.value, field


def _arg(field: FieldNode, name: str) -> Any:
    for argument in field.arguments or ():
        if argument.name.value == name:
            return getattr(argument.value, "value", None)
    return None


def _nodes_selection(field: FieldNode) -> Any:
    """The node selection of a connection field (`edges { node { ... } }` or `nodes { ... }`)."""
    for inner in field.selection_set.selections:
        if isinstance(inner, FieldNode) and inner.name.value == "nodes":
            return inner.selection_set
        if isinstance(inner, FieldNode) and inner.name.value == "edges":
            for edge_field in inner.selection_set.selections:
                if isinstance(edge_field, FieldNode) and edge_field.name.value == "node":
                    return edge_field.selection_set
    return None


def _select(value: Any, selection_set: Any, parent_id: str | None, emit_line: Any) -> dict:
    """One object's selected fields; nested connections are emitted as child lines instead."""
    out: dict[str, Any] = {}
    for selection in selection_set.selections:
        if isinstance(selection, InlineFragmentNode):
            out.update(_select(value, selection.selection_set, parent_id, emit_line))
            continue
        name = selection.name.value
        key = selection.alias.value if selection.alias else name
        raw = value.get(name)
        if selection.selection_set is None:
            out[key] = raw(None) if callable(raw) else raw
            continue
        nodes = _nodes_selection(selection)
        if nodes is not None and callable(raw):
            # A nested connection: every node (all pages) on its own line, pointing at its parent.
            after = None
            while True:
                page = raw(None, first=250, after=after)
                for child in page["nodes"]:
                    line = _select(child, nodes, None, emit_line)
                    line["__parentId"] = value["id"]
                    emit_line(line)
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            continue
        target = raw(None) if callable(raw) else raw
        if isinstance(target, list):
            out[key] = [_select(t, selection.selection_set, None, emit_line) for t in target]
        elif isinstance(target, dict):
            out[key] = _select(target, selection.selection_set, None, emit_line)
        else:
            out[key] = None
    return out


def _run(state: ShopState, op: dict, root: str, field: FieldNode) -> None:
    # Shopify queues an operation before it runs; a test sets how long (POST /_admin/graphql/bulk_delay).
    time.sleep(float(state.db.__dict__.get("bulk_delay") or 0))
    op["status"] = "RUNNING"
    nodes = _nodes_selection(field)
    query = _arg(field, "query")
    handle, path = tempfile.mkstemp(prefix="shopify-bulk-", suffix=".jsonl")
    count = roots = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            def emit_line(line: dict) -> None:
                nonlocal count
                count += 1
                out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")

            if root == "products":
                objects = (product_node(state, p) for p in filter_products(state, query))
            else:
                objects = (variant_node(state, v) for v in filter_variants(state, query))
            for obj in objects:
                if op["status"] == "CANCELING":
                    break
                roots += 1
                # The parent comes before its children in Shopify's files: write it, then them.
                buffered: list[dict] = []
                parent_line = _select(obj, nodes, None, buffered.append) if nodes is not None else {"id": obj["id"]}
                emit_line(parent_line)
                for child in buffered:
                    emit_line(child)
        op["_path"] = path
        op["status"] = "CANCELED" if op["status"] == "CANCELING" else "COMPLETED"
        op["objectCount"], op["rootObjectCount"] = str(count), str(roots)
        op["fileSize"] = str(os.path.getsize(path))
    except Exception:  # noqa: BLE001 - a failed run is reported as FAILED, as Shopify does
        op["status"], op["errorCode"] = "FAILED", "INTERNAL_SERVER_ERROR"
    op["completedAt"] = _now()
    emit(state, "bulk_operations/finish", {
        "admin_graphql_api_id": op["id"], "completed_at": op["completedAt"], "created_at": op["createdAt"],
        "error_code": op["errorCode"], "status": op["status"].lower(), "type": "query"})


async def bulk_file(request: Request) -> Response:
    state = request.app.state.sim
    number = int(request.path_params["number"])
    op = next((o for o in _ops(state).values() if o["_number"] == number), None)
    if op is None or not op.get("_path"):
        return JSONResponse({"errors": "Not Found"}, status_code=404)
    return FileResponse(op["_path"], media_type="application/jsonl")


async def admin_delay(request: Request) -> Response:
    """POST /_admin/graphql/bulk_delay {"seconds": 1.5}: every bulk operation waits this long in
    the queue (CREATED) before it runs, as a real one does behind other work."""
    state = request.app.state.sim
    state.db.bulk_delay = float((json.loads(await request.body() or b"{}")).get("seconds") or 0)
    return JSONResponse({"seconds": state.db.bulk_delay})


ROUTES = [Route(BULK_PREFIX + "/{number:int}.jsonl", bulk_file, methods=["GET"]),
          Route("/_admin/graphql/bulk_delay", admin_delay, methods=["POST"])]
