"""`connector schemas` and `connector docs`: the generated parts of schemas/*.json and the
reference in docs/reference/, both written from the registries (see engine/registry.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from engine.project.resources import schemas_dir

DEFAULT_DOCS = Path("docs") / "reference"


@click.command("schemas")
@click.option("--write", is_flag=True, help="Rewrite the files; without it, only report which are out of date.")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The schemas folder (default: the shipped schemas/).")
def schemas_command(write: bool, folder: Path | None) -> None:
    """Regenerate the pluggable parts of the file schemas (auth, paginate, rate_limit, steps, value
    forms, casts) from the registered kinds. Exit 1 when a file is out of date and --write is not given."""
    from engine.project.schema_gen import WRITE_COMMAND, stale_schemas

    stale = stale_schemas(folder or schemas_dir(), write=write)
    for path in stale:
        click.echo(f"{'rewrote' if write else 'out of date'}: {path}")
    if not stale:
        click.echo("schemas are up to date with the registries")
    elif not write:
        click.echo(f"run `{WRITE_COMMAND}` to regenerate them", err=True)
        sys.exit(1)


@click.command("docs")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DOCS,
              show_default=True, help="Folder to write the Markdown reference into.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the folder differs from the registries.")
def docs_command(out: Path, check: bool) -> None:
    """Write the reference: every step kind, mapping value form, cast, function, auth, paginator
    and rate-limit kind, with their options and examples."""
    from engine.project.docs_gen import stale_reference

    stale = stale_reference(out, write=not check)
    for name in stale:
        click.echo(f"{'out of date' if check else 'wrote'}: {out / name}")
    if not stale:
        click.echo(f"{out} is up to date with the registries")
    elif check:
        click.echo(f"run `connector docs --out {out}` to regenerate it", err=True)
        sys.exit(1)


def register(main: click.Group) -> None:
    main.add_command(schemas_command)
    main.add_command(docs_command)
