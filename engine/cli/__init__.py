"""The `connector` commands."""

from engine.cli.main import main, run

__all__ = ["main", "run"]
