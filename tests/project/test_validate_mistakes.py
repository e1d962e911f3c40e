"""One mistake per merchant project: `connector validate` must report it at the line and column to
fix, say what was expected, and name the fix in its hint.

Each case copies an example project (examples/acme or examples/bloom_my), makes one edit to its
merchant file (and may add a file of the consultant's own), and checks what validate says. The
expected position is given as the line that holds `line_has` and the column where `col_at` starts
on it, so the table reads like the file does. Cases are grouped by the mistake classes of
`connector validate` (tracker issue 9): 1 unknown keys, 2 references, 3 templates, 4 function
calls, 5 overrides, 6 options that contradict, 7 regions, 8 credentials and URLs, 9 YAML.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.project.loader import Project
from engine.project.validate import Validator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Mistake:
    id: str
    group: int  # the mistake class (see the module docstring)
    edits: list[tuple[str, str]]  # (old, new) replacements in merchant.yaml, each made once
    line_has: str  # the problem is on the first line (of `file`) holding this text...
    col_at: str  # ...at the column where this text starts on it
    message: str  # a substring of the message
    hint: str  # a substring of the hint
    example: str = "acme"
    file: str = "merchant.yaml"
    files: dict[str, str] = field(default_factory=dict)  # extra files of the consultant's own
    severity: str = "error"
    after: str = ""  # the line is the first holding `line_has` after the first line holding this


OVERRIDE_BRAND = "        brand: {const: Acme Outdoors}"
TIKTOK_OVERRIDE = "\n    tiktok_shop.product_from_canonical:\n      fields:\n"
CHECK_OVERRIDE = """  flows:
    catalog_to_tiktok:
      steps:
        - pull: {from: source, operation: list_products}
        - map: {mapping: shopify.product_to_canonical, market: target}
        - check:
            market: target
            rules:
              - name: short_title
                assert: "length(title) <= `100`"
                message: "%s"
"""
OWN_FLOW = """kind: flow
name: stock_report
roles:
  source: {pull: [product]}
options:
  threshold: {type: integer, defualt: 5}
steps:
  - pull: {from: source, operation: list_products}
"""
OWN_CONNECTOR = """kind: connector
name: plain_shop
base_url: http://shop.example.test/api
auth: {kind: shopify_access_token}
credentials: [access_token]
operations:
  get_product: {method: GET, path: /products/1.json}
