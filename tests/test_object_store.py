"""Builds whose inputs and outputs are in an object store: a real S3 HTTP endpoint (moto's
standalone server on 127.0.0.1) reached through s3fs, as a cluster without a shared volume would
use a bucket. The commit holds without rename: a build killed mid-way resumes to the same shards,
and the shards load from the bucket with webdataset, Ray Data and Hugging Face datasets."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.jupyter.helpers import dumps, plot_notebook
from tests.jupyter.test_build import write_notebooks
from tests.jupyter.test_resume_and_readers import noisy_notebooks
from vlpipe.manifests import ledger
from vlpipe.manifests.stats import summarize
from vlpipe.manifests.store import FsspecStore, open_store

VLPIPE = [sys.executable, "-m", "vlpipe"]
BUCKET = "vlpipe-test"
MOTO = Path(sys.executable).with_name("moto_server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    """A moto S3 server on a free loopback port, and the environment that points boto at it."""
    port = free_port()
    server = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    try:
        yield env
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh bucket; this process and its children see the endpoint."""
    import boto3
    import fsspec

    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    fsspec.filesystem("s3").clear_instance_cache()
    client = boto3.client("s3")
    objects = client.list_objects_v2(Bucket=BUCKET) if _bucket_exists(client) else {}
    for item in objects.get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    if not _bucket_exists(client):
        client.create_bucket(Bucket=BUCKET)
    return {**os.environ, **s3_env}


def _bucket_exists(client: object) -> bool:
    names = [b["Name"] for b in client.list_buckets()["Buckets"]]  # type: ignore[attr-defined]
    return BUCKET in names


def bucket_files(prefix: str) -> dict[str, bytes]:
    store = open_store(f"s3://{BUCKET}/{prefix}")
    assert isinstance(store, FsspecStore)
    return {name: store.read(f"shards/{name}") for name in store.list("shards")}


def local_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.tar"))}


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VLPIPE, *args], capture_output=True, text=True, env=env)


def test_a_build_into_a_bucket_equals_the_local_build_byte_for_byte(
    tmp_path: Path, s3: dict[str, str]
) -> None:
    write_notebooks(tmp_path / "in", 9)
    common = [
        "build",
        "--source",
        "jupyter",
        "--executor",
        "inline",
        "--input",
        str(tmp_path / "in"),
    ]
    local = run(*common, "--output", str(tmp_path / "local"), env=s3)
    assert local.returncode == 0, local.stderr
    remote = run(*common, "--output", f"s3://{BUCKET}/out", env=s3)
    assert remote.returncode == 0, remote.stderr
    assert bucket_files("out") == local_files(tmp_path / "local")
    assert (
        summarize(f"s3://{BUCKET}/out")["samples"] == 9 == summarize(tmp_path / "local")["samples"]
    )
    stats = run("stats", f"s3://{BUCKET}/out", "--json", env=s3)
    assert stats.returncode == 0 and '"complete": true' in stats.stdout
    store = open_store(f"s3://{BUCKET}/out")
    assert not store.list(ledger.CLAIMS)  # claims are dropped after each commit
    again = run(*common, "--output", f"s3://{BUCKET}/out", env=s3)
    assert again.returncode == 0 and "this run: 0 documents" in again.stderr  # all committed


def test_inputs_are_read_from_the_bucket_too(tmp_path: Path, s3: dict[str, str]) -> None:
    import fsspec

    write_notebooks(tmp_path / "in", 4)
    table = pa.table({"content": [dumps(plot_notebook()).decode()], "hexsha": ["abc"]})
    pq.write_table(table, tmp_path / "in" / "rows.parquet")
    fs = fsspec.filesystem("s3")
    for path in sorted((tmp_path / "in").iterdir()):
        fs.put_file(str(path), f"{BUCKET}/in/{path.name}")
    from tests.jupyter.helpers import build, documents

    build([tmp_path / "in"], tmp_path / "local")
    build([f"s3://{BUCKET}/in"], f"s3://{BUCKET}/from-bucket")
    assert sorted(documents_of(f"s3://{BUCKET}/from-bucket")) == sorted(
        documents(tmp_path / "local")
    )
    assert bucket_files("from-bucket") == local_files(tmp_path / "local")


def documents_of(url: str) -> list[str]:
    return ledger.read_documents(url).column("doc_id").to_pylist()


