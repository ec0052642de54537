"""SIGKILL-and-resume, worker-count determinism on Ray, and the shards read by three libraries."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.jupyter.helpers import build, code_cell, dumps, notebook, recipe
from tests.jupyter.test_build import shard_members, write_notebooks
from vlpipe.manifests.stats import summarize

VLPIPE = [sys.executable, "-m", "vlpipe"]


def noisy_notebooks(folder: Path, count: int) -> None:
    """Notebooks whose plots are noise images: slow enough to decode that a kill lands mid-build."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for number in range(count):
        pixels = rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        output = {
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(buffer.getvalue()).decode()},
            "metadata": {},
        }
        code = "\n".join(f"v{i} = {number} + {i}" for i in range(6)) + "\nplot(v0)"
        (folder / f"nb_{number:04d}.ipynb").write_bytes(dumps(notebook(code_cell(code, [output]))))


def ledger_state(out: Path) -> list[tuple]:
    rows = pq.read_table(out / "ledger" / "documents").to_pylist()
    return sorted(
        (r["doc_id"], r["status"], tuple(r["sample_keys"]), tuple(r["shards"])) for r in rows
    )


@pytest.mark.slow
def test_build_killed_with_sigkill_resumes_to_the_same_shards(tmp_path: Path) -> None:
    noisy_notebooks(tmp_path / "in", 400)
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(
        "source: jupyter\ninput: {files_per_unit: 100}\n"
        "output: {docs_per_chunk: 10, max_samples_per_shard: 4}\n"
    )
    args = [
        "build",
        "--source",
        "jupyter",
        "--executor",
        "inline",
        "--recipe",
        str(recipe_file),
        "--input",
        str(tmp_path / "in"),
    ]
    reference = tmp_path / "reference"
    subprocess.run([*VLPIPE, *args, "--output", str(reference)], check=True, capture_output=True)

    out = tmp_path / "out"
    process = subprocess.Popen(
        [*VLPIPE, *args, "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    committed = out / "ledger" / "documents"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(committed.glob("*.parquet"))) < 3:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = len(list(committed.glob("*.parquet")))
    assert 3 <= done < 40, "the kill must land mid-build"

    resumed = subprocess.run(
        [*VLPIPE, *args, "--output", str(out)], check=True, capture_output=True, text=True
    )
    assert "already committed" in resumed.stderr
    assert sorted(p.name for p in (out / "shards").iterdir()) == sorted(
        p.name for p in (reference / "shards").iterdir()
    )
    for shard in (reference / "shards").iterdir():
        assert (out / "shards" / shard.name).read_bytes() == shard.read_bytes()
    assert ledger_state(out) == ledger_state(reference)
    assert summarize(out)["read"] == 400 == summarize(out)["samples"]


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_builds_are_identical_whatever_the_worker_count(
    tmp_path: Path, local_ray: None
) -> None:
    write_notebooks(tmp_path / "in", 30)
    config = recipe(input={"files_per_unit": 4}, output={"docs_per_chunk": 3})
    inline = tmp_path / "inline"
    build([tmp_path / "in"], inline, config)
    one, two = tmp_path / "one", tmp_path / "two"
    build([tmp_path / "in"], one, config, executor="ray", workers=1)
    build([tmp_path / "in"], two, config, executor="ray", workers=2)
    for out in (one, two):
        assert shard_members(out) == shard_members(inline)
        assert ledger_state(out) == ledger_state(inline)
        for shard in (inline / "shards").iterdir():
            assert (out / "shards" / shard.name).read_bytes() == shard.read_bytes()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.jupyter.helpers import NOTEBOOKS

    out = tmp_path_factory.mktemp("readers") / "out"
    build([NOTEBOOKS], out, recipe(output={"max_samples_per_shard": 2}))
    return out


def expected_samples(out: Path) -> dict[str, dict[str, bytes]]:
    grouped: dict[str, dict[str, bytes]] = {}
    for name, data in shard_members(out).items():
        key, ext = name.split(".", 1)
        grouped.setdefault(key, {})[ext] = data
    return grouped


def test_shards_load_unchanged_with_webdataset(built: Path) -> None:
    import webdataset as wds

    urls = [str(p) for p in sorted((built / "shards").glob("*.tar"))]
    loaded = {
        s["__key__"]: {k: v for k, v in s.items() if not k.startswith("__")}
        for s in wds.WebDataset(urls, shardshuffle=False)
    }
    assert loaded == expected_samples(built)


def test_shards_load_unchanged_with_ray_data(built: Path, local_ray: None) -> None:
    import ray.data

    rows = ray.data.read_webdataset(str(built / "shards"), decoder=None).take_all()
    expected = expected_samples(built)
    assert {row["__key__"] for row in rows} == set(expected)
    for row in rows:
        for ext, data in expected[row["__key__"]].items():
            assert bytes(row[ext]) == data


def test_shards_load_unchanged_with_hf_datasets(built: Path, tmp_path: Path) -> None:
    import datasets

    files = [str(p) for p in sorted((built / "shards").glob("*.tar"))]
    loaded = datasets.load_dataset(
        "webdataset", data_files={"train": files}, split="train", cache_dir=str(tmp_path / "cache")
    )
    expected = expected_samples(built)
    assert len(loaded) == len(expected)
    for row in loaded:
        sample = expected[row["__key__"]]
        image = row["png"]
        assert image.size == Image.open(io.BytesIO(sample["png"])).size
        assert row["py"] == sample["py"]
        assert row["json"] == json.loads(sample["json"])


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VLPIPE, *args], capture_output=True, text=True, cwd=cwd)


