"""The graphql request kind, the cursor_page_info paginator and the graphql_cost limiter, against
scripted answers and a cost bucket on a fake clock (no network, no sleeping)."""

from __future__ import annotations

import json

import httpx
import pytest

from engine.errors import SpecError
from engine.http import Connection, ValidationFailedError, compile_connector
from simulators.shopify.graphql import CostBucket

DOC = "query Q($first: Int!, $after: String, $query: String) { things(first: $first, after: $after, query: $query) { nodes { id } pageInfo { hasNextPage endCursor } } }"
MUTATION = ("mutation M($input: ThingInput!, $key: String!) { thingSet(input: $input) @idempotent(key: $key) "
            "{ thing { id } userErrors { field message code } } }")


class Clock:
    def __init__(self) -> None:
        self.now, self.slept = 1000.0, 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


def spec(**rate_limit) -> dict:
    return {
        "kind": "connector", "name": "gql", "base_url": "https://shop.test/admin/api/2026-01",
        "auth": {"kind": "header_token", "header": "X-Token"}, "credentials": ["access_token"],
        "rate_limit": rate_limit or {"kind": "graphql_cost", "maximum": 1000, "restore_rate": 50},
        "retry": {"max_attempts": 4, "base_delay": 1, "jitter": 0},
        "errors": [
            {"when": "body.errors[?extensions.code == 'THROTTLED'] | length(@) > `0`", "action": "rate_limited"},
            {"when": "body.errors && body.data == null", "action": "fail", "error": "validation",
             "message": "join('; ', body.errors[].message)"},
        ],
        "operations": {
            "list_things": {
                "method": "POST", "path": "/graphql.json",
                "request": {"kind": "graphql", "document": DOC, "variables": "{query: query.filter}"},
                "records": "data.things.nodes",
                "paginate": {"kind": "cursor_page_info", "page_info_path": "data.things.pageInfo", "page_size": 2,
                             "stop_on": ["no_next_page"]},
            },
            "set_thing": {
                "method": "POST", "path": "/graphql.json",
                "request": {"kind": "graphql", "document": MUTATION, "idempotency_variable": "key",
                            "variables": "{input: merge(body, {id: join('', ['gid://x/Thing/', path.thing_id])})}"},
                "record": "data.thingSet.thing",
            },
        },
    }


def connect(handler, clock: Clock, **rate_limit) -> Connection:
    return Connection(spec(**rate_limit), settings={}, credentials={"access_token": "t"},
                      transport=httpx.MockTransport(handler), clock=clock.time, sleep=clock.sleep)


def cost_status(bucket: CostBucket, requested: int, actual: int | None) -> dict:
    return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": bucket.status()}


def test_a_document_with_a_syntax_error_is_a_compile_error_with_its_path():
    broken = spec()
    broken["operations"]["list_things"]["request"]["document"] = "query { things(first: 2) { nodes { id }"
    with pytest.raises(SpecError) as err:
        compile_connector(broken)
    assert "operations.list_things.request.document" in str(err.value) and "Syntax Error" in str(err.value)


def test_an_idempotency_variable_the_document_does_not_declare_is_refused():
    broken = spec()
    broken["operations"]["set_thing"]["request"]["idempotency_variable"] = "idempotencyKey"
    with pytest.raises(SpecError, match="idempotencyKey is not declared"):
        compile_connector(broken)


def test_pages_follow_end_cursors_and_filters_become_variables():
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body["variables"])
        after = body["variables"].get("after")
        page = {None: (["1", "2"], True, "c2"), "c2": (["3", "4"], True, "c4"), "c4": (["5"], False, "c5")}[after]
        return httpx.Response(200, json={"data": {"things": {"nodes": [{"id": i} for i in page[0]],
                                                             "pageInfo": {"hasNextPage": page[1], "endCursor": page[2]}}}})

    conn = connect(handler, Clock(), kind="none")
    assert [r["id"] for r in conn.records("list_things", query={"filter": "sku:A"})] == ["1", "2", "3", "4", "5"]
    assert sent == [{"query": "sku:A", "first": 2}, {"query": "sku:A", "first": 2, "after": "c2"},
                    {"query": "sku:A", "first": 2, "after": "c4"}]


def test_user_errors_are_field_errors_and_the_key_goes_in_the_directive_variable():
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"data": {"thingSet": {"thing": None, "userErrors": [
            {"field": ["input", "quantities", "0", "changeFromQuantity"], "message": "stale", "code": "CHANGE_FROM_QUANTITY_STALE"}]}}})

    response = connect(handler, Clock(), kind="none").call("set_thing", path_params={"thing_id": "7"},
                                                         body={"name": "x"}, idempotency_key="k-1")
    assert bodies[0]["variables"] == {"input": {"name": "x", "id": "gid://x/Thing/7"}, "key": "k-1"}
    assert bodies[0]["query"] == MUTATION
    [error] = response.item_errors
    assert (error.key, error.code, error.message) == ("input.quantities.0.changeFromQuantity", "CHANGE_FROM_QUANTITY_STALE", "stale")


