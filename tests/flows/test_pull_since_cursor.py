"""The pull step's incremental cursor (`since:`), and `track` recording status on the ID map.

The cursor must move only after a run read every page without a connection-level failure, never
backwards, and never in a dry run or a run cut short by --limit; the next read asks for records
changed since the cursor minus the overlap. Fast: a fake connection, or the real HTTP stack on a
mock transport, and an in-memory store.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.flow import steps as _steps  # noqa: F401  (registers the step kinds)
from engine.flow.context import RunContext
from engine.flow.runner import FlowRun, Merchant
from engine.flow.steps.read import Pull
from engine.flow.steps.track import Track
from engine.http import AuthError, NotFoundError
from engine.project.loader import Project
from engine.project.validate import Validator
from engine.state import open_store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
CURSOR = ("listing_status", "tiktok_us", "product_update_time")


@dataclass
class FakePage:
    records: list


@dataclass
class FakeConnection:
    """Pages of records; remembers what each paginate call asked for."""

    pages: list[list[dict]]
    details: dict[str, dict] = field(default_factory=dict)
    fail_after: int | None = None  # raise a connection-level error after this many pages
    asked: list[dict] = field(default_factory=list)
    detail_calls: list[str] = field(default_factory=list)

    def paginate(self, op: str, *, query: Any = None, body: Any = None) -> Any:
        self.asked.append({"op": op, "query": query, "body": body})
        for number, page in enumerate(self.pages):
            if self.fail_after is not None and number >= self.fail_after:
                raise AuthError("access token revoked", op=op)
            yield FakePage(page)

    def call(self, op: str, *, path_params: dict) -> Any:
        product_id = path_params["product_id"]
        self.detail_calls.append(product_id)
        if product_id not in self.details:
            raise NotFoundError("product not found", op=op)
        return type("Response", (), {"record": self.details[product_id]})()


def run_context(conn: Any, store: Any, **kw: Any) -> RunContext:
    return RunContext(merchant="acme", flow="listing_status", flow_name="listing_status_tiktok",
                      options=kw.pop("options", {}), connections={"channel": conn},
                      connection_names={"channel": "tiktok_us"}, connection_meta={"channel": {}},
                      store=store, **kw)


SINCE = {"cursor": "product_update_time", "body": "update_time_ge", "from": "update_time",
         "overlap_seconds": 60}


def pull(ctx: RunContext, **since: Any) -> Pull:
    return Pull({"from": "channel", "operation": "search_products", "body": {"status": "ALL"},
                 "since": {**SINCE, **since}}, ctx)


def read_all(step: Pull, ctx: RunContext) -> list:
    return list(step.records(ctx))


def products(*times: int) -> list[dict]:
    return [{"id": f"p{i}", "status": "ACTIVATE", "update_time": t} for i, t in enumerate(times)]


@pytest.fixture
def store():
    with open_store(":memory:") as s:
        yield s


def test_first_run_reads_everything_and_then_stores_the_newest_update_time(store):
    conn = FakeConnection([products(1_700_000_100, 1_700_000_300), products(1_700_000_200)])
    ctx = run_context(conn, store)
    step = pull(ctx)
    assert len(read_all(step, ctx)) == 3
    assert conn.asked[0]["body"] == {"status": "ALL"}  # no lower bound on the first run
    assert store.get_cursor(*CURSOR) is None  # nothing moves before the run says it finished
    step.finish(ctx)
    assert store.get_cursor(*CURSOR) == "2023-11-14T22:18:20Z"  # 1_700_000_300


def test_next_run_asks_only_for_changes_since_the_cursor_minus_the_overlap(store):
    store.set_cursor(*CURSOR, "2023-11-14T22:18:20Z")
    conn = FakeConnection([products(1_700_000_290)])
    ctx = run_context(conn, store)
    read_all(pull(ctx), ctx)
    assert conn.asked[0]["body"] == {"status": "ALL", "update_time_ge": 1_700_000_300 - 60}


def test_a_merchant_option_replaces_the_flow_overlap(store):
    store.set_cursor(*CURSOR, "2023-11-14T22:18:20Z")
    conn = FakeConnection([[]])
    ctx = run_context(conn, store, options={"overlap_seconds": 5})
    read_all(pull(ctx, overlap_option="overlap_seconds"), ctx)
    assert conn.asked[0]["body"]["update_time_ge"] == 1_700_000_300 - 5


def test_query_bound_in_rfc3339(store):
    store.set_cursor(*CURSOR, "2024-06-01T10:00:00Z")
    conn = FakeConnection([[{"id": "7", "updated_at": "2024-06-01T12:30:00-04:00"}]])
    ctx = run_context(conn, store)
    step = Pull({"from": "channel", "operation": "list_products", "query": {"limit": 250},
                 "since": {"cursor": "product_update_time", "query": "updated_at_min", "from": "updated_at",
                           "format": "rfc3339", "overlap_seconds": 90}}, ctx)
    read_all(step, ctx)
    assert conn.asked[0]["query"] == {"limit": 250, "updated_at_min": "2024-06-01T09:58:30Z"}
    step.finish(ctx)
    assert store.get_cursor(*CURSOR) == "2024-06-01T16:30:00Z"  # offsets are normalized to UTC


def test_a_connection_failure_mid_read_leaves_the_cursor(store):
    store.set_cursor(*CURSOR, "2023-11-14T22:00:00Z")
    conn = FakeConnection([products(1_700_000_100), products(1_700_000_900)], fail_after=1)
    ctx = run_context(conn, store)
    step = pull(ctx)
    with pytest.raises(AuthError):
        read_all(step, ctx)
    step.finish(ctx)  # even if called, an unfinished read does not move it
    assert store.get_cursor(*CURSOR) == "2023-11-14T22:00:00Z"


@pytest.mark.parametrize("kw", [{"limit": 1}, {"dry_run": True}])
def test_a_limited_or_dry_run_leaves_the_cursor(store, kw):
    conn = FakeConnection([products(1_700_000_100, 1_700_000_300)])
    ctx = run_context(conn, store, **kw)
    step = pull(ctx)
    read_all(step, ctx)
    step.finish(ctx)
    assert store.get_cursor(*CURSOR) is None


def test_the_cursor_never_moves_backwards(store):
    store.set_cursor(*CURSOR, "2023-11-14T22:18:20Z")
    conn = FakeConnection([products(1_700_000_250)])  # only an older record, read in the overlap
    ctx = run_context(conn, store)
    step = pull(ctx)
    read_all(step, ctx)
    step.finish(ctx)
    assert store.get_cursor(*CURSOR) == "2023-11-14T22:18:20Z"


def test_records_without_an_update_time_are_read_but_do_not_move_the_cursor(store):
    conn = FakeConnection([[{"id": "a"}, {"id": "b", "update_time": "not a time"},
                            {"id": "c", "update_time": 1_700_000_000}]])
    ctx = run_context(conn, store)
    step = pull(ctx)
    assert [r.key for r in read_all(step, ctx)] == ["a", "b", "c"]
    step.finish(ctx)
    assert store.get_cursor(*CURSOR) == "2023-11-14T22:13:20Z"


def test_detail_only_where_the_summary_lacks_it_and_a_vanished_product_keeps_its_summary(store):
    summaries = [{"id": "ok", "status": "ACTIVATE", "audit": {"status": "PASSED"}},
                 {"id": "bad", "status": "FAILED", "audit": {"status": "REJECTED"}},
                 {"id": "gone", "status": "FAILED", "audit": {"status": "REJECTED"}}]
    detail = {**summaries[1], "audit_failed_reasons": [{"position": "title", "reasons": ["r"], "suggestions": []}]}
    conn = FakeConnection([summaries], details={"bad": detail})
    ctx = run_context(conn, store)
    step = Pull({"from": "channel", "operation": "search_products",
                 "detail": {"operation": "get_product", "param": "product_id",
                            "when": "status == 'FAILED' || audit.status == 'REJECTED'"}}, ctx)
    records = {r.key: r.data for r in read_all(step, ctx)}
    assert conn.detail_calls == ["bad", "gone"]
    assert records["bad"]["audit_failed_reasons"][0]["position"] == "title"
    assert records["gone"] == summaries[2]


# -- track ----------------------------------------------------------------------------------------

TRACK = {"on": "channel", "entity": "product", "id": "id", "seen_at": "seen_at",
         "fields": {"status": "status", "audit_status": "audit.status"}}


def test_track_stores_values_once_and_an_unchanged_record_writes_nothing(store):
    from engine.flow.record import Record

    store.map_id("product", "tiktok_us", "shop-1", "p1", {"note": "kept"})
    clock = iter([1_700_000_000.0, 1_700_000_500.0])
    ctx = run_context(None, store, now=lambda: next(clock))
    step = Track(TRACK, ctx)
    item = {"id": "p1", "status": "PENDING", "audit": {"status": "AUDITING"}}
    first = step.process(Record(key="p1", native=item, data=item), ctx)
    assert (first.key, first.action) == ("shop-1", "tracked")
    stored = store.get_mapping("product", "tiktok_us", "shop-1")
    assert stored["extra"] == {"note": "kept", "status": "PENDING", "audit_status": "AUDITING",
                               "seen_at": "2023-11-14T22:13:20.000000Z"}
    again = step.process(Record(key="p1", native=item, data=item), ctx)
    assert again.action == "unchanged"
    assert store.get_mapping("product", "tiktok_us", "shop-1") == stored
    moved = {**item, "status": "ACTIVATE", "audit": {"status": "PASSED"}}
    assert step.process(Record(key="p1", native=moved, data=moved), ctx).action == "tracked"
    assert store.get_mapping("product", "tiktok_us", "shop-1")["extra"]["seen_at"] == "2023-11-14T22:21:40.000000Z"


def test_track_leaves_products_it_did_not_list_alone(store):
    from engine.flow.record import Record

    ctx = run_context(None, store)
    item = {"id": "made-by-hand", "status": "ACTIVATE", "audit": {"status": "PASSED"}}
    result = Track(TRACK, ctx).process(Record(key="made-by-hand", native=item, data=item), ctx)
    assert result.action == "untracked"
    assert store.list_mappings("product", "tiktok_us") == []


# -- the runner: the shipped flow on the real HTTP stack -----------------------------------------

ENV = {"ACME_SHOPIFY_URL": "http://shopify.test/admin/api/2025-01", "ACME_SHOPIFY_TOKEN": "shpat_unit", "ACME_SHOPIFY_WEBHOOK_SECRET": "whsec_test",
       "ACME_TIKTOK_URL": "http://tiktok.test", "ACME_TIKTOK_TOKEN_URL": "http://tiktok.test/api/v2/token/refresh",
       "ACME_TIKTOK_SHOP_CIPHER": "ROW_unit", "ACME_TIKTOK_APP_KEY": "unit-app-key",
       "ACME_TIKTOK_APP_SECRET": "unit-app-secret-value", "ACME_TIKTOK_ACCESS_TOKEN": "unit-access-token",
       "ACME_TIKTOK_REFRESH_TOKEN": "unit-refresh-token"}


class TikTokStub:
    """Answers product search (two pages) and get-product like TikTok's envelope does."""

    def __init__(self, items: list[dict]) -> None:
        self.items = items
        self.searches: list[dict] = []
        self.revoked_on_page = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/products/search"):
            body = json.loads(request.content or b"{}")
            self.searches.append(body)
            page = 1 if request.url.params.get("page_token") == "p2" else 0
            if self.revoked_on_page == page:
                return httpx.Response(200, json={"code": 105001, "message": "access token revoked", "data": None})
            bound = body.get("update_time_ge", 0)
            matching = [p for p in self.items if p["update_time"] >= bound]
            chunk = matching[:2] if page == 0 else matching[2:]
            token = "p2" if page == 0 and len(matching) > 2 else ""
            return httpx.Response(200, json={"code": 0, "message": "Success", "request_id": "r", "data": {
                "products": chunk, "next_page_token": token, "total_count": len(matching)}})
        product_id = request.url.path.rsplit("/", 1)[-1]
        found = next(p for p in self.items if p["id"] == product_id)
        detail = {**found, "audit_failed_reasons": [
            {"position": "main_images", "reasons": ["Watermark"], "suggestions": ["Plain background"]}]}
        return httpx.Response(200, json={"code": 0, "message": "Success", "request_id": "r", "data": detail})


