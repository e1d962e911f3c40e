"""No secret in any log line at any level: a TikTok Shop token refresh (app secret and refresh token in
a GET query, which httpx logs at INFO) run against the simulator with -vv, in text and JSON, with the
options before or after the command; and the HTTP libraries' records are masked for any handler,
not only the command line's."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

from engine.cli.logs import install_redaction
from engine.project.secrets import REDACTOR
from simulators.sandbox import start_sandbox

URL = "https://connector.acme.test"


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(products=0, seed=9) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def own_redactor(monkeypatch):
    """Each test masks what its own command resolved, as one `connector` process does. The process
    wide REDACTOR keeps every secret resolved before in this test process, and another test's
    weak value (a refresh token of "refresh") would mask the very URL these tests look for."""
    monkeypatch.setattr(REDACTOR, "_values", set())
    monkeypatch.setattr(REDACTOR, "_pattern", None)


def tokens(sandbox) -> dict:
    return sandbox.admin("tiktok_shop", "GET", "state")["tokens"]


@pytest.mark.parametrize(("where", "fmt"), [("before", "json"), ("after", "json"), ("before", "text"),
                                            ("after", "text")])
def test_a_token_refresh_logs_no_secret_at_any_level(cli, acme, sandbox, where, fmt) -> None:
    environ = sandbox.environ()
    sandbox.admin("tiktok_shop", "POST", "reset")  # the seed tokens again: each test starts from the merchant's
    before = tokens(sandbox)
    sandbox.admin("tiktok_shop", "POST", "expire_token")
    options = ["-vv", "--log-format", fmt]
    command = ["webhooks", "sync", acme, "--url", URL, "--dry-run"]
    result = cli(*(options + command if where == "before" else command + options), env=environ)
    assert result.exit_code == 0, result.output

    after = tokens(sandbox)
    assert after["access_token"] != before["access_token"], "the access token was not refreshed"
    secrets = {environ["ACME_TIKTOK_APP_SECRET"], environ["ACME_SHOPIFY_TOKEN"], before["access_token"],
               before["refresh_token"], after["access_token"], after["refresh_token"]}
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr
    # The refresh was logged (the line httpx writes at INFO), with its secrets masked.
    refresh = [line for line in result.stderr.splitlines() if "/api/v2/token/refresh" in line]
    assert refresh, result.stderr
    assert all("app_secret=***" in line and "refresh_token=***" in line for line in refresh)
    assert any("DEBUG" in line or '"level": "debug"' in line for line in result.stderr.splitlines())
    if fmt == "json":
        logged = [json.loads(line) for line in result.stderr.splitlines()]
        assert {"httpx", "engine.http"} <= {entry["logger"] for entry in logged}


def test_the_http_libraries_records_are_masked_for_every_handler() -> None:
    """A server or a test may add its own handler: what httpx and httpcore log reaches it masked."""
    secret = "app-secret-for-any-handler"
    REDACTOR.remember(secret)
    install_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore.http11")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        url = httpx.URL("https://auth.tiktok-shops.test/api/v2/token/refresh",
                        params={"app_key": "k", "app_secret": secret, "refresh_token": "TTP_rt_0123456789",
                                "grant_type": "refresh_token"})
        logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "GET", url, "HTTP/1.1", 200, "OK")
        logging.getLogger("httpcore.http11").debug("send_request_headers.started request=%r secret %s", url, secret)
        try:
            raise RuntimeError(f"failed at {url}")
        except RuntimeError:
            logging.getLogger("httpx").exception("request failed")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    out = stream.getvalue()
    assert "token/refresh" in out and "Traceback" in out
    assert secret not in out and "TTP_rt_0123456789" not in out
    assert "app_secret=***" in out and "refresh_token=***" in out