def test_top_level_errors_are_request_errors():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errors": [{"message": "Field 'nope' doesn't exist on type 'Thing'"}]})

    with pytest.raises(ValidationFailedError, match="doesn't exist"):
        connect(handler, Clock(), kind="none").call("list_things")


def test_a_generated_key_is_reused_by_the_retries_of_one_call():
    keys = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(json.loads(request.content)["variables"]["key"])
        if len(keys) == 1:
            return httpx.Response(503)
        return httpx.Response(200, json={"data": {"thingSet": {"thing": {"id": "1"}, "userErrors": []}}})

    clock = Clock()
    connect(handler, clock, kind="none").call("set_thing", path_params={"thing_id": "1"}, body={})
    assert len(keys) == 2 and keys[0] == keys[1]


def test_calls_are_paced_by_the_cost_bucket_so_it_never_empties():
    clock = Clock()
    bucket = CostBucket(maximum=1000, restore_rate=50, clock=clock.time)
    lowest = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested, actual = 300, 120
        if not bucket.admit(requested):
            bucket.throttled += 1
            return httpx.Response(200, json={"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                                             "extensions": {"cost": cost_status(bucket, requested, None)}})
        bucket.charge(actual)
        lowest.append(bucket.available)
        return httpx.Response(200, json={"data": {"things": {"nodes": [], "pageInfo": {"hasNextPage": False}}},
                                         "extensions": {"cost": cost_status(bucket, requested, actual)}})

    conn = connect(handler, clock)
    for _ in range(60):
        conn.call("list_things")
    assert bucket.throttled == 0
    assert min(lowest) > 0  # the bucket always held the next query's requested cost, never emptied
    # Paced, not stalled: 60 x 120 points at 50 points/s, less the 1000 the bucket started with.
    assert (60 * 120 - 1000) / 50 <= clock.slept <= (60 * 120 - 1000) / 50 + 10


def test_a_throttled_answer_is_retried_after_the_time_the_bucket_needs():
    clock = Clock()
    bucket = CostBucket(maximum=1000, restore_rate=100, clock=clock.time)
    bucket.available = 0.0  # another client of the same app emptied it
    answers = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested = 400
        if not bucket.admit(requested):
            answers.append("THROTTLED")
            return httpx.Response(200, json={"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                                             "extensions": {"cost": cost_status(bucket, requested, None)}})
        bucket.charge(10)
        answers.append("ok")
        return httpx.Response(200, json={"data": {"things": {"nodes": [], "pageInfo": {"hasNextPage": False}}},
                                         "extensions": {"cost": cost_status(bucket, requested, 10)}})

    connect(handler, clock).call("list_things")
    assert answers == ["THROTTLED", "ok"]
    assert 4.0 <= clock.slept <= 5.0  # 400 points at 100/s (plus the headroom), not a blind backoff


def test_bulk_lines_are_joined_to_their_parents_and_out_of_order_children_are_refused():
    from engine.http.errors import PaginationError
    from engine.http.graphql import GraphQLBulkRead

    bulk = GraphQLBulkRead({"kind": "graphql_bulk", "document": "{ products { edges { node { id } } } }",
                            "start": "s", "poll": "p", "children": {"ProductVariant": "variants", "Metafield": "metafields"}})
    lines = [
        '{"id":"gid://shopify/Product/1","title":"A"}',
        '{"id":"gid://shopify/ProductVariant/11","sku":"A-1","__parentId":"gid://shopify/Product/1"}',
        '{"id":"gid://shopify/Metafield/111","value":"x","__parentId":"gid://shopify/ProductVariant/11"}',
        '{"id":"gid://shopify/ProductVariant/12","sku":"A-2","__parentId":"gid://shopify/Product/1"}',
        "",
        '{"id":"gid://shopify/Product/2","title":"B"}',
    ]
    joined = list(bulk._join(iter(lines), "bulk", PaginationError))
    assert [p["title"] for p in joined] == ["A", "B"]
    assert [v["sku"] for v in joined[0]["variants"]["nodes"]] == ["A-1", "A-2"]
    assert joined[0]["variants"]["nodes"][0]["metafields"]["nodes"][0]["value"] == "x"
    stray = [lines[0], lines[5], lines[1]]  # a variant of product 1 after product 2 started
    with pytest.raises(PaginationError, match="not the record being read"):
        list(bulk._join(iter(stray), "bulk", PaginationError))
