"""The state store on each backend (SQLite and PostgreSQL, see conftest): every method, and the
concurrency promises flows and webhooks rely on."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import threading
from decimal import Decimal

import pytest

from engine.state import (
    BackendNotAvailable,
    LockTimeout,
    StateError,
    StateStore,
    content_hash,
    open_store,
)
from engine.state.sqlite import SCHEMA_VERSION


class FakeClock:
    """Seconds since the epoch that only move when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(make_store, clock):
    return make_store(clock=clock)


# ---- opening ------------------------------------------------------------------------------


def test_open_store_forms(tmp_path):
    path = tmp_path / "a.db"
    for target in (f"sqlite:///{path}", str(path)):
        with open_store(target) as s:
            assert isinstance(s, StateStore)
            assert s.path == str(path)
            s.kv_set("ns", "k", {"n": 1})
    with open_store(str(path)) as s:
        assert s.kv_get("ns", "k") == {"n": 1}
    for mem in (":memory:", "sqlite://", "sqlite:///:memory:"):
        with open_store(mem) as s:
            assert s.path == ":memory:"
    spaced = tmp_path / "with space.db"
    with open_store(f"sqlite:///{str(spaced).replace(' ', '%20')}") as s:
        assert s.path == str(spaced)


def test_open_store_postgres_forms(postgres_server):
    from engine.state.postgres import PostgresStore, schema_name

    with open_store(postgres_server, namespace="Acme Store-1") as s:
        assert isinstance(s, PostgresStore) and s.path is None
        assert s.schema == schema_name("Acme Store-1") == "merchant_acme_store_1"
        s.kv_set("ns", "k", {"n": 1})
    # Another merchant in the same database sees nothing of it; the same merchant does.
    with open_store(postgres_server.replace("postgresql://", "postgres://"), namespace="other") as s:
        assert s.kv_get("ns", "k") is None
    with open_store(f"{postgres_server}?schema=merchant_acme_store_1&pool_max=3") as s:
        assert s.kv_get("ns", "k") == {"n": 1}
    with pytest.raises(StateError, match="schema"):
        open_store(f"{postgres_server}?schema=Bad-Name")


def test_open_store_postgres_unreachable_is_a_clear_error():
    from engine.state.postgres.local import free_port

    url = f"postgresql://me:s3cret-pw@127.0.0.1:{free_port()}/db?connect_timeout=2"
    with pytest.raises(StateError, match="cannot connect") as info:
        open_store(url, connect_timeout=2)
    assert "s3cret-pw" not in str(info.value) and "me:***@" in str(info.value)
    assert not isinstance(info.value, BackendNotAvailable)


@pytest.mark.parametrize("bad", ["mysql://db/x", "sqlite://host/x.db", "sqlite:////tmp/x.db?mode=ro", ""])
def test_open_store_rejects_unclear_locations(bad):
    with pytest.raises(StateError):
        open_store(bad)


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(StateError, match="does not exist"):
        open_store(str(tmp_path / "nope" / "m.db"))


def test_file_is_wal_private_and_versioned(tmp_path):
    path = tmp_path / "m.db"
    with open_store(str(path)) as s:
        assert s.schema_version() == SCHEMA_VERSION
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds connector tokens
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = raw.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))
    raw.close()
    # Reopening applies nothing twice.
    with open_store(str(path)) as s:
        assert s.schema_version() == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "m.db"
    open_store(str(path)).close()
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO schema_version VALUES (?, 'future', '2030-01-01T00:00:00.000000Z')",
                (SCHEMA_VERSION + 1,))
    raw.commit()
    raw.close()
    with pytest.raises(StateError, match="newer than this engine"):
        open_store(str(path))


def test_postgres_newer_schema_is_refused(postgres_url):
    from engine.state.postgres import SCHEMA_VERSION as PG_SCHEMA_VERSION

    with open_store(postgres_url) as s:
        assert s.schema_version() == PG_SCHEMA_VERSION
        with s._use() as conn:
            conn.execute("INSERT INTO schema_version VALUES (?, 'future', '2030-01-01T00:00:00.000000Z')",
                         (PG_SCHEMA_VERSION + 1,))
    with pytest.raises(StateError, match="newer than this engine"):
        open_store(postgres_url)


