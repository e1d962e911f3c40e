"""Every paginator kind: its stop rules, the repeated-token loop guard and max_pages."""

from __future__ import annotations

import httpx
import pytest
from http_helpers import Script, body_json

from engine.errors import SpecError
from engine.http import Connection, PaginationError, compile_connector


def spec(paginate: dict, *, method: str = "GET", records: str = "items", base: str = "https://api.example.com/v1") -> dict:
    return {
        "kind": "connector",
        "name": "demo",
        "base_url": base,
        "credentials": ["access_token"],
        "auth": {"kind": "shopify_access_token"},
        "operations": {"list": {"method": method, "path": "/items", "query": {"status": "active"},
                                "records": records, "paginate": paginate, "idempotent": True}},
    }


def run(spec_dict, answers, clock, **kw):
    script = Script(answers)
    conn = Connection(spec_dict, settings={}, credentials={"access_token": "t0k3n"}, transport=script.transport,
                      clock=clock.time, sleep=clock.sleep)
    pages = list(conn.paginate("list", **kw))
    return pages, script.requests


def page(items, **extra):
    return httpx.Response(200, json={"items": items, **extra})


CURSOR = {"kind": "cursor", "token_path": "next", "token_param": "page_token", "page_size_param": "page_size",
          "page_size": 2, "stop_on": ["missing_token"]}


def test_cursor_token_in_query_even_on_post(clock):
    pages, reqs = run(spec(CURSOR, method="POST"), [page([1, 2], next="a+/="), page([3, 4], next="b"), page([5], next="")],
                      clock, body={"filter": "x"})
    assert [p.records for p in pages] == [[1, 2], [3, 4], [5]]
    assert pages[-1].stopped_by == "missing_token"
    assert [r.url.params.get("page_token") for r in reqs] == [None, "a+/=", "b"]
    assert all(r.url.params["page_size"] == "2" and r.url.params["status"] == "active" for r in reqs)
    assert all(body_json(r) == {"filter": "x"} for r in reqs)


def test_cursor_token_in_body(clock):
    options = {**CURSOR, "token_in": "body"}
    _, reqs = run(spec(options, method="POST"), [page([1, 2], next="t1"), page([3])], clock, body={"f": 1})
    assert body_json(reqs[1]) == {"f": 1, "page_token": "t1"}


def test_cursor_empty_page_stops_only_when_declared(clock):
    answers = [page([1, 2], next="a"), page([], next="b"), page([3], next="")]
    pages, _ = run(spec({**CURSOR, "stop_on": ["missing_token", "empty_page"]}), list(answers), clock)
    assert [p.records for p in pages] == [[1, 2], []] and pages[-1].stopped_by == "empty_page"
    pages, _ = run(spec(CURSOR), list(answers), clock)
    assert len(pages) == 3


def test_cursor_short_page(clock):
    pages, _ = run(spec({**CURSOR, "stop_on": ["missing_token", "short_page"]}),
                   [page([1, 2], next="a"), page([3], next="b")], clock)
    assert len(pages) == 2 and pages[-1].stopped_by == "short_page"


def test_cursor_repeated_token_is_an_error(clock):
    with pytest.raises(PaginationError, match="already followed"):
        run(spec(CURSOR), [page([1, 2], next="a"), page([3, 4], next="b"), page([5, 6], next="a")], clock)


def test_max_pages_is_an_error_not_a_silent_stop(clock):
    answers = lambda r: page([1, 2], next=f"t{r.url.params.get('page_token', '0')}x")  # noqa: E731
    with pytest.raises(PaginationError, match="max_pages=3"):
        run(spec({**CURSOR, "max_pages": 3}), answers, clock)
    with pytest.raises(PaginationError, match="max_pages=2"):
        run(spec(CURSOR), answers, clock, max_pages=2)


LINK = {"kind": "link_header", "page_size_param": "limit", "page_size": 2, "stop_on": ["missing_link"]}


def link(url: str, rel: str = "next") -> dict:
    return {"Link": f'<https://api.example.com/v1/items?limit=2&page_info={url}>; rel="{rel}"'}


def test_link_header_sends_only_the_next_urls_query(clock):
    answers = [
        httpx.Response(200, json={"items": [1, 2]}, headers=link("p2")),
        httpx.Response(200, json={"items": [3, 4]}, headers={
            "Link": '<https://api.example.com/v1/items?limit=2&page_info=p1>; rel="previous", '
                    '<https://api.example.com/v1/items?limit=2&page_info=p3>; rel="next"'}),
        httpx.Response(200, json={"items": [5]}, headers=link("p2", rel="previous")),
    ]
    pages, reqs = run(spec(LINK), answers, clock, query={"updated_at_min": "2025-01-01"})
    assert [p.records for p in pages] == [[1, 2], [3, 4], [5]] and pages[-1].stopped_by == "missing_link"
    assert dict(reqs[0].url.params) == {"status": "active", "updated_at_min": "2025-01-01", "limit": "2"}
    assert dict(reqs[1].url.params) == {"limit": "2", "page_info": "p2"}
    assert dict(reqs[2].url.params) == {"limit": "2", "page_info": "p3"}
    assert all(r.headers["x-shopify-access-token"] == "t0k3n" for r in reqs)


