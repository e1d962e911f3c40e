"""Name -> implementation registries for the pluggable kinds: auth, paginator, rate limit, step,
cast, mapping value form, function.

Each kind is declared exactly once, with the JSON Schema of its options, a one-line doc and, where
it helps a reader, worked examples (a function also declares its signature). That declaration
drives parsing, `connector validate`, the generated parts of schemas/*.json (`connector schemas`)
and the reference in docs/reference/ (`connector docs`). There is no other way to add a kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Example:
    """A worked example, run by the test suite so the docs never show a wrong result.

    `source` is what a consultant writes: an expression for a function; for a mapping value form
    or a cast, `fields:` entries (target: value), whose `result` is the mapped output. Given
    `input` (the record) and `context` (the caller's values, read by var()), it gives `result`.
    `parent` is the item one `each` level up, for parent(); `extra` holds more of the mapping
    document the example needs (its `lookups:`).
    """

    source: Any
    result: Any
    input: Any = None
    context: dict[str, Any] | None = None
    parent: Any = None
    extra: dict[str, Any] | None = None


@dataclass(frozen=True)
class Entry:
    name: str
    impl: Any
    options_schema: dict[str, Any] = field(default_factory=dict)
    doc: str = ""  # one line
    signature: Any = None  # functions: engine.lang.functions.Signature
    examples: tuple[Example, ...] = ()


def one_line(text: str) -> str:
    """The first paragraph of a docstring, on one line."""
    paragraph = text.strip().split("\n\n")[0]
    return " ".join(paragraph.split())


class Registry:
    """A named set of implementations of one pluggable kind.

    `names()` and `entries()` are sorted by name (for messages and lookups); `declared()` keeps the
    order of declaration, for the places where it means something (the order value forms are
    listed in, the order of the cast enum).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        *,
        options_schema: dict[str, Any] | None = None,
        doc: str = "",
        signature: Any = None,
        examples: tuple[Example, ...] | list[Example] = (),
    ) -> Callable[[Any], Any]:
        def decorate(impl: Any) -> Any:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            # A missing doc is caught by tests/docs (every entry documented), not at import time.
            text = one_line(doc or getattr(impl, "__doc__", None) or "")
            self._entries[name] = Entry(
                name, impl, options_schema or {"type": "object"}, text, signature, tuple(examples)
            )
            return impl

        return decorate

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._entries))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def declared(self) -> list[Entry]:
        return list(self._entries.values())
