"""Logging for the `connector` commands: `-v` (info), `-vv` (debug), `--log-format text|json`, on stderr.

Every line goes through the project's redactor after it is formatted, so a secret that reached a
message, an argument or a traceback is masked at every level; URLs lose their sensitive query
values (signatures, tokens) the way the HTTP runtime's own messages do.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from engine.http.errors import redact_url
from engine.project.secrets import REDACTOR

HANDLER_NAME = "connector-cli"
# A URL up to a space, quote or bracket (a message may close it with "]"); an IPv6 host keeps its brackets.
_URL = re.compile(r"https?://(?:\[[0-9a-fA-F:.]+\])?[^\s\"'<>\[\]]*")
# Libraries that log whole requests: quiet unless asked twice (-vv), and even then their URLs are redacted.
CHATTY = ("httpx", "httpcore", "hpack", "urllib3", "asyncio")


def redact(text: str) -> str:
    return REDACTOR.text(_URL.sub(lambda m: redact_url(m.group(0)), text))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (RFC 3339 UTC), level, logger, message, and exc for a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "level": record.levelname.lower(), "logger": record.name, "message": redact(record.getMessage())}
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of the record (a test runner swaps it)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure(verbosity: int, fmt: str = "text") -> None:
    """Warnings only by default; -v info, -vv debug (and the HTTP library's request lines)."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.INFO if verbosity >= 2 and name == "httpx" else logging.WARNING)