def test_link_header_repeated_url_and_foreign_host(clock):
    with pytest.raises(PaginationError, match="already followed"):
        run(spec(LINK), [httpx.Response(200, json={"items": [1, 2]}, headers=link("p2"))] * 3, clock)
    evil = {"Link": '<https://evil.example.net/steal?page_info=x>; rel="next"'}
    with pytest.raises(PaginationError, match="another host"):
        run(spec(LINK), [httpx.Response(200, json={"items": [1, 2]}, headers=evil)], clock)


def test_link_header_empty_page(clock):
    pages, _ = run(spec({**LINK, "stop_on": ["missing_link", "empty_page"]}),
                   [httpx.Response(200, json={"items": []}, headers=link("p2"))], clock)
    assert len(pages) == 1 and pages[0].stopped_by == "empty_page"


OFFSET = {"kind": "offset", "limit": 2, "total_path": "total", "stop_on": ["total_reached", "short_page"]}


def test_offset_total_reached(clock):
    pages, reqs = run(spec(OFFSET, records="results"),
                      [httpx.Response(200, json={"results": [1, 2], "total": 4}),
                       httpx.Response(200, json={"results": [3, 4], "total": 4})], clock)
    assert len(pages) == 2 and pages[-1].stopped_by == "total_reached"
    assert [(r.url.params["offset"], r.url.params["limit"]) for r in reqs] == [("0", "2"), ("2", "2")]


def test_offset_short_page_and_body_params(clock):
    options = {**OFFSET, "param_in": "body", "stop_on": ["short_page"]}
    pages, reqs = run(spec(options, method="POST", records="results"),
                      [httpx.Response(200, json={"results": [1, 2]}), httpx.Response(200, json={"results": [3]})],
                      clock, body={"where": "x"})
    assert pages[-1].stopped_by == "short_page"
    assert body_json(reqs[1]) == {"where": "x", "offset": 2, "limit": 2}


def test_offset_exactly_full_last_page_needs_an_empty_page(clock):
    # Airbyte #28226: an exactly-full last page must not loop; the empty page after it ends the run.
    options = {**OFFSET, "stop_on": ["short_page", "empty_page"]}
    pages, _ = run(spec(options, records="results"),
                   [httpx.Response(200, json={"results": [1, 2]}), httpx.Response(200, json={"results": []})], clock)
    assert [p.stopped_by for p in pages] == ["", "empty_page"]


def test_odata_next_link(clock):
    options = {"kind": "odata_next_link", "stop_on": ["missing_link"]}
    pages, reqs = run(spec(options, records="value"), [
        httpx.Response(200, json={"value": [1], "@odata.nextLink": "https://api.example.com/v1/items?$skip=1"}),
        httpx.Response(200, json={"value": [2]}),
    ], clock)
    assert [p.records for p in pages] == [[1], [2]]
    assert dict(reqs[1].url.params) == {"$skip": "1"}


def test_next_records_url_done_and_relative_url(clock):
    options = {"kind": "next_records_url", "stop_on": ["done", "missing_link"]}
    pages, reqs = run(spec(options, records="records"), [
        httpx.Response(200, json={"records": [1], "done": False, "nextRecordsUrl": "/v1/query/01g-2000"}),
        httpx.Response(200, json={"records": [2], "done": True, "nextRecordsUrl": "/v1/query/01g-4000"}),
    ], clock)
    assert pages[-1].stopped_by == "done"
    assert str(reqs[1].url) == "https://api.example.com/v1/query/01g-2000"


def test_single_page_operation(clock):
    s = spec(CURSOR)
    del s["operations"]["list"]["paginate"]
    pages, _ = run(s, [page([1])], clock)
    assert len(pages) == 1 and pages[0].records == [1]


@pytest.mark.parametrize(
    ("paginate", "where"),
    [
        ({"kind": "cursor", "token_path": "next", "stop_on": ["empty_page"]}, "operations.list.paginate.stop_on"),
        ({"kind": "cursor", "token_path": "next["}, "operations.list.paginate"),
        ({"kind": "cursor", "token_path": "a.[", "stop_on": ["missing_token"]}, "operations.list.paginate"),
        ({"kind": "offset", "stop_on": ["short_page"]}, "operations.list.paginate"),
        ({"kind": "page_number"}, "operations.list.paginate.kind"),
        ({"kind": "link_header", "stop_on": ["missing_link"], "max_pages": 0}, "operations.list.paginate.max_pages"),
    ],
)
def test_bad_paginator_options_point_at_the_field(paginate, where):
    with pytest.raises(SpecError) as info:
        compile_connector(spec(paginate))
    assert any(p.path.startswith(where) for p in info.value.problems), info.value