def test_cli_default_build_on_bundled_samples_and_stats_json(tmp_path: Path) -> None:
    result = run_cli("build", "--source", "jupyter", "--executor", "inline", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "documents read" in result.stdout and "shards:" in result.stderr
    stats = run_cli("stats", str(tmp_path / "out" / "jupyter"), "--json")
    summary = json.loads(stats.stdout)
    assert {"read", "kept", "dropped", "failed", "samples", "shards", "bytes"} <= set(summary)
    assert summary["read"] == 6 and summary["samples"] == 5 and summary["shards"] == 1
    table = run_cli("stats", str(tmp_path / "out" / "jupyter"))
    assert "documents read" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--input", "/nonexistent/notebooks"],
            "input path does not exist: /nonexistent/notebooks",
        ),
        (["--recipe", "/nonexistent.yaml"], "cannot read recipe"),
    ],
)
def test_cli_broken_configuration_is_one_line_and_nonzero(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli(
        "build",
        "--source",
        "jupyter",
        "--executor",
        "inline",
        "--output",
        str(tmp_path / "o"),
        *args,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_recipe_typo_and_empty_input_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: jupyter\nfilters: [code_image: {min_code_line: 5}, image]\n")
    result = run_cli(
        "build", "--source", "jupyter", "--recipe", str(bad), "--output", str(tmp_path / "o")
    )
    assert result.returncode == 2 and "filters.0: code_image.min_code_line" in result.stderr
    (tmp_path / "empty").mkdir()
    result = run_cli(
        "build",
        "--source",
        "jupyter",
        "--input",
        str(tmp_path / "empty"),
        "--output",
        str(tmp_path / "o"),
    )
    assert result.returncode == 2 and "no *.ipynb" in result.stderr
    result = run_cli("stats", str(tmp_path / "empty"))
    assert result.returncode == 2 and "no vlpipe ledger" in result.stderr


def test_cli_inspect_writes_a_contact_sheet(built: Path) -> None:
    result = run_cli("inspect", str(built), "--limit", "3")
    assert result.returncode == 0, result.stderr
    page = (built / "inspect.html").read_text()
    assert page.count('class="card"') == 3 and page.count("data:image/jpeg;base64,") == 3
    assert "no_plot_output" in page and "plt.figure" in page