def test_closed_store_refuses_work(location):
    s = open_store(location)
    s.close()
    s.close()  # idempotent
    with pytest.raises(StateError, match="closed"):
        s.get_cursor("f", "c", "n")


# ---- ID map, hashes, cursors --------------------------------------------------------------


def test_id_map(store, clock):
    assert store.get_remote_id("sku", "tiktok-us", "SKU-1") is None
    assert store.get_mapping("sku", "tiktok-us", "SKU-1") is None
    store.map_id("sku", "tiktok-us", "SKU-1", "7301", {"price": Decimal("19.90"), "seller_sku": "S1"})
    m = store.get_mapping("sku", "tiktok-us", "SKU-1")
    assert m == {"remote_id": "7301", "extra": {"price": "19.90", "seller_sku": "S1"},
                 "updated_at": "2027-01-15T08:00:00.000000Z"}
    clock.advance(1)
    store.map_id("sku", "tiktok-us", "SKU-1", "7302")  # remap replaces
    assert store.get_remote_id("sku", "tiktok-us", "SKU-1") == "7302"
    assert store.get_mapping("sku", "tiktok-us", "SKU-1")["extra"] is None
    store.map_id("sku", "tiktok-us", "SKU-0", "7300")
    store.map_id("sku", "tiktok-uk", "SKU-1", "9001")  # connections are separate
    assert store.find_key_by_remote_id("sku", "tiktok-us", "7302") == "SKU-1"
    assert store.find_key_by_remote_id("sku", "tiktok-uk", "7302") is None
    assert [m["key"] for m in store.list_mappings("sku", "tiktok-us")] == ["SKU-0", "SKU-1"]
    assert store.list_mappings("product", "tiktok-us") == []
    assert store.delete_mapping("sku", "tiktok-us", "SKU-0") is True
    assert store.delete_mapping("sku", "tiktok-us", "SKU-0") is False
    with pytest.raises(StateError):
        store.map_id("sku", "tiktok-us", "", "1")


def test_hashes_and_cursors(store):
    assert store.get_hash("product", "shopify", "P1") is None
    digest = content_hash({"title": "Mug", "price": Decimal("9.50")})
    store.set_hash("product", "shopify", "P1", digest)
    assert store.get_hash("product", "shopify", "P1") == digest
    store.set_hash("product", "shopify", "P1", "other")
    assert store.get_hash("product", "shopify", "P1") == "other"
    assert store.get_hash("product", "tiktok-us", "P1") is None

    assert store.get_cursor("orders", "tiktok-us", "update_time") is None
    store.set_cursor("orders", "tiktok-us", "update_time", "1700000000")
    store.set_cursor("orders", "tiktok-us", "update_time", "1700000100")
    assert store.get_cursor("orders", "tiktok-us", "update_time") == "1700000100"
    assert store.get_cursor("orders", "tiktok-uk", "update_time") is None
    with pytest.raises(StateError):
        store.set_cursor("orders", "tiktok-us", "update_time", 1700000100)


# ---- idempotency ledger -------------------------------------------------------------------


def test_once_lifecycle(store):
    t = store.begin_once("shopify.order.create", "TT-1", "h1")
    assert (t.status, t.is_new, t.recovered, t.attempts) == ("new", True, False, 1)
    again = store.begin_once("shopify.order.create", "TT-1", "h1")
    assert again.status == "in_progress" and again.token is None
    assert store.complete_once("shopify.order.create", "TT-1", {"order_id": "gid://1", "total": Decimal("5.00")})
    done = store.begin_once("shopify.order.create", "TT-1", "h1")
    assert done.status == "done"
    assert done.result == {"order_id": "gid://1", "total": "5.00"}
    assert done.request_changed is False
    assert store.begin_once("shopify.order.create", "TT-1", "h2").request_changed is True
    # A done entry is never undone or overwritten.
    assert store.fail_once("shopify.order.create", "TT-1", "late failure") is False
    assert store.complete_once("shopify.order.create", "TT-1", {"order_id": "dup"}) is False
    assert store.get_once("shopify.order.create", "TT-1")["result"]["order_id"] == "gid://1"
    # Scopes are independent.
    assert store.begin_once("tiktok.listing.create", "TT-1").status == "new"


