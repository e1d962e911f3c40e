"""Verifier kinds: how an inbound webhook proves it comes from the platform.

A connector's `webhooks:` section names one kind (`verifier: {kind: ..., ...options}`); each kind is
registered once in VERIFIERS with the JSON Schema of its options, and that declaration drives
`connector validate`, the connector JSON Schema and the reference (`connector docs`), as for auth
kinds. The platform modules (engine/platforms/*) register the kinds their platforms need.

A verifier sees the exact bytes received and the headers (names in lower case). It answers True
only for a signature that is present, well encoded and equal to the expected one, compared in
constant time; anything else (missing, badly encoded, forged, tampered) is False, and the
receiver stores nothing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from engine.registry import Registry

VERIFIERS = Registry("verifier")


def credential_option(name: str, default: str, what: str) -> dict[str, Any]:
    """The options schema of an option that names a connection credential (not the secret itself)."""
    return {"type": "string", "default": default, "pattern": "^[a-z][a-z0-9_]*$",
            "description": f"Name of the connection credential that holds {what}."}


class Verifier:
    """Base of every verifier kind.

    `credential_options` maps each option that names a credential to its default name; `reads`
    gives the credential names a connection must supply for the options given, so `connector
    validate` can check the connector lists them.
    """

    credential_options: Mapping[str, str] = {}
    default_header = ""

    def __init__(self, options: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        self.options = dict(options)
        self.header = str(options.get("header") or self.default_header).lower()
        self.secrets = {option: credentials[name] for option, name in self.reads_by_option(options).items()}

    @classmethod
    def reads_by_option(cls, options: Mapping[str, Any]) -> dict[str, str]:
        return {option: str(options.get(option) or default) for option, default in cls.credential_options.items()}

    @classmethod
    def reads(cls, options: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(cls.reads_by_option(options).values())

    def signature(self, headers: Mapping[str, str]) -> str | None:
        value = headers.get(self.header)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def verify(self, raw_body: bytes, headers: Mapping[str, str]) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def signature_headers(self) -> tuple[str, ...]:
        """Headers that carry the signature: verified once, then not stored (a stored signature
        with its body could be replayed to another receiver)."""
        return (self.header,)


def decode_hex(value: str, size: int) -> bytes | None:
    """`size` bytes from lower or upper case hex; None when the text is not exactly that."""
    if len(value) != 2 * size:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def decode_base64(value: str, size: int) -> bytes | None:
    """`size` bytes from standard base64 with padding; None for anything else (no silent skipping
    of stray characters, which would let two encodings of one signature both pass)."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if len(raw) == size else None


def build_verifier(options: Mapping[str, Any], credentials: Mapping[str, str]) -> Verifier:
    entry = VERIFIERS.get(str(options["kind"]))
    missing = [name for name in entry.impl.reads(options) if not credentials.get(name)]
    if missing:
        raise KeyError(", ".join(missing))
    return entry.impl(options, credentials)


__all__ = ["VERIFIERS", "Verifier", "build_verifier", "credential_option", "decode_base64", "decode_hex"]
