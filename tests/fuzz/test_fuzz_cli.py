"""The command line on random input, through click's CliRunner as a user would meet it:
`connector map` with random record files (JSON of every shape, YAML, bytes that are neither, with
and without --select) and `connector validate` on a copy of the acme project whose merchant file
was mutated. Exit codes only from the documented set, no traceback, no "unexpected" error."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from hypothesis import example, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import (  # noqa: E402
    JMESPATH,
    ROOT,
    SWALLOWED,
    dump,
    fuzz_settings,
    json_values,
    mutated,
    no_hang,
)

from engine.cli import exit_codes as codes  # noqa: E402
from engine.cli import main  # noqa: E402
from engine.project.yamlpos import load_file, plain  # noqa: E402

ACME = ROOT / "examples" / "acme"
MERCHANT = plain(load_file(ACME / "merchant.yaml"))
MAPPINGS = ["shopify.product_to_canonical", "tiktok_shop.order_to_canonical", "shopify.order_from_canonical",
            "tiktok_shop.product_from_canonical", "rithum.order_to_canonical"]


def invoke(args: list[str], allowed: set[int]) -> str:
    with no_hang():
        result = CliRunner().invoke(main, args, catch_exceptions=True)
    output = result.output + (getattr(result, "stderr", "") or "")
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{args}: {type(result.exception).__name__}: {result.exception}"
    assert result.exit_code in allowed, f"{args}: exit {result.exit_code}:\n{output[-3000:]}"
    assert not any(s in output for s in SWALLOWED), f"{args}:\n{output[-3000:]}"
    return output


def _json_text(value: object) -> str:
    return json.dumps(value, default=lambda v: str(v) if isinstance(v, Decimal) else repr(v), allow_nan=True)


FILES = st.one_of(
    json_values(12).map(lambda v: (".json", _json_text(v).encode("utf-8", "surrogatepass"))),
    json_values(12).map(lambda v: (".yaml", dump(v).encode("utf-8"))),
    st.binary(max_size=200).map(lambda b: (".json", b)),
    st.sampled_from([200, 5_000, 100_000]).map(lambda n: (".json", ("[" * n + "]" * n).encode())),
    st.sampled_from([200, 5_000]).map(lambda n: (".json", ('{"a": [' * n + "1" + "]}" * n).encode())),
    st.sampled_from(["1e999999", "-0", "NaN", "Infinity", "1" * 5000, "\"\\ud800\"", "{\"a\": 1, \"a\": 2}",
                     "[1, 2, 3", "\ufeff{}", "null"]).map(lambda t: (".json", t.encode())),
)


@fuzz_settings(ci_examples=5)
@given(st.sampled_from(MAPPINGS), FILES, st.one_of(st.none(), JMESPATH))
# JSON nested thousands deep: json.loads's RecursionError ended `map` as an unexpected error (exit 5).
@example("shopify.product_to_canonical", (".json", b"[" * 5_000 + b"]" * 5_000), None)
# An integer of 5,000 digits: json.loads's ValueError (Python's limit on digits) was exit 5 too.
@example("shopify.product_to_canonical", (".json", b"1" * 5_000), None)
# A --select expression that fails on the file (a function given null): ExprEvalError was exit 5.
@example("shopify.product_to_canonical", (".json", b"{}"), "money_add(`0`, q, title)")
def test_map_answers_random_files_with_a_documented_exit_code(mapping: str, file: tuple, select: str | None) -> None:
    suffix, content = file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"record{suffix}"
        path.write_bytes(content)
        args = ["map", mapping, str(path)] + (["--select", select] if select is not None else [])
        invoke(args, {codes.OK, codes.CONFIG, codes.USAGE})


@fuzz_settings(ci_examples=2)
@given(mutated(MERCHANT, 3))
def test_validate_answers_a_mutated_merchant_file_with_a_documented_exit_code(merchant: tuple) -> None:
    tree, done = merchant
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(ACME / "prices.yaml", Path(folder) / "prices.yaml")
        (Path(folder) / "merchant.yaml").write_text(dump(tree), encoding="utf-8")
        output = invoke(["validate", folder], {codes.OK, codes.CONFIG})
        assert "merchant.yaml:" in output or "0 problems" in output or "error" not in output, (done, output[-2000:])
