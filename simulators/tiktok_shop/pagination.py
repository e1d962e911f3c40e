"""Cursor pagination (1.8): page_size/page_token in the query, opaque base64 tokens.

A token encodes the offset plus a fingerprint of the endpoint and filters, so a token from one
search cannot page another. The three leading bytes encode to `++//` and the payload length keeps
`=` padding, so every token carries the characters a client must percent-encode.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from .errors import INVALID_PARAM, SEARCH_TOO_DEEP, ApiError

_MARK = b"\xfb\xef\xff"


@dataclass(frozen=True)
class PageRule:
    max_size: int
    default: int | None = None  # None: page_size is required
    depth_limit: int | None = None  # products stop at 10,000 results (12052180)


PAGE_RULES = {
    "products": PageRule(100, depth_limit=10_000),
    "orders": PageRule(100),
    "packages": PageRule(50),
    # Reference: returns and cancellations default 10, max 50.
    "returns": PageRule(50, default=10),
    "cancellations": PageRule(50, default=10),
    # UNCONFIRMED: brand listing limits are not in the reference; 100 mirrors products.
    "brands": PageRule(100, default=20),
}


def _fingerprint(kind: str, filters: object) -> str:
    raw = json.dumps([kind, filters], sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:12]


def encode_token(kind: str, filters: object, offset: int) -> str:
    payload = f"{_fingerprint(kind, filters)}:{offset}".encode()
    if (len(_MARK) + len(payload)) % 3 == 0:
        payload += b";"  # keep `=` padding in every token
    return base64.b64encode(_MARK + payload).decode()


def decode_token(kind: str, filters: object, token: str) -> int:
    try:
        raw = base64.b64decode(token.encode(), validate=True)
        if not raw.startswith(_MARK):
            raise ValueError("foreign token")
        fingerprint, offset = raw[len(_MARK):].decode().rstrip(";").split(":")
        if fingerprint != _fingerprint(kind, filters):
            raise ValueError("token belongs to another query")
        return int(offset)
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ApiError(INVALID_PARAM, f"Invalid page_token: {exc}") from exc


def paginate(kind: str, items: list, query: dict, filters: object = None) -> tuple[list, dict]:
    """Slice `items` for this request; returns (page, {next_page_token, total_count})."""
    rule = PAGE_RULES[kind]
    size_text = query.get("page_size")
    if size_text in (None, ""):
        if rule.default is None:
            raise ApiError(INVALID_PARAM, "Invalid params: page_size is required")
        size = rule.default
    else:
        try:
            size = int(size_text)
        except ValueError as exc:
            raise ApiError(INVALID_PARAM, "Invalid params: page_size must be an integer") from exc
    if not 1 <= size <= rule.max_size:
        raise ApiError(INVALID_PARAM, f"Invalid params: page_size must be between 1 and {rule.max_size}")
    token = query.get("page_token") or ""
    offset = decode_token(kind, filters, token) if token else 0
    if rule.depth_limit is not None and offset + size > rule.depth_limit:
        raise ApiError(SEARCH_TOO_DEEP, "The search result exceeds 10000; narrow it with update_time filters")
    page = items[offset:offset + size]
    end = offset + len(page)
    next_token = encode_token(kind, filters, end) if end < len(items) else ""
    return page, {"next_page_token": next_token, "total_count": len(items)}
