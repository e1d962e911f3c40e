"""Paginator kinds. Each declares its stop rules explicitly (`stop_on`) and a loop guard
(`max_pages`); a repeated token or URL is always an error, never a silent stop or an endless loop.

A paginator is built once when the connector is compiled (its JMESPath expressions compiled then)
and is immutable; the per-run state (pages seen, tokens seen) lives in `PageState`, owned by the
Connection's paging loop. `first` shapes the first request, `next` reads an answer and returns
the next request, or None with the stop rule that ended the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jmespath

from engine.http.errors import PaginationError
from engine.registry import Registry

PAGINATORS = Registry("paginator")

MAX_PAGES_DEFAULT = 1000


@dataclass
class PageRequest:
    """What to send next. `url` set means: fetch this absolute URL with exactly its query, and
    none of the caller's filters (a page_info link, an OData nextLink, a nextRecordsUrl)."""

    query: dict[str, Any]
    body: Any = None
    url: str | None = None
    marker: str = ""  # the token / URL / offset that identifies this page, for the loop guard
    keyset_base: str | None = None  # keyset paging: the call's own filter (None: paging by offset)


@dataclass
class PageState:
    pages: int = 0
    seen: set[str] = field(default_factory=set)
    stopped_by: str = ""


def _stop_schema(allowed: list[str], required_any: list[str]) -> dict:
    return {
        "type": "array",
        "items": {"enum": allowed},
        "uniqueItems": True,
        "minItems": 1,
        # At least one rule that can end a normal run must be declared, so "when does this stop"
        # is always answered by the YAML.
        "anyOf": [{"contains": {"const": r}} for r in required_any],
        "description": "Conditions that end paging normally. A repeated token/URL is always an error "
        f"(listing repeated_* only documents it). One of {required_any} is required.",
    }


_MAX_PAGES = {
    "type": "integer",
    "minimum": 1,
    "default": MAX_PAGES_DEFAULT,
    "description": "Loop guard: more pages than this is an error (not a silent stop).",
}
_PAGE_SIZE = {
    "page_size_param": {"type": "string", "description": "Parameter carrying the page size."},
    "page_size": {"type": "integer", "minimum": 1, "description": "Page size to request; needed by short_page."},
}


class Paginator:
    def __init__(self, options: dict, expr: Callable[[str], Any] = jmespath.compile) -> None:
        # `expr` compiles the options' JMESPath paths: a connector's compiler passes the project's
        # expression compiler, so paths may use the registered functions too.
        self.options = options
        self.expr = expr
        self.stop_on = frozenset(options.get("stop_on", ()))
        self.max_pages = int(options.get("max_pages", MAX_PAGES_DEFAULT))
        self.page_size = options.get("page_size")
        self.page_size_param = options.get("page_size_param")

    def first(self, query: dict[str, Any], body: Any) -> PageRequest:
        query = dict(query)
        if self.page_size_param and self.page_size and self.page_size_param not in query:
            query[self.page_size_param] = self.page_size
        return PageRequest(query, body)

    def _page_size(self, request: PageRequest) -> int | None:
        if self.page_size_param and request.query.get(self.page_size_param) not in (None, ""):
            return int(request.query[self.page_size_param])
        return self.page_size

    def _ends_by_records(self, request: PageRequest, records: list, state: PageState) -> bool:
        if "empty_page" in self.stop_on and not records:
            state.stopped_by = "empty_page"
            return True
        size = self._page_size(request)
        if "short_page" in self.stop_on and size and len(records) < size:
            state.stopped_by = "short_page"
            return True
        return False

    def next(self, request: PageRequest, body: Any, headers: Any, records: list, state: PageState) -> PageRequest | None:
        raise NotImplementedError


@PAGINATORS.register(
    "cursor",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "cursor"},
            "token_path": {"type": "string", "description": "JMESPath to the next-page token in the answer body."},
            "token_param": {"type": "string", "default": "page_token", "description": "Parameter for the token."},
            "token_in": {"enum": ["query", "body"], "default": "query",
                         "description": "Where the token goes (some APIs want it in the query even on POST)."},
            **_PAGE_SIZE,
            "stop_on": _stop_schema(["missing_token", "empty_page", "short_page", "repeated_token"], ["missing_token"]),
            "max_pages": _MAX_PAGES,
        },
        "required": ["kind", "token_path", "stop_on"],
        "additionalProperties": False,
    },
)
class CursorPaginator(Paginator):
    """Opaque next-page token read from the body; an empty or missing token ends the run."""

    def __init__(self, options: dict, expr: Callable[[str], Any] = jmespath.compile) -> None:
        super().__init__(options, expr)
        self.token_path = self.expr(options["token_path"])
        self.token_param = options.get("token_param", "page_token")
        self.token_in = options.get("token_in", "query")

    def next(self, request, body, headers, records, state):
        token = self.token_path.search(body) if body is not None else None
        if token in (None, ""):
            state.stopped_by = "missing_token"
            return None
        if self._ends_by_records(request, records, state):
            return None
        token = str(token)
        if self.token_in == "body":
            new_body = dict(request.body or {})
            new_body[self.token_param] = token
            return PageRequest(dict(request.query), new_body, marker=token)
        return PageRequest({**request.query, self.token_param: token}, request.body, marker=token)


