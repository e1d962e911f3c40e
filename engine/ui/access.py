"""Who may use the operations page, and the CSRF check on every action.

- Bound to a loopback address (the default), the page needs no credentials: only this machine
  reaches it. The Host header must then name a loopback host too, so a web page elsewhere cannot
  reach it through a DNS name that resolves to 127.0.0.1.
- Bound to any other address, a token or a user name and password are required, given as secret
  references (``token:${env:UI_TOKEN}``, ``basic:USER:${env:UI_PASSWORD}``). Without them the page
  refuses every request (``connector serve`` keeps serving webhooks; ``connector ui`` will not start).
- Every action is a POST carrying the CSRF token of a cookie set by the page (double submit), and,
  when the browser sends an Origin, from this page's own origin.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from engine.errors import ConnectorError
from engine.project.secrets import SecretRef

CSRF_COOKIE = "connector_ui_csrf"
TOKEN_COOKIE = "connector_ui_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
AUTH_HELP = "token:${env:NAME} or basic:USER:${env:NAME} (${file:PATH} works too)"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    host: str
    token: str | None = None
    user: str | None = None
    password: str | None = None

    @classmethod
    def configure(cls, host: str, auth: str | None, environ: dict | None = None) -> Access:
        """`auth`: None, `token:REF` or `basic:USER:REF` (REF a secret reference)."""
        if not auth:
            return cls(host)
        kind, _, rest = auth.partition(":")
        if kind == "token" and rest:
            return cls(host, token=_secret(rest, environ))
        if kind == "basic":
            user, _, ref = rest.partition(":")
            if user and ref:
                return cls(host, user=user, password=_secret(ref, environ))
        raise ConnectorError(f"the page's access is {AUTH_HELP}; not {kind!r}...")

    @property
    def protected(self) -> bool:
        return self.token is not None or self.password is not None

    @property
    def locked(self) -> bool:
        """Reachable from other machines without credentials: refuse everything."""
        return not self.protected and not is_loopback(self.host)

    def require_for_bind(self) -> None:
        if self.locked:
            raise ConnectorError(f"the operations page on {self.host} is reachable from other machines: give it "
                                 f"credentials with --auth {AUTH_HELP}, or bind 127.0.0.1")

    def actor(self, request: Request) -> str | None:
        """Who is asking, or None when the request may not see the page."""
        if self.locked:
            return None
        header = request.headers.get("authorization", "")
        if self.token is not None:
            given = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(TOKEN_COOKIE, "")
            if given and hmac.compare_digest(given.encode(), self.token.encode()):
                return "token"
            return None
        if self.password is not None:
            if not header.lower().startswith("basic "):
                return None
            try:
                user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            same_user = hmac.compare_digest(user.encode(), (self.user or "").encode())
            same_password = hmac.compare_digest(password.encode(), self.password.encode())
            return user if same_user and same_password else None
        if not is_loopback(_host_name(request.headers.get("host", ""))):
            return None  # a name that resolves to this machine from a page elsewhere (DNS rebinding)
        try:
            return f"{getpass.getuser()}@local"
        except (KeyError, OSError):
            return "local"

    def challenge(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="connector"'} if self.password is not None else {}


def csrf_token(request: Request) -> tuple[str, bool]:
    """The request's CSRF token, and whether it is new (the response must set the cookie)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) >= 32:
        return token, False
    return secrets.token_urlsafe(32), True


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = form.get("csrf") or request.headers.get("x-csrf-token", "")
    if len(cookie) < 32 or not given or not hmac.compare_digest(cookie.encode(), given.encode()):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return urlsplit(origin).netloc == request.headers.get("host", "")
    return True


def _host_name(header: str) -> str:
    """`127.0.0.1:8080` -> `127.0.0.1`; `[::1]:8080` -> `[::1]`."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0]


def _secret(ref: str, environ: dict | None) -> str:
    value = SecretRef.parse(ref).resolve(environ)
    if not value:
        raise ConnectorError(f"{ref} is empty; the page needs a credential")
    return value