@pytest.fixture
def acme(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "acme", ignore=shutil.ignore_patterns(".state"))
    items = [{"id": f"17{i}", "title": f"Product {i}", "status": "ACTIVATE", "audit": {"status": "PASSED"},
              "update_time": 1_700_000_000 + i, "skus": [{"id": f"9{i}", "seller_sku": f"SKU-{i}"}]}
             for i in range(5)]
    items[3].update(status="FAILED", audit={"status": "REJECTED"})
    stub = TikTokStub(items)
    merchant = Merchant(tmp_path / "acme" / "merchant.yaml", environ=ENV, state_url=":memory:",
                        transports={"tiktok_us": httpx.MockTransport(stub)})
    for i in range(4):  # the fifth product was listed by hand, not by the catalog flow
        merchant.store.map_id("product", "tiktok_us", f"shop-{i}", f"17{i}")
    yield merchant, stub
    merchant.close()


def test_listing_status_flow_polls_incrementally_and_tracks_status(acme):
    merchant, stub = acme
    report = FlowRun(merchant, "listing_status").run()
    assert report.status == "ok" and report.counts == {"tracked": 4, "untracked": 1}
    assert "update_time_ge" not in stub.searches[0]
    assert merchant.store.get_cursor(*CURSOR) == "2023-11-14T22:13:24Z"
    failed = merchant.store.get_mapping("product", "tiktok_us", "shop-3")["extra"]
    assert failed["status"] == "FAILED" and failed["audit_status"] == "REJECTED"
    assert failed["audit_failed_reasons"] == [
        {"position": "main_images", "reasons": ["Watermark"], "suggestions": ["Plain background"]}]
    assert failed["sku_count"] == 1 and failed["seller_skus"] == ["SKU-3"]
    assert failed["update_time"] == "2023-11-14T22:13:23Z"

    before = merchant.store.list_mappings("product", "tiktok_us")
    stub.searches.clear()
    report = FlowRun(merchant, "listing_status").run()
    assert stub.searches[0]["update_time_ge"] == 1_700_000_004 - 600  # the flow's default overlap
    assert report.counts == {"unchanged": 4, "untracked": 1}
    assert merchant.store.list_mappings("product", "tiktok_us") == before


