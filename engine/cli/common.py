"""What several commands share: the MERCHANT_FILE argument and opening the merchant it names."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

_MERCHANT_KIND = re.compile(r"^kind:\s*['\"]?merchant['\"]?\s*(#.*)?$", re.M)


class MerchantFile(click.ParamType):
    """A merchant file, or a folder that holds exactly one (`examples/acme` for `examples/acme/merchant.yaml`)."""

    name = "merchant_file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if isinstance(value, Path) and value.is_file():
            return value
        path = Path(value)
        if path.is_file():
            return path
        if not path.exists():
            self.fail(f"no such file or folder: {value}", param, ctx)
        found = [p for p in sorted(path.iterdir()) if p.suffix in (".yaml", ".yml") and p.is_file()
                 and _MERCHANT_KIND.search(p.read_text(encoding="utf-8", errors="replace"))]
        if len(found) == 1:
            return found[0]
        if not found:
            self.fail(f"{value} is a folder without a merchant file (`kind: merchant`)", param, ctx)
        self.fail(f"{value} holds several merchant files ({', '.join(p.name for p in found)}); name one", param, ctx)


MERCHANT_FILE = MerchantFile()


def merchant_argument() -> Any:
    return click.argument("merchant_file", type=MERCHANT_FILE)


@contextmanager
def open_merchant(path: Path, **kwargs: Any) -> Iterator[Any]:
    from engine.flow.runner import Merchant

    merchant = Merchant(path, **kwargs)
    try:
        yield merchant
    finally:
        merchant.close()


def shell_path(path: Path | str) -> str:
    """A path as a person types it in a shell: quoted only when it needs to be."""
    return shlex.quote(str(path))
