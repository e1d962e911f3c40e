"""Auth kinds: how a request is authenticated, and how an expired credential is renewed.

Each kind is registered once in AUTH_KINDS with the JSON Schema of its options (the keys next to
`auth.kind` in a connector spec). `apply` runs on every attempt, after the body bytes are final,
so a signing kind signs exactly what is sent and a retry gets a fresh timestamp and signature.

Tokens live in a `token_store` (`get(key) -> dict | None`, `set(key, dict)`). What the store holds
wins over the credentials the connection was started with, so a rotated refresh token survives a
restart; the credentials are only the seed. A merchant's token store is its state store, which
keeps them encrypted (engine/state/sealed.py) and checks its key when they are read, before any
refresh spends a refresh token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from engine import decimal_json
from engine.http.errors import AuthError, Redactor, redact_url
from engine.registry import Registry

AUTH_KINDS = Registry("auth")


class TokenStore(Protocol):
    def get(self, key: str) -> dict | None: ...

    def set(self, key: str, value: dict) -> None: ...


class MemoryTokenStore:
    """Process-local token store (tests, one-shot CLI runs). Thread-safe."""

    def __init__(self, initial: Mapping[str, dict] | None = None) -> None:
        self._data: dict[str, dict] = {k: dict(v) for k, v in (initial or {}).items()}
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            value = self._data.get(key)
            return dict(value) if value is not None else None

    def set(self, key: str, value: dict) -> None:
        with self._lock:
            self._data[key] = dict(value)


@dataclass
class OutboundRequest:
    """One attempt of a call, as the auth kind sees it. `content` is final before `apply` runs."""

    method: str
    url: str  # scheme://host/path, without the query
    path: str  # the URL path as sent; what a signing kind signs
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    content_type: str | None = None


# Sends a token-endpoint request with the connection's HTTP client (same transport, no limiter).
TokenSender = Callable[..., httpx.Response]


@dataclass
class AuthContext:
    credentials: Mapping[str, str]
    settings: Mapping[str, Any]
    token_store: TokenStore
    store_key: str
    send: TokenSender
    clock: Callable[[], float]
    redactor: Redactor


class Auth:
    """Base of every auth kind. Subclasses override `apply` and, when they can, `_refresh`."""

    # Credentials this kind reads; the spec's `credentials:` list must include them.
    credential_names: tuple[str, ...] = ()

    @classmethod
    def reads(cls, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The credentials this kind reads with these options."""
        return cls.credential_names

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Problems the options schema cannot express: (field path under auth, message)."""
        return []

    def __init__(self, options: dict, ctx: AuthContext) -> None:
        self.options = options
        self.ctx = ctx
        self._lock = threading.RLock()
        self.tokens: dict[str, Any] = {}

    # -- token state -------------------------------------------------------------------------
    def _load(self, seed: dict[str, Any]) -> None:
        stored = self.ctx.token_store.get(self.ctx.store_key)
        self.tokens = {k: v for k, v in seed.items() if v}
        if stored:
            self.tokens.update({k: v for k, v in stored.items() if v})
        self.ctx.redactor.add(str(v) for k, v in self.tokens.items() if k.endswith("token"))

    def _save(self, tokens: dict[str, Any]) -> None:
        self.tokens.update(tokens)
        self.ctx.redactor.add(str(v) for k, v in tokens.items() if k.endswith("token"))
        self.ctx.token_store.set(self.ctx.store_key, dict(self.tokens))

    @property
    def access_token(self) -> str | None:
        return self.tokens.get("access_token")

    def token_url(self) -> str:
        # A connection setting `token_url` wins, so a sandbox or simulator needs no spec change.
        url = self.ctx.settings.get("token_url") or self.options["token_url"]
        return str(url).format_map(dict(self.ctx.settings))

    # -- hooks ---------------------------------------------------------------------------------
    def apply(self, request: OutboundRequest) -> None:
        raise NotImplementedError

    def can_refresh(self) -> bool:
        return False

    def refresh(self, stale_token: str | None) -> None:
        """Renew the credential once, unless another thread already replaced `stale_token`."""
        if not self.can_refresh():
            raise AuthError("credential rejected and this auth kind cannot renew it", op="auth")
        with self._lock:
            if stale_token is not None and self.access_token != stale_token:
                return
            self._refresh()

    def _refresh(self) -> None:
        raise NotImplementedError

    def _expiring(self, key: str) -> bool:
        expires_at = self.tokens.get(key)
        skew = float(self.options.get("refresh_skew_seconds", 60))
        return bool(expires_at) and self.ctx.clock() >= float(expires_at) - skew

    def _token_failure(self, response: httpx.Response, body: Any, what: str) -> AuthError:
        message = ""
        if isinstance(body, dict):
            message = str(body.get("message") or body.get("error_description") or body.get("error") or "")
        code = body.get("code") if isinstance(body, dict) else None
        return AuthError(
            self.ctx.redactor(f"{what}: {message or response.reason_phrase}"),
            op="auth.refresh",
            status=response.status_code,
            code=None if code is None else str(code),
            url=redact_url(str(response.request.url)),
        )


def _json(response: httpx.Response) -> Any:
    try:
        return decimal_json.loads(response.content)
    except ValueError:
        return None


_HEADER_TOKEN_OPTIONS = {
    "type": "object",
    "properties": {
        "kind": {"type": "string"},
        "header": {"type": "string", "description": "Header carrying the token."},
        "prefix": {"type": "string", "default": "", "description": "Text before the token in the header."},
        "credential": {"type": "string", "default": "access_token",
                       "description": "Credential holding the token."},
    },
    "required": ["kind", "header"],
    "additionalProperties": False,
}


@AUTH_KINDS.register("header_token", options_schema=_HEADER_TOKEN_OPTIONS)
class HeaderTokenAuth(Auth):
    """A static access token in a header. It cannot be refreshed (such tokens live until the app is
    uninstalled or the key revoked), so a 401 is final."""

    credential_names = ("access_token",)
    default_header = ""

    @classmethod
    def reads(cls, options: Mapping[str, Any]) -> tuple[str, ...]:
        return (options.get("credential", "access_token"),)

    def __init__(self, options: dict, ctx: AuthContext) -> None:
        super().__init__(options, ctx)
        self.header = options.get("header", self.default_header)
        self.prefix = options.get("prefix", "")
        self._load({"access_token": ctx.credentials.get(options.get("credential", "access_token"))})

    def apply(self, request: OutboundRequest) -> None:
        request.headers[self.header] = self.prefix + (self.access_token or "")


_OAUTH_COMMON = {
    "token_url": {"type": "string", "description": "Token endpoint (POST, form encoded). A connection "
                  "setting `token_url` overrides it; `{setting}` placeholders are filled from settings."},
    "scope": {"type": "string", "description": "Space-separated scopes to request. A connection setting `scope` "
              "overrides it; `{setting}` placeholders are filled from settings (scopes per project)."},
    "client_auth": {"enum": ["basic", "body"], "default": "body",
                    "description": "Send client id/secret as HTTP Basic or in the form body."},
    "header": {"type": "string", "default": "Authorization", "description": "Header carrying the token."},
    "prefix": {"type": "string", "default": "Bearer ", "description": "Text before the token in the header."},
    "refresh_skew_seconds": {"type": "number", "minimum": 0, "default": 60,
                             "description": "Renew this long before the token's expiry."},
    "extra_params": {"type": "object", "additionalProperties": {"type": "string"},
                     "description": "More form fields for the token request (e.g. audience)."},
    "response_must_match": {
        "type": "object", "additionalProperties": {"type": "string"},
        "description": "Token answer field -> the value it must have, with `{setting}` placeholders (e.g. "
                       "the account's own URL the answer names). A different value stops with an error naming "
                       "both, so calls never go to an account the connection was not set up for."},
}


class _OAuth2(Auth):
    def _client_params(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        cid, secret = self.ctx.credentials["client_id"], self.ctx.credentials["client_secret"]
        self.ctx.redactor.add([secret])
        form = dict(self.options.get("extra_params", {}))
        scope = self.ctx.settings.get("scope") or self.options.get("scope")
        if scope:
            form["scope"] = str(scope).format_map(dict(self.ctx.settings))
        if self.options.get("client_auth", "body") == "basic":
            return form, (cid, secret)
        form.update(client_id=cid, client_secret=secret)
        return form, None

    def _token_request(self, form: dict[str, str], what: str) -> dict[str, Any]:
        extra, basic = self._client_params()
        response = self.ctx.send("POST", self.token_url(), data={**extra, **form}, auth=basic)
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            raise self._token_failure(response, body, what)
        self._check_answer(body)
        expires_in = body.get("expires_in")
        return {
            "access_token": body["access_token"],
            "refresh_token": body.get("refresh_token"),
            "access_token_expires_at": self.ctx.clock() + float(expires_in) if expires_in else None,
        }

    def _check_answer(self, body: dict[str, Any]) -> None:
        for name, template in (self.options.get("response_must_match") or {}).items():
            expected = str(template).format_map(dict(self.ctx.settings)).rstrip("/")
            got = str(body.get(name) or "").rstrip("/")
            if got.lower() != expected.lower():
                setting = template.strip("{}") if template.startswith("{") and template.endswith("}") else name
                raise AuthError(self.ctx.redactor(
                    f"the token endpoint answered for {name} {got or '(none)'}, but the connection is set up "
                    f"for {expected}: set {setting} to {got} if that is the account, or use that account's "
                    f"credentials"), op="auth.refresh")

    def apply(self, request: OutboundRequest) -> None:
        with self._lock:
            if not self.access_token or self._expiring("access_token_expires_at"):
                self._refresh()
            token = self.access_token
        request.headers[self.options.get("header", "Authorization")] = self.options.get("prefix", "Bearer ") + token

    def can_refresh(self) -> bool:
        return True


@AUTH_KINDS.register(
    "oauth2_client_credentials",
    options_schema={
        "type": "object",
        "properties": {"kind": {"const": "oauth2_client_credentials"}, **_OAUTH_COMMON},
        "required": ["kind", "token_url"],
        "additionalProperties": False,
    },
)
class OAuth2ClientCredentials(_OAuth2):
    """OAuth2 client-credentials grant; the token is cached (and stored) until shortly before expiry."""

    credential_names = ("client_id", "client_secret")

    def __init__(self, options: dict, ctx: AuthContext) -> None:
        super().__init__(options, ctx)
        self._load({})

    def _refresh(self) -> None:
        tokens = self._token_request({"grant_type": "client_credentials"}, "client-credentials token request failed")
        tokens.pop("refresh_token", None)
        self._save(tokens)


@AUTH_KINDS.register(
    "oauth2_refresh_token",
    options_schema={
        "type": "object",
        "properties": {"kind": {"const": "oauth2_refresh_token"}, **_OAUTH_COMMON},
        "required": ["kind", "token_url"],
        "additionalProperties": False,
    },
)
class OAuth2RefreshToken(_OAuth2):
    """OAuth2 refresh-token grant with rotation: a new refresh token in the answer replaces the old
    one in the token store before the new access token is used."""

    credential_names = ("client_id", "client_secret", "refresh_token")

    def __init__(self, options: dict, ctx: AuthContext) -> None:
        super().__init__(options, ctx)
        self._load({"refresh_token": ctx.credentials.get("refresh_token"),
                    "access_token": ctx.credentials.get("access_token")})

    def _refresh(self) -> None:
        tokens = self._token_request(
            {"grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"]},
            "refresh-token grant failed",
        )
        tokens["refresh_token"] = tokens.get("refresh_token") or self.tokens["refresh_token"]
        self._save(tokens)


def build_auth(options: dict, ctx: AuthContext) -> Auth:
    return AUTH_KINDS.get(options["kind"]).impl(options, ctx)