def test_a_run_that_fails_mid_read_keeps_the_cursor_and_the_next_one_reads_the_window_again(acme):
    merchant, stub = acme
    stub.revoked_on_page = 1
    report = FlowRun(merchant, "listing_status").run()
    assert report.status == "failed" and report.counts == {"tracked": 2}
    assert merchant.store.get_cursor(*CURSOR) is None
    stub.revoked_on_page = None
    report = FlowRun(merchant, "listing_status").run()
    assert report.status == "ok" and "update_time_ge" not in stub.searches[-1]
    assert merchant.store.get_cursor(*CURSOR) == "2023-11-14T22:13:24Z"


def test_a_replay_of_given_records_does_not_move_the_cursor(acme):
    from engine.flow.record import Record

    merchant, _ = acme
    item = {"id": "170", "status": "ACTIVATE", "audit": {"status": "PASSED"}, "update_time": 1_800_000_000}
    FlowRun(merchant, "listing_status").run(records=iter([Record(key="170", native=item, data=item)]))
    assert merchant.store.get_cursor(*CURSOR) is None


# -- validation -----------------------------------------------------------------------------------

def _flow_problems(tmp_path: Path, since: str) -> list[str]:
    (tmp_path / "flow.yaml").write_text(
        "kind: flow\nname: since_check\nroles: {channel: {pull: [product]}}\n"
        "options: {overlap_seconds: {type: integer}}\n"
        "steps:\n  - pull: {from: channel, operation: search_products, since: " + since + "}\n",
        encoding="utf-8")
    project = Project.load([tmp_path / "flow.yaml"], include_shipped=False)
    return [p.message for p in Validator(project).run()]


