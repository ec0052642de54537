from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def own_ray() -> Iterator[None]:
    """For a test that runs a Ray build in this process: the embedded Ray it starts is shut down
    after, so later tests start from a process without one."""
    yield
    import ray

    ray.shutdown()
