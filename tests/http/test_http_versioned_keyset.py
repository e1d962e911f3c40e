"""Generic HTTP capabilities: offset paging that switches to keyset paging past the API's offset
cap, query parameters derived from a caller's inputs, and versioned (optimistic concurrency)
updates that read the version first and resend with the current one after a conflict."""

from __future__ import annotations

import json

import httpx
import pytest
from http_helpers import Script, body_json

from engine.errors import SpecError
from engine.http import Connection, HttpCallError, compile_connector

KEYSET = {"kind": "offset", "limit": 2, "total_path": "total", "stop_on": ["total_reached", "empty_page"],
          "max_offset": 4, "keyset": {"key_path": "id", "param": "where", "predicate": 'id > "{key}"'}}


def spec(operations: dict) -> dict:
    return {"kind": "connector", "name": "demo", "base_url": "https://api.example.com/p1",
            "credentials": ["access_token"], "auth": {"kind": "header_token", "header": "Authorization",
                                                      "prefix": "Bearer "},
            "errors": [{"when": "status == `409`", "action": "fail", "error": "validation", "message": "body.message"}],
            "operations": operations}


def connection(operations: dict, answers) -> tuple[Connection, Script]:
    script = Script(answers)
    return Connection(spec(operations), settings={}, credentials={"access_token": "tok"},
                      transport=script.transport), script


def emulate(ids: list[str]):
    """A list endpoint sorted by id: offset/limit and a where filter `id > "x"` (ANDed with another)."""
    def answer(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        offset, limit = int(params["offset"]), int(params["limit"])
        assert offset <= 4, "offset past the cap"
        rows = sorted(ids)
        where = params.get("where", "")
        if 'id > "' in where:
            after = where.split('id > "')[1].split('"')[0]
            rows = [r for r in rows if r > after]
        if where.startswith("kind"):
            assert " and " in where or "id >" not in where
        page = rows[offset:offset + limit]
        return httpx.Response(200, json={"total": len(rows), "offset": offset, "results": [{"id": r} for r in page]})
    return answer


def test_offset_paging_switches_to_keyset_past_the_offset_cap():
    ids = [f"{n:03d}" for n in range(11)]
    conn, script = connection({"list": {"method": "GET", "path": "/things", "records": "results",
                                        "query": {"sort": "id asc", "where": "kind = 1"}, "paginate": KEYSET}},
                              emulate(ids))
    got = [r["id"] for r in conn.records("list")]
    assert got == ids  # every record once, in order
    sent = [(r.url.params["offset"], r.url.params.get("where")) for r in script.requests]
    assert sent[:3] == [("0", "kind = 1"), ("2", "kind = 1"), ("4", "kind = 1")]
    # Past offset 4 (+2 > the cap of 4): from the start again, after the last id read, the call's filter kept.
    assert sent[3] == ("0", 'kind = 1 and id > "005"')
    assert sent[4] == ("0", 'kind = 1 and id > "007"')
    assert all(int(offset) <= 4 for offset, _ in sent)


def test_keyset_without_a_filter_of_the_call_sends_the_predicate_alone():
    conn, script = connection({"list": {"method": "GET", "path": "/things", "records": "results",
                                        "paginate": KEYSET}}, emulate([f"{n}" for n in range(7)]))
    assert len(list(conn.records("list"))) == 7
    assert script.requests[3].url.params["where"] == 'id > "5"'


def test_a_keyset_option_is_checked_when_the_connector_compiles():
    bad = {**KEYSET, "keyset": {"key_path": "id", "param": "where"}}
    with pytest.raises(SpecError, match="predicate"):
        compile_connector(spec({"list": {"method": "GET", "path": "/x", "records": "r", "paginate": bad}}))


DERIVED = {"method": "GET", "path": "/inventory", "records": "results", "inputs": ["skus"],
           "derive_query": {"where": "skus && join('', ['sku in (\"', join('\", \"', split(skus, ',')), '\")'])"}}


def test_derived_query_turns_inputs_into_a_filter_and_does_not_send_them():
    conn, script = connection({"by_sku": DERIVED}, [httpx.Response(200, json={"results": []})] * 2)
    conn.call("by_sku", query={"skus": "A-1,B-2"})
    params = script.requests[0].url.params
    assert params["where"] == 'sku in ("A-1", "B-2")' and "skus" not in params
    conn.call("by_sku", query={"limit": 5})  # no input: nothing derived
    assert "where" not in script.requests[1].url.params


UPDATE = {"method": "POST", "path": "/orders/{order_id}", "versioned": {"read": "get_order",
                                                                        "current": "errors[0].currentVersion"}}
GET = {"method": "GET", "path": "/orders/{order_id}"}


def conflict(current: int) -> httpx.Response:
    return httpx.Response(409, json={"statusCode": 409, "message": "Version mismatch. Concurrent modification.",
                                     "errors": [{"code": "ConcurrentModification", "currentVersion": current}]})


def test_a_versioned_update_sends_the_version_it_read():
    conn, script = connection({"update": UPDATE, "get_order": GET},
                              [httpx.Response(200, json={"id": "o1", "version": 7}),
                               httpx.Response(200, json={"id": "o1", "version": 8})])
    response = conn.call("update", path_params={"order_id": "o1"}, body={"actions": [{"action": "x"}]})
    assert response.body["version"] == 8
    assert [r.method for r in script.requests] == ["GET", "POST"]
    assert body_json(script.requests[1]) == {"actions": [{"action": "x"}], "version": 7}


def test_a_conflict_is_resent_with_the_current_version_and_a_callers_version_is_kept():
    conn, script = connection({"update": UPDATE, "get_order": GET},
                              [conflict(9), httpx.Response(200, json={"id": "o1", "version": 10})])
    conn.call("update", path_params={"order_id": "o1"}, body={"version": 3, "actions": []})
    assert [body_json(r)["version"] for r in script.requests] == [3, 9]


def test_conflicts_end_after_max_conflicts_and_other_errors_are_not_retried():
    conn, script = connection({"update": {**UPDATE, "versioned": {**UPDATE["versioned"], "max_conflicts": 2}},
                               "get_order": GET}, [conflict(2), conflict(3), conflict(4)])
    with pytest.raises(HttpCallError) as caught:
        conn.call("update", path_params={"order_id": "o1"}, body={"version": 1, "actions": []})
    assert caught.value.status == 409 and len(script.requests) == 3
    conn, script = connection({"update": UPDATE, "get_order": GET},
                              [httpx.Response(400, json={"message": "InvalidOperation"})])
    with pytest.raises(HttpCallError):
        conn.call("update", path_params={"order_id": "o1"}, body={"version": 1, "actions": []})
    assert len(script.requests) == 1


def test_a_conflict_without_the_current_version_reads_the_object_again():
    no_current = httpx.Response(409, json={"statusCode": 409, "message": "conflict", "errors": []})
    conn, script = connection({"update": UPDATE, "get_order": GET},
                              [no_current, httpx.Response(200, json={"version": 12}),
                               httpx.Response(200, json={"version": 13})])
    conn.call("update", path_params={"order_id": "o1"}, body={"version": 11, "actions": []})
    assert [r.method for r in script.requests] == ["POST", "GET", "POST"]
    assert json.loads(script.requests[2].content)["version"] == 12


def test_a_versioned_operation_must_name_a_read_with_its_path_parameters():
    with pytest.raises(SpecError, match="unknown operation"):
        compile_connector(spec({"update": UPDATE}))
    with pytest.raises(SpecError, match="path parameters"):
        compile_connector(spec({"update": {**UPDATE, "path": "/orders"}, "get_order": GET}))