def test_validate_accepts_a_well_formed_since(tmp_path):
    assert _flow_problems(tmp_path, "{cursor: c, body: update_time_ge, from: update_time, "
                                    "overlap_option: overlap_seconds}") == []


@pytest.mark.parametrize("since, message", [
    ("{cursor: c, from: update_time}", "needs exactly one of body: or query:"),
    ("{cursor: c, body: a, query: b, from: update_time}", "needs exactly one of body: or query:"),
    ("{body: a, from: update_time}", "cursor"),
    ("{cursor: c, body: a, from: update_time, overlap_option: nope}", "declares no option 'nope'"),
    ("{cursor: c, body: a, from: update_time, format: millis}", "millis"),
])
def test_validate_rejects_a_bad_since(tmp_path, since, message):
    problems = _flow_problems(tmp_path, since)
    assert problems and any(message in p for p in problems), problems


# -- events ---------------------------------------------------------------------------------------

def test_events_name_the_records_to_read_again_once_each(store):
    details = {"1729384756102938475": {"id": "1729384756102938475", "status": "FAILED"},
               "5": {"id": "5", "status": "ACTIVATE"}}
    conn = FakeConnection([], details=details)
    ctx = run_context(conn, store)
    step = Pull({"from": "channel", "operation": "search_products",
                 "detail": {"operation": "get_product", "param": "product_id"},
                 "events": {"when": "contains(`[5, 37]`, type)", "id": "data.product_id"}}, ctx)
    payloads = [json.loads('{"type": 5, "data": {"product_id": 1729384756102938475}}'),  # a JSON number
                {"type": 37, "data": {"product_id": "1729384756102938475", "audit": {"status": "REJECTED"}}},
                {"type": 1, "data": {"order_id": "9"}},
                {"type": "5", "data": "not an object"},
                {"type": 5, "data": {"product_id": "gone"}},
                {"type": 5, "data": {"product_id": "5"}}]
    records = list(step.event_records(ctx, payloads))
    assert [r.key for r in records] == ["1729384756102938475", "5"]
    assert conn.detail_calls == ["1729384756102938475", "gone", "5"]
    assert conn.asked == []  # no search


