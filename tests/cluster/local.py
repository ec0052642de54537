"""A two-node Ray cluster on this machine, as `ray start` brings one up: a head node serving the
Job Submission API on its dashboard port, and a worker node joined with `ray start --address`.

The nodes listen on loopback addresses of their own (127.0.0.2, 127.0.0.3: Ray replaces 127.0.0.1
with the machine's network address, but leaves the rest of 127.0.0.0/8 alone), every port is
picked free, and Ray's token authentication is off. The nodes' Python has vlpipe (the venv's bin
folder leads PATH), as vlpipe's image does. The cluster stops by killing the processes it started
and their descendants, by pid: `ray stop` would stop every Ray on the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

RAY = str(Path(sys.executable).with_name("ray"))
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
START_TIMEOUT_S = 180.0  # a head on a busy 2-core machine can take half a minute
WORKER_STARTS = 2  # a worker node that exits while it registers is started once more
OBJECT_STORE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class LocalCluster:
    job_server: str  # http://HEAD:PORT, what `vlpipe submit --address` takes
    gcs: str  # HEAD:PORT, what `vlpipe build --address` takes
    env: dict[str, str]  # the nodes' environment


def free_ports(ip: str, count: int) -> list[int]:
    """``count`` distinct free ports on ``ip`` (the probes are held until all are picked)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((ip, 0))
        return [probe.getsockname()[1] for probe in probes]


def node_options(ip: str) -> list[str]:
    """The per-node ports Ray would otherwise take at fixed defaults (two nodes share a host)."""
    names = (
        "node-manager-port",
        "object-manager-port",
        "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port",
        "runtime-env-agent-port",
        "metrics-export-port",
    )
    ports = free_ports(ip, len(names))
    options = [f"--{name}={port}" for name, port in zip(names, ports, strict=True)]
    return [f"--node-ip-address={ip}", f"--object-store-memory={OBJECT_STORE_BYTES}", *options]


def _get(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (OSError, ValueError):  # not up yet, or not answering JSON yet
        return None


def _alive_nodes(job_server: str) -> int:
    reply = _get(f"{job_server}/nodes?view=summary") or {}
    nodes = reply.get("data", {}).get("summary", [])
    return sum(1 for node in nodes if node.get("raylet", {}).get("state") == "ALIVE")


def _wait(
    check: Callable[[], object], processes: list[subprocess.Popen[bytes]], temp: Path
) -> None:
    """Until ``check()`` holds; a node that exits or a timeout raises with the nodes' logs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not check():
        if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
            logs = [log.read_text(errors="replace")[-2000:] for log in sorted(temp.glob("*.log"))]
            raise RuntimeError("the local Ray cluster did not come up:\n" + "\n".join(logs))
        time.sleep(0.5)


def _start_node(options: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as output:
        return subprocess.Popen(
            [RAY, "start", "--block", "--disable-usage-stats", *options],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """Kill a process started here and every process it started, by pid."""
    try:
        root = psutil.Process(process.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in tree:
        with suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(tree, timeout=30)
    process.wait(timeout=30)


@contextmanager
def local_cluster(
    cpus_per_node: int = 1, env: Mapping[str, str] | None = None
) -> Iterator[LocalCluster]:
    """A head and a worker node with ``cpus_per_node`` CPUs each (the head's job drivers take
    none), ``env`` added to the nodes' environment (what a cluster's pods would have)."""
    temp = Path(tempfile.mkdtemp(prefix="vlray", dir="/tmp"))  # Ray's socket paths are short
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    node_env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": path, **(env or {})}
    gcs_port, dashboard_port, client_port = free_ports(HEAD_IP, 3)
    cluster = LocalCluster(f"http://{HEAD_IP}:{dashboard_port}", f"{HEAD_IP}:{gcs_port}", node_env)
    common = [f"--num-cpus={cpus_per_node}", f"--temp-dir={temp}"]
    head = [
        "--head",
        f"--port={gcs_port}",
        f"--dashboard-host={HEAD_IP}",
        f"--dashboard-port={dashboard_port}",
        f"--ray-client-server-port={client_port}",
    ]
    worker = [f"--address={cluster.gcs}"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            _start_node([*head, *common, *node_options(HEAD_IP)], node_env, temp / "head.log")
        )
        _wait(lambda: _get(f"{cluster.job_server}/api/version"), processes, temp)
        for attempt in range(WORKER_STARTS):
            node = _start_node(
                [*worker, *common, *node_options(WORKER_IP)],
                node_env,
                temp / f"worker{attempt}.log",
            )
            processes.append(node)
            try:
                _wait(lambda: _alive_nodes(cluster.job_server) == 2, processes, temp)
                break
            except RuntimeError:
                # on a busy machine a worker's raylet can miss the GCS's registration deadline
                # ("Failed to get node info: Deadline Exceeded") and ``ray start`` exits: once more
                if node.poll() is None or attempt + 1 == WORKER_STARTS:
                    raise
                processes.remove(node)
                _kill_tree(node)
        yield cluster
    finally:
        for process in reversed(processes):
            _kill_tree(process)
        shutil.rmtree(temp, ignore_errors=True)
