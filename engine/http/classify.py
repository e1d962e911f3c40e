"""Turns an HTTP answer into one action, using the connector's `errors:` rules.

Some APIs report most failures inside an HTTP 200 body (`code != 0`), others through the status;
both are expressed as rules over the same context `{status, headers, body}`, so the
runtime has no per-platform branches. The first matching rule wins; when none matches, the status
decides (2xx ok, 429 rate_limited, a status in `retry.on_status` retry, anything else fail).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from engine.http.errors import ERROR_CLASSES, HttpCallError, error_class_for_status

ACTIONS = ("ok", "retry", "rate_limited", "refresh_auth", "fail")


@dataclass(frozen=True)
class ErrorRule:
    when: Any  # compiled JMESPath
    action: str
    message: Any = None  # compiled JMESPath, or None
    code: Any = None
    error: str | None = None  # key of ERROR_CLASSES; None = chosen from the status
    source: str = ""  # the `when` text, for messages and docs


@dataclass(frozen=True)
class Verdict:
    action: str
    message: str = ""
    code: str | None = None
    error_class: type[HttpCallError] = HttpCallError


def context(status: int, headers: Any, body: Any) -> dict:
    # Header names are lower-cased so rules need not guess the platform's capitalisation.
    return {"status": status, "headers": {k.lower(): v for k, v in headers.items()}, "body": body}


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, "", [] and {} are false; everything else, 0 included, true."""
    return not (value is None or value is False or value == "" or value == [] or value == {})


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def classify(rules: tuple[ErrorRule, ...], retry_statuses: frozenset[int], ctx: dict) -> Verdict:
    status = ctx["status"]
    for rule in rules:
        if truthy(rule.when.search(ctx)):
            message = _text(rule.message.search(ctx)) if rule.message else ""
            code = rule.code.search(ctx) if rule.code else None
            cls = ERROR_CLASSES[rule.error] if rule.error else error_class_for_status(status)
            return Verdict(rule.action, message or _reason(status), None if code is None else _text(code), cls)
    if 200 <= status < 400:
        return Verdict("ok")
    if status == 429:
        return Verdict("rate_limited", _reason(status), None, error_class_for_status(status))
    if status in retry_statuses:
        return Verdict("retry", _reason(status), None, error_class_for_status(status))
    return Verdict("fail", _default_message(ctx), None, error_class_for_status(status))


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _default_message(ctx: dict) -> str:
    body = ctx["body"]
    if isinstance(body, dict):
        for key in ("message", "errors", "error", "error_description"):
            if body.get(key):
                return _text(body[key])
    return _reason(ctx["status"])
