"""Fixtures of the serve tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_helpers import acme_project


@pytest.fixture
def acme_file(tmp_path: Path) -> Path:
    return acme_project(tmp_path)
