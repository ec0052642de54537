from __future__ import annotations

import os
import sys
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


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """A test process that ran Ray in-process ends here, its report written, without the
    interpreter's finalisation: Ray's C++ core, though shut down, now and then crashes the
    process there (a segfault in ``_raylet.so`` after all 810 tests had passed, CI 2026-11-26),
    which would turn a green run red. The builds' own exits are tested in subprocesses."""
    if "ray._raylet" in sys.modules and _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
