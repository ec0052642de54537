"""Builds over fixture documents: outcomes, ledger, metadata and the hostile inputs."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.jupyter.helpers import (
    FIXTURES,
    NOTEBOOKS,
    build,
    code_cell,
    documents,
    dumps,
    image_output,
    notebook,
    plot_notebook,
    png_bytes,
    recipe,
)
from tests.jupyter.test_filters import bomb_png
from vlpipe.filters.code_image import code_lines
from vlpipe.manifests.stats import summarize


def shard_members(out: Path) -> dict[str, bytes]:
    members = {}
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                members[member.name] = tar.extractfile(member).read()
    return members


def test_fixture_notebooks_end_as_expected(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build([NOTEBOOKS], out)
    rows = documents(out)
    status = {
        doc_id.split("/", 1)[1]: (row["status"], row["reason"]) for doc_id, row in rows.items()
    }
    assert status == {
        "damped_sine.ipynb": ("kept", None),
        "damped_sine_v3.ipynb": ("kept", None),
        "heights_histogram.ipynb": ("kept", None),
        "random_walks.ipynb": ("kept", None),
        "several_plots.ipynb": ("kept", None),
        "markdown_attachment.ipynb": ("dropped", "no_plot_output"),
        "short_cell.ipynb": ("dropped", "too_few_code_lines"),
        "stripped_outputs.ipynb": ("dropped", "no_plot_output"),
    }
    several = rows["notebooks/several_plots.ipynb"]
    assert several["candidates"] == 2 and len(several["sample_keys"]) == 1
    summary = summarize(out)
    assert summary["read"] == 8 == summary["kept"] + sum(summary["dropped"].values())
    assert summary["samples"] == 5
    stages = {stage["stage"]: stage["reasons"] for stage in summary["funnel"]}
    assert stages == {
        "code_image": {"images_per_cell": 1, "too_few_code_lines": 1},
        "image": {},
    }


def test_samples_hold_image_code_and_metadata(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build([NOTEBOOKS / "damped_sine.ipynb"], out)
    members = shard_members(out)
    (key,) = {name.split(".")[0] for name in members}
    assert sorted(members) == [f"{key}.json", f"{key}.png", f"{key}.py"]
    assert members[f"{key}.png"].startswith(b"\x89PNG")
    code = members[f"{key}.py"].decode()
    assert "ax.plot(t, signal" in code and "t = np.linspace(0, 10, 400)" in code
    meta = orjson.loads(members[f"{key}.json"])
    assert (
        meta["kind"] == "image_text" and meta["task"] == "code_from_plot" and meta["target"] == "py"
    )
    assert meta["source"] == "jupyter" and meta["doc_id"] == "notebooks/damped_sine.ipynb"
    assert meta["context_cells"] == 2 and meta["cell_index"] == 3
    cell = code[meta["cell_code_start"] :]
    assert (
        cell.startswith("fig, ax = plt.subplots(") and meta["code_lines"] == code_lines(cell) == 6
    )
    assert meta["images"] == [
        {
            "format": "png",
            "width": meta["images"][0]["width"],
            "height": meta["images"][0]["height"],
            "sha256": hashlib.sha256(members[f"{key}.png"]).hexdigest(),
            "ink": meta["images"][0]["ink"],
        }
    ]
    samples = pq.read_table(out / "ledger" / "samples").to_pylist()
    (row,) = samples
    assert row["key"] == key and row["shard"].endswith(".tar") and row["tar_bytes"] > 0
    png = next(m for m in row["members"] if m["name"].endswith(".png"))
    assert png["size"] == len(members[f"{key}.png"])


def test_stack_parquet_metadata_is_carried_into_samples(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build([FIXTURES / "stack_jupyter.parquet"], out)
    table = pq.read_table(FIXTURES / "stack_jupyter.parquet").to_pylist()
    rows = documents(out)
    assert set(rows) == {f"jupyter/stack_jupyter.parquet#row{n}" for n in range(len(table))}
    metas = [
        orjson.loads(data) for name, data in shard_members(out).items() if name.endswith(".json")
    ]
    assert len(metas) == 5
    for meta in metas:
        source = table[int(meta["doc_id"].rpartition("#row")[2])]
        assert meta["origin"]["hexsha"] == source["hexsha"]
        assert meta["repo"] == source["max_stars_repo_name"]
        assert meta["path"] == source["max_stars_repo_path"]
        assert meta["license"] == source["max_stars_repo_licenses"]
        assert meta["origin"]["max_stars_count"] == source["max_stars_count"]
        assert "content" not in meta["origin"]


def test_jsonl_and_gzipped_jsonl_inputs(tmp_path: Path) -> None:
    table = pq.read_table(FIXTURES / "stack_jupyter.parquet").to_pylist()
    lines = b"".join(orjson.dumps(row) + b"\n" for row in table[:3])
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(lines + b"{broken\n\n")
    with gzip.open(tmp_path / "in" / "b.jsonl.gz", "wb") as handle:
        handle.write(lines)
    out = tmp_path / "out"
    build([tmp_path / "in"], out)
    summary = summarize(out)
    assert summary["read"] == 7
    assert summary["failed"] == {"InvalidJSON": 1}
    failed = [row for row in documents(out).values() if row["status"] == "failed"]
    assert failed[0]["doc_id"] == "in/a.jsonl#L4"


def test_huggingface_dataset_streamed_from_a_local_dataset_directory(tmp_path: Path) -> None:
    data = tmp_path / "the-stack-dedup" / "data" / "jupyter-notebook"
    data.mkdir(parents=True)
    table = pq.read_table(FIXTURES / "stack_jupyter.parquet")
    pq.write_table(table.slice(0, 4), data / "train-00000-of-00002.parquet")
    pq.write_table(table.slice(4), data / "train-00001-of-00002.parquet")
    (tmp_path / "the-stack-dedup" / "data" / "python").mkdir()
    pq.write_table(
        pa.table({"content": ["print(1)"]}),
        tmp_path / "the-stack-dedup" / "data" / "python" / "train-0.parquet",
    )
    out = tmp_path / "out"
    config = recipe(input={"hf_data_dir": "data/jupyter-notebook"})
    build([f"hf:{tmp_path / 'the-stack-dedup'}"], out, config)
    rows = documents(out)
    dataset = tmp_path / "the-stack-dedup"
    assert set(rows) == {f"{dataset}#shard0#row{n}" for n in range(4)} | {
        f"{dataset}#shard1#row{n}" for n in range(len(table) - 4)
    }
    assert summarize(out)["samples"] == 5
    assert {row["unit"] for row in rows.values()} == {0, 1}


def write_notebooks(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        code = "\n".join(f"value_{i} = {number} * {i}" for i in range(6)) + "\nplot(value_0)"
        nb = notebook(
            code_cell(code, [image_output(png_bytes(40 + number % 7, 40, (number % 255, 20, 20)))])
        )
        (folder / f"nb_{number:03d}.ipynb").write_bytes(dumps(nb))


def test_shards_roll_over_by_sample_count_and_bytes(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "in", 12)
    by_count = tmp_path / "count"
    build([tmp_path / "in"], by_count, recipe(output={"max_samples_per_shard": 5}))
    sizes = []
    for shard in sorted((by_count / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            sizes.append(len(tar.getnames()) // 3)
    assert sizes == [5, 5, 2]
    by_bytes = tmp_path / "bytes"
    build([tmp_path / "in"], by_bytes, recipe(output={"max_shard_bytes": 6000}))
    shards = sorted((by_bytes / "shards").glob("*.tar"))
    assert len(shards) > 3
    assert summarize(by_bytes)["samples"] == 12
    assert shard_members(by_bytes) == shard_members(by_count)


def test_chunks_and_units_give_the_same_samples(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "in", 12)
    one = tmp_path / "one"
    build([tmp_path / "in"], one)
    many = tmp_path / "many"
    build(
        [tmp_path / "in"], many, recipe(input={"files_per_unit": 5}, output={"docs_per_chunk": 2})
    )
    assert shard_members(one) == shard_members(many)
    assert len(list((many / "ledger" / "documents").glob("*.parquet"))) == 7  # units 5+5+2 → 3+3+1


def test_rerun_skips_committed_documents_and_duplicates_nothing(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "in", 6)
    out = tmp_path / "out"
    first = build([tmp_path / "in"], out)
    before = shard_members(out)
    second = build([tmp_path / "in"], out)
    assert first["documents"] == 6 and second["documents"] == 0 and second["skipped_documents"] == 0
    assert shard_members(out) == before
    assert summarize(out)["read"] == 6


def hostile_inputs(folder: Path) -> None:
    """One file per kind of bad input the issue names, beside one good notebook."""
    folder.mkdir()
    good = dumps(plot_notebook())
    (folder / "good.ipynb").write_bytes(good)
    (folder / "invalid_json.ipynb").write_bytes(b"{this is not json")
    (folder / "truncated.ipynb").write_bytes(good[: len(good) // 2])
    (folder / "empty.ipynb").write_bytes(b"")
    (folder / "latin1.ipynb").write_bytes(good.replace(b"np.arange", "caf\xe9".encode("latin-1")))
    corrupt_b64 = plot_notebook()
    corrupt_b64["cells"][0]["outputs"][0]["data"]["image/png"] = "iVBORw0KGgo!!!%%%"
    (folder / "corrupt_base64.ipynb").write_bytes(dumps(corrupt_b64))
    (folder / "corrupt_png.ipynb").write_bytes(
        dumps(plot_notebook()).replace(b'"image/png": "iVBOR', b'"image/png": "AAAAR')
    )
    bomb = plot_notebook()
    bomb["cells"][0]["outputs"] = [image_output(bomb_png())]
    (folder / "png_bomb.ipynb").write_bytes(dumps(bomb))
    huge = plot_notebook()
    huge["cells"][0]["outputs"].append(
        {"output_type": "stream", "name": "stdout", "text": "x" * (100 * 2**20)}
    )
    (folder / "huge_output.ipynb").write_bytes(dumps(huge))
    (folder / "not_a_notebook.ipynb").write_bytes(b'{"hello": "world"}')
    (folder / "r_kernel.ipynb").write_bytes(
        dumps({**plot_notebook(), "metadata": {"kernelspec": {"language": "R"}}})
    )
    svg = plot_notebook()
    svg["cells"][0]["outputs"] = [
        image_output("<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
    ]
    (folder / "svg_only.ipynb").write_bytes(dumps(svg))
    (folder / "missing_columns.parquet").write_bytes(b"")
    pq.write_table(pa.table({"text": ["x"], "hexsha": ["abc"]}), folder / "missing_columns.parquet")
    (folder / "garbage.parquet").write_bytes(b"PAR1 this is not parquet at all")
    table = pq.read_table(FIXTURES / "stack_jupyter.parquet")
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, row_group_size=2)
    whole = buffer.getvalue().to_pybytes()
    (folder / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    (folder / "null_content.parquet").write_bytes(b"")
    pq.write_table(
        pa.table({"content": pa.array([None, "{}"], pa.string()), "hexsha": ["n1", "n2"]}),
        folder / "null_content.parquet",
    )
    with gzip.open(folder / "cut.jsonl.gz", "wb") as handle:
        handle.write(b"".join(orjson.dumps(row) + b"\n" for row in table.to_pylist()))
    cut = (folder / "cut.jsonl.gz").read_bytes()
    (folder / "cut.jsonl.gz").write_bytes(cut[: len(cut) - 200])


def test_hostile_inputs_never_crash_and_are_never_lost(tmp_path: Path) -> None:
    hostile_inputs(tmp_path / "in")
    out = tmp_path / "out"
    build([tmp_path / "in"], out)
    rows = {doc_id.removeprefix("in/"): row for doc_id, row in documents(out).items()}

    def outcome(doc_id: str) -> tuple[str, str | None]:
        row = rows[doc_id]
        return row["status"], row["reason"] or row["error_class"]

    assert outcome("good.ipynb") == ("kept", None)
    assert outcome("invalid_json.ipynb") == ("failed", "InvalidJSON")
    assert outcome("truncated.ipynb") == ("failed", "InvalidJSON")
    assert outcome("empty.ipynb") == ("failed", "InvalidJSON")
    assert outcome("latin1.ipynb") == ("failed", "InvalidJSON")
    assert "utf-8" in rows["latin1.ipynb"]["error"].lower()
    assert outcome("corrupt_base64.ipynb") == ("dropped", "corrupt_base64")
    assert outcome("corrupt_png.ipynb") == ("dropped", "corrupt_image")
    assert outcome("png_bomb.ipynb") == ("dropped", "decompression_bomb")
    assert rows["png_bomb.ipynb"]["filter"] == "image"
    assert outcome("huge_output.ipynb") == ("dropped", "doc_too_large")
    assert rows["huge_output.ipynb"]["filter"] == "doc_size"
    assert outcome("not_a_notebook.ipynb") == ("failed", "InvalidNotebook")
    assert outcome("r_kernel.ipynb") == ("dropped", "non_python_kernel")
    assert outcome("svg_only.ipynb") == ("dropped", "svg_not_rasterised")
    assert outcome("missing_columns.parquet") == ("failed", "MissingColumns")
    assert "'content'" in rows["missing_columns.parquet"]["error"]
    assert outcome("garbage.parquet") == ("failed", "UnreadableInput")
    truncated = [row for doc_id, row in rows.items() if doc_id.startswith("truncated.parquet")]
    assert [row["error_class"] for row in truncated] == ["UnreadableInput"]
    assert outcome("null_content.parquet#row0") == ("failed", "MissingContent")
    assert outcome("null_content.parquet#row1") == ("failed", "InvalidNotebook")
    (cut_end,) = [row for doc_id, row in rows.items() if doc_id.startswith("cut.jsonl.gz#after")]
    assert cut_end["status"] == "failed" and cut_end["error_class"] == "UnreadableInput"
    cut = [row for row in rows.values() if row["unit"] == cut_end["unit"]]
    assert any(row["status"] == "kept" for row in cut)
    read = len(cut) - 1
    assert cut_end["doc_id"] == f"in/cut.jsonl.gz#after{read}"
    assert f"({read} documents read before the break)" in cut_end["error"]
    summary = summarize(out)
    assert (
        summary["read"]
        == len(rows)
        == summary["kept"] + sum(summary["dropped"].values()) + sum(summary["failed"].values())
    )
    for row in rows.values():
        assert row["status"] in {"kept", "dropped", "failed"}
        if row["status"] == "failed":
            assert row["error"] and "\n" not in row["error"][:200]


def test_same_output_folder_with_another_recipe_is_refused(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "in", 2)
    build([tmp_path / "in"], tmp_path / "out")
    from vlpipe.errors import ConfigError

    with pytest.raises(ConfigError, match="another recipe"):
        build(
            [tmp_path / "in"],
            tmp_path / "out",
            recipe(filters={"code_image": {"min_code_lines": 3}}),
        )
    saved = json.loads((tmp_path / "out" / "build.json").read_text())["recipe"]["filters"]
    assert saved[0] == {
        "code_image": {"images_per_cell": 1, "min_code_lines": 5, "count_lines_in": "cell"}
    }
