"""Broken files, one per row: each must be reported at its exact line and column, with the field
path where there is one, a message that says what is wrong, and a hint that says what to do.

Every case is a small project written to tmp_path and checked the way `connector validate` does,
with the shipped connectors, mappings and flows loaded next to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.project.loader import Project
from engine.project.validate import Validator


@dataclass
class Case:
    id: str
    files: dict[str, str]  # file name -> text; the first one is where the problem must be
    line: int
    col: int
    message: str  # a substring of the message
    path: str | None = None  # the exact field path, when the problem has one
    hint: str = ""  # a substring of the hint (a hint must be there in every case)
    where: str | None = None  # the file the problem is in, when it is not the first one
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return self.where or next(iter(self.files))


MAPPING = "kind: mapping\nname: demo.thing\n"
TO_CANONICAL = "kind: mapping\nname: demo.to_canonical\ntarget: {canonical: product}\n"
FROM_CANONICAL = "kind: mapping\nname: demo.from_canonical\nsource: {canonical: product}\n"
# A connector of our own, so merchant cases do not depend on the shipped ones.
CONNECTOR = (
    "kind: connector\nname: demo_shop\nbase_url: https://shop.example.test\n"
    "auth: {kind: shopify_access_token}\ncredentials: [access_token]\n"
    "operations:\n  get_product: {method: GET, path: /products/1.json}\n"
)
MERCHANT = "kind: merchant\nname: acme\n"
CONNECTION = "connections:\n  shop:\n    connector: demo_shop\n    credentials: {access_token: '${env:SHOP_TOKEN}'}\n"


def merchant(body: str) -> dict[str, str]:
    return {"merchant.yaml": MERCHANT + body, "demo_shop.yaml": CONNECTOR}


def override(body: str) -> dict[str, str]:
    return merchant(CONNECTION + "overrides:\n  mappings:\n    shopify.product_to_canonical:\n" + body)


OVERRIDE_PATH = "overrides.mappings.shopify.product_to_canonical"

CASES = [
    # ---------------------------------------------------------------- YAML itself
    Case("unclosed-bracket", {"m.yaml": MAPPING + "fields:\n  a: {path: [b, c\n"},
         4, 13, "the '[' opened here is never closed", hint="add the closing ']'"),
    Case("unclosed-quote", {"m.yaml": MAPPING + "fields:\n  a: \"title\n"},
         4, 6, "the '\"' opened here is never closed", hint="closing"),
    Case("tab-indentation", {"m.yaml": MAPPING + "fields:\n\ta: b\n"},
         4, 1, "'\\t' that cannot start any token", hint="spaces, not tabs"),
    Case("value-with-colon", {"m.yaml": MAPPING + "fields:\n  a: b: c\n"},
         4, 7, "mapping values are not allowed here", hint="must be quoted"),
    Case("duplicate-key", {"m.yaml": MAPPING + "fields:\n  title: title\n  handle: handle\n  title: name\n"},
         6, 3, "duplicate key 'title' (first defined at line 4)", "fields.title", "remove one"),
    Case("second-document", {"m.yaml": MAPPING + "fields:\n  a: b\n---\nkind: mapping\n"},
         6, 1, "a second YAML document", hint="its own file"),
    # ---------------------------------------------------------------- file kinds and file schemas
    Case("missing-kind", {"m.yaml": "name: demo.thing\nfields: {a: b}\n"},
         1, 1, "missing `kind:`", "kind", "kind is one of"),
    Case("unknown-kind", {"m.yaml": "kind: mapper\nname: demo.thing\n"},
         1, 7, "unknown kind 'mapper'", "kind", "mapping"),
    Case("unknown-top-level-key", {"m.yaml": MAPPING + "descripton: Tees\nfields: {a: b}\n"},
         3, 1, "unknown key 'descripton'", "descripton", "did you mean 'description'?"),
    Case("missing-required-key", {"m.yaml": MAPPING + "description: no fields\n"},
         1, 1, "missing required key 'fields'", "(top level)", "add `fields:`"),
    Case("wrong-type-list-for-mapping", {"m.yaml": MAPPING + "fields:\n  - title\n"},
         4, 3, "expected object, got a list", "fields", "nested `name: value` keys"),
    Case("wrong-type-number-for-text", {"m.yaml": "kind: mapping\nname: 12\nfields: {a: b}\n"},
         2, 7, "expected string, got an integer", "name", "quote the value"),
    Case("enum-violation", {"m.yaml": MAPPING + "context:\n  currency: {type: text}\nfields: {a: b}\n"},
         4, 20, "'text' is not one of the allowed values", "context.currency.type", "use one of: string"),
    Case("bad-name-pattern", {"m.yaml": "kind: mapping\nname: Demo-Thing\nfields: {a: b}\n"},
         2, 7, "'Demo-Thing' has the wrong form", "name", "dotted lowercase"),
    Case("unknown-key-in-field-form", {"m.yaml": MAPPING + "fields:\n  title: {path: title, requried: true}\n"},
         4, 24, "unknown key 'requried'", "fields.title.requried", "did you mean 'required'?"),
    # ---------------------------------------------------------------- expressions
    Case("bad-jmespath-column", {"m.yaml": MAPPING + "fields:\n  a: \"items[?price == ]\"\n"},
         4, 23, "invalid JMESPath: invalid token", "fields.a", "backticks"),
    Case("bad-jmespath-plain-scalar", {"m.yaml": MAPPING + "fields:\n  a:\n    path: items[0\n"},
         5, 18, "the expression ends too early", "fields.a.path", "not finished"),
    Case("incomplete-jmespath", {"m.yaml": MAPPING + "fields:\n  a: \"vendor ||\"\n"},
         4, 16, "the expression ends too early", "fields.a", "not finished"),
    Case("bad-jmespath-in-block", {"m.yaml": MAPPING + "fields:\n  a: >-\n    not_null(vendor,\n    brand,, title)\n"},
         6, 11, "invalid JMESPath", "fields.a", "jmespath.org"),
    Case("unknown-jmespath-function", {"m.yaml": MAPPING + "fields:\n  total: \"money_addd(price, tax)\"\n"},
         4, 11, "unknown function money_addd()", "fields.total", "did you mean money_add()?"),
    Case("bad-jinja-syntax", {"m.yaml": MAPPING + "fields:\n  a: {template: \"Hi {{ title \"}\n"},
         4, 18, "invalid Jinja template", "fields.a.template", "inside {{ }}"),
    Case("bad-jinja-in-block", {"m.yaml": MAPPING + "fields:\n  a:\n    template: |\n      {{ title }}\n      {% if x %}open\n"},
         7, 7, "invalid Jinja template", "fields.a.template", "statements inside {% %}"),
    Case("jinja-private-attribute", {"m.yaml": MAPPING + "fields:\n  a: {template: \"{{ ''.__class__ }}\"}\n"},
         4, 24, "access to the private attribute '__class__'", "fields.a.template", "may only read record fields"),
    # ---------------------------------------------------------------- value forms
    Case("unknown-lookup-table", {"m.yaml": MAPPING + "lookups:\n  status: {values: {a: b}}\nfields:\n  s: {lookup: statuss, from: status}\n"},
         6, 15, "unknown lookup table 'statuss'", "fields.s.lookup", "did you mean 'status'?"),
    Case("lookup-without-from", {"m.yaml": MAPPING + "lookups:\n  status: {values: {a: b}}\nfields:\n  s: {lookup: status}\n"},
         6, 15, "a lookup needs `from`", "fields.s.lookup", "{lookup: status, from: EXPRESSION}"),
    Case("unknown-cast", {"m.yaml": MAPPING + "fields:\n  price: {path: price, cast: float}\n"},
         4, 30, "'float' is not one of the allowed values", "fields.price.cast", "decimal"),
    Case("two-value-forms", {"m.yaml": MAPPING + "fields:\n  currency: {path: currency, const: USD}\n"},
         4, 13, "more than one value form: path, const", "fields.currency", "keep exactly one"),
    Case("no-value-form", {"m.yaml": MAPPING + "fields:\n  price: {cast: decimal}\n"},
         4, 10, "no value form given", "fields.price", "use one of: path"),
    Case("empty-field-value", {"m.yaml": MAPPING + "fields:\n  title:\n  handle: handle\n"},
         4, 9, "expected string or object, got null", "fields.title", "the value is empty"),
    Case("empty-coalesce", {"m.yaml": MAPPING + "fields:\n  t: {coalesce: []}\n"},
         4, 17, "should be non-empty", "fields.t.coalesce", "first value"),
    # ---------------------------------------------------------------- canonical checks
    Case("unknown-canonical-target-field", {"m.yaml": TO_CANONICAL + "fields:\n  title: title\n  variants: {const: []}\n  descripton_html: body_html\n"},
         7, 3, "unknown canonical field 'descripton_html'", "fields.descripton_html", "did you mean 'description_html'?"),
    Case("unknown-canonical-nested-target", {"m.yaml": TO_CANONICAL + "fields:\n  title: title\n  variants:\n    each: variants\n    fields:\n      sku: sku\n      price.amout: price\n"},
         10, 7, "unknown canonical field 'amout' at price", "fields.variants.fields.price.amout", "did you mean 'amount'?"),
    Case("unknown-canonical-source-field", {"m.yaml": FROM_CANONICAL + "fields:\n  name: titel\n"},
         5, 9, "unknown canonical field 'titel' in the source", "fields.name", "did you mean 'title'?"),
    Case("unknown-canonical-source-in-each", {"m.yaml": FROM_CANONICAL + "fields:\n  skus:\n    each: variants\n    fields:\n      seller_sku: skuu\n"},
         8, 19, "unknown canonical field 'skuu' in the source", "fields.skus.fields.seller_sku", "did you mean 'sku'?"),
    Case("missing-required-canonical-target", {"m.yaml": TO_CANONICAL + "fields:\n  title: title\n"},
         4, 1, "required target field 'variants' is not mapped", "fields", "add `variants:`"),
    Case("unknown-canonical-entity", {"m.yaml": "kind: mapping\nname: demo.x\ntarget: {canonical: prodcut}\nfields:\n  title: title\n"},
         3, 21, "unknown canonical entity 'prodcut'", "target.canonical", "product"),
    Case("mapping-defined-twice", {"b.yaml": "kind: mapping\nname: demo.same\nfields: {a: b}\n",
                                   "a.yaml": "kind: mapping\nname: demo.same\nfields: {a: c}\n"},
         2, 7, "mapping 'demo.same' is defined twice", "name", "names are unique"),
    # ---------------------------------------------------------------- merchant files
    Case("unknown-connector", merchant("connections:\n  shop:\n    connector: demo_shoop\n"),
         5, 16, "unknown connector 'demo_shoop'", "connections.shop.connector", "did you mean 'demo_shop'?"),
    Case("missing-credentials", merchant("connections:\n  shop:\n    connector: demo_shop\n"),
         5, 5, "missing credentials: access_token", "connections.shop", "${env:NAME}"),
    Case("literal-secret", merchant("connections:\n  shop:\n    connector: demo_shop\n    credentials:\n      access_token: shpat_0123456789abcdef\n"),
         7, 21, "not a secret reference (got text of 22 characters)", "connections.shop.credentials.access_token",
         "literal secrets are refused"),
    Case("secret-unknown-scheme", merchant("connections:\n  shop:\n    connector: demo_shop\n    credentials:\n      access_token: ${vault:x}\n"),
         7, 21, "not a secret reference (got '${vault:x}')", "connections.shop.credentials.access_token", "${env:NAME}"),
    Case("secret-empty-env", merchant("connections:\n  shop:\n    connector: demo_shop\n    credentials:\n      access_token: ${env:}\n"),
         7, 21, "not a secret reference (got '${env:}')", "connections.shop.credentials.access_token", "${file:PATH}"),
    Case("secret-bad-env-name", merchant("connections:\n  shop:\n    connector: demo_shop\n    credentials:\n      access_token: ${env:BAD-NAME}\n"),
         7, 21, "invalid environment variable name 'BAD-NAME'", "connections.shop.credentials.access_token",
         "letters, digits and _"),
    Case("override-unknown-mapping", merchant(CONNECTION + "overrides:\n  mappings:\n    shopify.product_to_canonicall:\n      fields: {title: title}\n"),
         9, 5, "override of an unknown mapping 'shopify.product_to_canonicall'",
         "overrides.mappings.shopify.product_to_canonicall", "did you mean 'shopify.product_to_canonical'?"),
    Case("override-unknown-key", override("      fields:\n        title: {path: title, requried: true}\n"),
         11, 30, "unknown key 'requried'", OVERRIDE_PATH + ".fields.title.requried", "did you mean 'required'?"),
    Case("override-unknown-top-level-key", override("      lookupz: {}\n"),
         10, 7, "unknown key 'lookupz'", OVERRIDE_PATH + ".lookupz", "did you mean 'lookups'?"),
    Case("override-unknown-canonical-field", override("      fields:\n        subtitle: title\n"),
         11, 9, "unknown canonical field 'subtitle'", OVERRIDE_PATH + ".fields.subtitle", "did you mean 'title'?"),
    Case("override-bad-jmespath", override("      fields:\n        brand: \"vendor || \"\n"),
         11, 26, "the expression ends too early", OVERRIDE_PATH + ".fields.brand", "not finished"),
    Case("override-unknown-function", override("      fields:\n        brand: upperr(vendor)\n"),
         11, 16, "unknown function upperr()", OVERRIDE_PATH + ".fields.brand", "did you mean upper()?"),
    Case("unknown-primary-catalog", merchant("primary_catalog: shopp\n" + CONNECTION),
         3, 18, "unknown connection 'shopp'", "primary_catalog", "did you mean 'shop'?"),
    Case("flow-binding-unknown-flow", merchant(CONNECTION + "flows:\n  catalog:\n    flow: catalog_synk\n"),
         9, 11, "unknown flow 'catalog_synk'", "flows.catalog.flow", ""),
    Case("merchant-bad-region", merchant("connections:\n  shop:\n    connector: demo_shop\n    region: usa\n"
                                         "    credentials: {access_token: '${env:SHOP_TOKEN}'}\n"),
         6, 13, "'usa' has the wrong form", "connections.shop.region", "ISO 3166"),
    # ---------------------------------------------------------------- test files
    Case("test-unknown-mapping", {"t.test.yaml": "kind: test\nmapping: shopify.product_to_canonicle\ncases:\n  - name: one\n    input: {id: 1}\n"},
         2, 10, "unknown mapping 'shopify.product_to_canonicle'", "mapping", "did you mean 'shopify.product_to_canonical'?"),
    Case("test-case-unknown-mapping", {"t.test.yaml": "kind: test\ncases:\n  - name: one\n    mapping: shopify.prodcut_to_canonical\n    input: {id: 1}\n"},
         4, 14, "unknown mapping 'shopify.prodcut_to_canonical'", "cases[0].mapping", "did you mean"),
    Case("test-input-file-missing", {"t.test.yaml": "kind: test\nmapping: shopify.product_to_canonical\ncases:\n  - name: one\n    input_file: fixtures/nope.json\n"},
         5, 17, "input file 'fixtures/nope.json' not found", "cases[0].input_file", "relative to"),
    Case("test-input-and-input-file", {"t.test.yaml": "kind: test\nmapping: shopify.product_to_canonical\ncases:\n  - name: one\n    input: {}\n    input_file: x.json\n"},
         4, 5, "`input_file` cannot be used here", "cases[0]", "not both"),
    Case("test-unknown-case-key", {"t.test.yaml": "kind: test\nmapping: shopify.product_to_canonical\ncases:\n  - name: one\n    input: {}\n    expects: {}\n"},
         6, 5, "unknown key 'expects'", "cases[0].expects", "did you mean 'expect'?"),
]


def write(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")


def problems_in(tmp_path: Path, case: Case) -> list:
    problems = Validator(Project.load([tmp_path], include_shipped=True)).run()
    return [p for p in problems if p.location and Path(p.location.file).name == case.target]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_file_is_reported_where_it_is_wrong(tmp_path: Path, case: Case) -> None:
    write(tmp_path, case.files)
    found = problems_in(tmp_path, case)
    assert len(found) == 1, "\n".join(p.format() for p in found) or "no problem reported"
    problem = found[0]
    assert (problem.location.line, problem.location.col) == (case.line, case.col), problem.format()
    assert case.message in problem.message, problem.format()
    if case.path is not None:
        assert problem.path == case.path, problem.format()
    assert problem.hint, f"no hint: {problem.format()}"
    assert case.hint in problem.hint, problem.format()
    assert problem.severity == "error"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 35
    assert len({c.id for c in CASES}) == len(CASES)


# A handful through the command line: exit code 1 and the file:line:col text.
CLI_CASES = ["bad-jmespath-column", "duplicate-key", "override-unknown-key", "literal-secret",
             "jinja-private-attribute", "test-input-file-missing"]


@pytest.mark.parametrize("case_id", CLI_CASES)
def test_cli_validate_reports_file_line_col(tmp_path: Path, case_id: str) -> None:
    case = next(c for c in CASES if c.id == case_id)
    write(tmp_path, case.files)
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1, result.output
    where = f"{tmp_path / case.target}:{case.line}:{case.col}: error"
    line = next((text for text in result.output.splitlines() if text.startswith(where)), None)
    assert line is not None, f"{where} not in:\n{result.output}"
    assert case.message in line
    if case.path:
        assert f"[{case.path}]" in line
    assert "hint: " in result.output
    assert "shpat_0123456789abcdef" not in result.output  # a pasted secret is never echoed


def test_cli_validate_json_format(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "unknown-cast")
    write(tmp_path, case.files)
    result = CliRunner().invoke(main, ["validate", "--format", "json", str(tmp_path)])
    assert result.exit_code == 1
    import json

    report = json.loads(result.stdout)
    mine = [p for p in report["problems"] if p["file"] and Path(p["file"]).name == case.target]
    assert [(p["line"], p["col"], p["path"]) for p in mine] == [(case.line, case.col, case.path)]
    assert mine[0]["hint"]


def test_clean_project_passes(tmp_path: Path) -> None:
    write(tmp_path, {"m.yaml": MAPPING + "fields:\n  title: {path: title, required: true}\n"})
    assert problems_in(tmp_path, Case("ok", {"m.yaml": ""}, 0, 0, "")) == []
