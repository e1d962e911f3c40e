"""The hosts a connection may send its credentials to: its connector's declared hosts.

A connector declares them by its `base_url`, the URLs among its auth options (a token endpoint)
and an optional `hosts:` list (a region's other API host, say). `{setting}` placeholders match
one DNS label, so `https://{shop}.example.com` allows `acme.example.com` and nothing else.
Loopback addresses are always allowed: the sandbox's simulators listen there. So are the names
reserved for testing that no public resolver answers (`*.test`, `*.invalid`, `*.localhost`, RFC 6761):
tests give a mock transport such names.

A merchant file overriding `base_url` (or any other `...url` setting) with a host outside that
list is refused before anything is sent: otherwise a merchant file could send a shop's secret
to any server.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
RESERVED_SUFFIXES = (".test", ".invalid", ".localhost")


def _host_of(template: str) -> str | None:
    text = template.strip()
    if "://" not in text:
        return None
    # A placeholder may stand for a whole label; replace it before parsing (braces are no host chars).
    text = re.sub(r"\{[^{}]*\}", "__label__", text)
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _urls(value: Any) -> Iterable[str]:
    if isinstance(value, str) and "://" in value:
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str) and ("url" in str(key).lower() or "://" in item):
                yield from _urls(item)
            elif isinstance(item, Mapping | list):
                yield from _urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from _urls(item)


def declared_hosts(spec: Mapping[str, Any]) -> list[str]:
    """Host patterns of a connector spec (plain data): base_url, the auth options' URLs, `hosts:`."""
    found: list[str] = []
    for url in [spec.get("base_url") or "", *_urls(spec.get("auth") or {})]:
        host = _host_of(str(url))
        if host and host not in found:
            found.append(host)
    for entry in spec.get("hosts") or []:
        host = _host_of(entry) if "://" in str(entry) else str(entry).strip().lower()
        if host and host not in found:
            found.append(host)
    return found


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(RESERVED_SUFFIXES):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _matches(host: str, pattern: str) -> bool:
    regex = "".join(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?" if part == "__label__" else re.escape(part)
                    for part in re.split(r"(__label__)", pattern))
    if pattern.startswith("*."):
        regex = r"(?:[a-z0-9-]+\.)+" + re.escape(pattern[2:])
    return re.fullmatch(regex, host) is not None


def host_issue(url: str, allowed: Iterable[str]) -> str | None:
    """Why `url` may not receive a connection's credentials; None when it may."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return f"{url!r} is not a URL"
    if parts.scheme not in ("http", "https") or not host:
        return f"{url!r} is not an http(s) URL with a host"
    if is_loopback(host):
        return None
    allowed = list(allowed)
    if parts.scheme != "https":
        return f"{host} would be reached over plain http: credentials go over https only (loopback aside)"
    if any(_matches(host, pattern) for pattern in allowed):
        return None
    shown = ", ".join(p.replace("__label__", "{...}") for p in allowed) or "none"
    return f"{host} is not one of the connector's declared hosts ({shown}) nor loopback"
