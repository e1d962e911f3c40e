"""The `connector` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from engine import decimal_json
from engine.cli import exit_codes
from engine.cli.common import MERCHANT_FILE
from engine.cli.exit_codes import CliError
from engine.cli.logs import FORMAT_HELP, VERBOSE_HELP, add_logging_options, options_callback
from engine.errors import ConnectorError, Problem, SecretError, SpecError
from engine.project.secrets import REDACTOR

log = logging.getLogger("engine.cli")

TEST_FILE_SUFFIXES = (".test.yaml", "_test.yaml", ".test.yml", "_test.yml")  # as the pytest plugin collects
NOT_SEARCHED = {".venv", ".git", ".state", "node_modules", "__pycache__", "fixtures"}


def _emit_problems(problems: list[Problem], fmt: str, checked: int) -> None:
    errors = [p for p in problems if p.severity == "error"]
    if fmt == "json":
        click.echo(json.dumps({"ok": not errors, "files_checked": checked, "problems": [
            {"file": p.location.file if p.location else None, "line": p.location.line if p.location else None,
             "col": p.location.col if p.location else None, "path": p.path, "message": p.message,
             "hint": p.hint, "severity": p.severity} for p in problems]}, indent=2))
        return
    for p in problems:
        if fmt == "github":
            where = f"file={p.location.file},line={p.location.line},col={p.location.col}," if p.location else ""
            text = f"{p.message}. {p.hint}" if p.hint else p.message
            level = "warning" if p.severity == "warning" else "error"
            click.echo(f"::{level} {where}title={p.path or 'connector validate'}::{text}")
        else:
            click.echo(p.format())
    if fmt == "text":
        warnings = len(problems) - len(errors)
        if not problems:
            summary = f"{checked} files checked, 0 problems"
        else:
            parts = [f"{len(errors)} error{'s' if len(errors) != 1 else ''}"]
            if warnings:
                parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
            summary = f"{checked} files checked, " + ", ".join(parts)
        colour = "red" if errors else "yellow" if problems else "green"
        click.echo(click.style(summary, fg=colour), err=bool(errors))


def describe_error(exc: BaseException) -> tuple[int, list[str]]:
    """The exit code and the lines to print for an error that reached a command's boundary."""
    from engine.http import HttpCallError
    from engine.http.breaker import ConnectionDown
    from engine.state.store import BackendNotAvailable, FlowBusyError, StateError, StateUnreachable

    if isinstance(exc, SpecError):
        return exit_codes.CONFIG, [p.format() for p in exc.problems]
    if isinstance(exc, HttpCallError | ConnectionDown):
        return exit_codes.PLATFORM, [f"error: {exc}"]
    if isinstance(exc, BackendNotAvailable):  # the merchant's `state: url:` names a backend not built yet
        return exit_codes.CONFIG, [f"error: state store: {exc}"]
    if isinstance(exc, StateUnreachable):  # state.url or CONNECTOR_STATE_URL names no reachable database
        return exit_codes.CONFIG, [f"error: state store: {exc}"]
    if isinstance(exc, FlowBusyError):
        return exit_codes.BUSY, [f"error: {exc}"]
    if isinstance(exc, StateError):
        return exit_codes.UNEXPECTED, [f"error: state store: {exc}"]
    if isinstance(exc, SecretError | ConnectorError):
        return exit_codes.CONFIG, [f"error: {exc}"]
    first = (str(exc).strip().splitlines() or [""])[0]
    return exit_codes.UNEXPECTED, [f"error: unexpected {type(exc).__name__}: {first} "
                                   "(`connector -v ...` shows the traceback)"]


class LoggingGroup(click.Group):
    """A group whose commands, and the commands of its groups, all take -v and --log-format."""

    group_class = type  # subgroups are of the same class

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        add_logging_options(cmd)
        super().add_command(cmd, name)


class ConnectorGroup(LoggingGroup):
    """Catches every error at the command boundary: a one-line message (a file:line:col list for
    configuration problems) and the documented exit code, never a Python traceback."""

    group_class = LoggingGroup

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            raise  # click reports these itself (a closed pipe quietly)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(exit_codes.INTERRUPTED)
        except Exception as exc:
            code, lines = describe_error(exc)
            log.info("%s", "the traceback of the error below", exc_info=exc)
            for line in lines:
                click.echo(REDACTOR.text(line), err=True)
            ctx.exit(code)


EXIT_CODES_HELP = "\b\nExit codes:\n" + "\n".join(f"  {code:>3}  {meaning}" for code, meaning in exit_codes.TABLE)