_LINK_PART = {"missing_link", "empty_page", "repeated_url"}


def _parse_link_header(value: str) -> dict[str, str]:
    links: dict[str, str] = {}
    for part in value.split(","):
        section = part.strip().split(";")
        if len(section) < 2 or not section[0].strip().startswith("<"):
            continue
        url = section[0].strip()[1:-1]
        for param in section[1:]:
            key, _, val = param.strip().partition("=")
            if key.strip().lower() == "rel":
                for rel in val.strip().strip('"').split():
                    links[rel] = url
    return links


@PAGINATORS.register(
    "link_header",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "link_header"},
            "rel": {"type": "string", "default": "next", "description": "Link relation to follow."},
            **_PAGE_SIZE,
            "stop_on": _stop_schema(sorted(_LINK_PART), ["missing_link"]),
            "max_pages": _MAX_PAGES,
        },
        "required": ["kind", "stop_on"],
        "additionalProperties": False,
    },
)
class LinkHeaderPaginator(Paginator):
    """RFC 8288 `Link` header (page_info links). The next URL's query is sent as is; the
    caller's other filters are dropped, because such APIs reject them next to the link's own."""

    def next(self, request, body, headers, records, state):
        value = headers.get("link") or headers.get("Link") or ""
        url = _parse_link_header(value).get(self.options.get("rel", "next"))
        if not url:
            state.stopped_by = "missing_link"
            return None
        if self._ends_by_records(request, records, state):
            return None
        return PageRequest({}, None, url=url, marker=url)


@PAGINATORS.register(
    "offset",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "offset"},
            "offset_param": {"type": "string", "default": "offset", "description": "Parameter for the offset."},
            "limit_param": {"type": "string", "default": "limit", "description": "Parameter for the page size."},
            "limit": {"type": "integer", "minimum": 1, "description": "Page size requested."},
            "start": {"type": "integer", "minimum": 0, "default": 0, "description": "First offset."},
            "total_path": {"type": "string", "description": "JMESPath to the total count (for total_reached)."},
            "param_in": {"enum": ["query", "body"], "default": "query", "description": "Where offset/limit go."},
            "max_offset": {"type": "integer", "minimum": 1,
                           "description": "The largest offset the API accepts; paging further switches to keyset "
                                          "(needs keyset:)."},
            "keyset": {
                "type": "object", "additionalProperties": False, "required": ["key_path", "param", "predicate"],
                "description": "Past max_offset, page by key instead: the offset goes back to the start and a "
                               "filter keeps the records after the last one read. The operation must sort by "
                               "that key (e.g. sort: id asc), or records are skipped.",
                "properties": {
                    "key_path": {"type": "string", "description": "JMESPath to a record's key (e.g. id)."},
                    "param": {"type": "string", "description": "Query parameter taking the filter (e.g. where)."},
                    "predicate": {"type": "string",
                                  "description": "The filter, with {key} for the last key read, e.g. "
                                                 "'id > \"{key}\"'."},
                    "join": {"type": "string", "default": " and ",
                             "description": "Joins the filter to the parameter's own value, when the call has one."},
                },
            },
            "stop_on": _stop_schema(["total_reached", "short_page", "empty_page"],
                                    ["total_reached", "short_page", "empty_page"]),
            "max_pages": _MAX_PAGES,
        },
        "required": ["kind", "limit", "stop_on"],
        "additionalProperties": False,
    },
)
class OffsetPaginator(Paginator):
    """offset/limit paging (`total` or a short page ends it); past `max_offset`,
    keyset paging on a sorted key (`keyset:`)."""

    def __init__(self, options: dict, expr: Callable[[str], Any] = jmespath.compile) -> None:
        options = {**options, "page_size": options["limit"], "page_size_param": options.get("limit_param", "limit")}
        super().__init__(options, expr)
        self.offset_param = options.get("offset_param", "offset")
        self.start = int(options.get("start", 0))
        self.total_path = self.expr(options["total_path"]) if options.get("total_path") else None
        self.param_in = options.get("param_in", "query")
        self.max_offset = options.get("max_offset")
        keyset = options.get("keyset")
        self.keyset = dict(keyset) if keyset else None
        self.key_path = self.expr(keyset["key_path"]) if keyset else None

    def _put(self, request: PageRequest, values: dict) -> PageRequest:
        if self.param_in == "body":
            return PageRequest(dict(request.query), {**(request.body or {}), **values})
        return PageRequest({**request.query, **values}, request.body)

    def _current(self, request: PageRequest) -> int:
        source = request.body if self.param_in == "body" else request.query
        return int((source or {}).get(self.offset_param, self.start))

    def first(self, query, body):
        request = PageRequest(dict(query), body)
        return self._put(request, {self.offset_param: self.start, self.page_size_param: self.page_size})

    def _page_size(self, request):
        return self.page_size

    def next(self, request, body, headers, records, state):
        if self._ends_by_records(request, records, state):
            return None
        offset = self._current(request) + len(records)
        if "total_reached" in self.stop_on and self.total_path is not None:
            total = self.total_path.search(body) if body is not None else None
            if total is not None and offset >= int(total):
                state.stopped_by = "total_reached"
                return None
        if self.keyset is not None and records and (
                request.keyset_base is not None
                or (self.max_offset is not None and offset > int(self.max_offset))):
            return self._after_key(request, records)
        nxt = self._put(request, {self.offset_param: offset, self.page_size_param: self.page_size})
        nxt.marker = str(offset)
        nxt.keyset_base = request.keyset_base
        return nxt

    def _after_key(self, request: PageRequest, records: list) -> PageRequest:
        """The next page by key: the records after the last one read, from the first offset."""
        key = self.key_path.search(records[-1]) if isinstance(records[-1], dict) else None
        if key in (None, ""):
            raise PaginationError(f"keyset paging: the last record read has no {self.keyset['key_path']}")
        param = self.keyset["param"]
        base = request.keyset_base
        if base is None:  # the call's own filter, kept under every page's key filter
            base = str(request.query.get(param) or "")
        predicate = self.keyset["predicate"].replace("{key}", str(key))
        value = f"{base}{self.keyset.get('join', ' and ')}{predicate}" if base else predicate
        nxt = self._put(PageRequest({**request.query, param: value}, request.body),
                        {self.offset_param: self.start, self.page_size_param: self.page_size})
        nxt.marker, nxt.keyset_base = f"key:{key}", base
        return nxt


