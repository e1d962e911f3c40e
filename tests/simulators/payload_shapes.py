"""Compare a simulator response with real payloads by shape: key names, nesting and JSON types.

Values are not compared (the samples hold placeholders or anonymised values); what must match is
which keys an object has, how it nests, and the JSON type at every path. A shape is learned from
one or more samples: a key is *required* where every sample object at that path has it, a path may
hold every JSON type the samples show there, and list items are merged into one shape.

Paths read like `skus[].price.sale_price`. Tests pass `missing` (sample keys the simulator does
not produce, each with the reason) and `extra` (simulator keys the samples lack but the platform
reference documents), so anything else that drifts fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

# Byte-for-byte copies of the project's shared/payloads (each with its .source.txt), kept here so
# the tests do not depend on where the checkout sits next to shared/.
PAYLOADS = Path(__file__).resolve().parent / "payloads"


def load_payload(name: str) -> object:
    """A real payload (e.g. "tiktok_shop/get_product_202309_docsample.json")."""
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def shared_payloads() -> Path | None:
    """The shared/payloads directory beside this checkout or one of its parents, if there is one."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "payloads"
        if candidate.is_dir():
            return candidate
    return None


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"  # JSON has one number type; 1.25 and 123 are both numbers
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


@dataclass
class Shape:
    types: set[str] = field(default_factory=set)
    keys: dict[str, Shape] = field(default_factory=dict)
    key_counts: dict[str, int] = field(default_factory=dict)
    objects: int = 0  # how many sample objects were seen at this path
    items: Shape | None = None

    def add(self, value: object) -> Shape:
        kind = json_type(value)
        self.types.add(kind)
        if kind == "object":
            self.objects += 1
            for key, child in value.items():  # type: ignore[union-attr]
                self.keys.setdefault(key, Shape()).add(child)
                self.key_counts[key] = self.key_counts.get(key, 0) + 1
        elif kind == "array":
            for item in value:  # type: ignore[union-attr]
                self.items = (self.items or Shape()).add(item)
        return self

    def required(self, key: str) -> bool:
        return self.key_counts.get(key, 0) == self.objects


def shape_of(*samples: object) -> Shape:
    shape = Shape()
    for sample in samples:
        shape.add(sample)
    return shape


def widen(shape: Shape, *samples: object) -> Shape:
    """Let `shape` also take the JSON types other samples show at the paths it already has (a
    field one sample fills and another leaves null is nullable), without adding their keys or
    making any key optional; only where `shape` knows no structure (the primary samples show null
    or an empty list there) does it take the other samples' structure. Returns `shape`."""
    for sample in samples:
        _widen(shape, sample)
    return shape


def _widen(shape: Shape, sample: object) -> None:
    kind = json_type(sample)
    if (kind == "object" and not shape.objects) or (kind == "array" and shape.items is None):
        shape.add(sample)
        return
    shape.types.add(kind)
    if isinstance(sample, dict):
        for key, child in sample.items():
            if key in shape.keys:
                _widen(shape.keys[key], child)
    elif isinstance(sample, list) and shape.items is not None:
        for item in sample:
            _widen(shape.items, item)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def differences(shape: Shape, actual: object, *, missing: dict[str, str] | None = None,
                extra: dict[str, str] | None = None, nullable: dict[str, str] | None = None,
                path: str = "", subset: bool = False) -> list[str]:
    """Every way `actual` differs in shape from the samples; empty when it matches.

    `missing`: path -> reason, sample keys the simulator may leave out. `extra`: path -> reason,
    keys the simulator may send that no sample has. `nullable`: path -> reason, where the
    simulator may send null though no sample does. `subset`: `actual` is a summary that carries
    only some of the sample's keys, so none is reported missing (names and types still count). A
    path the samples only ever show as null or as an empty list has no known shape below it, so
    anything there is accepted.
    """
    missing, extra, nullable = missing or {}, extra or {}, nullable or {}
    kind = json_type(actual)
    known = shape.types - {"null"}
    if not known:
        return []  # the samples only show null here: no shape to hold it to
    if kind == "null" and (path or "<root>") in nullable:
        return []
    if kind not in shape.types:
        return [f"{path or '<root>'}: {kind} where the samples have {' or '.join(sorted(shape.types))}"]
    found: list[str] = []
    if kind == "object":
        for key in sorted(shape.keys):
            sub = _join(path, key)
            absent = key not in actual  # type: ignore[operator]
            if absent and not subset and shape.required(key) and sub not in missing:
                found.append(f"{sub}: missing (every sample has it)")
        for key, value in actual.items():  # type: ignore[union-attr]
            sub = _join(path, key)
            if key not in shape.keys:
                if sub not in extra:
                    found.append(f"{sub}: not in any sample")
                continue
            found += differences(shape.keys[key], value, missing=missing, extra=extra, nullable=nullable,
                                 path=sub, subset=subset)
    elif kind == "array" and shape.items is not None:
        for item in actual:  # type: ignore[union-attr]
            found += differences(shape.items, item, missing=missing, extra=extra, nullable=nullable,
                                 path=f"{path}[]", subset=subset)
    return sorted(set(found))


def paths(actual: object, path: str = "") -> set[str]:
    """Every key path in `actual`, list items written as `[]`."""
    found: set[str] = set()
    if isinstance(actual, dict):
        for key, child in actual.items():
            sub = _join(path, key)
            found.add(sub)
            found |= paths(child, sub)
    elif isinstance(actual, list):
        for item in actual:
            found |= paths(item, f"{path}[]")
    return found


def assert_shape(shape: Shape, actual: object, *, missing: dict[str, str] | None = None,
                 extra: dict[str, str] | None = None, nullable: dict[str, str] | None = None,
                 subset: bool = False) -> None:
    """`actual` has the samples' shape, and the allowances are still needed: every `missing`
    path is indeed absent and every `extra` path present, so a list cannot go stale."""
    missing, extra = missing or {}, extra or {}
    found = differences(shape, actual, missing=missing, extra=extra, nullable=nullable, subset=subset)
    assert not found, "shape differs from the real payloads:\n  " + "\n  ".join(found)
    stale = sorted(p for p in missing if not _absent_somewhere(actual, p.split(".")))
    assert not stale, f"always sent now, drop from missing: {stale}"
    unused = sorted(set(extra) - paths(actual))
    assert not unused, f"no longer sent, drop from extra: {unused}"


def _absent_somewhere(value: object, steps: list[str]) -> bool:
    """Whether some object on the way down `steps` (e.g. ["skus[]", "sku_img"]) lacks the last key."""
    if isinstance(value, list):
        return any(_absent_somewhere(item, steps) for item in value)
    if not isinstance(value, dict):
        return False
    key = steps[0].removesuffix("[]")
    if key not in value:
        return len(steps) == 1
    if len(steps) == 1:
        return False
    child = value[key]
    return _absent_somewhere(child, steps[1:])