@click.group(cls=ConnectorGroup, epilog=EXIT_CODES_HELP)
# Every command takes these too (LoggingGroup adds them): `connector run ... -v` is `connector -v run ...`.
@click.option("-v", "--verbose", count=True, expose_value=False, callback=options_callback, help=VERBOSE_HELP)
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None, expose_value=False,
              callback=options_callback, help=FORMAT_HELP + "  [default: text]")
@click.version_option(package_name="first-party-connector")
def main() -> None:
    """First-Party Connector: keep a brand's sales channels and its commerce system in sync.

    -v and --log-format may also follow any command."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@click.option("--no-shipped", is_flag=True, help="Do not load the shipped connectors, mappings and flows.")
def validate(paths: tuple[Path, ...], fmt: str, no_shipped: bool) -> None:
    """Check every file under PATHS: schema, expressions, references. Exit 1 on any error."""
    from engine.project.loader import Project
    from engine.project.plan import build_plan

    checked = 0
    try:
        project = Project.load(paths or [Path.cwd()], include_shipped=not no_shipped)
        checked = len(project.files)
        # The same plan `run` executes: a project that validates here is the project that runs.
        problems = list(build_plan(project).problems)
    except Exception as exc:  # noqa: BLE001  (validate reports; it never ends in a traceback)
        problems = [Problem(f"validate stopped: {type(exc).__name__}: {REDACTOR.text(str(exc))}", None, "",
                            "this is a bug in connector validate; please report it with the files checked")]
    _emit_problems(problems, fmt, checked)
    sys.exit(exit_codes.CONFIG if any(p.severity == "error" for p in problems) else exit_codes.OK)


def _load_plan(mapping: str, merchant_path: Path | None) -> tuple[Any, Any, Any]:
    """The compiled mapping (a name, or a mapping file) with the merchant's overrides; and the project
    and merchant document it came from."""
    from engine.project.loader import Project
    from engine.project.overrides import effective
    from engine.project.validate import Validator

    paths: list[Path] = []
    if merchant_path:
        paths += [merchant_path, merchant_path.parent]  # the merchant's folder, as `connector run` loads it
    as_file = Path(mapping)
    is_file = as_file.suffix in (".yaml", ".yml") and as_file.is_file()
    if is_file:
        paths.append(as_file)
    project = Project.load(paths)
    if project.problems:
        raise SpecError(project.problems)
    name = mapping
    if is_file:
        name = next((d.name for d in project.documents["mapping"].values() if d.path.resolve() == as_file.resolve()), "")
    merchant = None
    if merchant_path:
        merchant = next((d for d in project.documents["merchant"].values()
                         if d.path.resolve() == merchant_path.resolve()), None)
        if merchant is None:
            raise CliError(f"{merchant_path} is not a merchant file (`kind: merchant`)", exit_codes.USAGE)
    doc = effective(project, merchant, "mapping", name)
    if doc is None:
        raise CliError(f"unknown mapping {mapping!r}; known: {', '.join(project.names('mapping'))}", exit_codes.USAGE)
    validator = Validator(project)
    problems = validator.schemas.check_document(doc, "mapping")
    if problems:
        raise SpecError(problems)
    plan = validator.compile_mapping(doc)
    if plan is None:
        raise SpecError(validator.problems)
    return plan, project, merchant


def _uses(steps: list, mapping: str) -> tuple[bool, str | None]:
    """Whether a flow's resolved steps apply `mapping`, and the role whose market it sees then."""
    from engine.flow.resolve import mappings_used

    used = mappings_used(steps)
    return mapping in used, used.get(mapping)


