"""Hostile inputs a consultant's checkout or the internet can hand the engine: ~100 merchant
projects (YAML bombs, recursive aliases, deep nesting, huge files and values, control characters,
non-UTF-8, odd types and tags, template and expression bombs, secret files outside the project,
credentials sent to other hosts) and hostile record files for `connector map`.

A uniquely named module (not conftest), so other test folders can import it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "examples" / "acme" / "merchant.yaml").read_text(encoding="utf-8")

HEAD = "kind: merchant\nname: acme\n"
SHOP = ("connections:\n  shop:\n    connector: shopify\n    settings: {shop: acme}\n"
        "    credentials: {access_token: '${env:T}', webhook_secret: '${env:W}'}\n")


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes | Callable[[Path], bytes]  # a function may lay out other files beside the merchant
    refused: bool = True  # `validate` must report an error (exit 1) at file:line:col
    where: str = ""  # text the error must contain, when it matters


def _text(text: str) -> bytes:
    return text.encode("utf-8")


def _base_with(old: str, new: str) -> bytes:
    assert old in BASE, old
    return _text(BASE.replace(old, new, 1))


def _override(fields: str) -> bytes:
    """The acme merchant with an override of a field of the catalog mapping."""
    marker = "overrides:\n  mappings:\n"
    assert marker in BASE
    return _text(BASE.replace(marker, marker + "    tiktok_shop.product_from_canonical:\n      fields:\n" + fields, 1))


def _bomb(levels: int, width: int) -> str:
    lines = ["a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return HEAD + "\n".join(lines) + "\n"


def _nested_block(levels: int) -> str:
    out = HEAD + "description:\n"
    for level in range(levels):
        out += "  " * (level + 1) + f"k{level}:\n"
    return out + "  " * (levels + 1) + "leaf: 1\n"


def _symlink_to_passwd(folder: Path) -> bytes:
    (folder / "secrets").mkdir(exist_ok=True)
    link = folder / "secrets" / "token"
    if not link.exists():
        link.symlink_to("/etc/passwd")
    return _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"${file:secrets/token}"')


def merchant_cases() -> Iterator[Case]:
    # YAML bombs and aliases
    yield Case("billion-laughs", _text(_bomb(9, 9)), where="expands to more than")
    yield Case("billion-laughs-wide", _text(_bomb(5, 200)), where="expands to more than")
    yield Case("alias-bomb-in-mapping", _text(HEAD + "a: &a {x: 1, y: 2}\nb: &b {p: *a, q: *a, r: *a}\n"
                                                     "c: &c {p: *b, q: *b, r: *b}\n" * 1 + "connections: 5\n"))
    yield Case("recursive-alias-list", _text(HEAD + "connections: &c [*c]\n"), where="inside of")
    yield Case("recursive-alias-map", _text(HEAD + "connections: &c {x: *c}\n"), where="inside of")
    yield Case("undefined-alias", _text(HEAD + "connections: *nope\n"))
    yield Case("merge-key-of-a-list", _text(HEAD + "base: &b [1]\nconnections: {<<: *b}\n"))
    yield Case("merge-key-bomb", _text(HEAD + "a: &a {x: 1}\n" + "".join(
        f"m{i}: &m{i} {{<<: [*{'a' if i == 0 else f'm{i - 1}'}], y{i}: {i}}}\n" for i in range(60))))
    # depth
    for depth in (100, 1_000, 20_000, 200_000):
        yield Case(f"flow-nesting-{depth}", _text(HEAD + "connections: " + "[" * depth + "]" * depth + "\n"),
                   where="nested")
    yield Case("flow-mapping-nesting", _text(HEAD + "connections: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n"),
               where="nested")
    yield Case("block-nesting-80", _text(_nested_block(80)), where="nested")
    yield Case("block-nesting-600", _text(_nested_block(600)), where="nested")
    yield Case("unclosed-brackets", _text(HEAD + "connections: " + "[" * 50_000 + "\n"))
    # size
    yield Case("huge-file", _text(HEAD + ("# " + "x" * 98 + "\n") * 60_000), where="bytes")
    yield Case("huge-value", _text(HEAD + "description: '" + "x" * 1_000_000 + "'\n" + SHOP), where="characters")
    yield Case("many-keys", _text(HEAD + SHOP + "".join(f"k{i}: {i}\n" for i in range(30_000))))
    yield Case("long-name", _text("kind: merchant\nname: " + "a" * 50_000 + "\n" + SHOP))
    yield Case("long-line-key", _text(HEAD + SHOP + "x" * 150_000 + ": 1\n"))
    yield Case("huge-integer", _text(HEAD + SHOP + "breaker_x: " + "9" * 50_000 + "\n"))
    yield Case("huge-float", _text(HEAD + "connections:\n  shop:\n    connector: shopify\n    breaker: {cooldown: 1e999999}\n"
                                   "    settings: {shop: acme}\n    credentials: {access_token: '${env:T}'}\n"),
               refused=False)
    # characters and encodings
    for name, char in [("nul", "\x00"), ("bell", "\x07"), ("escape", "\x1b[31m"), ("delete", "\x7f"),
                       ("bidi-override", "\u202e"), ("zero-width-space", "\u200b"), ("bom-inside", "\ufeff"),
                       ("line-separator", "\u2028"), ("next-line", "\x85"), ("surrogate-escape", "\udcff")]:
        try:
            body = _text(f"kind: merchant\nname: acme\ndescription: 'a{char}b'\n" + SHOP)
        except UnicodeEncodeError:
            body = f"kind: merchant\nname: acme\ndescription: 'a{char}b'\n".encode("utf-8", "surrogateescape")
        yield Case(f"char-{name}", body, refused=name not in ("next-line",))
    yield Case("control-in-key", _text(HEAD + "conn\x01ections: {}\n"))
    yield Case("bidi-in-secret-ref", _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"${env:ACME_\u202eSHOPIFY}"'))
    yield Case("latin-1", "kind: merchant\nname: caf\xe9\n".encode("latin-1"), where="UTF-8")
    yield Case("utf-16", _text(BASE).decode("utf-8").encode("utf-16"), where="UTF-8")
    yield Case("truncated-utf-8", _text(HEAD) + b"description: \xe2\x82\n")
    yield Case("encoded-surrogate", _text(HEAD) + b"description: \xed\xa0\x80\n")
    yield Case("bom-start", b"\xef\xbb\xbf" + _text(BASE), refused=False)
    yield Case("cr-only-lines", _text(BASE.replace("\n", "\r")), refused=False)
    yield Case("tabs-indent", _text(HEAD + "connections:\n\tshop: {connector: shopify}\n"))
    yield Case("binary-noise", bytes(range(256)) * 40)
    yield Case("empty", b"")
    yield Case("only-comments", b"# nothing here\n# at all\n")
    yield Case("only-spaces", b"   \n\n   \n")
    # tags and odd scalars
    yield Case("python-object-tag", _text(HEAD + "connections: !!python/object/apply:os.system ['echo hi']\n"))
    yield Case("python-name-tag", _text(HEAD + "x: !!python/name:os.system\n"))
    yield Case("binary-tag", _text(HEAD + "description: !!binary aGVsbG8=\n" + SHOP))
    yield Case("set-tag", _text(HEAD + "connections: !!set {a, b}\n"))
    yield Case("custom-tag", _text(HEAD + "connections: !mine {a: 1}\n"))
    yield Case("int-tag-on-text", _text(HEAD + "x: !!int abc\n"))
    yield Case("timestamp-impossible", _text(HEAD + "x: 2024-13-45\n"))
    yield Case("two-documents", _text(BASE + "\n---\n" + BASE))
    yield Case("document-end-marker", _text(HEAD + "...\nconnections: {}\n"))
    # shapes
    yield Case("top-level-list", _text("- " + BASE.replace("\n", "\n  ")))
    yield Case("top-level-number", b"42\n")
    yield Case("top-level-null", b"~\n")
    yield Case("kind-only", b"kind: merchant\n")
    yield Case("kind-list", b"kind: [merchant]\nname: acme\n")
    yield Case("name-mapping", _text("kind: merchant\nname: {a: 1}\n" + SHOP))
    yield Case("name-number", _text("kind: merchant\nname: 123\n" + SHOP))
    yield Case("name-empty", _text("kind: merchant\nname: ''\n" + SHOP))
    yield Case("name-path", _text("kind: merchant\nname: ../../etc/passwd\n" + SHOP))
    yield Case("connections-number", _text(HEAD + "connections: 5\n"))
    yield Case("connections-list", _text(HEAD + "connections: [shopify]\n"))
    yield Case("connection-null", _text(HEAD + "connections: {shop: null}\n"))
    yield Case("connector-list", _text(HEAD + "connections: {shop: {connector: [shopify]}}\n"))
    yield Case("connector-path", _text(HEAD + "connections: {shop: {connector: ../../etc/passwd}}\n"))
    yield Case("settings-list", _base_with("shop: acme-outdoors", "- acme-outdoors"))
    yield Case("credentials-number", _base_with('access_token: "${env:ACME_SHOPIFY_TOKEN}"', "access_token: 5"))
    yield Case("key-null", _text(HEAD + "~: 1\n" + SHOP))
    yield Case("key-mapping", _text(HEAD + "? {a: 1}\n: 1\n" + SHOP))
    yield Case("key-list", _text(HEAD + "? [a]\n: 1\n" + SHOP))
    yield Case("duplicate-keys", _text(BASE + "\nname: again\n"))
    yield Case("flows-number", _text(BASE.split("\nflows:")[0] + "\nflows: 7\n"))
    yield Case("flow-binding-list", _text(BASE.split("\nflows:")[0] + "\nflows:\n  catalog: [a]\n"))
    yield Case("flow-options-text", _base_with("    options:\n      warehouse_id", "    options: nope\n    x_warehouse_id"))
    yield Case("overrides-number", _text(BASE.split("\noverrides:")[0] + "\noverrides: 5\n"))
    yield Case("overrides-mapping-list", _text(BASE.replace("overrides:\n  mappings:\n", "overrides:\n  mappings:\n"
                                                                                          "    tiktok_shop.product_from_canonical: [1]\n", 1)))
    yield Case("breaker-wrong-type", _base_with("  tiktok_us:\n    connector: tiktok_shop\n",
                                                "  tiktok_us:\n    connector: tiktok_shop\n    breaker: {failures: -3}\n"))
    # templates and expressions
    yield Case("template-huge-power", _override("        title: {template: '{{ 9**99999999 }}'}\n"), refused=False)
    yield Case("template-nested-range", _override(
        "        title: {template: '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}'}\n"),
        refused=False)
    yield Case("template-string-product", _override("        title: {template: \"{{ 'a' * 1000000000 }}\"}\n"), refused=False)
    yield Case("template-macro-recursion", _override(
        "        title: {template: '{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}'}\n"), where="macros")
    yield Case("template-private-attribute", _override("        title: {template: \"{{ ''.__class__.__mro__ }}\"}\n"))
    yield Case("template-unclosed", _override("        title: {template: '{{ title '}\n"))
    yield Case("template-deep-parens", _override("        title: {template: '{{ " + "(" * 3_000 + "1" + ")" * 3_000 + " }}'}\n"))
    yield Case("template-very-long", _override("        title: {template: '" + "{{ title }}" * 5_000 + "'}\n"))
    yield Case("template-format-width", _override("        title: {template: \"{{ '{:>999999999}'.format(1) }}\"}\n"),
               refused=False)
    yield Case("jmespath-deep", _override("        title: " + "a." * 30_000 + "b\n"), refused=False)
    yield Case("jmespath-deep-brackets", _override("        title: \"" + "[" * 5_000 + "a" + "]" * 5_000 + "\"\n"))
    yield Case("jmespath-unknown-function", _override("        title: \"evil(title)\"\n"))
    yield Case("jmespath-huge-literal", _override("        title: \"`" + "1" * 100_000 + "`\"\n"))
    yield Case("field-expr-number", _override("        title: 5\n"), refused=False)
    yield Case("field-expr-list", _override("        title: [a, b]\n"))
    # secrets and hosts
    yield Case("secret-file-etc-passwd", _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"${file:/etc/passwd}"'),
               where="outside the project folder")
    yield Case("secret-file-dotdot", _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"${file:../../../../etc/passwd}"'),
               where="outside the project folder")
    yield Case("secret-file-home", _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"${file:~/.ssh/id_rsa}"'),
               where="outside the project folder")
    yield Case("secret-file-dev-zero", _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"${file:/dev/zero}"'))
    yield Case("secret-file-proc", _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"${file:/proc/self/environ}"'))
    yield Case("secret-file-symlink-out", _symlink_to_passwd, where="outside the project folder")
    yield Case("secret-literal", _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"shpat_0123456789abcdef"'))
    yield Case("secret-env-empty", _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"${env:}"'))
    yield Case("secret-env-spaces", _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"${env:A B}"'))
    yield Case("secret-unknown-scheme", _base_with('"${env:ACME_SHOPIFY_TOKEN}"', '"${vault:x}"'))
    yield Case("base-url-other-host", _base_with('"${env:ACME_SHOPIFY_URL:-}"', '"https://collector.example.net/x"'),
               where="declared hosts")
    yield Case("base-url-metadata-ip", _base_with('"${env:ACME_TIKTOK_URL:-}"', '"http://169.254.169.254/latest"'))
    yield Case("token-url-other-host", _base_with('"${env:ACME_TIKTOK_TOKEN_URL:-}"', '"https://evil.example.org/t"'),
               where="declared hosts")
    yield Case("base-url-userinfo", _base_with('"${env:ACME_SHOPIFY_URL:-}"',
                                               '"https://acme.myshopify.com@evil.example.net/admin"'),
               where="declared hosts")
    yield Case("base-url-not-a-url", _base_with('"${env:ACME_SHOPIFY_URL:-}"', '"javascript:alert(1)"'))
    yield Case("state-url-elsewhere", _text(BASE.replace("primary_catalog:", "state: {url: 'sqlite:////proc/x.db'}\n"
                                                                               "primary_catalog:", 1)), refused=False)


MAP_CASES: list[tuple[str, bytes]] = [
    ("not-json", b"{nope"),
    ("empty", b""),
    ("only-space", b"   \n"),
    ("huge-exponent", b'{"title": "x", "price": 1e999999}'),
    ("huge-integer", b'{"title": "x", "price": ' + b"9" * 50_000 + b"}"),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000),
    ("nan", b'{"title": "x", "price": NaN}'),
    ("infinity", b'{"title": "x", "price": -Infinity}'),
    ("latin-1", '{"title": "caf\xe9"}'.encode("latin-1")),
    ("utf-16", '{"title": "x"}'.encode("utf-16")),
    ("top-level-number", b"42"),
    ("top-level-string", b'"text"'),
    ("top-level-null", b"null"),
    ("control-chars", b'{"title": "a\x00b"}'),
    ("lone-surrogate", b'{"title": "\\ud800"}'),
    ("duplicate-keys", b'{"title": "a", "title": "b"}'),
    ("long-string", b'{"title": "' + b"x" * 2_000_000 + b'"}'),
    ("many-digits", b'{"title": "x", "price": 19.99999999999999999}'),
    ("negative-zero", b'{"title": "x", "price": -0}'),
    ("non-ascii-digits", '{"title": "x", "price": "\u0661\u0669.\u0669\u0669"}'.encode()),
]
