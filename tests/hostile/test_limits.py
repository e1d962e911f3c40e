"""The limits behind the hostile-file suite, one by one: templates, YAML, secret files, hosts."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from engine.errors import ConnectorError, SecretError, SpecError
from engine.http import Connection
from engine.lang.expr import ExprCompileError, ExpressionCompiler, ExprEvalError, Scope
from engine.project.hosts import declared_hosts, host_issue
from engine.project.secrets import SecretRef
from engine.project.yamlpos import loads

COMPILER = ExpressionCompiler()
SCOPE = Scope({"title": "Mug"}, {"title": "Mug"}, None, {})


@pytest.mark.parametrize("source,message", [
    ("{{ 9**99999999 }}", "digits"),
    ("{{ (10**10)**(10**10) }}", "digits"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "range()"),
    ("{{ 'a' * 1000000000 }}", "characters"),
    ("{{ [1, 2] * 1000000000 }}", "items"),
])
def test_a_template_over_a_limit_fails_at_once_with_the_limit_named(source, message):
    started = time.monotonic()
    template = COMPILER.template(source)  # compiling never folds the constants
    with pytest.raises(ExprEvalError, match="refused by the sandbox") as info:
        template.evaluate(SCOPE)
    # A guard against running on (the loops asked for would take hours), not a speed figure.
    assert message in str(info.value) and time.monotonic() - started < 10


@pytest.mark.parametrize("source,message", [
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macros are not supported"),
    ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "nests too deeply"),
    ("{{ title }}" * 3000, "characters"),
])
def test_a_template_beyond_reason_is_refused_when_compiled(source, message):
    with pytest.raises(ExprCompileError, match=message):
        COMPILER.template(source)


def test_templates_within_the_limits_still_work():
    assert COMPILER.template("{{ 2**10 }} {{ 'ab' * 3 }} {{ title }}").evaluate(SCOPE) == "1024 ababab Mug"
    loop = "{% for i in range(300) %}{% for j in range(300) %}{% endfor %}{% endfor %}ok"
    assert COMPILER.template(loop).evaluate(SCOPE) == "ok"  # 90,300 steps


@pytest.mark.parametrize("text,message", [
    ("a0: &a [x]\n" + "".join(f"a{i}: &a{i} [" + ", ".join(["*a" if i == 1 else f"*a{i - 1}"] * 10) + "]\n"
                              for i in range(1, 8)), "expands to more than"),
    ("x: " + "[" * 500 + "]" * 500 + "\n", "nested more than"),
    ("x: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested more than"),
    ("x: 'a\u202eb'\n", "U+202E"),
])
def test_hostile_yaml_is_refused_with_a_position(text, message):
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        loads(text, "hostile.yaml")
    problem = info.value.problems[0]
    assert message in problem.message and problem.location is not None and problem.hint
    # A guard against a hang (a bomb built out would take minutes), not a speed figure: refused
    # in milliseconds on a quiet machine, and shared machines may be many times slower.
    assert time.monotonic() - started < 30


def test_secret_files_are_read_only_inside_the_project_or_the_secrets_folder(tmp_path: Path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "token").write_text("inside-value\n")
    (elsewhere / "token").write_text("outside-value\n")
    (project / "link").symlink_to(elsewhere / "token")
    assert SecretRef.parse("${file:token}", project).resolve({}) == "inside-value"
    for ref in ("${file:/etc/passwd}", "${file:../elsewhere/token}", "${file:link}"):
        with pytest.raises(SecretError, match="outside the project folder") as info:
            SecretRef.parse(ref, project).resolve({})
        assert "outside-value" not in str(info.value) and "root:" not in str(info.value)
    allowed = {"CONNECTOR_SECRETS_DIR": str(elsewhere)}
    assert SecretRef.parse("${file:../elsewhere/token}", project).resolve(allowed) == "outside-value"


def test_credentials_go_only_to_the_connectors_declared_hosts():
    spec = {"base_url": "https://{shop}.example.com/api", "auth": {"token_url": "https://auth.example.org/t"},
            "hosts": ["*.cdn.example.net"]}
    hosts = declared_hosts(spec)
    assert host_issue("https://acme.example.com/api", hosts) is None
    assert host_issue("https://auth.example.org/x", hosts) is None
    assert host_issue("https://a.b.cdn.example.net/", hosts) is None
    assert host_issue("http://127.0.0.1:8080/api", hosts) is None
    assert host_issue("http://[::1]:9/x", hosts) is None
    for url in ("https://evil.example.net/api", "https://acme.example.com.evil.net/", "https://a.b.example.com/",
                "https://acme.example.com@evil.net/", "http://acme.example.com/", "http://169.254.169.254/",
                "file:///etc/passwd"):
        assert host_issue(url, hosts) is not None, url


def test_a_connection_refuses_a_base_url_outside_the_declared_hosts():
    import yaml

    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "connectors" / "shopify.yaml").read_text())
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200, json={}))
    with pytest.raises(ConnectorError, match="not one of the connector's declared hosts"):
        Connection(spec, settings={"shop": "acme", "base_url": "https://collector.example.net/admin/api/2025-01"},
                   credentials={"access_token": "shpat_must_not_leave"}, transport=transport)
    assert sent == []
