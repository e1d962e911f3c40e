"""One run of a merchant flow at a time, and what holding the flow's lease lets a run conclude about
creates left in progress by a run that died."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from engine.flow.run_lease import RunLease
from engine.state import FlowBusyError, open_store
from tests.flows.test_push_fan_out import (
    CREATE,
    CREATED,
    FakeConnection,
    FakeResponse,
    make_run,
    push,
    record,
)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_run_of_the_same_flow_is_refused_while_the_first_holds_it(tmp_path):
    store = open_store(str(tmp_path / "s.db"))
    try:
        first, second = RunLease(store, "acme", "catalog"), RunLease(store, "acme", "catalog")
        first.acquire()
        with pytest.raises(FlowBusyError, match="already running"):
            second.acquire()
        RunLease(store, "acme", "listing_status").acquire()  # another flow is not held up
        first.release()
        second.acquire()
    finally:
        store.close()


def test_a_lease_left_by_a_process_that_is_gone_is_taken_over(tmp_path):
    store = open_store(str(tmp_path / "s.db"))
    try:
        assert store.acquire_lease("run:acme:catalog", f"{socket.gethostname()}/{_dead_pid()}/x", 120)
        RunLease(store, "acme", "catalog").acquire()
        assert store.get_lease("run:acme:catalog")["owner"].startswith(f"{socket.gethostname()}/{os.getpid()}/")
    finally:
        store.close()


def test_a_live_holder_on_another_machine_is_respected(tmp_path):
    store = open_store(str(tmp_path / "s.db"))
    try:
        assert store.acquire_lease("run:acme:catalog", "other-host/1/x", 120)
        with pytest.raises(FlowBusyError):
            RunLease(store, "acme", "catalog").acquire()
    finally:
        store.close()


def test_holding_the_lease_a_run_looks_up_a_create_left_in_progress_instead_of_waiting(tmp_path):
    conn = FakeConnection({"create": CREATED, "list": lambda body, query: FakeResponse(records=[CREATED])})
    run = make_run(conn, tmp_path)
    run.store.begin_once("create:product:shop", "p1")  # a killed run's claim, its lease still running
    lookup = {"operation": "list", "query": "{title: product.title}", "id": "id", "skus": "variants[].sku"}
    step = push(run, create=CREATE, lookup_existing=lookup)
    run.exclusive = False
    with pytest.raises(Exception, match="another worker is creating"):
        step.process(record("create", skus=["A", "B"]), run)
    run.exclusive = True
    out = step.process(record("create", skus=["A", "B"]), run)
    assert [c["op"] for c in conn.calls] == ["list"]  # adopted, not created twice
    assert out.remote_id == "900"
