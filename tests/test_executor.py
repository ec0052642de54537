"""The default executor: Ray where a second worker can help, inline where it cannot, and why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlpipe.runtime import choose_executor


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1})


@pytest.mark.parametrize(
    ("units", "workers", "address", "executor", "why"),
    [
        (0, None, None, "inline", "nothing left to build"),
        (1, None, None, "inline", "1 work unit: one worker's task"),
        (1, 4, None, "inline", "1 work unit: one worker's task"),
        (12, 1, None, "inline", "one worker"),
        (12, None, None, "ray", "12 work units over 2 workers"),
        (3, 8, None, "ray", "3 work units over 3 workers"),
        (1, None, "ray://head:10001", "ray", "a Ray cluster was named"),
    ],
)
def test_the_executor_follows_the_plan(
    units: int, workers: int | None, address: str | None, executor: str, why: str
) -> None:
    assert choose_executor(units, workers, address) == (executor, why)


def test_one_cpu_and_a_cluster_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0})
    assert choose_executor(12, None, None) == ("inline", "one CPU")
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert choose_executor(12, None, None) == ("ray", "a Ray cluster was named")


def test_the_build_says_which_executor_it_chose(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "vlpipe", "build", "--source", "jupyter"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [*command, "--output", str(tmp_path / "out")], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "executor: inline (1 work unit: one worker's task;" in done.stderr
