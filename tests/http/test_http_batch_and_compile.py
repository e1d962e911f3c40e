"""Per-item batch results, spec compilation errors with field paths, and the shipped specs."""

from __future__ import annotations

import httpx
import pytest
from http_helpers import ROOT, TT_CREDS, TT_SETTINGS, Script, body_json, load_spec, ok

from engine.errors import SpecError
from engine.http import Connection, ServerError, compile_connector


def test_item_errors_are_reported_per_record(tiktok_spec, clock):
    ids = [str(i) for i in range(1, 46)]

    def answer(request):
        sent = body_json(request)["product_ids"]
        errors = [{"code": 12052048, "message": "Product not in this shop", "detail": {"product_id": pid}}
                  for pid in sent if pid in {"3", "44"}]
        return ok({"errors": errors})

    script = Script(answer)
    conn = Connection(tiktok_spec, settings=TT_SETTINGS, credentials=TT_CREDS, transport=script.transport,
                      clock=clock.time, sleep=clock.sleep)
    results = conn.call_batched("activate_products", ids)
    assert [len(body_json(r)["product_ids"]) for r in script.requests] == [20, 20, 5]
    assert [r.item for r in results] == ids
    failed = {r.item: r.errors[0] for r in results if not r.ok}
    assert set(failed) == {"3", "44"}
    assert failed["3"].code == "12052048" and failed["3"].message == "Product not in this shop"


def test_unplaceable_item_error_fails_every_item_of_its_batch(tiktok_spec, clock):
    script = Script([ok({"errors": [{"code": 1, "message": "boom", "detail": {}}]})])
    conn = Connection(tiktok_spec, settings=TT_SETTINGS, credentials=TT_CREDS, transport=script.transport,
                      clock=clock.time, sleep=clock.sleep)
    results = conn.call_batched("deactivate_products", ["1", "2"])
    assert [r.ok for r in results] == [False, False]


def test_a_failed_batch_fails_its_items_and_the_others_run(tiktok_spec, clock):
    script = Script([httpx.Response(500)] * 6 + [ok({"errors": []})])
    conn = Connection(tiktok_spec, settings=TT_SETTINGS, credentials=TT_CREDS, transport=script.transport,
                      clock=clock.time, sleep=clock.sleep)
    results = conn.call_batched("activate_products", [str(i) for i in range(25)])
    assert all(isinstance(r.error, ServerError) for r in results[:20])
    assert all(r.ok for r in results[20:])


def test_inventory_item_errors_on_single_call(tiktok_spec, clock):
    script = Script([ok({"errors": [{"code": 12019022, "message": "SKU must contain a valid warehouse",
                                     "detail": {"sku_id": "s2", "extra_errors": []}}]})])
    conn = Connection(tiktok_spec, settings=TT_SETTINGS, credentials=TT_CREDS, transport=script.transport,
                      clock=clock.time, sleep=clock.sleep)
    resp = conn.call("update_inventory", path_params={"product_id": "p1"},
                     body={"skus": [{"id": "s1", "inventory": [{"warehouse_id": "w", "quantity": 1}]},
                                    {"id": "s2", "inventory": [{"warehouse_id": "x", "quantity": 2}]}]})
    assert resp.status == 200 and [(e.key, e.code) for e in resp.item_errors] == [("s2", "12019022")]


def test_batch_in_query_is_comma_joined(tiktok_spec, clock):
    script = Script(lambda r: ok({"orders": [{"id": i} for i in r.url.params["ids"].split(",")]}))
    conn = Connection(tiktok_spec, settings=TT_SETTINGS, credentials=TT_CREDS, transport=script.transport,
                      clock=clock.time, sleep=clock.sleep)
    results = conn.call_batched("get_orders", [str(i) for i in range(60)])
    assert [len(r.url.params["ids"].split(",")) for r in script.requests] == [50, 10]
    assert all(r.ok for r in results) and results[0].response.records[0] == {"id": "0"}


@pytest.mark.parametrize("name", ["tiktok_shop", "shopify"])
def test_shipped_specs_compile(name):
    compiled = compile_connector(load_spec(name))
    assert compiled.name == name and compiled.operations


def base_spec() -> dict:
    return {"kind": "connector", "name": "demo", "base_url": "https://{host}/api",
            "settings": {"type": "object", "properties": {"host": {"type": "string"}}},
            "credentials": ["access_token"], "auth": {"kind": "shopify_access_token"},
            "operations": {"get": {"method": "GET", "path": "/x/{id}", "record": "x"}}}


def mutate(path: str, value):
    spec = base_spec()
    node = spec
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return spec


@pytest.mark.parametrize(
    ("spec", "where", "text"),
    [
        (mutate("auth", {"kind": "magic"}), "auth.kind", "unknown auth kind"),
        (mutate("auth", {"kind": "shopify_access_token", "hedaer": "x"}), "auth", "Additional properties"),
        (mutate("auth", {"kind": "tiktok_shop", "token_url": "https://t"}), "credentials", "app_secret"),
        (mutate("operations.get.record", "x[?"), "operations.get.record", "bad JMESPath"),
        (mutate("operations.get.method", "FETCH"), "operations.get.method", "is not one of"),
        (mutate("operations.get.records", "y"), "operations.get", "should not be valid"),
        (mutate("errors", [{"when": "body.code = 1", "action": "fail"}]), "errors[0].when", "bad JMESPath"),
        (mutate("errors", [{"when": "status", "action": "explode"}]), "errors[0].action", "is not one of"),
        (mutate("base_url", "https://{shop}/api"), "base_url", "not a declared setting"),
        (mutate("rate_limit", {"kind": "token_bucket"}), "rate_limit", "'rate' is a required property"),
        (mutate("operations.get.paginate", {"kind": "cursor", "token_path": "n", "stop_on": ["missing_token"]}),
         "operations.get.records", "needs `records`"),
        (mutate("operations.get.extra", 1), "operations.get", "Additional properties"),
    ],
)
def test_spec_errors_point_at_the_field(spec, where, text):
    with pytest.raises(SpecError) as info:
        compile_connector(spec)
    matching = [p for p in info.value.problems if p.path == where]
    assert matching, info.value
    assert any(text in p.message for p in matching), info.value


def test_schema_has_a_description_on_every_property():
    import json

    schema = json.loads((ROOT / "schemas" / "connector.schema.json").read_text())
    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{path}.{name}")
                walk(sub, f"{path}.{name}")
            for key in ("$defs", "additionalProperties", "items"):
                sub = node.get(key)
                if isinstance(sub, dict):
                    for name, inner in (sub.items() if key == "$defs" else [("*", sub)]):
                        walk(inner, f"{path}.{name}")

    walk(schema, "$")
    assert not missing


def test_connection_checks_settings_and_credentials():
    from engine.errors import ConnectorError

    with pytest.raises(ConnectorError, match="lacks credentials: access_token"):
        Connection(base_spec(), settings={"host": "h"}, credentials={})
    with pytest.raises(SpecError):
        Connection(base_spec(), settings={"host": 5}, credentials={"access_token": "t"})
    with pytest.raises(ConnectorError, match="base_url needs setting 'host'"):
        Connection(base_spec(), settings={}, credentials={"access_token": "t"})
