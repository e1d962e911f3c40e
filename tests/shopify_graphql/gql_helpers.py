"""Shared set-up of the GraphQL connector tests: the sandbox, the example merchant on the GraphQL
connector, and GraphQL calls to the simulator."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx

from engine.flow.runner import Merchant

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "acme_graphql"
API_VERSION = "2026-01"
PLUS = {"maximum": 20000, "restore_rate": 1000}


def environ(sandbox, prefix: str = "ACME") -> dict[str, str]:
    env = sandbox.environ(prefix)
    env[f"{prefix}_SHOPIFY_GRAPHQL_URL"] = f"{sandbox.urls['shopify']}/admin/api/{API_VERSION}"
    return env


def merchant(sandbox, workdir: Path, plan: dict | None = PLUS) -> Merchant:
    """examples/acme_graphql against the sandbox; `plan` sets the store's cost bucket (Plus by default,
    so a catalog of hundreds of products is read in seconds)."""
    if plan:
        sandbox.admin("shopify", "POST", "graphql/bucket", json=plan)
    shutil.copytree(EXAMPLE, workdir / "acme")
    return Merchant(workdir / "acme" / "merchant.yaml", environ=environ(sandbox))


def graphql(sandbox, query: str, variables: dict | None = None) -> dict[str, Any]:
    response = httpx.post(f"{sandbox.urls['shopify']}/admin/api/{API_VERSION}/graphql.json",
                          json={"query": query, "variables": variables or {}},
                          headers={"X-Shopify-Access-Token": sandbox.environ()["ACME_SHOPIFY_TOKEN"]}, timeout=60)
    response.raise_for_status()
    return response.json()