def _flow_context(project: Any, merchant: Any, mapping: str, flow: str | None) -> dict:
    """What a run of the merchant's flow hands this mapping: the flow's option defaults, the
    merchant's options for it, and the market (region, currency) of the connection it writes for."""
    from engine.flow.context import RunContext
    from engine.flow.resolve import resolve_for_merchant
    from engine.project.overrides import effective
    from engine.project.yamlpos import plain

    bindings = merchant.doc.get("flows") or {}
    if flow is not None and flow not in bindings:
        raise CliError(f"merchant {merchant.doc.get('name')} has no flow {flow!r}; its flows: "
                       f"{', '.join(bindings) or 'none'}", exit_codes.USAGE)
    docs = {local: effective(project, merchant, "flow", binding["flow"]) for local, binding in bindings.items()}
    steps = {local: resolve_for_merchant(project, merchant.doc, doc, plain(bindings[local].get("connections") or {}),
                                         problems=[], options=bindings[local].get("options"))
             if doc is not None else []
             for local, doc in docs.items()}
    if flow is None:
        using = [local for local in docs if _uses(steps[local], mapping)[0]]
        if len(using) != 1:
            if using:
                click.echo(f"note: {mapping} is used by the flows {', '.join(using)}; pass --flow to apply one's "
                           "options (applying none)", err=True)
            return {}
        flow = using[0]
    binding, flow_doc = bindings[flow], docs[flow]
    used, role = _uses(steps[flow], mapping)
    roles = plain(binding.get("connections") or {})
    connections = merchant.doc.get("connections") or {}
    defaults = {k: v.get("default") for k, v in plain((flow_doc or {}).get("options") or {}).items()
                if isinstance(v, dict) and "default" in v}
    ctx = RunContext(
        merchant=str(merchant.doc.get("name")), flow=flow, flow_name=binding["flow"],
        options={**defaults, **plain(binding.get("options") or {})}, connections={}, connection_names=roles,
        connection_meta={r: {"region": connections[n].get("region"), "currency": connections[n].get("currency"),
                             "connector": connections[n].get("connector")}
                         for r, n in roles.items() if n in connections},
        store=None)
    market = f" and the market of {roles[role]}" if role in roles else ""
    click.echo(f"note: with the options of flow {flow} ({binding['flow']}){market}" +
               ("" if used else f"; the flow does not use {mapping}"), err=True)
    per_record = [str(step.options["context_key"]) for step in steps[flow]
                  if isinstance(step.options, dict) and step.options.get("context_key")]
    if used and per_record:
        click.echo(f"note: steps of the flow add {', '.join(per_record)} per record; give them with --context",
                   err=True)
    return ctx.mapping_context(role)


def _select(record: Any, select: str, source: Path) -> Any:
    from engine.lang.expr import ExprCompileError, ExpressionCompiler, ExprEvalError, Scope

    if isinstance(record, dict) and select in record:  # a plain key, even one JMESPath would not parse
        return record[select]
    try:
        expr = ExpressionCompiler().jmespath(select)
    except ExprCompileError as exc:
        raise click.BadParameter(f"{select!r} is not a JMESPath expression: {exc}", param_hint="--select") from None
    try:
        found = expr.evaluate(Scope(record, record, None, {}))
    except ExprEvalError as exc:  # `money_add(x)` on a file without x: the expression's error, not a bug
        raise click.BadParameter(f"{select!r} failed on {source}: {exc}", param_hint="--select") from None
    if found is None:
        keys = ", ".join(map(str, record)) if isinstance(record, dict) else type(record).__name__
        raise CliError(f"--select {select!r} found nothing in {source} (top level: {keys})", exit_codes.USAGE)
    return found


def _read_input(path: Path) -> Any:
    from engine.project.yamlpos import load_file, plain

    if path.suffix in (".yaml", ".yml"):
        return plain(load_file(path))
    try:
        return decimal_json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # ValueError: also a number past the reader's limits
        raise CliError(f"{path} is not JSON: {exc}", exit_codes.USAGE) from None
    except RecursionError:  # `[[[[...` thousands deep: the decoder's recursion limit, not a bug
        raise CliError(f"{path}: JSON nested too deeply to read", exit_codes.USAGE) from None


@main.command("map")
@click.argument("mapping")
@click.argument("input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--merchant", type=MERCHANT_FILE, help="Apply this merchant's overrides (and options: see --flow).")
@click.option("--flow", "flow", metavar="LOCALNAME",
              help="With --merchant: apply this flow's options (defaults and the merchant's) and its connection's "
                   "region and currency, as a run does. Default: the merchant's one flow that uses MAPPING.")
@click.option("--select", metavar="EXPR",
              help="JMESPath that picks the record(s) out of an API response file: `data`, `data.products[0]`, "
                   "or a key such as `product`. A list is mapped item by item.")
@click.option("--context", "context_json", default="{}", metavar="JSON",
              help="Context values as a JSON object (e.g. what earlier steps add, such as image_uris); they win "
                   "over the flow's.")
