"""The `connector` command line."""

from __future__ import annotations

import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from engine.errors import ConnectorError, Problem, SpecError
from engine.project.secrets import REDACTOR


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


@click.group()
@click.version_option(package_name="first-party-connector")
def main() -> None:
    """First-Party Connector: keep a brand's sales channels and its commerce system in sync."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@click.option("--no-shipped", is_flag=True, help="Do not load the shipped connectors, mappings and flows.")
def validate(paths: tuple[Path, ...], fmt: str, no_shipped: bool) -> None:
    """Check every file under PATHS: schema, expressions, references. Exit 1 on any error."""
    from engine.project.loader import Project
    from engine.project.validate import Validator

    checked = 0
    try:
        project = Project.load(paths or [Path.cwd()], include_shipped=not no_shipped)
        checked = len(project.files)
        problems = Validator(project).run()
    except Exception as exc:  # noqa: BLE001  (validate reports; it never ends in a traceback)
        problems = [Problem(f"validate stopped: {type(exc).__name__}: {REDACTOR.text(str(exc))}", None, "",
                            "this is a bug in connector validate; please report it with the files checked")]
    _emit_problems(problems, fmt, checked)
    sys.exit(1 if any(p.severity == "error" for p in problems) else 0)


def _load_plan(mapping: str, merchant_path: Path | None, extra_paths: list[Path]) -> Any:
    from engine.project.loader import Project
    from engine.project.overrides import effective
    from engine.project.validate import Validator

    paths = list(extra_paths)
    if merchant_path:
        paths.append(merchant_path)
    as_file = Path(mapping)
    if as_file.suffix in (".yaml", ".yml") and as_file.is_file():
        paths.append(as_file)
    project = Project.load(paths)
    if project.problems:
        raise SpecError(project.problems)
    name = mapping
    if as_file.suffix in (".yaml", ".yml") and as_file.is_file():
        name = next((d.name for d in project.documents["mapping"].values() if d.path.resolve() == as_file.resolve()), "")
    merchant = next(iter(project.documents["merchant"].values()), None) if merchant_path else None
    doc = effective(project, merchant, "mapping", name)
    if doc is None:
        raise click.ClickException(f"unknown mapping {mapping!r}; known: {', '.join(project.names('mapping'))}")
    validator = Validator(project)
    problems = validator.schemas.check_document(doc, "mapping")
    if problems:
        raise SpecError(problems)
    plan = validator.compile_mapping(doc)
    if plan is None:
        raise SpecError(validator.problems)
    return plan


@main.command("map")
@click.argument("mapping")
@click.argument("input_file", type=click.Path(exists=True, path_type=Path))
@click.option("--merchant", type=click.Path(exists=True, path_type=Path), help="Apply this merchant's overrides.")
@click.option("--context", "context_json", default="{}", help="Context values as JSON (merchant options).")
def map_command(mapping: str, input_file: Path, merchant: Path | None, context_json: str) -> None:
    """Apply MAPPING (a name or a file) to the JSON record in INPUT_FILE and print the output."""
    from engine.project.testing import _jsonable

    try:
        plan = _load_plan(mapping, merchant, [])
    except SpecError as exc:
        for p in exc.problems:
            click.echo(p.format(), err=True)
        sys.exit(1)
    record = json.loads(input_file.read_text(encoding="utf-8"))
    records = record if isinstance(record, list) else [record]
    failed = 0
    for item in records:
        result = plan.apply(item, json.loads(context_json))
        if result.errors:
            failed += 1
            click.echo(json.dumps({"errors": [e.as_dict() for e in result.errors]}, indent=2), err=True)
        else:
            click.echo(REDACTOR.text(json.dumps(_jsonable(result.output), indent=2, ensure_ascii=False)))
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="Print every case, not only failures.")
def test(paths: tuple[Path, ...], verbose: bool) -> None:
    """Run the YAML test cases under PATHS (default: the current folder)."""
    from engine.project.loader import Project
    from engine.project.testing import run_all

    project = Project.load(paths or [Path.cwd()])
    if project.problems:
        for p in project.problems:
            click.echo(p.format(), err=True)
        sys.exit(1)
    try:
        results = run_all(project)
    except SpecError as exc:
        for p in exc.problems:
            click.echo(p.format(), err=True)
        sys.exit(1)
    failed = [r for r in results if not r.passed]
    for r in results:
        if verbose or not r.passed:
            mark = click.style("PASS", fg="green") if r.passed else click.style("FAIL", fg="red")
            click.echo(f"{mark} {r.file}:{r.line} {r.name}")
            if not r.passed:
                click.echo(r.detail)
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed or not results else 0)


def _register_commands() -> None:
    from engine.cli import audit, listings
    from engine.cli import run as run_commands

    for module in (run_commands, listings, audit):
        module.register(main)
    # Commands that live outside the engine (the simulators' `sandbox`) are plugged in by entry
    # point, so the engine never imports them.
    for entry in entry_points(group="connector.commands"):
        entry.load()(main)


_register_commands()


def run() -> None:
    try:
        main()
    except ConnectorError as exc:
        click.echo(REDACTOR.text(str(exc)), err=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
