"""Secret references (${env:NAME}, ${file:PATH}), resolved only at run time and never printed.

Every resolved value is remembered by the process-wide Redactor so logs, errors, dead letters and
reports can scrub it, whichever code path they took.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import SecretError

REF = re.compile(r"^\$\{(?P<scheme>env|file):(?P<name>[^}]+)\}$")
MASK = "***"


@dataclass(frozen=True)
class SecretRef:
    scheme: str
    name: str
    base_dir: Path | None = None

    @classmethod
    def parse(cls, text: str, base_dir: Path | None = None) -> SecretRef:
        match = REF.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise SecretError(f"not a secret reference: use ${{env:NAME}} or ${{file:PATH}} (got {shape_of_secret(text)})")
        if match["scheme"] == "env" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", match["name"]):
            raise SecretError(f"invalid environment variable name {match['name']!r}")
        return cls(match["scheme"], match["name"], base_dir)

    def resolve(self, environ: dict[str, str] | None = None) -> str:
        environ = os.environ if environ is None else environ
        if self.scheme == "env":
            if self.name not in environ:
                raise SecretError(f"environment variable {self.name} is not set")
            value = environ[self.name]
        else:
            path = Path(self.name)
            if not path.is_absolute() and self.base_dir is not None:
                path = self.base_dir / path
            outside = confinement_issue(path, self.base_dir, environ)
            if outside:
                raise SecretError(outside)
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
        REDACTOR.remember(value)
        return value

    def __str__(self) -> str:
        return f"${{{self.scheme}:{self.name}}}"


def shape_of_secret(text: Any) -> str:
    """Describe a refused value without echoing it: it may be a pasted secret."""
    if not isinstance(text, str):
        return type(text).__name__
    return f"text of {len(text)} characters" if not text.startswith("${") else repr(text[:40])


class Redactor:
    """Replaces known secret values with ***. REDACTOR below holds every secret this process
    resolved; an HTTP connection keeps its own for the tokens it is handed or refreshes, and passes
    each on to REDACTOR (`also`), so a refreshed token is masked in logs and reports too."""

    def __init__(self, values: Iterable[str] = (), *, also: Redactor | None = None) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._also = also
        self.add(values)

    def add(self, values: Iterable[str | None]) -> None:
        for value in values:
            if isinstance(value, str):
                self.remember(value)

    def __call__(self, text: str) -> str:
        return self.text(text)

    def remember(self, value: str) -> None:
        if len(value) < 4:  # masking "1" or "ab" everywhere would mangle output, not protect it
            return
        if self._also is not None:
            self._also.remember(value)
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def text(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern and text else text

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value


REDACTOR = Redactor()


def resolve_credentials(refs: dict[str, str], base_dir: Path | None, environ: dict[str, str] | None = None) -> dict:
    return {name: SecretRef.parse(ref, base_dir).resolve(environ) for name, ref in (refs or {}).items()}


_SETTING_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_settings(settings: dict, environ: dict[str, str] | None = None) -> dict:
    """Fill ${env:NAME} / ${env:NAME:-default} in connection settings (URLs, shop ids).

    Settings are not secrets, so nothing is redacted; a value that expands to "" is dropped so
    the connector's own default applies.
    """
    environ = os.environ if environ is None else environ

    def one(text: str) -> str:
        def sub(match: re.Match[str]) -> str:
            if match[1] in environ:
                return environ[match[1]]
            if match[2] is not None:
                return match[2]
            raise SecretError(f"environment variable {match[1]} is not set (used in connection settings)")

        return _SETTING_REF.sub(sub, text)

    out = {}
    for key, value in settings.items():
        value = one(value) if isinstance(value, str) else value
        if value != "":
            out[key] = value
    return out


# ------------------------------------------------------------------ checks for `connector validate`
# Nothing here reads a secret: an env reference is checked for its form, a file reference for the
# file's existence only.

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ANY_REF = re.compile(r"\$\{([^}]*)(\}?)")


def reference_issue(text: str) -> tuple[str, str] | None:
    """(message, hint) when `text`, meant as a credential, is a malformed reference; None when it
    is well formed or is not reference-shaped at all (a literal, refused elsewhere)."""
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    match = _ANY_REF.fullmatch(stripped)
    if match is None:
        if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", stripped):
            return (f"not a secret reference (got {stripped!r}): shell-style $NAME is not expanded",
                    f"write ${{env:{stripped[1:]}}}")
        if re.fullmatch(r"\{(env|file):[^}]*\}", stripped):
            return (f"not a secret reference (got {stripped!r}): the $ is missing", f"write ${stripped}")
        missing_brace = re.fullmatch(r"\$(env|file):([^}]*)\}?", stripped)
        if missing_brace:
            return (f"not a secret reference (got {stripped!r}): the {{ after $ is missing",
                    f"write ${{{missing_brace[1]}:{missing_brace[2]}}}")
        return None
    inner, closed = match[1], match[2]
    if not closed:
        return (f"not a secret reference (got {shape_of_secret(stripped)}): the {{ is never closed",
                f"write ${{{inner}}}")
    scheme, colon, name = inner.partition(":")
    if not colon and _ENV_NAME.fullmatch(inner):
        return (f"not a secret reference (got {stripped!r}): no env: or file: before the name",
                f"write ${{env:{inner}}} to read the environment variable {inner}")
    if scheme == "env" and ":-" in name and _ENV_NAME.fullmatch(name.split(":-", 1)[0]):
        variable = name.split(":-", 1)[0]
        return (f"a credential has no default (got {stripped!r})",
                f"write ${{env:{variable}}}; defaults (:-) are for connection settings, never for secrets")
    if scheme.lower() in ("env", "file") and scheme not in ("env", "file"):
        return (f"not a secret reference (got {stripped!r}): the scheme must be lowercase",
                f"write ${{{scheme.lower()}:{name}}}")
    return None


SECRETS_DIR_VARIABLE = "CONNECTOR_SECRETS_DIR"


def secret_roots(base_dir: Path | None, environ: Any = None) -> list[Path]:
    """Where ${file:...} references may point: the project folder (the merchant file's) and the
    folders CONNECTOR_SECRETS_DIR lists (os.pathsep between them), e.g. /run/secrets."""
    environ = os.environ if environ is None else environ
    roots = [base_dir] if base_dir is not None else []
    roots += [Path(p) for p in str(environ.get(SECRETS_DIR_VARIABLE, "")).split(os.pathsep) if p.strip()]
    return [r.expanduser().resolve() for r in roots]


def confinement_issue(path: Path, base_dir: Path | None, environ: Any = None) -> str | None:
    """Why a secret file may not be read (it lies outside the project folder and the secrets folders,
    symbolic links followed); None when it may. Without a project folder nothing is confined."""
    if base_dir is None:
        return None
    try:
        real = path.expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return f"the secret file {str(path)!r} cannot be resolved"
    roots = secret_roots(base_dir, environ)
    if any(real == root or root in real.parents for root in roots):
        return None
    return (f"the secret file {str(path)!r} is outside the project folder ({roots[0]}); keep secret files in "
            f"it or in a folder named by {SECRETS_DIR_VARIABLE}")


def _secret_file(text: str, base_dir: Path | None) -> Path | None:
    """The file a ${file:PATH} reference names (relative to the project folder); None otherwise."""
    try:
        ref = SecretRef.parse(text, base_dir)
    except SecretError:
        return None
    if ref.scheme != "file":
        return None
    path = Path(ref.name).expanduser()
    return base_dir / path if not path.is_absolute() and base_dir is not None else path


def secret_confinement(text: str, base_dir: Path | None) -> str | None:
    """For validate: why the file a ${file:PATH} reference names may not be read (never reads it)."""
    path = _secret_file(text, base_dir)
    return None if path is None else confinement_issue(path, base_dir)


def missing_secret_file(text: str, base_dir: Path | None) -> Path | None:
    """The file a ${file:PATH} reference names when it does not exist (its contents are never read)."""
    path = _secret_file(text, base_dir)
    return None if path is None or path.is_file() else path


def setting_reference_issues(text: str) -> list[tuple[int, str, str]]:
    """(offset, message, hint) for each reference in a connection setting that cannot resolve.

    Settings take ${env:NAME} and ${env:NAME:-default} (see expand_settings); anything else
    written as ${...} would reach the connector as literal text.
    """
    issues = []
    stripped = text.strip()
    if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", stripped):
        return [(text.find("$"), f"{stripped!r}: shell-style $NAME is not expanded", f"write ${{env:{stripped[1:]}}}")]
    for match in re.finditer(r"(?<!\$)\{env:[^}]*\}", text):
        issues.append((match.start(), f"{match[0]!r}: the $ is missing, so it would be sent as literal text",
                       f"write ${match[0]}"))
    for match in re.finditer(r"\$(env|file):([^}\s]*)\}?", text):
        issues.append((match.start(), f"{match[0]!r}: the {{ after $ is missing, so it would be sent as literal text",
                       f"write ${{{match[1]}:{match[2]}}}"))
    for match in _ANY_REF.finditer(text):
        inner, closed = match[1], match[2]
        scheme, colon, rest = inner.partition(":")
        if scheme.lower() in ("env", "file") and scheme not in ("env", "file"):
            issues.append((match.start(), f"{match[0]!r}: the scheme must be lowercase",
                           f"write ${{{scheme.lower()}:{rest}{'}' if closed else ''}"))
            continue
        if not closed:
            issues.append((match.start(), f"the reference {match[0]!r} is never closed", f"write ${{{inner}}}"))
            continue
        if scheme == "env" and colon:
            name = rest.split(":-", 1)[0]
            if not _ENV_NAME.fullmatch(name):
                issues.append((match.start(), f"invalid environment variable name {name!r}",
                               "letters, digits and _, not starting with a digit"))
            elif ":" in rest and ":-" not in rest:
                issues.append((match.start(), f"{match[0]!r}: a default is written with :-",
                               f"write ${{env:{name}:-DEFAULT}}"))
            continue
        if scheme == "file" and colon:
            issues.append((match.start(), "connection settings are read from the environment, not from files",
                           "write ${env:NAME} or ${env:NAME:-default}; secrets go under credentials:, "
                           "where ${file:PATH} is allowed"))
            continue
        name, _, default = inner.partition(":-")
        if _ENV_NAME.fullmatch(name):
            fix = f"${{env:{name}:-{default}}}" if ":-" in inner else f"${{env:{name}}}"
            issues.append((match.start(), f"{match[0]!r} has no env: before the name, so it would be sent as "
                                          f"literal text", f"write {fix}"))
            continue
        issues.append((match.start(), f"{match[0]!r} is not a reference settings understand",
                       "write ${env:NAME} or ${env:NAME:-default}"))
    return issues


def setting_default(text: str) -> str | None:
    """A setting as validate can know it: literal text, with each ${env:X:-default} replaced by
    its default; None when it depends on an environment variable without a default."""
    unknown = False

    def sub(match: re.Match[str]) -> str:
        nonlocal unknown
        if match[2] is None:
            unknown = True
            return ""
        return match[2]

    value = _SETTING_REF.sub(sub, text)
    return None if unknown else value