"""

MISTAKES = [
    # ---------------------------------------------------------------- 1. unknown keys, every level
    Mistake("top-level-key", 1, [("connections:\n", "conections:\n")], "conections:", "conections",
            "unknown key 'conections'", "did you mean 'connections'?"),
    Mistake("connection-key", 1, [("    connector: shopify\n", "    conector: shopify\n")], "conector:", "conector",
            "unknown key 'conector'", "did you mean 'connector'?"),
    Mistake("setting-key", 1, [("shop: acme-outdoors", "shopp: acme-outdoors")], "shopp:", "shopp",
            "connector 'shopify' has no setting 'shopp'", "did you mean 'shop'?"),
    Mistake("setting-key-unknown", 1, [('      token_url: "${env:ACME_TIKTOK_TOKEN_URL:-}"',
                                         '      token_url: "${env:ACME_TIKTOK_TOKEN_URL:-}"\n      api_version: "202309"')],
            "api_version:", "api_version", "connector 'tiktok_shop' has no setting 'api_version'",
            "settings of tiktok_shop: shop_cipher, region, token_url, base_url"),
    Mistake("credential-key", 1, [('      app_secret: "${env:', '      app_secrett: "${env:')], "app_secrett:",
            "app_secrett", "connector 'tiktok_shop' takes no credential 'app_secrett'", "did you mean 'app_secret'?"),
    Mistake("binding-key", 1, [("    options:\n      warehouse_id", "    optons:\n      warehouse_id")], "optons:",
            "optons", "unknown key 'optons'", "did you mean 'options'?"),
    Mistake("binding-role", 1, [("connections: {source: shopify, target: tiktok_us}",
                                  "connections: {source: shopify, targt: tiktok_us}")],
            "targt", "targt", "flow has no role 'targt'", "did you mean 'target'?"),
    Mistake("primary-catalog-name", 1, [("primary_catalog: shopify", "primary_catalog: shopfy")], "primary_catalog:",
            "shopfy", "unknown connection 'shopfy'", "did you mean 'shopify'?"),
    Mistake("option-key", 1, [("      warehouse_id:", "      warehouse:")], "warehouse:", "warehouse",
            "unknown key 'warehouse'", "did you mean 'warehouse_id'?"),
    Mistake("option-nested-key", 1, [('{length: "30"', '{lenght: "30"')], "default_package_dimensions", "lenght",
            "unknown key 'lenght'", "did you mean 'length'?"),
    Mistake("category-attribute-key", 1, [('[{id: "100392", values: [{id: "1000041"', '[{id: "100392", valuse: [{id: "1000041"')],
            "valuse", "valuse", "unknown key 'valuse'", "did you mean 'values'?"),
    Mistake("overrides-kind", 1, [("  mappings:\n    shopify.product_to_canonical:", "  mapping:\n    shopify.product_to_canonical:")],
            "  mapping:", "mapping", "unknown key 'mapping'", "did you mean 'mappings'?"),
    Mistake("override-mapping-key", 1, [("      fields:\n        brand:", "      feilds:\n        brand:")],
            "feilds:", "feilds", "unknown key 'feilds'", "did you mean 'fields'?"),
    Mistake("override-flow-key", 1, [("overrides:\n", "overrides:\n  flows:\n    catalog_to_tiktok:\n      optoins: {}\n")],
            "optoins:", "optoins", "unknown key 'optoins'", "did you mean 'options'?"),
    Mistake("own-flow-option-keyword", 1, [], "defualt", "defualt", "unknown key 'defualt' in an option declaration",
            "did you mean 'default'?", file="stock_report.yaml", files={"stock_report.yaml": OWN_FLOW}),
    Mistake("kind-key", 1, [("kind: merchant", "knd: merchant")], "knd:", "knd", "missing `kind:`",
            "did you mean 'kind'?"),
    Mistake("bloom-option-key", 1, [("      vendor: Bloom", "      vendr: Bloom")], "vendr:", "vendr",
            "unknown key 'vendr'", "did you mean 'vendor'?", example="bloom_my"),
    # ---------------------------------------------------------------- 2. references
    Mistake("credential-without-env", 2, [('"${env:ACME_SHOPIFY_TOKEN}"', '"${ACME_SHOPIFY_TOKEN}"')],
            "ACME_SHOPIFY_TOKEN", '"', "no env: or file: before the name", "${env:ACME_SHOPIFY_TOKEN}"),
    Mistake("credential-shell-style", 2, [('"${env:ACME_TIKTOK_APP_KEY}"', '"$ACME_TIKTOK_APP_KEY"')],
            "app_key:", '"', "shell-style $NAME is not expanded", "${env:ACME_TIKTOK_APP_KEY}"),
    Mistake("credential-with-default", 2, [('"${env:ACME_TIKTOK_APP_SECRET}"', '"${env:ACME_TIKTOK_APP_SECRET:-x}"')],
            "app_secret:", '"', "a credential has no default", "${env:ACME_TIKTOK_APP_SECRET}"),
    Mistake("setting-without-env", 2, [('"${env:ACME_TIKTOK_SHOP_CIPHER}"', '"${ACME_TIKTOK_SHOP_CIPHER}"')],
            "shop_cipher:", "${", "has no env: before the name", "${env:ACME_TIKTOK_SHOP_CIPHER}"),
    Mistake("setting-default-without-env", 2, [('"${env:ACME_TIKTOK_URL:-}"', '"${ACME_TIKTOK_URL:-}"')],
            "ACME_TIKTOK_URL", "${", "has no env: before the name", "${env:ACME_TIKTOK_URL:-}"),
    Mistake("setting-inside-url", 2, [('"${env:ACME_SHOPIFY_URL:-}"', '"https://proxy.example.com/${SHOP_PATH}"')],
            "proxy.example.com", "${SHOP", "has no env: before the name", "${env:SHOP_PATH}"),
    Mistake("setting-brace-missing", 2, [('"${env:ACME_TIKTOK_URL:-}"', '"$env:ACME_TIKTOK_URL:-}"')],
            "ACME_TIKTOK_URL", "$env", "the { after $ is missing", "${env:ACME_TIKTOK_URL:-}"),
    Mistake("setting-from-file", 2, [('"${env:ACME_TIKTOK_TOKEN_URL:-}"', '"${file:token_url.txt}"')],
            "token_url:", "${", "read from the environment, not from files", "${env:NAME}"),
    Mistake("secret-file-missing", 2, [('"${env:ACME_SHOPIFY_TOKEN}"', '"${file:secrets/shopify_token}"')],
            "secrets/shopify_token", '"', "the secret file", "create it, or fix the path"),
    Mistake("reference-in-option", 2, [('warehouse_id: "7068517275539719942"', 'warehouse_id: "${env:ACME_WAREHOUSE}"')],
            "warehouse_id:", "${", "flow options are used as written", "references are read only in connection settings"),
    # ---------------------------------------------------------------- 3. templates
    Mistake("template-unknown-filter", 3, [(OVERRIDE_BRAND, '        brand: {template: "{{ vendor|uper }}"}')],
            "brand: {template", "uper", "unknown Jinja filter 'uper'", "did you mean 'upper'?"),
    Mistake("template-unknown-test", 3, [(OVERRIDE_BRAND, '        brand: {template: "{% if vendor is strng %}{{ vendor }}{% endif %}"}')],
            "brand: {template", "strng", "unknown Jinja test 'strng'", "did you mean 'string'?"),
    Mistake("template-syntax", 3, [(OVERRIDE_BRAND, '        brand:\n          template: |\n            {{ vendor }}\n            {% if vendor %}x\n')],
            "{% if vendor %}x", "{%", "invalid Jinja template", "statements inside {% %}"),
    Mistake("template-name-not-a-field", 3, [("overrides:\n  mappings:\n", "overrides:\n  mappings:" + TIKTOK_OVERRIDE
                                              + '        title: {template: "{{ titel }} by {{ brand }}"}\n')],
            "{{ titel }}", "titel", "the template reads 'titel', which is not a field", "did you mean 'title'?"),
    Mistake("template-name-in-each", 3, [("overrides:\n  mappings:\n", "overrides:\n  mappings:" + TIKTOK_OVERRIDE
                                          + "        skus:\n          fields:\n            seller_sku: {template: \"{{ skuu }}\"}\n")],
            "{{ skuu }}", "skuu", "the template reads 'skuu'", "did you mean 'sku'?"),
    Mistake("check-message-name", 3, [("overrides:\n", "overrides:\n" + CHECK_OVERRIDE % "{{ titel }} is too long")],
            "is too long", "titel", "not a field of the canonical product it sees", "did you mean 'title'?"),
    Mistake("expression-name-not-a-field", 3, [("overrides:\n  mappings:\n", "overrides:\n  mappings:" + TIKTOK_OVERRIDE
                                                + '        title: "upper(titel)"\n')],
            "upper(titel)", "titel", "unknown canonical field 'titel' in the source", "did you mean 'title'?"),
    Mistake("check-assert-name", 3, [("overrides:\n", "overrides:\n" + CHECK_OVERRIDE.replace(
        "length(title) <= `100`", "length(titel) <= `100`") % "too long")],
            "length(titel)", "titel", "the expression reads 'titel', which is not a field of the canonical product",
            "did you mean 'title'?"),
    # ---------------------------------------------------------------- 4. function calls
    Mistake("function-arity", 4, [(OVERRIDE_BRAND, "        brand: \"upper(vendor, 'x')\"")], "brand:", "upper",
            "upper() takes 1 argument, got 2", "upper(value: string|null)"),
    Mistake("function-literal-type", 4, [(OVERRIDE_BRAND, "        brand: \"truncate(vendor, '10')\"")], "brand:",
            "truncate", "the 2nd argument of truncate() must be number, got string '10'",
            "truncate(value: string|null, length: number)"),
    Mistake("function-expref", 4, [(OVERRIDE_BRAND, '        brand: "sort_by(tags, name)[0]"')], "brand:", "sort_by",
            "must be an expression reference", "prefix it with &"),
    Mistake("function-unknown", 4, [(OVERRIDE_BRAND, '        brand: "uppr(vendor)"')], "brand:", "uppr",
            "unknown function uppr()", "did you mean upper()?"),
    Mistake("jinja-filter-arity", 4, [(OVERRIDE_BRAND, '        brand: {template: "{{ vendor|truncate }}"}')],
            "brand:", "truncate", "truncate() takes 2 arguments, got 1", "truncate(value: string|null, length: number)"),
    Mistake("jinja-call-type", 4, [(OVERRIDE_BRAND, "        brand: {template: \"{{ money_round(vendor, 'two') }}\"}")],
            "brand:", "money_round", "the 2nd argument of money_round() must be number",
            "money_round(amount: string|number, places?: number)"),
    Mistake("jinja-builtin-filter-arity", 4, [(OVERRIDE_BRAND, "        brand: {template: \"{{ tags|join(', ', 'x', 'y') }}\"}")],
            "brand:", "join", "the Jinja filter 'join': too many positional arguments", "it takes (d='', attribute=None)"),
    Mistake("check-rule-arity", 4, [("overrides:\n", "overrides:\n" + CHECK_OVERRIDE.replace(
        "length(title) <= `100`", "money_cmp(variants[0].price.amount)") % "no price")],
            "money_cmp", "money_cmp", "money_cmp() takes 2 arguments, got 1", "money_cmp(a: string|number, b: string|number)"),
    # ---------------------------------------------------------------- 5. overrides
    Mistake("override-adds-field", 5, [("overrides:\n  mappings:\n", "overrides:\n  mappings:" + TIKTOK_OVERRIDE
                                        + "        tilte: title\n")],
            "tilte:", "tilte", "the override adds 'tilte'", "did you mean 'title'?", severity="warning"),
    Mistake("override-adds-item-field", 5, [("overrides:\n  mappings:\n", "overrides:\n  mappings:" + TIKTOK_OVERRIDE
                                             + "        skus:\n          fields:\n            seler_sku: sku\n")],
            "seler_sku:", "seler_sku", "the override adds 'seler_sku'", "did you mean 'seller_sku'?", severity="warning"),
    # ---------------------------------------------------------------- 6. options that contradict
    Mistake("currency-contradicts-connection", 6, [('      warehouse_id: "7068517275539719942"\n',
                                                    '      warehouse_id: "7068517275539719942"\n      currency: GBP\n')],
            "currency: GBP", "GBP", "currency: GBP contradicts connection 'tiktok_us'", "set it to USD"),
    Mistake("category-attributes-unused", 6, [('        Backpacks: "601766"\n', "")], '"601766": [', '"601766"',
            "category_attributes has an entry for '601766'", "category_map values: 600050, 601302"),
    Mistake("category-attributes-typo", 6, [('"848648": [{id: "101395"', '"848684": [{id: "101395"')],
            '"848684": [', '"848684"', "no category_map value is '848684'", "did you mean '848648'?"),
    Mistake("warehouse-never-set", 6, [('      warehouse_id: "7068517275539719942"\n', "")], "    options:", "options",
            "needs option 'warehouse_id', which is not set", "add warehouse_id: under options:"),
    Mistake("location-never-set", 6, [('      location_id: "73014591651"\n', "")], "    options:", "options",
            "needs option 'location_id', which is not set", "add location_id:", example="bloom_my"),
    # ---------------------------------------------------------------- 7. regions
    Mistake("region-uk", 7, [("    region: US", "    region: UK")], "region: UK", "UK",
            "'UK' is not an ISO 3166-1 alpha-2 country code", "write GB (United Kingdom)"),
    Mistake("region-not-a-country", 7, [("    region: MY", "    region: XM")], "region: XM", "XM",
            "'XM' is not an ISO 3166-1 alpha-2 country code", "ISO 3166-1 alpha-2", example="bloom_my"),
    Mistake("region-lowercase", 7, [("    region: US", "    region: us")], "region: us", "us",
            "'us' has the wrong form", "write US (United States)"),
    # ---------------------------------------------------------------- 8. credentials and URLs
    Mistake("credential-missing", 8, [('      refresh_token: "${env:ACME_TIKTOK_REFRESH_TOKEN}"\n', "")],
            "    credentials:", "credentials", "missing credentials: refresh_token", "add refresh_token under credentials:",
            after="tiktok_us:"),
    Mistake("http-setting-url", 8, [('"${env:ACME_SHOPIFY_URL:-}"', '"http://acme-outdoors.myshopify.com/admin/api/2025-01"')],
            "acme-outdoors.myshopify.com/admin", '"', "plain http:// URL to acme-outdoors.myshopify.com", "use https://"),
    Mistake("http-setting-default", 8, [('"${env:ACME_TIKTOK_TOKEN_URL:-}"', '"${env:ACME_TIKTOK_TOKEN_URL:-http://auth.example.com}"')],
            "token_url:", '"', "plain http:// URL to auth.example.com", "127.0.0.1, localhost, ::1"),
    Mistake("http-connector-base-url", 8, [], "base_url:", "http", "plain http:// URL to shop.example.test",
            "use https://", file="plain_shop.yaml", files={"plain_shop.yaml": OWN_CONNECTOR}),
    # ---------------------------------------------------------------- 9. YAML
    Mistake("yaml-unclosed-quote", 9, [("    connector: tiktok_shop\n", '    connector: "tiktok_shop\n')],
            'connector: "tiktok_shop', '"', "the '\"' opened here is not closed on its line", "add the closing '\"'"),
    Mistake("yaml-unclosed-quote-at-end", 9, [("        brand: {const: Acme Outdoors}", "        brand: 'Acme Outdoors")],
            "brand: 'Acme", "'", "is never closed", "add the closing"),
    Mistake("yaml-indent-too-deep", 9, [("    region: US\n", "     region: US\n")], "region: US", "region",
            "bad indentation: this line is indented 5 spaces; expected 4 spaces", "indent it by 4 spaces"),
    Mistake("yaml-indent-too-shallow", 9, [("    region: US\n", "   region: US\n")], "region: US", "region",
            "bad indentation: this line is indented 3 spaces; expected 4 spaces", "indent it by 4 spaces"),
    Mistake("yaml-tab", 9, [("    region: US\n", "\tregion: US\n")], "region: US", "\t",
            "'\\t' that cannot start any token", "spaces, not tabs"),
    Mistake("yaml-duplicate-key", 9, [("    region: US\n", "    region: US\n    region: GB\n")], "region: GB", "region",
            "duplicate key 'region'", "remove one of them"),
]


def build(tmp_path: Path, case: Mistake) -> Path:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES / case.example, project)
    merchant = project / "merchant.yaml"
    text = merchant.read_text(encoding="utf-8")
    for old, new in case.edits:
        assert old in text, f"{case.id}: {old!r} is not in examples/{case.example}/merchant.yaml"
        text = text.replace(old, new, 1)
    merchant.write_text(text, encoding="utf-8")
    for name, body in case.files.items():
        (project / name).write_text(body, encoding="utf-8")
    return project


def expected_position(project: Path, case: Mistake) -> tuple[int, int]:
    lines = (project / case.file).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if case.after in line) if case.after else 0
    index = next(i for i in range(start, len(lines)) if case.line_has in lines[i])
    return index + 1, lines[index].index(case.col_at) + 1


@pytest.mark.parametrize("case", MISTAKES, ids=[c.id for c in MISTAKES])
def test_mistake_is_reported_where_it_is_made(tmp_path: Path, case: Mistake) -> None:
    project = build(tmp_path, case)
    line, col = expected_position(project, case)
    problems = Validator(Project.load([project], include_shipped=True)).run()
    found = [p for p in problems if p.location and Path(p.location.file).name == case.file]
    assert len(found) == 1, "\n".join(p.format() for p in problems) or "no problem reported"
    problem = found[0]
    assert (problem.location.line, problem.location.col) == (line, col), problem.format()
    assert case.message in problem.message, problem.format()
    assert problem.hint and case.hint in problem.hint, problem.format()
    assert problem.severity == case.severity, problem.format()
    assert not any("could not finish" in p.message for p in problems)


def test_every_mistake_class_has_cases() -> None:
    counts = {group: sum(1 for c in MISTAKES if c.group == group) for group in range(1, 10)}
    assert all(counts[group] >= 2 for group in counts), counts
    assert len({c.id for c in MISTAKES}) == len(MISTAKES)


@pytest.mark.parametrize("case", MISTAKES, ids=[c.id for c in MISTAKES])
def test_cli_prints_file_line_col_and_never_a_traceback(tmp_path: Path, case: Mistake) -> None:
    project = build(tmp_path, case)
    line, col = expected_position(project, case)
    result = CliRunner().invoke(main, ["validate", str(project)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output  # no crash
    assert "Traceback" not in result.output
    assert result.exit_code == (0 if case.severity == "warning" else 1), result.output
    where = f"{project / case.file}:{line}:{col}: {case.severity}"
    reported = [text for text in result.output.splitlines() if text.startswith(where)]
    assert reported and case.message in reported[0], f"{where} not in:\n{result.output}"
    assert "hint: " in result.output


@pytest.mark.parametrize("example", ["acme", "bloom_my"])
def test_the_examples_have_no_problems(example: str) -> None:
    result = CliRunner().invoke(main, ["validate", str(EXAMPLES / example)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("0 problems"), result.output


def test_warnings_alone_exit_zero_and_are_counted(tmp_path: Path) -> None:
    case = next(c for c in MISTAKES if c.id == "override-adds-field")
    project = build(tmp_path, case)
    result = CliRunner().invoke(main, ["validate", str(project)])
    assert result.exit_code == 0
    assert "0 errors, 1 warning" in result.output
    result = CliRunner().invoke(main, ["validate", "--format", "github", str(project)])
    assert result.output.startswith("::warning file=")
