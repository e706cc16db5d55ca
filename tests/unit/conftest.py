from __future__ import annotations

import pytest

from tests.unit.harness import Harness


@pytest.fixture
async def broker() -> Harness:
    return await Harness().start()
