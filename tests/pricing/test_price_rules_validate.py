"""`connector validate` on price rules and selections: each mistake at the file, line and column to
fix; two promotions that may cover one SKU at the same time refused with the places of both."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.project.loader import Project
from engine.project.validate import Validator

ROOT = Path(__file__).resolve().parents[2]
HEAD = "kind: price_rules\nname: acme.tiktok_prices\ncurrency: USD\n"


def project(tmp_path: Path, prices: str | None = None, merchant_edit: tuple[str, str] | None = None) -> Path:
    shutil.copytree(ROOT / "examples" / "acme", tmp_path / "acme")
    if prices is not None:
        (tmp_path / "acme" / "prices.yaml").write_text(prices)
    if merchant_edit is not None:
        path = tmp_path / "acme" / "merchant.yaml"
        text = path.read_text()
        assert merchant_edit[0] in text
        path.write_text(text.replace(merchant_edit[0], merchant_edit[1], 1))
    return tmp_path / "acme"


def problems(folder: Path) -> list:
    return [p for p in Validator(Project.load([folder])).run() if p.severity == "error"]


def line_of(path: Path, needle: str, after: str = "") -> int:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


def test_the_example_price_rules_validate():
    assert problems(ROOT / "examples" / "acme") == []


PROMOTIONS = HEAD + """promotions:
  - name: summer
    starts_at: 2027-07-01T00:00:00Z
    ends_at: 2027-07-15T00:00:00Z
    tags: [summer, tee]
    markdown_percent: 20
  - name: tee_week
    starts_at: "2027-07-10T00:00:00Z"
    ends_at: "2027-07-17T00:00:00Z"
    tags: [tee]
    markdown_percent: 10
