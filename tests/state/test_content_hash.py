"""content_hash: depends on content only, never on key order; Decimal keeps its written digits."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.state import canonical_json, content_hash

scalars = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False, places=2)
)
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
    max_leaves=20,
)


def _reordered(obj, rnd: random.Random):
    """The same content with every dict's keys inserted in a different order."""
    if isinstance(obj, dict):
        items = list(obj.items())
        rnd.shuffle(items)
        return {k: _reordered(v, rnd) for k, v in items}
    if isinstance(obj, list):
        return [_reordered(v, rnd) for v in obj]
    return obj


@given(json_like, st.randoms(use_true_random=False))
def test_key_order_does_not_matter(obj, rnd):
    assert content_hash(_reordered(obj, rnd)) == content_hash(obj)


@given(st.dictionaries(st.text(max_size=6), scalars, min_size=1, max_size=6))
def test_changed_value_changes_hash(d):
    k = next(iter(d))
    changed = dict(d, **{k: ["changed", d[k]]})
    assert content_hash(changed) != content_hash(d)


def test_canonical_form():
    assert canonical_json({"b": 1, "a": [Decimal("1.10"), "é"]}) == '{"a":["1.10","é"],"b":1}'
    assert len(content_hash({})) == 64


def test_decimal_keeps_written_digits():
    # Deliberate: "1.10" and "1.1" are different text sent to a platform, so they hash apart;
    # a Decimal and the decimal string a mapping produces from it hash the same.
    assert content_hash({"p": Decimal("1.10")}) != content_hash({"p": Decimal("1.1")})
    assert content_hash({"p": Decimal("1.10")}) == content_hash({"p": "1.10"})


@pytest.mark.parametrize("bad", [{1: "x"}, {"s": {1, 2}}, {"x": object()}, {"f": float("nan")},
                                 {"d": Decimal("NaN")}])
def test_ambiguous_values_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        content_hash(bad)
