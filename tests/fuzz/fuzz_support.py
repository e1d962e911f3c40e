"""What the fuzz tests share: the hypothesis profiles, a guard that turns a hang into a failure, the
checks every answer must pass, and strategies for hostile values, expressions and tree mutations.

Profiles (picked by CONNECTOR_FUZZ_PROFILE, applied per test so other tests keep their settings):
  ci    the default: few examples, derandomized (the same examples every run, so CI never flakes),
        no example database written anywhere;
  deep  a long local hunt: many random examples, failures kept under .pytest_cache/.hypothesis
        (ignored by git) and replayed first next time. CONNECTOR_FUZZ_EXAMPLES sets how many.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from engine.errors import Problem

ROOT = Path(__file__).resolve().parents[2]
PROFILE = os.environ.get("CONNECTOR_FUZZ_PROFILE", "ci")
HANG_SECONDS = float(os.environ.get("CONNECTOR_FUZZ_HANG_SECONDS", "30"))
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
          HealthCheck.function_scoped_fixture, HealthCheck.large_base_example]

# No deadline: on a busy machine an ordinary example takes seconds and hypothesis calls that flaky;
# no_hang() below catches what never ends. No explain phase: it traces every line (Python < 3.12), which makes a loaded machine's slow example a
# false hang.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
settings.register_profile("ci", max_examples=10, deadline=None, database=None,
                          derandomize=True, suppress_health_check=_QUIET, phases=_PHASES, print_blob=True)
settings.register_profile("deep", max_examples=int(os.environ.get("CONNECTOR_FUZZ_EXAMPLES", "2000")),
                          deadline=None, suppress_health_check=_QUIET, phases=_PHASES, print_blob=True,
                          database=DirectoryBasedExampleDatabase(str(ROOT / ".pytest_cache" / ".hypothesis")))


def fuzz_settings(ci_examples: int) -> settings:
    """The active profile; under `ci`, with this test's own (small) number of examples."""
    profile = settings.get_profile(PROFILE)
    if PROFILE == "ci":
        return settings(profile, max_examples=ci_examples)
    return profile


class Hang(BaseException):
    """Raised into a check that ran past HANG_SECONDS. A BaseException, so no `except Exception`
    in the engine can swallow it."""


