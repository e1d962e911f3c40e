"""Typed errors of the HTTP runtime, and the redaction every message goes through.

A caller decides what to do from the type and `retryable`, never by parsing a message. No message
may carry a secret: URLs are passed through `redact_url` and free text through a `Redactor` that
knows the connection's current credentials and tokens.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from engine.errors import ConnectorError
from engine.project.secrets import MASK, Redactor  # noqa: F401  (re-exported for the runtime)

# Query parameters whose values are secrets or derived from secrets (a signature leaks nothing
# useful alone, but together with the timestamp it is a replayable request).
SENSITIVE_PARAMS = frozenset(
    {
        "sign",
        "access_token",
        "app_secret",
        "refresh_token",
        "client_secret",
        "x-tts-access-token",
        "auth_code",
        "code",
        "password",
        "token",
    }
)


def redact_url(url: str) -> str:
    """The URL with every sensitive query value replaced by ***; userinfo is dropped too."""
    parts = urlsplit(url)
    if not parts.query and "@" not in parts.netloc:
        return url
    pairs = [(k, MASK if k.lower() in SENSITIVE_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(pairs, safe="*,"), parts.fragment))


class HttpCallError(ConnectorError):
    """A call to a platform failed after the retries its connector spec allows."""

    retryable_default = False

    def __init__(
        self,
        message: str,
        *,
        op: str = "",
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        url: str = "",
        retryable: bool | None = None,
        body: object = None,
    ) -> None:
        self.op = op
        self.status = status
        self.code = code
        self.platform_message = message
        self.request_id = request_id
        self.url = url
        self.retryable = self.retryable_default if retryable is None else retryable
        self.body = body
        super().__init__(self._format())

    def _format(self) -> str:
        bits = [f"{self.op or 'request'} failed"]
        if self.status is not None:
            bits.append(f"HTTP {self.status}")
        if self.code not in (None, ""):
            bits.append(f"code {self.code}")
        text = ", ".join(bits) + f": {self.platform_message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        if self.url:
            text += f" [{self.url}]"
        return text


class AuthError(HttpCallError):
    """Credentials are missing, expired beyond refresh, or lack a scope. Needs a person."""


class RateLimitedError(HttpCallError):
    """Still throttled after the allowed retries; trying later is expected to work."""

    retryable_default = True


class NotFoundError(HttpCallError):
    """The addressed object does not exist (or is not visible to this shop)."""


class ValidationFailedError(HttpCallError):
    """The platform rejected the request content; fixing the record is needed."""


class ServerError(HttpCallError):
    """The platform failed on its side after the allowed retries."""

    retryable_default = True


class TransportError(HttpCallError):
    """No usable answer: timeout, refused or dropped connection."""

    retryable_default = True


class PaginationError(HttpCallError):
    """A paginator's loop guard fired: a repeated token or URL, or more pages than max_pages."""


# `error:` values a classification rule may name, and the exception each raises.
ERROR_CLASSES: dict[str, type[HttpCallError]] = {
    "auth": AuthError,
    "rate_limited": RateLimitedError,
    "not_found": NotFoundError,
    "validation": ValidationFailedError,
    "server": ServerError,
    "client": HttpCallError,
}


def error_class_for_status(status: int | None) -> type[HttpCallError]:
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitedError
    if status in (400, 409, 422):
        return ValidationFailedError
    if status is not None and status >= 500:
        return ServerError
    return HttpCallError