"""


def test_overlapping_promotions_are_refused_with_both_locations(tmp_path):
    folder = project(tmp_path, PROMOTIONS)
    found = problems(folder)
    [problem] = found
    prices = folder / "prices.yaml"
    first, second = line_of(prices, "- name: summer"), line_of(prices, "- name: tee_week")
    assert (Path(problem.location.file).name, problem.location.line, problem.location.col) == ("prices.yaml", second, 5)
    assert f"prices.yaml:{first}:5" in problem.message  # the other promotion's place
    assert "'tee_week' (2027-07-10T00:00:00Z to 2027-07-17T00:00:00Z) overlaps promotion 'summer'" in problem.message
    assert "on tag tee" in problem.message
    assert "2027-07-15T00:00:00Z" in problem.hint


@pytest.mark.parametrize("edit", [
    ('starts_at: "2027-07-10T00:00:00Z"', 'starts_at: "2027-07-15T00:00:00Z"'),  # back to back: the end is exclusive
    ("tags: [tee]\n", "tags: [hoodie]\n"),  # tags apart (a product with both is refused when priced)
    ("tags: [summer, tee]\n", "skus: [TEE-1]\n    categories: [T-Shirts]\n"),  # categories apart
], ids=["back-to-back", "tags-apart", "categories-apart"])
def test_promotions_apart_in_time_or_scope_are_accepted(tmp_path, edit):
    text = PROMOTIONS.replace(*edit)
    if edit[0].startswith("tags: [summer"):
        text = text.replace("tags: [tee]\n", "categories: [Hoodies]\n")
    assert problems(project(tmp_path, text)) == []


def test_a_promotion_scoped_by_expression_cannot_be_told_apart(tmp_path):
    text = PROMOTIONS.replace("tags: [tee]\n", "when: \"contains(tags, 'tee')\"\n")
    [problem] = problems(project(tmp_path, text))
    assert "cannot be told apart" in problem.message


@pytest.mark.parametrize("body, needle, message, hint", [
    ("rules:\n  - {name: r, markup_percent: 10, markdown_amount: 2}\n", "name: r", "has markup_percent and markdown_amount",
     "one adjustment"),
    ("rules:\n  - {name: r, markdown_percent: 100}\n", "name: r", "markdown_percent must be below 100", ""),
    ("rules:\n  - {name: r, markup_percent: 10.5}\n", "name: r", "expected string or integer", ""),
    ("rules:\n  - {name: r, when: \"contains(tag, 'x')\"}\n", "name: r", "'tag', which is not a field", "tags"),
    ("rules:\n  - {name: r, round: to_98}\n", "name: r", "is not one of the allowed values", "to_99"),
    ("margin: {min_percent: 15}\nmarkets:\n  GBP: {prices: {A-1: '12.00'}}\n", "GBP:", "market GBP has no rate",
     "add rate"),
    ("promotions:\n  - name: p\n    starts_at: 2027-07-01T00:00:00\n    ends_at: 2027-07-02T00:00:00Z\n"
     "    markdown_percent: 5\n", "starts_at", "is not in UTC", "ending in Z"),
    ("promotions:\n  - name: p\n    starts_at: 2027-07-02T00:00:00Z\n    ends_at: 2027-07-01T00:00:00Z\n"
     "    markdown_percent: 5\n", "ends_at", "ends before it starts", ""),
    ("promotions:\n  - name: p\n    starts_at: 2027-07-01T00:00:00Z\n    ends_at: 2027-07-02T00:00:00Z\n",
     "- name: p", "changes no price", "markdown_percent"),
], ids=["two-adjustments", "markdown-100", "float", "unknown-field", "rounding", "rateless-margin", "naive-time",
        "backwards", "no-markdown"])
def test_price_rules_mistakes_are_reported_at_their_line(tmp_path, body, needle, message, hint):
    folder = project(tmp_path, HEAD + body)
    found = problems(folder)
    line = line_of(folder / "prices.yaml", needle)
    assert any(p.location and Path(p.location.file).name == "prices.yaml" and p.location.line == line
               and message in p.message and hint in p.hint for p in found), [p.format() for p in found]


OPTIONS = "      price_rules: acme.tiktok_prices\n"


@pytest.mark.parametrize("option, needle, message", [
    ("      price_rules: acme.tiktok_price\n", "price_rules: acme.tiktok_price", "unknown price rules 'acme.tiktok_price'"),
    (OPTIONS + "      select: \"contains(tag, 'tiktok')\"\n", "select:", "'tag', which is not a field"),
    (OPTIONS + "      select: \"contains(tags, 'tiktok'\"\n", "select:", "JMESPath"),
    (OPTIONS + "      deselected: hide\n", "deselected:", "is not one of the allowed values"),
], ids=["unknown-rules", "select-field", "select-syntax", "deselected"])
def test_binding_mistakes_point_at_the_merchant_file(tmp_path, option, needle, message):
    folder = project(tmp_path, merchant_edit=(OPTIONS, option))
    found = problems(folder)
    line = line_of(folder / "merchant.yaml", needle)
    assert any(p.location and Path(p.location.file).name == "merchant.yaml" and p.location.line == line
               and message in p.message for p in found), [p.format() for p in found]


def test_a_channel_currency_without_a_market_is_refused(tmp_path):
    folder = project(tmp_path, merchant_edit=("    currency: USD\n", "    currency: CAD\n    region: US\n"))
    # (the connection now sells in CAD; its region line moves, but the TikTok US shop is only an example here)
    text = (folder / "merchant.yaml").read_text().replace("    region: US\n    currency: CAD\n    region: US\n",
                                                           "    region: US\n    currency: CAD\n")
    (folder / "merchant.yaml").write_text(text)
    found = problems(folder)
    assert any("sells in CAD" in p.message and Path(p.location.file).name == "prices.yaml" for p in found), \
        [p.format() for p in found]


def test_a_run_with_price_rules_and_a_selection_compiles_no_expression_again(tmp_path, monkeypatch):
    from engine.flow.runner import FlowRun, Merchant
    from engine.lang.expr import ExpressionCompiler

    folder = project(tmp_path, merchant_edit=(OPTIONS, OPTIONS + "      select: \"contains(tags, 'tiktok')\"\n"))
    prices = folder / "prices.yaml"
    prices.write_text(prices.read_text().replace("    tags: [gift]\n", "    when: \"contains(tags, 'gift')\"\n"))
    env = {"ACME_SHOPIFY_TOKEN": "shpat_test", "ACME_SHOPIFY_WEBHOOK_SECRET": "whsec_test", "ACME_TIKTOK_SHOP_CIPHER": "c", "ACME_TIKTOK_APP_KEY": "k",
           "ACME_TIKTOK_APP_SECRET": "s", "ACME_TIKTOK_ACCESS_TOKEN": "a", "ACME_TIKTOK_REFRESH_TOKEN": "r"}
    merchant = Merchant(folder / "merchant.yaml", environ=env)
    try:
        compiled: list[str] = []
        original = ExpressionCompiler.jmespath
        monkeypatch.setattr(ExpressionCompiler, "jmespath", lambda self, source: compiled.append(source)
                            or original(self, source))
        run = FlowRun(merchant, "catalog")
        assert {"filter", "price"} <= {step.kind for step in run.steps}
        assert compiled == []
    finally:
        merchant.close()