class _BodyLinkPaginator(Paginator):
    link_option = ""
    link_default = ""

    def __init__(self, options: dict, expr: Callable[[str], Any] = jmespath.compile) -> None:
        super().__init__(options, expr)
        self.link_path = self.expr(options.get(self.link_option, self.link_default))

    def _link(self, body: Any, state: PageState) -> str | None:
        url = self.link_path.search(body) if body is not None else None
        if url in (None, ""):
            state.stopped_by = "missing_link"
            return None
        return str(url)

    def next(self, request, body, headers, records, state):
        url = self._link(body, state)
        if url is None or self._ends_by_records(request, records, state):
            return None
        return PageRequest({}, None, url=url, marker=url)


@PAGINATORS.register(
    "odata_next_link",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "odata_next_link"},
            "next_link_path": {"type": "string", "default": '"@odata.nextLink"',
                               "description": "JMESPath to the next-page URL (OData v4)."},
            **_PAGE_SIZE,
            "stop_on": _stop_schema(sorted(_LINK_PART), ["missing_link"]),
            "max_pages": _MAX_PAGES,
        },
        "required": ["kind", "stop_on"],
        "additionalProperties": False,
    },
)
class ODataNextLinkPaginator(_BodyLinkPaginator):
    """OData `@odata.nextLink`: the full URL of the next page, fetched as is."""

    link_option, link_default = "next_link_path", '"@odata.nextLink"'


@PAGINATORS.register(
    "next_records_url",
    options_schema={
        "type": "object",
        "properties": {
            "kind": {"const": "next_records_url"},
            "next_path": {"type": "string", "default": "nextRecordsUrl",
                          "description": "JMESPath to the next-batch URL (relative to the host)."},
            "done_path": {"type": "string", "default": "done", "description": "JMESPath to the `done` flag."},
            "stop_on": _stop_schema(["done", "missing_link", "empty_page", "repeated_url"], ["done", "missing_link"]),
            "max_pages": _MAX_PAGES,
        },
        "required": ["kind", "stop_on"],
        "additionalProperties": False,
    },
)
class NextRecordsUrlPaginator(_BodyLinkPaginator):
    """Salesforce query paging: `done: true` ends it, otherwise GET `nextRecordsUrl`."""

    link_option, link_default = "next_path", "nextRecordsUrl"

    def __init__(self, options: dict, expr: Callable[[str], Any] = jmespath.compile) -> None:
        super().__init__(options, expr)
        self.done_path = self.expr(options.get("done_path", "done"))

    def next(self, request, body, headers, records, state):
        if "done" in self.stop_on and body is not None and self.done_path.search(body) is True:
            state.stopped_by = "done"
            return None
        return super().next(request, body, headers, records, state)


def build_paginator(options: dict) -> Paginator:
    return PAGINATORS.get(options["kind"]).impl(options)
