"""Rotated connector tokens encrypted at rest in the state store.

A token value is stored as ``{"sealed": "<Fernet token>"}``: authenticated encryption (a changed
byte fails to open, it never decrypts to something else), so the database (SQLite file or
PostgreSQL schema), its backups and its dumps hold no usable token. The key is kept apart from
the data:

- ``state.key`` in the merchant file (a secret reference, e.g. ``${env:ACME_STATE_KEY}``), else
  ``CONNECTOR_STATE_KEY`` in the environment: one or more Fernet keys separated by commas or
  spaces. The first seals new values; every key opens (rotation: put the new key first, keep the
  old one until each token was read once, which re-seals it with the new key).
- Otherwise a key file generated beside the SQLite state (``<state>.db.key``), created
  owner-only (0600), and refused if another user may read it.

Values written before tokens were sealed are plain JSON: they are read once and written back
sealed (only if nobody changed them meanwhile).
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from engine.errors import SecretError

KEY_ENV = "CONNECTOR_STATE_KEY"
SEALED = "sealed"


class TokenKeyError(SecretError):
    """The token key is missing, malformed, readable by others, or does not open a stored value: a
    configuration problem (exit 1), found before a refresh token is spent."""


def generate_key() -> str:
    """A new random key, as ``CONNECTOR_STATE_KEY`` or a key file holds it."""
    return Fernet.generate_key().decode("ascii")


def _remember(text: str) -> None:
    # The key is a secret like any credential: masked in whatever this process prints.
    from engine.project.secrets import REDACTOR

    REDACTOR.remember(text)


class TokenSealer:
    """Seals and opens token values with one or more Fernet keys (the first one seals)."""

    def __init__(self, keys: list[str], origin: str) -> None:
        if not keys:
            raise TokenKeyError(f"{origin} holds no key")
        fernets = []
        for number, key in enumerate(keys, 1):
            _remember(key)
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise TokenKeyError(
                    f"key {number} of {origin} is not a Fernet key (44 characters of URL-safe base64 "
                    "encoding 32 bytes); make one with `python -c \"from cryptography.fernet import "
                    "Fernet; print(Fernet.generate_key().decode())\"`") from None
        self.origin = origin
        self._first = fernets[0]
        self._all = MultiFernet(fernets)

    @classmethod
    def from_text(cls, text: str, origin: str) -> TokenSealer:
        return cls([k for k in re.split(r"[\s,]+", text.strip()) if k], origin)

    @classmethod
    def from_key_file(cls, path: Path) -> TokenSealer:
        """The key in ``path``, generated (owner-only) if the file does not exist yet. Processes
        starting together agree on one key: each writes its own to a private temporary file and
        links it into place, so the file appears whole or not at all, and only once."""
        if not path.exists():
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd, temporary = tempfile.mkstemp(prefix=".key-", dir=path.parent)  # mode 0600
                try:
                    with os.fdopen(fd, "w", encoding="ascii") as out:
                        out.write(generate_key() + "\n")
                        out.flush()
                        os.fsync(out.fileno())
                    os.link(temporary, path)
                except FileExistsError:
                    pass  # another process made it first: its key is the one
                finally:
                    os.unlink(temporary)
            except OSError as exc:
                raise TokenKeyError(f"cannot create the token key file {path}: {exc.strerror}") from None
        try:
            mode = path.stat().st_mode
            if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise TokenKeyError(f"token key file {path} may be read by other users "
                                    f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`")
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenKeyError(f"cannot read the token key file {path}: "
                                f"{getattr(exc, 'strerror', None) or 'not a key file'}") from None
        return cls.from_text(text, f"token key file {path}")

    def seal(self, value: dict) -> dict:
        plain = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str).encode("utf-8")
        return {SEALED: self._first.encrypt(plain).decode("ascii")}

    def open(self, stored: dict, what: str) -> tuple[dict, bool]:
        """The value in ``stored``, and whether it should be written again: it was plain (written
        before tokens were sealed) or sealed with a key other than the first."""
        if not is_sealed(stored):
            return stored, True
        token = stored[SEALED].encode("ascii")
        stale = False
        try:
            plain = self._first.decrypt(token)
        except InvalidToken:
            try:
                plain = self._all.decrypt(token)
            except InvalidToken:
                raise TokenKeyError(
                    f"the stored tokens of {what} do not open with {self.origin}: the key they were "
                    "sealed with is needed (list it after the new one), or authorize the connection again") from None
            stale = True
        return json.loads(plain), stale


def is_sealed(stored: Any) -> bool:
    return isinstance(stored, dict) and set(stored) == {SEALED} and isinstance(stored[SEALED], str)


def default_key_file(location: str | None) -> Path | None:
    """Where the generated key of a SQLite state file lives: beside it, never inside it."""
    if not location or location == ":memory:":
        return None
    return Path(location + ".key")


def ephemeral_sealer() -> TokenSealer:
    """A key that lives as long as the process: for in-memory stores, which die with it."""
    return TokenSealer([base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")], "a key of this process")
