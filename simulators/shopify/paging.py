"""Cursor pagination through the `Link` header (section 2.4).

`page_info` is an opaque token holding the original filters plus the sort key of the page edge,
so later pages are answered from the token alone; that is also why Shopify refuses other filters
next to it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

from .errors import ApiError, bad_param
from .values import epoch, parse_time

DEFAULT_LIMIT = 50
MAX_LIMIT = 250
# Params allowed next to page_info. Shopify names limit and fields; others are rejected.
PAGE_INFO_COMPANIONS = {"page_info", "limit", "fields"}


@dataclass
class ListQuery:
    limit: int
    fields: list[str] | None
    params: dict[str, str]  # the filters, from the query string or from the cursor
    after: list | None = None
    before: list | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise bad_param("limit") from None
    # Values past 250 are clamped rather than refused; production's exact answer is UNCONFIRMED.
    return max(1, min(value, MAX_LIMIT))


def _encode(payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> dict:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_param("page_info") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("p"), dict):
        raise bad_param("page_info")
    return payload


def parse_list(request: Request) -> ListQuery:
    query = request.query_params
    limit = _limit(query.get("limit"))
    fields_raw = query.get("fields")
    fields = [f.strip() for f in fields_raw.split(",") if f.strip()] if fields_raw else None
    token = query.get("page_info")
    if token is None:
        params = {k: v for k, v in query.items() if k not in PAGE_INFO_COMPANIONS}
        return ListQuery(limit, fields, params)
    extra = sorted(set(query.keys()) - PAGE_INFO_COMPANIONS)
    if extra:
        # Wording is UNCONFIRMED; the rule (only limit and fields may accompany page_info) is not.
        raise ApiError(400, {"page_info": f"Cannot be combined with other parameters: {', '.join(extra)}"})
    payload = _decode(token)
    return ListQuery(limit, fields, dict(payload["p"]), after=payload.get("a"), before=payload.get("b"))


def project(record: dict, fields: Sequence[str] | None) -> dict:
    return {k: record[k] for k in fields if k in record} if fields else record


def _page_url(request: Request, q: ListQuery, token: str) -> str:
    query = {"limit": str(q.limit), "page_info": token}
    if q.fields:
        query["fields"] = ",".join(q.fields)
    return str(request.url.replace(query=urlencode(query)))


def paginate(
    request: Request,
    q: ListQuery,
    items: list,
    key: Callable[[object], list],
    reverse: bool = False,
) -> tuple[list, dict[str, str]]:
    """One page of `items` (already filtered) in `key` order; returns (page, extra headers)."""
    ordered = sorted(items, key=key, reverse=reverse)
    keys = [key(item) for item in ordered]

    def beyond(k: list, edge: list) -> bool:
        return k < edge if reverse else k > edge

    if q.after is not None:
        start = next((i for i, k in enumerate(keys) if beyond(k, q.after)), len(keys))
        end = min(start + q.limit, len(keys))
    elif q.before is not None:
        end = next((i for i, k in enumerate(keys) if not beyond(q.before, k)), len(keys))
        start = max(0, end - q.limit)
    else:
        start, end = 0, min(q.limit, len(keys))
    page = ordered[start:end]
    links = []
    if page and end < len(keys):
        links.append(f'<{_page_url(request, q, _encode({"p": q.params, "a": keys[end - 1]}))}>; rel="next"')
    if page and start > 0:
        links.append(f'<{_page_url(request, q, _encode({"p": q.params, "b": keys[start]}))}>; rel="previous"')
    return page, ({"Link": ", ".join(links)} if links else {})


def time_filter(
    records: list[dict], q: ListQuery, fields: tuple[str, ...] = ("created_at", "updated_at")
) -> list:
    for field in fields:
        for suffix, keep in (("_min", lambda a, b: a >= b), ("_max", lambda a, b: a <= b)):
            raw = q.get(field + suffix)
            if raw:
                bound = parse_time(raw, field + suffix).timestamp()
                records = [r for r in records if r.get(field) and keep(epoch(r[field]), bound)]
    return records
