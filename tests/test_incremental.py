"""Incremental builds: a scheduled re-run over a landing folder that has grown builds only what is
new, reports what changed, and with --reprocess-changed rebuilds it as a new version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from tests.jupyter.helpers import code_cell, dumps, image_output, notebook, png_bytes
from tests.jupyter.test_build import shard_members, write_notebooks
from vlpipe.manifests import ledger
from vlpipe.manifests.stats import summarize

VLPIPE = [sys.executable, "-m", "vlpipe"]


def build(folder: Path, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    recipe = folder.parent / "recipe.yaml"
    recipe.write_text("source: jupyter\ninput: {files_per_unit: 3}\noutput: {docs_per_chunk: 2}\n")
    args = ["build", "--source", "jupyter", "--executor", "inline", "--recipe", str(recipe)]
    args += ["--input", str(folder), "--output", str(out), *flags]
    return subprocess.run([*VLPIPE, *args], capture_output=True, text=True)


def runs_of(out: Path) -> dict[str, str]:
    """doc_id → the run that committed it."""
    return {row["doc_id"]: row["run"] for row in ledger.read_documents(out).to_pylist()}


def grow(folder: Path, numbers: range) -> None:
    """New notebooks land in the folder (the older ones are not touched)."""
    staging = folder.parent / "staging"
    write_notebooks(staging, numbers.stop)
    for number in numbers:
        name = f"nb_{number:03d}.ipynb"
        (staging / name).rename(folder / name)


def test_a_grown_folder_builds_only_its_new_files(tmp_path: Path) -> None:
    folder, out = tmp_path / "landing", tmp_path / "out"
    write_notebooks(folder, 5)
    assert build(folder, out).returncode == 0
    first = runs_of(out)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    grow(folder, range(5, 8))
    refused = build(folder, out)
    assert refused.returncode == 2 and "--incremental" in refused.stderr
    grown = build(folder, out, "--incremental")
    assert grown.returncode == 0, grown.stderr
    assert "this run: 3 documents" in grown.stderr and "1 new work units" in grown.stderr
    after = runs_of(out)
    assert len(after) == 8 and {k: after[k] for k in first} == first  # old rows untouched
    assert len(set(after.values())) == 2  # each row says which run committed it
    for name, mtime in before.items():
        assert (out / "shards" / name).stat().st_mtime_ns == mtime  # old shards untouched
    summary = summarize(out)
    assert (summary["read"], summary["samples"], summary["complete"]) == (8, 8, True)
    record = orjson.loads((out / "build.json").read_bytes())
    assert [len(run["added"]) for run in record["runs"]] == [2, 1]
    again = build(folder, out, "--incremental")
    assert again.returncode == 0 and "this run: 0 documents" in again.stderr


def edit(path: Path) -> None:
    code = "\n".join(f"changed_{i} = {i}" for i in range(6)) + "\nplot(changed_0)"
    path.write_bytes(dumps(notebook(code_cell(code, [image_output(png_bytes(50, 50))]))))
    os.utime(path, ns=(1, 1))


def test_a_changed_input_is_reported_and_rebuilt_only_when_asked(tmp_path: Path) -> None:
    folder, out = tmp_path / "landing", tmp_path / "out"
    write_notebooks(folder, 6)
    assert build(folder, out).returncode == 0
    edit(folder / "nb_001.ipynb")  # in the first unit (files 0–2)
    reported = build(folder, out, "--incremental")
    assert reported.returncode == 3, reported.stderr
    assert "changed since they were built" in reported.stderr
    members = shard_members(out)
    assert not any(b"changed_0" in data for data in members.values())  # left as it was
    rebuilt = build(folder, out, "--incremental", "--reprocess-changed")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "this run: 3 documents" in rebuilt.stderr  # the changed unit only, as a new version
    members = shard_members(out)
    assert sum(b"changed_0" in data for data in members.values()) == 1
    summary = summarize(out)
    assert (summary["read"], summary["samples"], summary["complete"]) == (6, 6, True)
    assert not list((out / "shards").glob("*-u00000-*"))  # the old version is gone
    record = orjson.loads((out / "build.json").read_bytes())
    assert record["units"][0]["superseded_by"] == 2


def test_new_and_changed_tables_in_a_grown_bucket_style_folder(tmp_path: Path) -> None:
    folder, out = tmp_path / "landing", tmp_path / "out"
    folder.mkdir()

    def table(name: str, rows: int, tag: str) -> None:
        contents = [
            dumps(
                notebook(code_cell(f"{tag}_{n} = 1\n" * 6 + "plot()", [image_output(png_bytes())]))
            )
            for n in range(rows)
        ]
        pq.write_table(pa.table({"content": [c.decode() for c in contents]}), folder / name)

    table("day1.parquet", 2, "first")
    assert build(folder, out).returncode == 0
    table("day2.parquet", 3, "second")
    grown = build(folder, out, "--incremental")
    assert grown.returncode == 0 and "this run: 3 documents" in grown.stderr
    table("day1.parquet", 2, "rewritten")
    changed = build(folder, out, "--incremental")
    assert changed.returncode == 3 and "day1.parquet" in changed.stderr
    assert summarize(out)["read"] == 5
