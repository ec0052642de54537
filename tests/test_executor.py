"""The default executor: Ray where a second worker can help, inline where it cannot, and why."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.jupyter.helpers import build, recipe
from tests.jupyter.test_build import shard_members, write_notebooks
from vlpipe import runtime
from vlpipe.manifests import ledger
from vlpipe.manifests.store import open_store
from vlpipe.runtime import choose_executor
from vlpipe.sources.inputs import Unit, local_bytes


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


def test_little_local_input_of_a_cheap_source_runs_inline() -> None:
    gib = 2**30
    assert choose_executor(12, None, None, gib, 2 * gib) == (
        "inline",
        "1,024 MiB of input < input.ray_min_bytes, 2,048 MiB",
    )
    assert choose_executor(12, None, None, 3 * gib, 2 * gib)[0] == "ray"
    assert choose_executor(12, None, None, None, 2 * gib)[0] == "ray"  # size unknown: a bucket
    assert choose_executor(12, None, "head:6379", gib, 2 * gib)[0] == "ray"


def test_local_bytes_counts_files_and_folders_and_gives_up_on_remote_inputs(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.ipynb").write_bytes(b"x" * 10)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "c1.xhtml").write_bytes(b"y" * 5)
    local = [
        Unit(0, "files", "u0", (str(tmp_path / "a.ipynb"), str(tmp_path / "book"))),
        Unit(1, "parquet", "u1", (str(tmp_path / "a.ipynb"),)),
    ]
    assert local_bytes(local) == 25
    assert local_bytes([*local, Unit(2, "files", "u2", ("s3://bucket/x.ipynb",))]) is None
    assert local_bytes([Unit(3, "hf", "u3")]) is None


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


def test_the_driver_builds_while_the_embedded_ray_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_ray: None
) -> None:
    """Ray's start is held until a chunk has committed: only the driver can have committed it.
    Whoever builds which unit, the shards are those of an inline build."""
    write_notebooks(tmp_path / "in", 12)
    config = recipe(input={"files_per_unit": 3}, output={"docs_per_chunk": 3})
    start_ray = runtime.init_ray
    committed_before_ray: list[bool] = []

    def held_until_a_chunk_commits(address: str | None, workers: int | None) -> int:
        deadline = time.monotonic() + 60
        while not ledger.committed_chunks(open_store(tmp_path / "ray")):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        committed_before_ray.append(bool(ledger.committed_chunks(open_store(tmp_path / "ray"))))
        return start_ray(address, workers)

    monkeypatch.setattr(runtime, "init_ray", held_until_a_chunk_commits)
    built = build([tmp_path / "in"], tmp_path / "ray", config, executor="ray", workers=2)
    assert committed_before_ray == [True]
    assert built["documents"] == 12
    build([tmp_path / "in"], tmp_path / "inline", config)
    assert shard_members(tmp_path / "ray") == shard_members(tmp_path / "inline")
