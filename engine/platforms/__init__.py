"""The little Python a platform needs (request signing, webhook signatures, an auth kind with a
platform's defaults), one module per platform, each registering its kinds by name. Generic code
names no platform; importing this package registers every platform module found in it."""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


load_all()
