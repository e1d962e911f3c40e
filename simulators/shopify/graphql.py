"""POST /admin/api/<version>/graphql.json: the GraphQL Admin API (2.5, 2.6, 2.8, 2.10, 2.11).

Every answer carries `extensions.cost` (requested and actual query cost, and the bucket's
throttleStatus). A request whose requested cost exceeds what the bucket holds is refused with the
THROTTLED error (HTTP 200, no `data`, actualQueryCost null); one above the single-query maximum
with MAX_COST_EXCEEDED. Syntax and validation errors are top-level `errors`; a mutation's refusals
are its `userErrors`. The shop is the same as the REST API's: both read and write one ShopState.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import graphql_bulk, graphql_orders
from .catalog import create_product, get_product, update_product
from .errors import ApiError
from .graphql_schema import (
    IDEMPOTENT_REQUIRED_SINCE,
    SUPPORTED_VERSIONS,
    actual_cost,
    requested_cost,
    schema_for,
)
from .graphql_shapes import (
    QueryError,
    connection,
    filter_items,
    filter_products,
    filter_variants,
    item_node,
    location_node,
    numeric_id,
    product_node,
    variant_node,
)
from .http import sim
from .inventory import _write, connect
from .state import ShopState
from .values import JSONResponse, gid

SINGLE_QUERY_MAX = 1000  # UNCONFIRMED (2.5): the commonly cited single-query maximum
MAX_VARIANTS = 2048  # productSet's variant limit (REST: 100)


class CostBucket:
    """The calculated-cost bucket per app and shop: `maximum` points, restored at `restore_rate`/s.
    Standard plan: 2000 / 100 (observed values, 2.5); Plus: 20000 / 1000."""

    def __init__(self, maximum: float = 2000.0, restore_rate: float = 100.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.maximum, self.restore_rate = float(maximum), float(restore_rate)
        self.available = self.maximum
        self.stamp = clock()
        self.throttled = 0

    def _restore(self) -> None:
        now = self.clock()
        self.available = min(self.maximum, self.available + (now - self.stamp) * self.restore_rate)
        self.stamp = now

    def admit(self, requested: int) -> bool:
        self._restore()
        return requested <= self.available + 1e-9

    def charge(self, cost: int) -> None:
        self._restore()
        self.available = max(0.0, self.available - cost)

    def status(self) -> dict:
        self._restore()
        return {"maximumAvailable": self.maximum, "currentlyAvailable": int(self.available),
                "restoreRate": self.restore_rate}

    def configure(self, values: dict) -> None:
        self._restore()
        if "maximum" in values:
            self.maximum = float(values["maximum"])
        if "restore_rate" in values:
            self.restore_rate = float(values["restore_rate"])
        self.available = min(self.available, self.maximum) if "available" not in values else float(values["available"])

    def reset(self) -> None:
        self.available, self.stamp, self.throttled = self.maximum, self.clock(), 0


def bucket_of(request: Request) -> CostBucket:
    app_state = request.app.state
    bucket = getattr(app_state, "graphql_bucket", None)
    if bucket is None:
        bucket = app_state.graphql_bucket = CostBucket()
    return bucket


def _field_resolver(source: Any, info: Any, **args: Any) -> Any:
    value = source.get(info.field_name) if isinstance(source, dict) else getattr(source, info.field_name, None)
    if callable(value):
        return value(info, **args)
    return value


def _error(message: str, code: str | None = None, **extra: Any) -> dict:
    out: dict[str, Any] = {"message": message}
    if code:
        out["extensions"] = {"code": code, **extra}
    return out


async def graphql_endpoint(request: Request) -> Response:
    state = sim(request)
    version = request.path_params["version"]
    bucket = bucket_of(request)
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/graphql"):
            payload = {"query": raw.decode()}
        else:
            payload = json.loads(raw or b"{}")
    except ValueError:
        return JSONResponse({"errors": [_error("Invalid JSON in request body")]}, status_code=400)
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return JSONResponse({"errors": [_error("Parameter Missing or Invalid: query")]}, status_code=400)
    variables = payload.get("variables") or {}
    schema = schema_for(version)
    try:
        document = parse(payload["query"])
    except GraphQLError as exc:
        return JSONResponse({"errors": [exc.formatted]})
    problems = validate(schema, document)
    if problems:
        return JSONResponse({"errors": [p.formatted for p in problems]})
    operation = get_operation_ast(document, payload.get("operationName"))
    if operation is None:
        return JSONResponse({"errors": [_error("An operation name is required")]})
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    requested = requested_cost(operation, fragments, variables)
    cost: dict[str, Any] = {"requestedQueryCost": requested, "actualQueryCost": None}
    if requested > SINGLE_QUERY_MAX:
        cost["throttleStatus"] = bucket.status()
        message = (f"Query cost is {requested}, which exceeds the single query max cost limit "
                   f"({SINGLE_QUERY_MAX}).")
        return JSONResponse({"errors": [_error(message, "MAX_COST_EXCEEDED", cost=requested,
                                               maxCost=SINGLE_QUERY_MAX)], "extensions": {"cost": cost}})
    if not bucket.admit(requested):
        bucket.throttled += 1
        state.stats["throttled"] += 1
        cost["throttleStatus"] = bucket.status()
        return JSONResponse({"errors": [_error("Throttled", "THROTTLED")], "extensions": {"cost": cost}})
    is_mutation = operation.operation.value == "mutation"
    context = {"state": state, "version": version, "base_url": str(request.base_url).rstrip("/"),
               "request": request, "operation": operation, "variables": variables}
    result = execute(schema, document, root_value=_mutations(state) if is_mutation else _queries(state),
                     context_value=context, variable_values=variables,
                     operation_name=payload.get("operationName"), field_resolver=_field_resolver)
    hold = getattr(request.app.state, "graphql_hold", {}).get(_root_field(operation))
    if hold:  # the change is made; its answer is late (a crash or a timeout on the client's side)
        await asyncio.sleep(float(hold))
    actual = actual_cost(result.data, is_mutation) if result.data is not None else 0
    actual = min(actual, requested)
    bucket.charge(actual)
    cost["actualQueryCost"] = actual
    cost["throttleStatus"] = bucket.status()
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    body["data"] = result.data
    body["extensions"] = {"cost": cost}
    return JSONResponse(body)


def _root_field(operation: OperationDefinitionNode) -> str:
    first = operation.selection_set.selections[0]
    return getattr(getattr(first, "name", None), "value", "")


# ------------------------------------------------------------------------------------ queries


def _queries(state: ShopState) -> dict:
    def products(info: Any, first: int | None = None, after: str | None = None, query: str | None = None,
                 sortKey: str | None = None) -> dict:  # noqa: N803
        return connection(filter_products(state, query), first, after, lambda p: product_node(state, p))

    def product(info: Any, id: str) -> dict | None:  # noqa: A002
        found = state.db.products.get(numeric_id(id, "Product"))
        return product_node(state, found) if found else None

    def product_variants(info: Any, first: int | None = None, after: str | None = None,
                         query: str | None = None) -> dict:
        return connection(filter_variants(state, query), first, after, lambda v: variant_node(state, v))

    def product_variant(info: Any, id: str) -> dict | None:  # noqa: A002
        found = state.db.variants.get(numeric_id(id, "ProductVariant"))
        return variant_node(state, found) if found else None

    def inventory_items(info: Any, first: int | None = None, after: str | None = None,
                        query: str | None = None) -> dict:
        return connection(filter_items(state, query), first, after, lambda i: item_node(state, i))

    def inventory_item(info: Any, id: str) -> dict | None:  # noqa: A002
        found = state.db.inventory_items.get(numeric_id(id, "InventoryItem"))
        return item_node(state, found) if found else None

    def locations(info: Any, first: int | None = None, after: str | None = None) -> dict:
        active = [loc for loc in state.db.locations.values() if loc["active"]]
        return connection(active, first, after, lambda loc: location_node(state, loc))

    def current_bulk_operation(info: Any, type: str | None = None) -> dict | None:  # noqa: A002
        return graphql_bulk.current(state, info.context)

    def node(info: Any, id: str) -> dict | None:  # noqa: A002
        kind = id.split("/")[3] if id.startswith("gid://shopify/") and id.count("/") >= 4 else ""
        if kind == "BulkOperation":
            return graphql_bulk.find(state, info.context, id)
        lookups = {"Product": product, "ProductVariant": product_variant, "InventoryItem": inventory_item}
        found = lookups[kind](info, id) if kind in lookups else None
        if found is not None:
            found["__typename"] = kind
        return found

    return {"products": products, "product": product, "productVariants": product_variants,
            "productVariant": product_variant, "inventoryItems": inventory_items, "inventoryItem": inventory_item,
            "locations": locations, "currentBulkOperation": current_bulk_operation, "node": node,
            **graphql_orders.queries(state)}


# ---------------------------------------------------------------------------------- mutations


def _user_errors(exc: ApiError, prefix: list[str]) -> list[dict]:
    errors = exc.errors
    if isinstance(errors, dict):
        return [{"field": [*prefix, str(field)], "message": f"{field} {m}" if field != "base" else str(m),
                 "code": "INVALID"}
                for field, messages in errors.items() for m in (messages if isinstance(messages, list) else [messages])]
    items = errors if isinstance(errors, list) else [errors]
    return [{"field": prefix, "message": str(m), "code": "INVALID"} for m in items]


def _rest_variant(data: dict, option_names: list[str], existing: dict | None) -> dict:
    out: dict[str, Any] = {}
    if existing is not None:
        out["id"] = existing["id"]
    for source, target in (("sku", "sku"), ("price", "price"), ("compareAtPrice", "compare_at_price"),
                           ("barcode", "barcode"), ("taxable", "taxable")):
        if source in data:
            out[target] = data[source] if data[source] is not None or target != "compare_at_price" else ""
    if data.get("inventoryPolicy"):
        out["inventory_policy"] = str(data["inventoryPolicy"]).lower()
    values = {v["optionName"]: v["name"] for v in data.get("optionValues") or []}
    for i, name in enumerate(option_names, start=1):
        if name in values:
            out[f"option{i}"] = values[name]
    item = data.get("inventoryItem") or {}
    if "tracked" in item:
        out["inventory_management"] = "shopify" if item["tracked"] else None
    if item.get("cost") is not None:
        out["cost"] = item["cost"]
    if item.get("sku") and "sku" not in out:
        out["sku"] = item["sku"]
    weight = (item.get("measurement") or {}).get("weight")
    if weight:
        out["weight"] = weight["value"]
        out["weight_unit"] = {"KILOGRAMS": "kg", "GRAMS": "g", "POUNDS": "lb", "OUNCES": "oz"}.get(
            str(weight["unit"]).upper(), "kg")
    return out


def _product_set(state: ShopState, data: dict) -> dict:
    existing = get_product(state, numeric_id(data["id"], "Product")) if data.get("id") else None
    rest: dict[str, Any] = {}
    for source, target in (("title", "title"), ("handle", "handle"), ("descriptionHtml", "body_html"),
                           ("vendor", "vendor"), ("productType", "product_type")):
        if source in data and data[source] is not None:
            rest[target] = data[source]
    if data.get("status"):
        rest["status"] = str(data["status"]).lower()
    if data.get("tags") is not None:
        rest["tags"] = ", ".join(data["tags"])
    if data.get("productOptions") is not None:
        rest["options"] = [{"name": o["name"]} for o in data["productOptions"]]
    option_names = [o["name"] for o in rest.get("options") or (existing or {}).get("options") or []]
    if data.get("variants") is not None:
        if len(data["variants"]) > MAX_VARIANTS:
            raise ApiError(422, {"variants": [f"can have at most {MAX_VARIANTS} variants"]})
        by_id = {v["id"]: v for v in (existing or {}).get("variants", [])}
        by_sku = {v.get("sku"): v for v in (existing or {}).get("variants", []) if v.get("sku")}
        variants = []
        for given in data["variants"]:
            old = by_id.get(numeric_id(given["id"], "ProductVariant")) if given.get("id") else by_sku.get(given.get("sku"))
            if given.get("id") and old is None:
                raise ApiError(422, {"variants": [f"variant {given['id']} does not belong to this product"]})
            variants.append(_rest_variant(given, option_names, old))
        rest["variants"] = variants
    if data.get("files") is not None:
        rest["images"] = [{"src": f["originalSource"], "alt": f.get("alt")} for f in data["files"]]
    if existing is None:
        product = create_product(state, rest, initial_stock=False, max_variants=MAX_VARIANTS)
    else:
        product = update_product(state, existing, rest, max_variants=MAX_VARIANTS)
    # inventoryQuantities set a new variant's stock (2.10: productSet only, on create).
    for given, variant in zip(data.get("variants") or [], product["variants"], strict=False):
        for quantity in given.get("inventoryQuantities") or []:
            if existing is None or not given.get("id"):
                level, _ = connect(state, variant["inventory_item_id"], numeric_id(quantity["locationId"], "Location"))
                _write(state, level, int(quantity["quantity"]))
    return product


def _mutations(state: ShopState) -> dict:
    def product_set(info: Any, input: dict, synchronous: bool | None = True) -> dict:  # noqa: A002
        try:
            product = _product_set(state, input)
        except ApiError as exc:
            return {"product": None, "userErrors": _user_errors(exc, ["input"])}
        except QueryError as exc:
            return {"product": None, "userErrors": [{"field": ["input", "id"], "message": str(exc), "code": "INVALID"}]}
        return {"product": product_node(state, product), "userErrors": []}

    def variants_bulk_update(info: Any, productId: str, variants: list[dict]) -> dict:  # noqa: N803
        product = state.db.products.get(numeric_id(productId, "Product"))
        if product is None:
            return {"product": None, "productVariants": None,
                    "userErrors": [{"field": ["productId"], "message": "Product does not exist", "code": "PRODUCT_DOES_NOT_EXIST"}]}
        own = {v["id"]: v for v in product["variants"]}
        updated = []
        errors = []
        for index, given in enumerate(variants):
            variant = own.get(numeric_id(given["id"], "ProductVariant"))
            if variant is None:
                errors.append({"field": ["variants", str(index), "id"], "message": "Product variant does not exist",
                               "code": "PRODUCT_VARIANT_DOES_NOT_EXIST"})
                continue
            try:
                update_product(state, product, {"variants": [
                    {"id": v["id"], **(_rest_variant(given, [], v) if v is variant else {})} for v in product["variants"]]},
                    max_variants=MAX_VARIANTS)
            except ApiError as exc:
                errors += _user_errors(exc, ["variants", str(index)])
                continue
            updated.append(variant)
        return {"product": product_node(state, product), "productVariants": [variant_node(state, v) for v in updated],
                "userErrors": errors}

    def inventory_set_quantities(info: Any, input: dict) -> dict:  # noqa: A002
        return _inventory_set(state, info, input)

    def bulk_run_query(info: Any, query: str) -> dict:
        return graphql_bulk.run_query(state, info.context, query)

    def bulk_cancel(info: Any, id: str) -> dict:  # noqa: A002
        return graphql_bulk.cancel(state, info.context, id)

    return {"productSet": product_set, "productVariantsBulkUpdate": variants_bulk_update,
            "inventorySetQuantities": inventory_set_quantities, "bulkOperationRunQuery": bulk_run_query,
            "bulkOperationCancel": bulk_cancel, **graphql_orders.mutations(state)}


def _inventory_set(state: ShopState, info: Any, data: dict) -> dict:
    version = info.context["version"]
    key = graphql_orders.idempotency_key(info)
    if key is None and version >= IDEMPOTENT_REQUIRED_SINCE:
        return {"inventoryAdjustmentGroup": None, "userErrors": [
            {"field": None, "message": "The @idempotent directive is required for this mutation.",
             "code": "IDEMPOTENCY_KEY_REQUIRED"}]}
    ledger: dict = state.db.__dict__.setdefault("idempotency_keys", {})  # reset with the shop
    fingerprint = json.dumps(data, sort_keys=True)
    if key is not None and key in ledger:
        seen_fingerprint, answer = ledger[key]
        if seen_fingerprint != fingerprint:
            return {"inventoryAdjustmentGroup": None, "userErrors": [
                {"field": None, "message": "The same idempotency key was used with different parameters.",
                 "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"}]}
        return answer
    if data["name"] not in ("available", "on_hand"):
        return {"inventoryAdjustmentGroup": None, "userErrors": [
            {"field": ["input", "name"], "message": "The quantity name must be available or on_hand.",
             "code": "INVALID_NAME"}]}
    new_style = "ignoreCompareQuantity" not in data and version >= "2025-10"
    errors, targets = [], []
    for index, quantity in enumerate(data["quantities"]):
        field = ["input", "quantities", str(index)]
        try:
            item_id = numeric_id(quantity["inventoryItemId"], "InventoryItem")
            location_id = numeric_id(quantity["locationId"], "Location")
        except QueryError as exc:
            errors.append({"field": field, "message": str(exc), "code": "INVALID_INVENTORY_ITEM"})
            continue
        item = state.db.inventory_items.get(item_id)
        if item is None:
            errors.append({"field": [*field, "inventoryItemId"], "message": "The specified inventory item could not be found.",
                           "code": "INVALID_INVENTORY_ITEM"})
            continue
        if location_id not in state.db.locations:
            errors.append({"field": [*field, "locationId"], "message": "The specified location could not be found.",
                           "code": "INVALID_LOCATION"})
            continue
        if not item["tracked"]:
            errors.append({"field": [*field, "inventoryItemId"], "message": "The inventory item is not tracked.",
                           "code": "INVENTORY_ITEM_NOT_TRACKED"})
            continue
        level = state.db.levels.get((item_id, location_id))
        current = level["available"] if level else 0
        if new_style:
            expected = quantity.get("changeFromQuantity")
            if expected is not None and expected != current:
                errors.append({"field": [*field, "changeFromQuantity"],
                               "message": "The specified compare quantity does not match the current quantity.",
                               "code": "CHANGE_FROM_QUANTITY_STALE"})
                continue
        elif not data.get("ignoreCompareQuantity"):
            expected = quantity.get("compareQuantity")
            if expected is None:
                errors.append({"field": [*field, "compareQuantity"], "message": "The compareQuantity argument is required.",
                               "code": "COMPARE_QUANTITY_REQUIRED"})
                continue
            if expected != current:
                errors.append({"field": [*field, "compareQuantity"],
                               "message": "The specified compare quantity does not match the current quantity.",
                               "code": "COMPARE_QUANTITY_STALE"})
                continue
        targets.append((item_id, location_id, int(quantity["quantity"]), current))
    if errors:
        # All or nothing: one refused quantity applies none (UNCONFIRMED, the plausible reading).
        answer = {"inventoryAdjustmentGroup": None, "userErrors": errors}
    else:
        changes = []
        for item_id, location_id, wanted, current in targets:
            level, _ = connect(state, item_id, location_id)
            _write(state, level, wanted)
            changes.append({"name": data["name"], "delta": wanted - current, "quantityAfterChange": None,
                            "item": item_node(state, state.db.inventory_items[item_id]),
                            "location": location_node(state, state.db.locations[location_id])})
        group = {"id": gid("InventoryAdjustmentGroup", state.new_id()), "reason": data["reason"],
                 "referenceDocumentUri": data.get("referenceDocumentUri"), "changes": changes}
        answer = {"inventoryAdjustmentGroup": group, "userErrors": []}
    if key is not None:
        ledger[key] = (fingerprint, answer)
    return answer


def supported(version: str) -> bool:
    return version in SUPPORTED_VERSIONS


async def admin_bucket(request: Request) -> Response:
    """GET/POST /_admin/graphql/bucket: the cost bucket ({maximum, restore_rate, available}); a
    Plus store is {maximum: 20000, restore_rate: 1000}."""
    bucket = bucket_of(request)
    if request.method == "POST":
        bucket.configure(json.loads(await request.body() or b"{}"))
    return JSONResponse({**bucket.status(), "throttled": bucket.throttled})


async def admin_hold(request: Request) -> Response:
    """POST /_admin/graphql/hold {"productSet": 30}: answer that mutation this many seconds after it
    is applied (0 or null: at once), so a test can stop a client between a write and its record."""
    holds = dict(getattr(request.app.state, "graphql_hold", {}))
    holds.update(json.loads(await request.body() or b"{}"))
    request.app.state.graphql_hold = {k: v for k, v in holds.items() if v}
    return JSONResponse(request.app.state.graphql_hold)


ROUTES = [Route("/graphql.json", graphql_endpoint, methods=["POST"])]
ADMIN_ROUTES = [Route("/_admin/graphql/bucket", admin_bucket, methods=["GET", "POST"]),
                Route("/_admin/graphql/hold", admin_hold, methods=["POST"]), *graphql_bulk.ROUTES]

