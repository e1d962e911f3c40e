"""Errors that point at the place to fix: file:line:col, the field path, what was expected, a hint."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Problem:
    """One finding of `connector validate` (or a load/compile step)."""

    message: str
    location: Location | None = None
    path: str = ""  # field path inside the document, e.g. fields.variants.each
    hint: str = ""
    severity: str = "error"

    def format(self) -> str:
        where = f"{self.location}: " if self.location else ""
        field = f" [{self.path}]" if self.path else ""
        hint = f"\n    hint: {self.hint}" if self.hint else ""
        return f"{where}{self.severity}{field}: {self.message}{hint}"


class ConnectorError(Exception):
    """Base of every error the engine raises on purpose."""


class SpecError(ConnectorError):
    """A file is wrong. Carries one or more problems, each with its position."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("\n".join(p.format() for p in self.problems))


class SecretError(ConnectorError):
    """A secret reference could not be resolved. Never carries the secret's value."""


class RecordError(ConnectorError):
    """A single record failed; the run continues and the record goes to the dead-letter queue."""

    def __init__(self, message: str, *, step: str = "", field_errors: list[dict] | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.step = step
        self.field_errors = field_errors or []
        self.retryable = retryable


def did_you_mean(name: object, known: list[str]) -> str:
    """The hint for a name that is not one of `known`: the closest, or the list."""
    close = difflib.get_close_matches(str(name), known, n=1)
    return f"did you mean {close[0]!r}?" if close else ("known: " + ", ".join(known) if known else "none defined")