def map_command(mapping: str, input_file: Path, merchant: Path | None, flow: str | None, select: str | None,
                context_json: str) -> None:
    """Apply MAPPING (a name or a file) to the JSON record in INPUT_FILE and print the output.

    Exit 1 when the mapping fails on a record (its field errors go to stderr as JSON)."""
    from engine.project.testing import _jsonable

    try:
        extra = decimal_json.loads(context_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--context") from None
    if not isinstance(extra, dict):
        raise click.BadParameter("a JSON object, e.g. '{\"warehouse_id\": \"1\"}'", param_hint="--context")
    if flow is not None and merchant is None:
        raise click.UsageError("--flow needs --merchant: the flow's options are the merchant's")
    plan, project, merchant_doc = _load_plan(mapping, merchant)
    context = _flow_context(project, merchant_doc, plan.name, flow) if merchant_doc is not None else {}
    context.update(extra)
    record = _read_input(input_file)
    if select:
        record = _select(record, select, input_file)
    records = record if isinstance(record, list) else [record]
    failed = 0
    for item in records:
        result = plan.apply(item, context)
        if result.errors:
            failed += 1
            click.echo(json.dumps({"errors": [e.as_dict() for e in result.errors]}, indent=2), err=True)
        else:
            click.echo(REDACTOR.text(json.dumps(_jsonable(result.output), indent=2, ensure_ascii=False)))
    sys.exit(exit_codes.CONFIG if failed else exit_codes.OK)


def find_test_files(folder: Path) -> list[Path]:
    """*.test.yaml (and _test.yaml) files below `folder`, as pytest collects them; virtualenvs,
    VCS folders, state, node_modules and fixtures are not searched."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in NOT_SEARCHED and not d.startswith("."))
        found += [Path(root) / name for name in sorted(files) if name.endswith(TEST_FILE_SUFFIXES)]
    return found


def _merchant_paths(test_files: list[Path]) -> list[Path]:
    """The merchant file a test file names (`merchant:`), with its folder, as `connector run` loads it."""
    from engine.project.yamlpos import load_file

    paths: list[Path] = []
    for path in test_files:
        try:
            doc = load_file(path)
        except SpecError:
            continue  # the project load reports it with its position
        merchant = doc.get("merchant") if isinstance(doc, dict) else None
        if isinstance(merchant, str) and (path.parent / merchant).is_file():
            paths += [path.parent / merchant, (path.parent / merchant).parent]
    return paths


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("-v", "--verbose", count=True, callback=options_callback,
              help="Print every case, not only failures (and log on stderr, as -v does for every command).")
def test(paths: tuple[Path, ...], verbose: int) -> None:
    """Run the YAML test cases in PATHS (files, or folders loaded whole); without PATHS, every
    *.test.yaml file below the current folder. Exit 1 when a case fails."""
    from engine.project.loader import Project
    from engine.project.testing import load_suites, run_case

    if paths:
        given = [p.resolve() for p in paths]
        project = Project.load([*paths, *_merchant_paths([p for p in paths if p.is_file()])])
        where = ", ".join(map(str, paths))
    else:
        found = find_test_files(Path.cwd())
        if not found:
            raise CliError(f"no test files (*.test.yaml) below {Path.cwd()}; pass a folder or file to test",
                           exit_codes.USAGE)
        given = [p.resolve() for p in found]
        project = Project.load([*found, *_merchant_paths(found)])
        where = str(Path.cwd())
    if project.problems:
        for p in project.problems:
            click.echo(p.format(), err=True)
        sys.exit(exit_codes.CONFIG)
    # Only the cases asked for: a merchant's folder, loaded for its mappings, may hold other tests.
    suites = [s for s in load_suites(project)
              if any(s.document.path.resolve().is_relative_to(p) for p in given)]
    if not suites:
        raise CliError(f"no test files (`kind: test`) in {where}", exit_codes.USAGE)
    results = [run_case(suite, case) for suite in suites for case in suite.cases]
    failed = [r for r in results if not r.passed]
    for r in results:
        if verbose or not r.passed:
            mark = click.style("PASS", fg="green") if r.passed else click.style("FAIL", fg="red")
            click.echo(f"{mark} {r.file}:{r.line} {r.name}")
            if not r.passed:
                click.echo(r.detail)
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(exit_codes.CONFIG if failed or not results else exit_codes.OK)


def _register_commands() -> None:
    from engine.cli import audit, docs, listings, reconcile, serve, status, ui, webhooks, worker
    from engine.cli import run as run_commands

    for module in (run_commands, listings, audit, webhooks, docs, serve, reconcile, worker, status, ui):
        module.register(main)
    # Commands that live outside the engine (the simulators' `sandbox`) are plugged in by entry
    # point, so the engine never imports them.
    for entry in entry_points(group="connector.commands"):
        entry.load()(main)


_register_commands()


def run() -> None:
    """The `connector` entry point. Errors inside a command are handled by ConnectorGroup; this
    catches what happens around one (an error before any command ran)."""
    try:
        main()
    except Exception as exc:
        code, lines = describe_error(exc)
        for line in lines:
            click.echo(REDACTOR.text(line), err=True)
        sys.exit(code)


if __name__ == "__main__":
    run()
