"""A project: every file of a consultant's checkout plus the shipped connectors, mappings and flows,
grouped by kind and name, with merchant overrides merged in (keeping each value's own position).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import Location, Problem, SpecError
from engine.project.resources import shipped
from engine.project.schemas import FILE_KINDS
from engine.project.yamlpos import YDict, YList, load_file

YAML_SUFFIXES = (".yaml", ".yml")
SKIPPED_DIRS = {"fixtures", ".venv", "node_modules", ".git", "__pycache__", ".state"}


@dataclass
class Document:
    kind: str
    name: str
    path: Path
    doc: YDict
    shipped: bool = False


@dataclass
class Project:
    documents: dict[str, dict[str, Document]] = field(default_factory=lambda: {k: {} for k in FILE_KINDS})
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @classmethod
    def load(cls, paths: Iterable[str | Path] = (), *, include_shipped: bool = True) -> Project:
        project = cls()
        seen: set[Path] = set()
        user_files = [f for p in paths for f in _yaml_files(Path(p), project)]
        if include_shipped:
            for folder in ("connectors", "mappings", "flows", "rules"):
                for path in _yaml_files(shipped(folder), project):
                    project._add(path, seen, is_shipped=True)
        for path in user_files:
            project._add(path, seen, is_shipped=False)
        return project

    def _add(self, path: Path, seen: set[Path], *, is_shipped: bool) -> None:
        resolved = path.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        self.files.append(path)
        try:
            doc = load_shipped(path) if is_shipped else load_file(path)
        except SpecError as exc:
            self.problems.extend(exc.problems)
            return
        if not isinstance(doc, YDict):
            self.problems.append(Problem("the file must be a YAML mapping with a `kind:` key", Location(str(path), 1, 1)))
            return
        kind = doc.get("kind")
        if kind not in FILE_KINDS:
            loc = doc.value_locs.get("kind", doc.loc) if "kind" in doc else Location(str(path), 1, 1)
            message = "missing `kind:`" if kind is None else f"unknown kind {kind!r}"
            hint = "kind is one of: " + ", ".join(FILE_KINDS)
            misspelt = [k for k in doc if "kind" not in doc and isinstance(k, str)
                        and difflib.get_close_matches(k, ["kind"], n=1, cutoff=0.7)]
            if misspelt:  # `knd: merchant`: the key to fix is that one
                loc, message = doc.key_locs[misspelt[0]], f"missing `kind:` ({misspelt[0]!r} looks like it)"
                hint = f"did you mean 'kind'? {hint}"
            self.problems.append(Problem(message, loc, "kind", hint))
            return
        name = doc.get("name") or path.stem.removesuffix(".test")
        if not isinstance(name, str):
            name = str(name)
        previous = self.documents[kind].get(name)
        if previous is not None and not (previous.shipped and not is_shipped and kind != "merchant"):
            self.problems.append(Problem(
                f"{kind} {name!r} is defined twice (also in {previous.path})",
                doc.value_locs.get("name", doc.loc), "name",
                "names are unique per kind; use a merchant `overrides:` block to change a shared file"))
            return
        self.documents[kind][name] = Document(kind, name, path, doc, is_shipped)

    def get(self, kind: str, name: str) -> Document | None:
        return self.documents[kind].get(name)

    def names(self, kind: str) -> list[str]:
        return sorted(self.documents[kind])

    def user_documents(self) -> list[Document]:
        return [d for kind in FILE_KINDS for d in self.documents[kind].values() if not d.shipped]


def _yaml_files(path: Path, project: Project) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.exists():
        project.problems.append(Problem(f"no such file or folder: {path}", None))
        return []
    found = []
    for candidate in sorted(path.rglob("*")):
        if candidate.suffix in YAML_SUFFIXES and candidate.is_file():
            if not SKIPPED_DIRS.intersection(candidate.relative_to(path).parts[:-1]):
                found.append(candidate)
    return found


def is_list(value: Any) -> bool:
    return isinstance(value, list | YList)


# The shipped files, parsed once per process: a server or worker loads every merchant's project,
# each with the same shipped connectors, mappings and flows, and parsing them was a third of a
# merchant's load. Known by path, modification time and size; nothing writes into a loaded
# document (overrides are merged into new ones), and the test suite checks at its end that every
# document kept here still equals its file.
SHIPPED_DOCS: dict[tuple[str, int, int], Any] = {}


def load_shipped(path: Path) -> Any:
    try:
        stat = path.stat()
    except OSError:
        return load_file(path)  # says what is wrong
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    doc = SHIPPED_DOCS.get(key)
    if doc is None:
        doc = SHIPPED_DOCS[key] = load_file(path)
    return doc
