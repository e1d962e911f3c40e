"""The endpoint table: method + path template -> handler, with version and shop-scope rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from .errors import INVALID_METHOD, INVALID_PATH, INVALID_VERSION, ApiError
from .state import SimState


@dataclass
class Ctx:
    """What a handler sees: the state, path parameters, decoded query, raw and parsed body."""

    sim: SimState
    request: Request
    params: dict[str, str]
    query: dict[str, str]
    raw: bytes
    body: Any
    content_type: str


Handler = Callable[[Ctx], Any]

# 1.2: paths that must NOT carry shop_cipher; every other API path requires it.
_UNSCOPED = re.compile(
    r"^/(authorization|seller)/|^/product/\d+/(images/upload|files/upload|global_products|compliance)"
)


@dataclass
class Endpoint:
    method: str
    template: str
    handler: Handler
    versions: tuple[str, ...] = ("202309",)
    regex: re.Pattern = field(init=False)
    shop_scoped: bool = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.escape(self.template)
        pattern = pattern.replace(re.escape("{v}"), r"(?P<v>\d{6})")
        # ids are numeric, so `/products/search` never matches `/products/{product_id}`
        pattern = re.sub(r"\\\{(\w+_id)\\\}", r"(?P<\1>[0-9]+)", pattern)
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
        self.regex = re.compile(f"^{pattern}$")
        sample = self.template.replace("{v}", "202309")
        # POST /product/{v}/brands (create) is the one method-specific exclusion in 1.2.
        self.shop_scoped = not (_UNSCOPED.search(sample) or (self.method == "POST" and sample.endswith("/brands")))


class Router:
    def __init__(self, table: list[tuple]) -> None:
        self.endpoints = []
        for row in table:
            method, template, handler, *rest = row
            self.endpoints.append(Endpoint(method, template, handler, *(rest or [])))

    def resolve(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
        wrong_method = wrong_version = False
        for ep in self.endpoints:
            match = ep.regex.match(path)
            if not match:
                continue
            params = match.groupdict()
            if params.pop("v") not in ep.versions:
                wrong_version = True
            elif ep.method != method:
                wrong_method = True
            else:
                return ep, params
        if wrong_method:
            raise ApiError(INVALID_METHOD, f"Invalid method {method} for path {path}")
        if wrong_version:
            raise ApiError(INVALID_VERSION, f"Invalid API version in path {path}")
        raise ApiError(INVALID_PATH, f"Invalid path: {path}")