def test_events_through_the_runner_track_status_and_leave_the_cursor(acme):
    merchant, stub = acme
    flow_run = FlowRun(merchant, "listing_status")
    payloads = [{"type": 5, "tts_notification_id": "n1", "data": {"product_id": 173, "status": "PRODUCT_AUDIT_FAILURE"}}]
    report = flow_run.run(records=flow_run.steps[0].event_records(flow_run.ctx, payloads))
    assert report.counts == {"tracked": 1} and stub.searches == []
    extra = merchant.store.get_mapping("product", "tiktok_us", "shop-3")["extra"]
    assert extra["status"] == "FAILED" and extra["audit_failed_reasons"][0]["reasons"] == ["Watermark"]
    assert merchant.store.get_cursor(*CURSOR) is None


def test_validate_wants_a_detail_operation_for_events(tmp_path):
    (tmp_path / "flow.yaml").write_text(
        "kind: flow\nname: events_check\nroles: {channel: {pull: [product]}}\n"
        "steps:\n  - pull: {from: channel, operation: search_products, events: {id: data.product_id}}\n",
        encoding="utf-8")
    problems = Validator(Project.load([tmp_path / "flow.yaml"], include_shipped=False)).run()
    assert [p.message for p in problems] == ["events: needs detail: or get:, the operation that reads one record"]