def test_fail_once_releases_for_retry(store):
    t = store.begin_once("listing.create", "P1")
    assert store.fail_once("listing.create", "P1", "HTTP 500", token=t.token) is True
    assert store.get_once("listing.create", "P1")["status"] == "failed"
    retry = store.begin_once("listing.create", "P1")
    assert retry.status == "new" and retry.recovered is False
    assert retry.attempts == 2 and retry.last_error == "HTTP 500"
    assert store.fail_once("listing.create", "P1", "x", token="not-the-holder") is False
    assert store.fail_once("listing.create", "P1", "HTTP 502") is True


def test_abandoned_in_progress_is_recovered(store, clock):
    first = store.begin_once("shopify.order.create", "TT-9", lease_seconds=None)
    clock.advance(299)
    assert store.begin_once("shopify.order.create", "TT-9").status == "in_progress"
    clock.advance(2)  # past the 300 s default lease: the first holder crashed
    taken = store.begin_once("shopify.order.create", "TT-9")
    assert (taken.status, taken.recovered, taken.attempts) == ("new", True, 2)
    # The crashed holder coming back cannot release the new holder's entry...
    assert store.fail_once("shopify.order.create", "TT-9", "timeout", token=first.token) is False
    assert store.renew_once("shopify.order.create", "TT-9", first.token) is False
    # ...but the new holder can keep its hold alive past the original lease.
    clock.advance(200)
    assert store.renew_once("shopify.order.create", "TT-9", taken.token, lease_seconds=300)
    clock.advance(200)
    assert store.begin_once("shopify.order.create", "TT-9").status == "in_progress"
    assert store.complete_once("shopify.order.create", "TT-9", {"order_id": "gid://9"})
    assert store.begin_once("shopify.order.create", "TT-9").result == {"order_id": "gid://9"}


def test_once_lease_is_configurable(make_store, clock):
    with make_store(clock=clock, once_lease_seconds=10) as s:
        s.begin_once("s", "k")
        clock.advance(11)
        assert s.begin_once("s", "k").recovered is True
        s.begin_once("s", "k2", lease_seconds=1000)
        clock.advance(500)
        assert s.begin_once("s", "k2").status == "in_progress"


