"""Salesforce B2C Commerce: the `sfcc_account_manager` auth kind. Account Manager's
client-credentials grant, with the tenant scope every Admin API token needs:
SALESFORCE_COMMERCE_API:<realm>_<instance>, the Organization ID (f_ecom_<realm>_<instance>)
without its prefix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.http.auth import _OAUTH_COMMON, AUTH_KINDS, AuthContext, OAuth2ClientCredentials
from engine.http.errors import AuthError

ORGANIZATION_ID = re.compile(r"^f_ecom_([a-z0-9]{4})_([a-z0-9]{3,})$", re.IGNORECASE)


def tenant_scope(organization_id: str) -> str:
    """f_ecom_zzxy_prd -> SALESFORCE_COMMERCE_API:zzxy_prd."""
    match = ORGANIZATION_ID.match(organization_id.strip())
    if not match:
        raise ValueError(f"{organization_id!r} is no Organization ID: it reads f_ecom_<realm>_<instance>, "
                         "e.g. f_ecom_zzxy_prd (Business Manager > Administration > Salesforce Commerce API Settings)")
    return f"SALESFORCE_COMMERCE_API:{match.group(1).lower()}_{match.group(2).lower()}"


@AUTH_KINDS.register("sfcc_account_manager", options_schema={
    "type": "object", "additionalProperties": False, "required": ["kind", "token_url"],
    "properties": {
        "kind": {"const": "sfcc_account_manager"}, **_OAUTH_COMMON,
        "organization_setting": {"type": "string", "default": "organization_id",
                                 "description": "Setting holding the Organization ID the tenant scope is made from."},
        "client_id_credential": {"type": "string", "default": "client_id",
                                 "description": "Credential holding the Account Manager API client id."},
        "client_secret_credential": {"type": "string", "default": "client_secret",
                                     "description": "Credential holding the API client's password."},
    }})
class AccountManagerAuth(OAuth2ClientCredentials):
    """Account Manager client credentials (HTTP Basic) for the B2C Commerce Admin APIs; the scope starts
    with the tenant scope made from the Organization ID, then `scope` (e.g. sfcc.products)."""

    @classmethod
    def reads(cls, options: Mapping[str, Any]) -> tuple[str, ...]:
        return (options.get("client_id_credential", "client_id"), options.get("client_secret_credential", "client_secret"))

    def __init__(self, options: dict, ctx: AuthContext) -> None:
        credentials = dict(ctx.credentials)
        credentials["client_id"] = credentials.get(options.get("client_id_credential", "client_id"), "")
        credentials["client_secret"] = credentials.get(options.get("client_secret_credential", "client_secret"), "")
        organization = str(ctx.settings.get(options.get("organization_setting", "organization_id")) or "")
        try:
            scope = tenant_scope(organization)
        except ValueError as exc:
            raise AuthError(str(exc), op="auth") from None
        options = {**options, "scope": " ".join(filter(None, [scope, options.get("scope")])), "client_auth": "basic"}
        super().__init__(options, AuthContext(credentials, ctx.settings, ctx.token_store, ctx.store_key, ctx.send,
                                              ctx.clock, ctx.redactor))
