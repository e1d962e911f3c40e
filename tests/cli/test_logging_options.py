"""`connector -v` / `-vv` and `--log-format json`: logs on stderr, and no secret at any level, in a
message, an argument, a URL or a traceback."""

from __future__ import annotations

import json
import logging

import click
import pytest
from conftest import SECRETS

from engine.cli import main
from engine.project.secrets import REDACTOR

SECRET = "sk-live-0123456789abcdef"


@pytest.fixture
def chatty():
    """A command that logs a secret every way it can reach a log line, then fails with it."""
    REDACTOR.remember(SECRET)

    @click.command("chatty")
    def command() -> None:
        log = logging.getLogger("engine.http")
        log.debug("debug holding the token %s", SECRET)
        log.info("info holding the token in a URL https://api.test/x?sign=abc123&access_token=%s&page=2", SECRET)
        logging.getLogger("httpx").info("HTTP Request: GET https://api.test/y?sign=deadbeef42 \"200 OK\"")
        log.warning("warning holding the token %s", SECRET)
        raise RuntimeError(f"failed with {SECRET}")

    main.add_command(command)
    yield
    main.commands.pop("chatty")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_secret_reaches_a_log_line_at_any_level(cli, chatty, fmt) -> None:
    result = cli("-vv", "--log-format", fmt, "chatty")
    assert result.exit_code == 5
    assert SECRET not in result.output
    assert "deadbeef42" not in result.output and "abc123" not in result.output
    for level in ("debug holding the token", "info holding the token", "warning holding the token"):
        assert level in result.output
    assert "Traceback" in result.output  # -v shows the traceback of the failure, redacted too
    if fmt == "json":
        logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        assert {entry["level"] for entry in logged} >= {"debug", "info", "warning"}
        assert all({"time", "level", "logger", "message"} <= set(entry) for entry in logged)
        assert any("Traceback" in entry.get("exc", "") for entry in logged)


def test_without_v_only_warnings_and_the_one_line_error(cli, chatty) -> None:
    result = cli("chatty")
    assert result.exit_code == 5
    assert "info holding the token" not in result.output and "debug holding" not in result.output
    assert "warning holding the token ***" in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("error: unexpected RuntimeError: failed with ***")


def test_a_verbose_run_logs_without_the_merchants_secrets(cli, acme, transports) -> None:
    from test_dead_letter_labels import listing_status_stub, seed_listings

    transports["tiktok_us"], _ = listing_status_stub(refused="171")
    seed_listings(acme)
    result = cli("-vv", "--log-format", "json", "run", acme, "listing_status")
    assert result.exit_code == 3, result.output
    logged = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(entry["logger"] == "engine.cli" and "exit 3" in entry["message"] for entry in logged)
    for secret in SECRETS:
        assert secret not in result.output


@pytest.mark.parametrize("args", [("-vv", "chatty"), ("chatty", "-vv"), ("-v", "chatty", "-v"),
                                  ("--log-format", "json", "chatty", "-vv"), ("chatty", "--log-format", "json", "-vv")])
def test_v_and_log_format_work_before_and_after_the_command(cli, chatty, args) -> None:
    """`connector --help` and every command's --help list both; the -v count adds up across positions."""
    result = cli(*args)
    assert result.exit_code == 5
    assert "debug holding the token ***" in result.output and SECRET not in result.output
    if "json" in args:
        assert all(json.loads(line)["message"] for line in result.stderr.splitlines() if line.startswith("{"))
        assert any(line.startswith("{") for line in result.stderr.splitlines())


def test_every_command_and_group_takes_v_and_log_format() -> None:
    def walk(command: click.Command, path: str):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    for path, command in walk(main, "connector"):
        opts = {opt for param in command.params for opt in param.opts}
        assert {"-v", "--log-format"} <= opts, path
