"""Name -> implementation registries for the pluggable kinds (auth, paginator, step, function).

Each kind is declared exactly once, with the JSON Schema of its options; that declaration drives
parsing, `connector validate` and the generated docs. There is no other way to add a kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Entry:
    name: str
    impl: Any
    options_schema: dict[str, Any] = field(default_factory=dict)
    doc: str = ""


class Registry:
    """A named set of implementations of one pluggable kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(
        self, name: str, *, options_schema: dict[str, Any] | None = None, doc: str = ""
    ) -> Callable[[Any], Any]:
        def decorate(impl: Any) -> Any:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(
                name, impl, options_schema or {"type": "object"}, doc or (impl.__doc__ or "").strip()
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