@pytest.mark.slow
def test_a_bucket_build_killed_with_sigkill_resumes_to_the_same_shards(
    tmp_path: Path, s3: dict[str, str]
) -> None:
    noisy_notebooks(tmp_path / "in", 200)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "source: jupyter\ninput: {files_per_unit: 50}\noutput: {docs_per_chunk: 10}\n"
    )
    common = ["build", "--source", "jupyter", "--executor", "inline", "--recipe", str(recipe)]
    common += ["--input", str(tmp_path / "in")]
    assert run(*common, "--output", str(tmp_path / "local"), env=s3).returncode == 0
    target = f"s3://{BUCKET}/killed"
    process = subprocess.Popen(
        [*VLPIPE, *common, "--output", target],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=s3,
    )
    store = open_store(target)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(store.list(ledger.DOCUMENTS)) < 3:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 3 <= len(store.list(ledger.DOCUMENTS)) < 20, "the kill must land mid-build"
    resumed = run(*common, "--output", target, env=s3)
    assert resumed.returncode == 0, resumed.stderr
    assert "already committed" in resumed.stderr
    assert bucket_files("killed") == local_files(tmp_path / "local")
    assert summarize(target)["read"] == 200 == summarize(target)["samples"]


def test_shards_load_from_the_bucket_with_three_readers(tmp_path: Path, s3: dict[str, str]) -> None:
    import webdataset as wds

    from tests.jupyter.helpers import build

    write_notebooks(tmp_path / "in", 5)
    build([tmp_path / "in"], f"s3://{BUCKET}/readers")
    expected = {}
    for data in bucket_files("readers").values():
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                key, ext = member.name.split(".", 1)
                expected.setdefault(key, {})[ext] = tar.extractfile(member).read()  # type: ignore[union-attr]
    shard_urls = [f"s3://{BUCKET}/readers/shards/{name}" for name in bucket_files("readers")]
    fetch = "import fsspec, sys; sys.stdout.buffer.write(fsspec.open(sys.argv[1]).open().read())"
    pipes = [f"pipe:{sys.executable} -c '{fetch}' {url}" for url in shard_urls]
    loaded = {
        s["__key__"]: {k: v for k, v in s.items() if not k.startswith("__")}
        for s in wds.WebDataset(pipes, shardshuffle=False)
    }
    assert loaded == expected

    import datasets

    options = {"client_kwargs": {"endpoint_url": s3["AWS_ENDPOINT_URL"]}}
    rows = datasets.load_dataset(
        "webdataset",
        data_files={"train": shard_urls},
        split="train",
        storage_options=options,
        cache_dir=str(tmp_path / "hf"),
    )
    assert {row["__key__"] for row in rows} == set(expected)
    assert all(row["py"] == expected[row["__key__"]]["py"] for row in rows)

    import pyarrow.fs
    import ray

    endpoint = s3["AWS_ENDPOINT_URL"].removeprefix("http://")
    filesystem = pyarrow.fs.S3FileSystem(
        access_key="testing", secret_key="testing", endpoint_override=endpoint, scheme="http"
    )
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        table = ray.data.read_webdataset(
            f"{BUCKET}/readers/shards", filesystem=filesystem, decoder=None
        ).take_all()
    finally:
        ray.shutdown()
    assert {row["__key__"] for row in table} == set(expected)
    for row in table:
        assert bytes(row["png"]) == expected[row["__key__"]]["png"]


def test_a_missing_bucket_is_a_configuration_error(tmp_path: Path, s3: dict[str, str]) -> None:
    write_notebooks(tmp_path / "in", 1)
    result = run(
        "build", "--source", "jupyter", "--executor", "inline", "--input", str(tmp_path / "in"),
        "--output", "s3://no-such-bucket/out", env=s3,
    )  # fmt: skip
    assert result.returncode == 2
    assert "bucket 'no-such-bucket' does not exist" in result.stderr


def test_a_scheduled_build_over_a_grown_bucket_prefix_builds_only_the_new_objects(
    tmp_path: Path, s3: dict[str, str]
) -> None:
    import fsspec

    fs = fsspec.filesystem("s3")
    write_notebooks(tmp_path / "in", 6)
    names = sorted(p.name for p in (tmp_path / "in").iterdir())
    for name in names[:4]:
        fs.put_file(str(tmp_path / "in" / name), f"{BUCKET}/landing/{name}")
    common = ["build", "--source", "jupyter", "--executor", "inline", "--incremental"]
    common += ["--input", f"s3://{BUCKET}/landing", "--output", f"s3://{BUCKET}/nightly"]
    first = run(*common, env=s3)
    assert first.returncode == 0 and "this run: 4 documents" in first.stderr, first.stderr
    for name in names[4:]:
        fs.put_file(str(tmp_path / "in" / name), f"{BUCKET}/landing/{name}")
    second = run(*common, env=s3)
    assert second.returncode == 0 and "this run: 2 documents" in second.stderr, second.stderr
    summary = summarize(f"s3://{BUCKET}/nightly")
    assert (summary["read"], summary["samples"], summary["complete"]) == (6, 6, True)
