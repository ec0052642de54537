"""`vlpipe submit` and `vlpipe jobs` against a real Ray cluster on this machine (local.py): a head
serving the Job Submission API and a second node joined with `ray start --address`. The output is
a bucket of moto's S3 server whose endpoint and keys only the nodes' environment holds, as a
cluster's pods would: the submitter passes none of them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cluster.local import LocalCluster, local_cluster
from tests.jupyter.helpers import build, recipe
from tests.jupyter.test_build import write_notebooks
from tests.test_object_store import BUCKET, bucket_files, local_files
from vlpipe.cli import app
from vlpipe.jobs import EXIT_STOPPED
from vlpipe.manifests import ledger
from vlpipe.manifests.stats import summarize
from vlpipe.manifests.store import open_store

pytestmark = pytest.mark.slow
NOTEBOOKS = 1600  # on two 1-CPU nodes, long enough that a stop lands mid-build


@pytest.fixture(scope="module")
def cluster(s3_env: dict[str, str]) -> Iterator[LocalCluster]:
    with local_cluster(env=s3_env) as running:
        yield running


def vlpipe(*args: str) -> subprocess.CompletedProcess[str]:
    """vlpipe in a process of its own, without the bucket's endpoint and keys."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    command = [sys.executable, "-m", "vlpipe", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def worker_nodes(cluster: LocalCluster) -> set[str]:
    """The nodes the builds' Ray workers (UnitWorker actors, alive or ended) ran on."""
    url = f"{cluster.job_server}/api/v0/actors?detail=1&limit=10000"
    with urllib.request.urlopen(url, timeout=30) as response:
        actors = json.loads(response.read())["data"]["result"]["result"]
    placed = [actor for actor in actors if actor["class_name"] == "UnitWorker"]
    return {actor["node_id"] for actor in placed if actor.get("node_id")}


def test_a_stopped_job_resubmitted_ends_with_the_shards_of_an_uninterrupted_build(
    tmp_path: Path, cluster: LocalCluster, s3: dict[str, str]
) -> None:
    write_notebooks(tmp_path / "in", NOTEBOOKS)
    options = {"input": {"files_per_unit": 40}, "output": {"docs_per_chunk": 20}}
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(json.dumps({"source": "jupyter", **options}))
    target = f"s3://{BUCKET}/cluster"
    command = ["build", "--source", "jupyter", "--recipe", str(recipe_file)]
    command += ["--input", str(tmp_path / "in"), "--output", target]
    submit = ["submit", "--address", cluster.job_server, "--image-has-vlpipe"]

    first = vlpipe(*submit, "--", *command)
    assert first.returncode == 0, first.stderr
    job = first.stdout.strip()
    again = CliRunner().invoke(
        app, [*submit, "--", *command]
    )  # while it runs: the same job, not a second one
    assert again.exit_code == 0 and again.stdout.strip() == job, again.output
    assert "already running" in again.stderr

    store = open_store(target)
    deadline = time.monotonic() + 300
    while not store.list(ledger.DOCUMENTS) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop = CliRunner().invoke(app, ["jobs", "stop", job, "--address", cluster.job_server])
    assert stop.exit_code == 0 and "STOPPED" in stop.stderr, stop.output
    status = CliRunner().invoke(app, ["jobs", "status", job, "--address", cluster.job_server])
    assert status.exit_code == EXIT_STOPPED and f"{job} STOPPED" in status.stdout
    committed = summarize(target)
    assert committed["read"] and not committed["complete"], "the stop must land mid-build"

    resumed = vlpipe(*submit, "--follow", "--", *command)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.splitlines()[0] != job  # a new job …
    resumed_with = f"this run: {NOTEBOOKS - committed['read']:,} documents"
    assert resumed_with in resumed.stdout  # … whose build resumed the stopped one
    assert "SUCCEEDED (exit status 0)" in resumed.stderr

    build([tmp_path / "in"], tmp_path / "inline", recipe(**options))  # uninterrupted, inline
    assert bucket_files("cluster") == local_files(tmp_path / "inline")
    assert summarize(target)["samples"] == NOTEBOOKS
    assert len(worker_nodes(cluster)) == 2


def test_a_failed_job_exits_with_its_build_s_exit_status(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    missing = ["--input", str(tmp_path / "missing"), "--output", str(tmp_path / "out")]
    failed = vlpipe(
        "submit",
        "--address",
        cluster.job_server,
        "--image-has-vlpipe",
        "--follow",
        "--",
        "build",
        "--source",
        "jupyter",
        *missing,
    )
    assert failed.returncode == 2, failed.stdout + failed.stderr  # a configuration error
    job = failed.stdout.splitlines()[0]
    assert "error:" in failed.stdout  # the build's one-line message, from the job's log
    status = CliRunner().invoke(app, ["jobs", "status", job, "--address", cluster.job_server])
    assert status.exit_code == 2 and f"{job} FAILED (exit status 2)" in status.stdout
    logs = CliRunner().invoke(app, ["jobs", "logs", job, "--address", cluster.job_server])
    assert logs.exit_code == 0 and "error:" in logs.stdout


def test_a_build_on_a_machine_where_ray_start_ran_still_starts_its_own_ray(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    """`ray start` records its cluster's address in Ray's temp folder, where a bare `ray.init()`
    would find and join it; vlpipe's embedded Ray must start anyway, sized by --workers."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="vlray", dir="/tmp"))  # Ray's socket paths are short
    try:
        (ray_tmp / "ray").mkdir()
        (ray_tmp / "ray" / "ray_current_cluster").write_text(cluster.gcs)
        write_notebooks(tmp_path / "in", 3)
        env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
        env.pop("RAY_ADDRESS", None)
        command = [sys.executable, "-m", "vlpipe", "build", "--source", "jupyter"]
        command += ["--executor", "ray", "--workers", "2"]
        command += ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]
        built = subprocess.run(command, capture_output=True, text=True, env=env)
        assert built.returncode == 0, built.stdout + built.stderr
        assert summarize(str(tmp_path / "out"))["samples"] == 3
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_the_nightly_submission_over_a_grown_bucket_prefix_builds_only_the_new_objects(
    tmp_path: Path, cluster: LocalCluster, s3: dict[str, str]
) -> None:
    """The CronJob's command (deploy/cronjob-jupyter.yaml), run twice against the cluster with
    objects landing in the input prefix in between."""
    import fsspec

    fs = fsspec.filesystem("s3")
    write_notebooks(tmp_path / "in", 6)
    names = sorted(p.name for p in (tmp_path / "in").iterdir())
    nightly = ["submit", f"--address={cluster.job_server}", "--image-has-vlpipe", "--follow"]
    nightly += ["--", "build", "--source=jupyter", f"--input=s3://{BUCKET}/landing/"]
    nightly += [f"--output=s3://{BUCKET}/out/landing-jupyter", "--incremental"]
    for landed, expected in ((names[:4], 4), (names[4:], 2)):
        for name in landed:
            fs.put_file(str(tmp_path / "in" / name), f"{BUCKET}/landing/{name}")
        night = vlpipe(*nightly)
        assert night.returncode == 0, night.stdout + night.stderr
        assert f"this run: {expected} documents" in night.stdout
    summary = summarize(f"s3://{BUCKET}/out/landing-jupyter")
    assert (summary["read"], summary["samples"], summary["complete"]) == (6, 6, True)
