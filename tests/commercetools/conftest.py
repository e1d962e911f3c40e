from __future__ import annotations

import pytest

from tests.commercetools.emulator import missing_tools, start


@pytest.fixture(scope="session")
def emulator():
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    running = start()
    yield running
    running.stop()
