"""Fixtures of the command-line tests: a copy of the acme example, its state filled with runs and
dead letters whose ids, titles and errors are long, and a way to run `connector` in process."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from engine.cli import main
from engine.state import open_store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "acme"
WIDTH = 80
# Environment the acme merchant file reads; the URLs are never called unless a test stubs them.
ENV = {"ACME_SHOPIFY_TOKEN": "shpat_cli_test_token", "ACME_SHOPIFY_WEBHOOK_SECRET": "whsec_test", "ACME_SHOPIFY_URL": "https://shopify.test/admin/api/2025-01",
       "ACME_TIKTOK_SHOP_CIPHER": "cipher", "ACME_TIKTOK_APP_KEY": "cli-app-key",
       "ACME_TIKTOK_APP_SECRET": "cli-app-secret-value", "ACME_TIKTOK_ACCESS_TOKEN": "cli-access-token-value",
       "ACME_TIKTOK_REFRESH_TOKEN": "cli-refresh-token-value", "ACME_TIKTOK_URL": "https://tiktok.test"}
SECRETS = ["shpat_cli_test_token", "cli-app-secret-value", "cli-access-token-value", "cli-refresh-token-value"]

LONG_KEY = "gid-0b5f2c9e-6d1a-4c8e-9f37-2a6b1d4e8c70"  # a UUID-like key, longer than any column would like
LONG_TITLE = ("Weatherproof Commuter Pack with extra long marketing copy that keeps going well past what any "
              "listing title allows")
URL_ERROR = ("get_category_attributes failed, HTTP 401, code 106001: Invalid credentials. "
             "[https://open-api.tiktokglobalshop.com/product/202309/categories/600050/attributes?app_key=***]")


def console(width: int = WIDTH) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=width, force_terminal=False, color_system=None), buffer


def lines_within(output: str, width: int = WIDTH) -> list[str]:
    """The lines of `output` longer than `width` (none, when the output fits)."""
    return [line for line in output.splitlines() if len(line.rstrip()) > width]


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/acme in the current folder; returns its merchant file as a person types it,
    relative: `acme/merchant.yaml`."""
    shutil.copytree(EXAMPLE, tmp_path / "acme", ignore=shutil.ignore_patterns(".state"))
    monkeypatch.chdir(tmp_path)
    return Path("acme") / "merchant.yaml"


@pytest.fixture
def filled(acme: Path) -> dict:
    """Two runs and four open dead letters (one resolved) in the acme copy's state store."""
    (acme.parent / ".state").mkdir(exist_ok=True)
    store = open_store(str(acme.parent / ".state" / "acme.db"))
    try:
        first = store.start_run("acme", "catalog", False, {})
        store.finish_run(first, "ok", {"counts": {"create": 54, "dead_letter": 4, "price_update": 3}})
        second = store.start_run("acme", "catalog", False, {})
        letters = [
            ("check", "7000339670925", {"title": LONG_TITLE, "variants": [{"sku": f"RDGL-PACK002-OLV-{i}-NYL"}
                                                                       for i in range(8)]},
             {"message": "1 rule(s) failed", "type": "RecordError", "label": (
                 "Weatherproof Commuter Pack with extra long marketing copy… (SKUs RDGL-PACK002-OLV-0-NYL, "
                 "RDGL-PACK002-OLV-1-NYL, RDGL-PACK002-OLV-2-NYL +5 more)"),
              "field_errors": [{"field": "title", "rule": "title_length",
                                "message": "title has 288 characters; TikTok allows 255"}]}),
            ("map", LONG_KEY, {"title": "Lightweight Hiking Boot", "variants": [{"sku": ""}]},
             {"message": "mapping shopify.product_to_canonical failed on 2 field(s)", "type": "RecordError",
              "label": "Lightweight Hiking Boot",
              "field_errors": [{"field": "variants[0].sku", "message": "required value is missing or empty"},
                               {"field": "variants[0].price.amount", "message": "not a decimal: 'abc'"}]}),
            ("fetch", "7000339642877", {"title": "Cedar & Sage Soy Candle", "variants": [{"sku": "HRTH-CNDL003"}]},
             {"message": URL_ERROR, "type": "AuthError", "label": "Cedar & Sage Soy Candle (SKU HRTH-CNDL003)"}),
            # Filed before labels were stored: the label is read from the payload.
            ("check", "7000339769167", {"title": "Studio Grip Mat", "variants": [{"sku": "FLOW-MAT004-3"}]},
             {"message": "1 rule(s) failed", "type": "RecordError",
              "field_errors": [{"field": "package.weight", "rule": "package_weight",
                                "message": "TikTok requires a package weight above zero"}]}),
        ]
        ids = [store.add_dead_letter(second, "acme", "catalog", step, "catalog_to_tiktok", key, payload, error)
               for step, key, payload, error in letters]
        resolved = store.add_dead_letter(second, "acme", "catalog", "push", "catalog_to_tiktok", "7000339000001",
                                         {"title": "Old Mug"}, {"message": "fixed by hand"})
        store.resolve_dead_letter(resolved, "fixed in Shopify")
        for step, key, _, error in letters:
            store.record_result(second, "catalog_to_tiktok", key, "sync", "dead_letter",
                                {"step": step, "message": error["message"], "label": error.get("label")})
        store.record_result(second, "catalog_to_tiktok", "7000339564531", "create", "ok",
                            {"remote_id": "1746768432152974787"})
        store.finish_run(second, "ok", {"counts": {"create": 1, "dead_letter": 4}})
    finally:
        store.close()
    return {"file": acme, "runs": [first, second], "ids": ids, "keys": [letter[1] for letter in letters],
            "resolved": resolved}


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):
    """Run `connector ARGS` in process at 80 columns, with the acme environment."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", str(WIDTH))

    def invoke(*args: str, env: dict | None = None) -> Result:
        return CliRunner().invoke(main, [str(a) for a in args], env=env)

    return invoke


@pytest.fixture
def transports(monkeypatch: pytest.MonkeyPatch):
    """Give the merchants the CLI opens these stub transports (connection name -> handler)."""
    import engine.flow.runner as runner

    handlers: dict = {}
    original = runner.Merchant

    class StubbedMerchant(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            kwargs.setdefault("transports", {name: httpx.MockTransport(h) for name, h in handlers.items()})
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(runner, "Merchant", StubbedMerchant)
    return handlers
