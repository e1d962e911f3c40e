"""A create that got a server error or no answer (the fault suite's "processed, answer lost") is
looked up and, only when nothing is there, sent once more in the same run: never twice created,
never dead-lettered for a fault of the moment."""

from __future__ import annotations

import pytest

from engine.http import ServerError, TransportError
from tests.flows.test_push_fan_out import (
    CREATE,
    CREATED,
    FakeConnection,
    FakeResponse,
    make_run,
    push,
    record,
)

LOOKUP = {"operation": "list", "query": "{title: product.title}", "id": "id", "skus": "variants[].sku"}


def first_create_fails(error: Exception, shop: list[dict], happened: bool) -> FakeConnection:
    """The first create raises `error`; `happened`: the platform made the object all the same."""
    creates = {"n": 0}

    def fail(op, params, body):
        if op != "create":
            return None
        creates["n"] += 1
        if creates["n"] == 1:
            if happened:
                shop.append(CREATED)
            return error
        shop.append(CREATED)
        return None

    return FakeConnection({"create": CREATED, "list": lambda body, query: FakeResponse(records=list(shop))}, fail)


@pytest.mark.parametrize("error", [TransportError("ReadTimeout: no answer", op="create"),
                                   ServerError("HTTP 503", op="create", status=503)])
def test_a_create_whose_answer_was_lost_is_found_not_made_twice(tmp_path, error):
    shop: list[dict] = []
    conn = first_create_fails(error, shop, happened=True)
    run = make_run(conn, tmp_path)
    out = push(run, create=CREATE, lookup_existing=LOOKUP).process(record("create", skus=["A", "B"]), run)
    assert [c["op"] for c in conn.calls] == ["create", "list"] and len(shop) == 1
    assert out.remote_id == "900" and run.store.get_remote_id("product", "shop", "p1") == "900"


def test_a_create_refused_by_a_server_error_is_sent_once_more(tmp_path):
    shop: list[dict] = []
    conn = first_create_fails(ServerError("HTTP 503", op="create", status=503), shop, happened=False)
    run = make_run(conn, tmp_path)
    out = push(run, create=CREATE, lookup_existing=LOOKUP).process(record("create", skus=["A", "B"]), run)
    assert [c["op"] for c in conn.calls] == ["create", "list", "create"] and len(shop) == 1
    assert out.remote_id == "900"


def test_without_a_lookup_the_error_stands(tmp_path):
    shop: list[dict] = []
    conn = first_create_fails(ServerError("HTTP 503", op="create", status=503), shop, happened=False)
    run = make_run(conn, tmp_path)
    with pytest.raises(ServerError):
        push(run, create=CREATE).process(record("create", skus=["A", "B"]), run)
    assert [c["op"] for c in conn.calls] == ["create"]
