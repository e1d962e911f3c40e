"""Logging for the `connector` commands: `-v` (info), `-vv` (debug), `--log-format text|json`, on stderr.

`-v` and `--log-format` are options of every command and group (`connector -v run ...` and
`connector run ... -v` are the same; given in both places, the -v count adds up).

Every record goes through the project's redactor before any handler sees it: a filter on the
command line's handler (every logger), and the same filter on the loggers of the HTTP libraries
(httpx logs each request's whole URL at INFO, and a token refresh may carry the app secret and
the refresh token in its query), so a handler someone else adds (a server's, a test's) gets the
masked record too. A secret that reached a message, an argument or a traceback is masked at every
level; URLs lose their sensitive query values (signatures, tokens) the way the HTTP runtime's own
messages do.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import click

from engine.http.errors import redact_url
from engine.project.secrets import REDACTOR

HANDLER_NAME = "connector-cli"
# A URL up to a space, quote or bracket (a message may close it with "]"); an IPv6 host keeps its brackets.
_URL = re.compile(r"https?://(?:\[[0-9a-fA-F:.]+\])?[^\s\"'<>\[\]]*")
# Libraries that log whole requests: quiet unless asked twice (-vv), and even then their URLs are redacted.
CHATTY = ("httpx", "httpcore", "hpack", "urllib3", "asyncio")
# Loggers that write records of their own (a filter on a logger sees only the records made on it,
# not those its children make): the HTTP libraries' and the HTTP runtime's.
FILTERED = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
            "httpcore.socks", "hpack", "urllib3", "engine.http")


def redact(text: str) -> str:
    return REDACTOR.text(_URL.sub(lambda m: redact_url(m.group(0)), text))


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before it is formatted: the message with its arguments merged in,
    the traceback, the stack. It never drops a record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  (a bad format string: show it as written, still masked)
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._redacted = True
        return True


REDACTING_FILTER = RedactingFilter()


def install_redaction() -> None:
    """Put the redacting filter on the loggers that write requests (idempotent)."""
    for name in FILTERED:
        logger = logging.getLogger(name)
        if REDACTING_FILTER not in logger.filters:
            logger.addFilter(REDACTING_FILTER)


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
    install_redaction()
    handler = _StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.addFilter(REDACTING_FILTER)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.INFO if verbosity >= 2 and name == "httpx" else logging.WARNING)


# ------------------------------------------------------------------ -v and --log-format on every command

_STATE = "connector.logging"
VERBOSE_HELP = "Log on stderr: -v progress and error tracebacks, -vv debug."
FORMAT_HELP = "json: one JSON object per log line (for a log collector). Secrets are masked either way."


def options_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Each command's -v and --log-format add to what the command line gave before it; logging is
    configured again with the sum, before any command runs."""
    state = ctx.find_root().meta.setdefault(_STATE, {"verbose": 0, "format": "text"})
    if param.name == "verbose":
        state["verbose"] += value or 0
    elif value is not None:
        state["format"] = value
    configure(state["verbose"], state["format"])
    return value


def verbose_option(*, expose_value: bool = False, help: str = VERBOSE_HELP) -> click.Option:
    return click.Option(["-v", "--verbose"], count=True, expose_value=expose_value, callback=options_callback,
                        help=help)


def format_option() -> click.Option:
    return click.Option(["--log-format"], type=click.Choice(["text", "json"]), default=None, expose_value=False,
                        callback=options_callback, help=FORMAT_HELP + "  [default: text]")


def add_logging_options(command: click.Command) -> None:
    """Give a command (and a group) -v and --log-format, unless it has its own."""
    names = {param.name for param in command.params}
    if "verbose" not in names:
        command.params.append(verbose_option())
    if "log_format" not in names:
        command.params.append(format_option())
