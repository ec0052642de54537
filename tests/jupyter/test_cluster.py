"""The same build on an existing Ray cluster (``--address`` and ``RAY_ADDRESS``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.jupyter.helpers import NOTEBOOKS, build
from tests.jupyter.test_build import shard_members

RAY = str(Path(sys.executable).with_name("ray"))
NO_AUTH = {**os.environ, "RAY_AUTH_MODE": "disabled"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_cluster():
    """A separate Ray head on this machine, as `ray start` brings up a cluster's head node.
    Its temp dir is short (Ray's unix socket paths must fit in 107 bytes), and Ray's token
    authentication is off for head and clients alike: the token is Ray's business, not ours."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="vlray", dir="/tmp")
    subprocess.run(
        [
            RAY,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        check=True,
        capture_output=True,
        env=NO_AUTH,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=NO_AUTH)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_build_on_an_existing_cluster_matches_the_inline_build(
    tmp_path: Path, ray_cluster: str
) -> None:
    inline = tmp_path / "inline"
    build([NOTEBOOKS], inline)
    command = [
        sys.executable,
        "-m",
        "vlpipe",
        "build",
        "--source",
        "jupyter",
        "--input",
        str(NOTEBOOKS),
    ]
    by_flag = subprocess.run(
        [*command, "--output", str(tmp_path / "flag"), "--address", ray_cluster],
        capture_output=True,
        text=True,
        env=NO_AUTH,
    )
    assert by_flag.returncode == 0, by_flag.stderr
    by_env = subprocess.run(
        [*command, "--output", str(tmp_path / "env")],
        capture_output=True,
        text=True,
        env={**NO_AUTH, "RAY_ADDRESS": ray_cluster},
    )
    assert by_env.returncode == 0, by_env.stderr
    assert (
        shard_members(tmp_path / "flag") == shard_members(inline) == shard_members(tmp_path / "env")
    )
