"""Connector expressions (error rules, record selectors, paging paths) are compiled by the same
expression compiler as mappings: registered functions work there, and a mistake is reported with
its column and the field."""

from __future__ import annotations

import httpx
import pytest

from engine.errors import SpecError
from engine.http import Connection, compile_connector
from engine.lang.expr import ExpressionCompiler


def spec(**changes) -> dict:
    base = {"kind": "connector", "name": "demo", "base_url": "http://127.0.0.1:1/api",
            "credentials": ["access_token"], "auth": {"kind": "header_token", "header": "X-Key"},
            "operations": {"get": {"method": "GET", "path": "/x", "record": "data"}}}
    base.update(changes)
    return base


def test_an_error_rule_can_use_a_registered_function():
    rules = [{"when": "money_cmp(to_string(body.balance), '0') == `-1`", "action": "fail", "error": "validation",
              "message": "'negative balance'"}]
    compiled = compile_connector(spec(errors=rules))
    answers = iter([httpx.Response(200, json={"balance": "-0.01", "data": {"id": 1}}),
                    httpx.Response(200, json={"balance": "0.00", "data": {"id": 2}})])
    conn = Connection(compiled, settings={}, credentials={"access_token": "t"},
                      transport=httpx.MockTransport(lambda request: next(answers)))
    with pytest.raises(Exception, match="negative balance"):
        conn.call("get")
    assert conn.call("get").record == {"id": 2}


def test_an_unknown_function_in_a_connector_is_reported_at_its_field():
    with pytest.raises(SpecError) as info:
        compile_connector(spec(operations={"get": {"method": "GET", "path": "/x", "record": "frobnicate(data)"}}))
    problem = next(p for p in info.value.problems if p.path == "operations.get.record")
    assert "frobnicate" in problem.message


def test_a_plan_compiler_is_shared():
    exprs = ExpressionCompiler()
    compiled = compile_connector(spec(), exprs)
    assert compiled.operations["get"].record.search({"data": {"id": 7}}) == {"id": 7}