@contextlib.contextmanager
def no_hang(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Fail (instead of waiting forever) when the body runs longer than `seconds`."""

    def interrupt(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# Messages by which the engine owns up to an exception it did not foresee: it caught a traceback
# and printed it as a problem. For a fuzzer these are tracebacks.
SWALLOWED = ("validate could not finish", "validate stopped:", "error: unexpected ", "Traceback (most recent")


def assert_located(problems: list[Problem], file: str, text: str = "") -> None:
    """Every problem is one of the engine's own, names a position in `file`, and (except for an error in
    the YAML text itself, which has no field yet) the field path."""
    assert problems, "an error without any problem in it"
    for problem in problems:
        shown = problem.format()
        assert not any(s in shown for s in SWALLOWED), f"an unforeseen exception:\n{shown}\n---\n{text[:3000]}"
        assert problem.location is not None, f"no file:line:col in:\n{shown}\n---\n{text[:3000]}"
        assert problem.location.line >= 1 and problem.location.col >= 1, shown
        assert Path(problem.location.file).name == Path(file).name, \
            f"the position is not in the file checked ({file}):\n{shown}"


# ------------------------------------------------------------------------------ hostile values

CONTROL = st.sampled_from(["\x00", "\x07", "\x1b[31m", "\r", "\u2028", "\u202e", "\ufeff"])
# A text value over the loader's limit (200,000 characters) is costly to build, dump and load: it
# comes only where a mutation puts a hostile text, and in explicit examples.
HUGE = st.builds(lambda c: c * 200_001, st.sampled_from(["a", "{", "é"]))
_TEXT = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=5), CONTROL, st.text(max_size=5)),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "{", "[", "$", "𝔘", "\\"]), st.sampled_from([300, 3_000])),
    st.sampled_from(["${env:X}", "${file:/etc/passwd}", "${nope}", "{{ 9**99999999 }}", "{% for %}",
                     "http://169.254.169.254/", "&a", "*a", "!!python/object", "null", "~", "yes", "0x1F",
                     "1e999999", "-0", "NaN", "١٢٣", "", " ", "\t", "a" * 65, "kind", "__proto__"]),
)
HOSTILE_TEXT = _TEXT
NUMBERS = st.one_of(
    st.integers(), st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal("19.99999999999999999"), Decimal("-0"), Decimal("1E+999999"), Decimal("1E-999999"),
                     Decimal("0.001"), 2**63, -(2**63) - 1, 0.1 + 0.2, -0.0, True, False]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, HOSTILE_TEXT)


def json_values(max_leaves: int = 12, keys: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Any]:
    """JSON-ish values of every type, nested."""
    keys = HOSTILE_TEXT if keys is None else keys
    return st.recursive(SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=max_leaves)


def deeply_nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


# ------------------------------------------------------------------------------ expressions

def _functions() -> list[str]:
    from engine.lang.functions import FUNCTIONS

    return FUNCTIONS.names()


IDENT = st.one_of(st.sampled_from(["title", "sku", "price", "amount", "currency", "variants", "images", "id",
                                   "status", "line_items", "quantity", "name", "a", "b", "@", "`1`", "'x'"]),
                  st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True))
LITERAL = st.one_of(
    st.builds(lambda v: f"`{v}`", st.sampled_from(["1", "0", "-1", "1e400", "\"a\"", "[]", "{}", "null", "true",
                                                   "[1, 2]", "{\"a\": 1}", "99999999999999999999999", "1.5"])),
    st.builds(lambda s: "'" + s.replace("'", "\\'") + "'", st.text(max_size=8)),
)


def _combine(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a, b: f"{a}.{b}", inner, IDENT),
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["||", "&&", "==", "!=", "<", ">=", "|"]),
                  inner),
        st.builds(lambda a, i: f"{a}[{i}]", inner, st.sampled_from(["0", "-1", "*", "", "?a == `1`", "1:2", "::-1"])),
        st.builds(lambda f, args: f"{f}({', '.join(args)})", st.sampled_from(_functions() + ["length", "sort_by",
                                                                                            "nope", "sum", "max_by"]),
                  st.lists(inner, max_size=4)),
        st.builds(lambda a: f"&{a}", inner),
        st.builds(lambda a: f"!{a}", inner),
        st.builds(lambda a: f"({a})", inner),
        st.builds(lambda k, a: f"{{{k}: {a}}}", IDENT, inner),
        st.builds(lambda a: f"[{a}]", inner),
    )


JMESPATH = st.one_of(
    st.recursive(st.one_of(IDENT, LITERAL), _combine, max_leaves=6),
    st.text(alphabet="abc.[]()*&|!?=<>`'\"@:{}, 0123456789-_$", max_size=25),  # anything at all
)
TEMPLATE = st.one_of(
    st.builds(lambda e: "{{ " + e + " }}", st.one_of(IDENT, st.sampled_from([
        "title|upper", "title|nope", "ctx.x", "record.a.b", "9**9", "'a' * 3", "range(3)|list", "x.__class__",
        "lipsum()", "cycler", "title[0:2]", "{}|attr('x')", "1/0", "none.x", "[1]|sum", "title ~ sku"]))),
    st.builds(lambda a, b: a + "{% if " + b + " %}x{% else %}y{% endif %}", st.text(max_size=5), IDENT),
    st.builds(lambda b: "{% for i in " + b + " %}{{ i }}{% endfor %}", st.sampled_from(["range(5)", "variants",
                                                                                        "title", "1", "x"])),
    st.text(alphabet="{}%# abc|.()'\"-~\n", max_size=30),
)


# ------------------------------------------------------------------------------ tree mutations

def _paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += _paths(value, (*prefix, index))
    return found


def _get(tree: Any, path: tuple) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _set(tree: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(tree, path[:-1])[path[-1]] = value
    return tree


def _delete(tree: Any, path: tuple) -> Any:
    if not path:
        return None
    del _get(tree, path[:-1])[path[-1]]
    return tree


MUTATIONS = ("delete", "retype", "unknown_key", "swap", "hostile_text", "duplicate", "null")


@st.composite
def mutated(draw: st.DrawFn, tree: Any, max_mutations: int = 3) -> tuple[Any, list[str]]:
    """`tree` (a plain copy is made) with 1..max_mutations structural edits, and what was done."""
    import copy

    tree = copy.deepcopy(tree)
    done: list[str] = []
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(tree)
        path = draw(st.sampled_from(paths[1:] or paths))
        what = draw(st.sampled_from(MUTATIONS))
        if what == "delete":
            tree = _delete(tree, path)
        elif what == "retype":
            tree = _set(tree, path, draw(json_values(6)))
        elif what == "unknown_key":
            target = _get(tree, path)
            if isinstance(target, dict):
                target[draw(st.one_of(HOSTILE_TEXT, st.integers(), st.booleans()))] = draw(json_values(4))
            else:
                tree = _set(tree, path, {draw(HOSTILE_TEXT): target})
        elif what == "swap":
            other = draw(st.sampled_from(paths[1:] or paths))
            if path and other and not (path[:len(other)] == other or other[:len(path)] == path):
                a, b = _get(tree, path), _get(tree, other)
                tree = _set(_set(tree, path, b), other, a)
        elif what == "hostile_text":
            tree = _set(tree, path, draw(st.integers(0, 9).flatmap(lambda n: HUGE if n == 0 else HOSTILE_TEXT)))
        elif what == "duplicate":
            tree = _set(tree, path, [_get(tree, path)] * draw(st.integers(2, 3)))
        elif what == "null":
            tree = _set(tree, path, None)
        done.append(f"{what} at {'.'.join(map(str, path)) or '(root)'}")
        if not isinstance(tree, dict | list):
            break
    return tree, done


def dump(tree: Any) -> str:
    """YAML text of a tree of plain values (Decimal as its text, anything odd as a tagged string)."""
    import yaml

    class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
        pass

    Dumper.add_representer(Decimal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:float", str(v)))
    return yaml.dump(tree, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=200)