@pytest.mark.parametrize("where", ["shared", "memory"])
def test_begin_once_threads_race(location, backend, where):
    if where == "memory" and backend != "sqlite":
        pytest.skip("an in-memory store is SQLite's")
    target = ":memory:" if where == "memory" else location
    with open_store(target) as s:
        for round_ in range(5):
            barrier = threading.Barrier(8)
            statuses: list[str] = []
            errors: list[BaseException] = []

            def worker(key=f"TT-{round_}", barrier=barrier, statuses=statuses, errors=errors):
                try:
                    barrier.wait(timeout=10)
                    statuses.append(s.begin_once("order.create", key).status)
                except BaseException as e:  # surfaced below; a thread cannot fail the test itself
                    errors.append(e)

            threads = [threading.Thread(target=worker) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert not errors
            assert sorted(statuses) == ["in_progress"] * 7 + ["new"]


def _race_worker(path: str, barrier, results) -> None:
    # Each process opens the file itself, so the first open (WAL switch, migrations) races too.
    store = open_store(path)
    try:
        barrier.wait(timeout=60)
        results.put(store.begin_once("shopify.order.create", "TT-race", "h").status)
    except BaseException as e:
        results.put(f"error: {e!r}")
    finally:
        store.close()


def test_begin_once_processes_race(location):
    path = location
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    results = ctx.Queue()
    procs = [ctx.Process(target=_race_worker, args=(path, barrier, results)) for _ in range(4)]
    for p in procs:
        p.start()
    statuses = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sorted(statuses) == ["in_progress"] * 3 + ["new"]
    with open_store(path) as s:
        assert s.get_once("shopify.order.create", "TT-race")["attempts"] == 1


# ---- runs ---------------------------------------------------------------------------------


def test_runs_and_counts(store, clock):
    r1 = store.start_run("acme", "catalog", dry_run=True, options={"limit": 10})
    clock.advance(1)
    r2 = store.start_run("acme", "orders", dry_run=False, options={})
    clock.advance(1)
    r3 = store.start_run("other", "catalog", dry_run=False, options={})
    assert r1 < r2 < r3  # ids sort by start time

    run = store.get_run(r1)
    assert run["status"] == "running" and run["dry_run"] is True and run["options"] == {"limit": 10}
    assert run["finished_at"] is None

    store.record_result(r1, "product", "P1", "create", "ok", {"remote_id": "1"})
    store.record_result(r1, "product", "P2", "update", "ok")
    store.record_result(r1, "product", "P3", "skip", "skipped")
    store.record_result(r1, "product", "P4", "create", "failed", {"message": "bad"})
    store.record_result(r1, "product", "P5", "create", "dead_letter")
    store.record_result(r1, "price", "SKU-1", "price_update", "ok")
    assert store.run_counts(r1) == {"create": 3, "update": 1, "skip": 1, "price_update": 1,
                                    "ok": 3, "failed": 1, "skipped": 1, "dead_letter": 1, "total": 6}
    assert store.run_counts(r2) == {"ok": 0, "failed": 0, "skipped": 0, "dead_letter": 0, "total": 0}
    results = store.run_results(r1)
    assert [r["key"] for r in results] == ["P1", "P2", "P3", "P4", "P5", "SKU-1"]
    assert results[0]["detail"] == {"remote_id": "1"} and results[1]["detail"] is None
    assert [r["key"] for r in store.run_results(r1, status="failed")] == ["P4"]

    with pytest.raises(StateError, match="status"):
        store.record_result(r1, "product", "P6", "create", "weird")
    with pytest.raises(StateError, match="clashes"):
        store.record_result(r1, "product", "P6", "ok", "ok")
    with pytest.raises(StateError, match="unknown run"):
        store.record_result("nope", "product", "P6", "create", "ok")

    store.finish_run(r1, "partial", {"counts": store.run_counts(r1), "amount": Decimal("1.50")})
    done = store.get_run(r1)
    assert done["status"] == "partial" and done["summary"]["amount"] == "1.50"
    assert done["finished_at"] == "2027-01-15T08:00:02.000000Z"
    with pytest.raises(StateError, match="unknown run"):
        store.finish_run("nope", "ok", {})

    assert [r["run_id"] for r in store.list_runs()] == [r3, r2, r1]
    assert [r["run_id"] for r in store.list_runs(merchant="acme")] == [r2, r1]
    assert [r["run_id"] for r in store.list_runs(flow="catalog")] == [r3, r1]
    assert [r["run_id"] for r in store.list_runs(merchant="acme", flow="catalog")] == [r1]
    assert len(store.list_runs(limit=1)) == 1
    assert store.get_run("nope") is None


# ---- dead letters -------------------------------------------------------------------------


def test_dead_letter_upsert_and_lifecycle(store, clock):
    err = {"message": "price is required", "type": "RecordError", "chain": ["KeyError: 'price'"],
           "field_errors": [{"path": "variants[0].price", "message": "required"}]}
    a = store.add_dead_letter("r1", "acme", "catalog", "validate", "product", "P1", {"title": "Mug"}, err)
    clock.advance(5)
    again = store.add_dead_letter("r2", "acme", "catalog", "push", "product", "P1", {"title": "Mug 2"},
                                  {"message": "HTTP 500"})
    assert again == a
    d = store.get_dead_letter(a)
    assert d["attempts"] == 2 and d["run_id"] == "r2" and d["step"] == "push"
    assert d["payload"] == {"title": "Mug 2"}
    assert d["error"] == {"message": "HTTP 500", "type": "", "chain": [], "field_errors": []}
    assert d["created_at"] < d["updated_at"] and d["status"] == "open"

    other = store.add_dead_letter("r2", "acme", "orders", "push", "order", "O1", {}, err)
    b2 = store.add_dead_letter("r2", "beta", "catalog", "push", "product", "P1", {}, err)
    assert len({a, other, b2}) == 3
    assert [x["id"] for x in store.list_dead_letters()] == [a, other, b2]
    assert [x["id"] for x in store.list_dead_letters(merchant="acme")] == [a, other]
    assert [x["id"] for x in store.list_dead_letters(merchant="acme", flow="catalog")] == [a]

    store.update_dead_letter_payload(a, {"title": "Mug", "price": Decimal("9.90")})
    assert store.get_dead_letter(a)["payload"]["price"] == "9.90"

    store.mark_replayed(a, "r3", ok=False)
    d = store.get_dead_letter(a)
    assert d["status"] == "open" and d["replay_run_id"] == "r3" and d["replay_ok"] is False
    store.mark_replayed(a, "r4", ok=True)
    d = store.get_dead_letter(a)
    assert d["status"] == "replayed" and d["replay_ok"] is True and d["resolved_at"]

    # Closed entries are history; the same record failing again opens a new one.
    fresh = store.add_dead_letter("r5", "acme", "catalog", "push", "product", "P1", {}, err)
    assert fresh != a and store.get_dead_letter(fresh)["attempts"] == 1

    store.resolve_dead_letter(other, note="fixed in Shopify")
    assert store.get_dead_letter(other)["note"] == "fixed in Shopify"
    assert [x["id"] for x in store.list_dead_letters(status="resolved")] == [other]
    assert [x["id"] for x in store.list_dead_letters(status="replayed")] == [a]
    assert len(store.list_dead_letters(status=None)) == 4
    assert store.get_dead_letter(999) is None
    with pytest.raises(StateError):
        store.resolve_dead_letter(999)
    with pytest.raises(StateError):
        store.list_dead_letters(status="bogus")


def test_dead_letter_from_exception(store):
    try:
        try:
            raise KeyError("price")
        except KeyError as e:
            raise ValueError("mapping failed") from e
    except ValueError as exc:
        dlq = store.add_dead_letter(None, "acme", "catalog", "map", "product", "P1", {}, exc)
    err = store.get_dead_letter(dlq)["error"]
    assert err["message"] == "mapping failed" and err["type"] == "ValueError"
    assert err["chain"] == ["KeyError: 'price'"]
    with pytest.raises(StateError):
        store.add_dead_letter(None, "acme", "catalog", "map", "product", "P1", {}, {"no": "message"})


# ---- leases and locks ---------------------------------------------------------------------


def test_lease_expiry(store, clock):
    assert store.acquire_lease("flow:catalog", "worker-a", 10)
    assert not store.acquire_lease("flow:catalog", "worker-b", 10)
    assert store.acquire_lease("flow:catalog", "worker-a", 10)  # the holder may re-acquire
    assert store.get_lease("flow:catalog")["owner"] == "worker-a"
    clock.advance(9)
    assert store.renew_lease("flow:catalog", "worker-a", 10)
    clock.advance(9)
    assert not store.acquire_lease("flow:catalog", "worker-b", 10)  # renewed, still held
    clock.advance(2)
    assert store.acquire_lease("flow:catalog", "worker-b", 10)  # expired: taken over
    assert not store.renew_lease("flow:catalog", "worker-a", 10)
    assert not store.release_lease("flow:catalog", "worker-a")
    assert store.release_lease("flow:catalog", "worker-b")
    assert store.get_lease("flow:catalog") is None
    assert store.acquire_lease("flow:catalog", "worker-a", 10)


def test_lock_times_out_then_succeeds(store, clock):
    assert store.acquire_lease("sku:S1", "other", 30)
    with pytest.raises(LockTimeout):
        with store.lock("sku:S1", "me", ttl=30, wait_seconds=0.1, poll_seconds=0.01):
            pass
    clock.advance(31)
    with store.lock("sku:S1", "me", ttl=30, wait_seconds=0.1):
        assert store.get_lease("sku:S1")["owner"] == "me"
    assert store.get_lease("sku:S1") is None  # released on exit


def test_lock_serializes_threads(location):
    with open_store(location) as s:
        s.kv_set("stock", "S1", {"n": 0})

        def bump(i: int) -> None:
            for _ in range(5):
                with s.lock("sku:S1", f"t{i}", ttl=30, wait_seconds=30, poll_seconds=0.001):
                    n = s.kv_get("stock", "S1")["n"]
                    s.kv_set("stock", "S1", {"n": n + 1})

        threads = [threading.Thread(target=bump, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert s.kv_get("stock", "S1") == {"n": 30}


# ---- key/value ----------------------------------------------------------------------------


def test_kv_survives_restart(location):
    path = location
    with open_store(path) as s:
        assert s.kv_get("auth", "tiktok-us") is None
        s.kv_set("auth", "tiktok-us", {"access_token": "a1", "refresh_token": "r1"})
        s.kv_set("auth", "tiktok-us", {"access_token": "a2", "refresh_token": "r2"})
        s.kv_set("auth", "shopify", {"access_token": "s1"})
    with open_store(path) as s:
        assert s.kv_get("auth", "tiktok-us") == {"access_token": "a2", "refresh_token": "r2"}
        assert s.kv_delete("auth", "shopify") is True
        assert s.kv_delete("auth", "shopify") is False
        assert s.kv_get("auth", "shopify") is None
        with pytest.raises(StateError):
            s.kv_set("auth", "x", ["not", "a", "dict"])


# ---- inbound events -----------------------------------------------------------------------


def test_inbound_events(store, clock):
    body = b'{"type":1,"data":{"order_id":"576"}}'
    headers = {"Authorization": "sig-value", "X-Tts-Topic": "ORDER_STATUS_CHANGE", "Cookie": "s=1"}
    assert store.store_event("tiktok-us", "ev-1", "order_status_change", body, headers) is True
    assert store.store_event("tiktok-us", "ev-1", "order_status_change", body, headers) is False  # redelivery
    assert store.store_event("shopify", "ev-1", "orders/create", b"{}", {}) is True  # other source
    clock.advance(1)
    assert store.store_event("tiktok-us", "ev-2", "order_status_change", b"{}", {}) is True

    ev = store.get_event("tiktok-us", "ev-1")
    assert ev["payload_raw"] == body and ev["status"] == "pending"
    assert ev["headers"] == {"X-Tts-Topic": "ORDER_STATUS_CHANGE"}  # credentials are never stored

    first = store.claim_events(2, "w1", lease_seconds=60)
    assert [(e["source"], e["event_id"]) for e in first] == [("tiktok-us", "ev-1"), ("shopify", "ev-1")]
    assert first[0]["payload_raw"] == body and first[0]["attempts"] == 1
    rest = store.claim_events(10, "w2", lease_seconds=60)
    assert [e["event_id"] for e in rest] == ["ev-2"]
    assert store.claim_events(10, "w3", lease_seconds=60) == []

    assert store.finish_event("tiktok-us", "ev-1", "done")
    assert store.finish_event("shopify", "ev-1", "retry", error="HTTP 503")
    again = store.claim_events(10, "w3", lease_seconds=60)
    assert [(e["source"], e["attempts"]) for e in again] == [("shopify", 2)]
    assert store.finish_event("shopify", "ev-1", "failed", error="bad payload")
    assert store.get_event("shopify", "ev-1")["status"] == "failed"

    # w2 crashed holding ev-2: once its claim expires another worker gets it.
    clock.advance(61)
    stolen = store.claim_events(10, "w4", lease_seconds=60)
    assert [(e["event_id"], e["attempts"]) for e in stolen] == [("ev-2", 2)]
    assert store.get_event("tiktok-us", "ev-1")["status"] == "done"
    assert store.finish_event("nope", "x", "done") is False
    with pytest.raises(StateError):
        store.finish_event("tiktok-us", "ev-2", "finished")
    with pytest.raises(StateError):
        store.store_event("tiktok-us", "ev-3", "t", "text, not bytes", {})
