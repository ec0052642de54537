"""Every bundled adapter builds its sample (records in the dataset's published schema) into
shards the trainer's loader reads; `vlpipe datasets` lists them by group; the README cites each
schema; the DeepSeek-VL mixture recipe names only builds that exist."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from tests.datasets.conftest import ImageServer, send
from tests.datasets.helpers import dataset_recipe, shard_samples
from vlpipe.cli import app
from vlpipe.errors import ConfigError
from vlpipe.manifests.stats import summarize
from vlpipe.manifests.store import open_store
from vlpipe.pipelines.build import run_build
from vlpipe.sources.dataset.adapters import GROUP_TITLES, bundled_adapters
from vlpipe.sources.registry import source_names, source_spec

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER_HOST = "http://images.vlpipe.test"
ADAPTERS = sorted(bundled_adapters())


def served_copy(sample: Path, target: Path, server: ImageServer) -> Path:
    """The sample with its image URLs pointing at ``server``, which serves ``images/``."""
    shutil.copytree(sample, target)
    for image in (target / "images").rglob("*"):
        if image.is_file():
            path = "/" + image.relative_to(target / "images").as_posix()
            data = image.read_bytes()
            server.routes[path] = lambda h, d=data: send(h, 200, d, {"Content-Type": "image/jpeg"})
    local = f"http://127.0.0.1:{server.port}"
    for table in target.rglob("*"):
        if table.suffix in (".json", ".jsonl"):
            table.write_text(table.read_text(encoding="utf-8").replace(PLACEHOLDER_HOST, local))
        elif table.suffix == ".parquet":
            rows = pq.read_table(table)
            replaced = [_replaced(row, local) for row in rows.to_pylist()]
            pq.write_table(rows.from_pylist(replaced, schema=rows.schema), table)
    shutil.rmtree(target / "images")
    return target


def _replaced(value: Any, local: str) -> Any:
    if isinstance(value, str):
        return value.replace(PLACEHOLDER_HOST, local)
    if isinstance(value, dict):
        return {k: _replaced(v, local) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, local) for v in value]
    return value


def uses_urls(sample: Path) -> bool:
    return any(
        PLACEHOLDER_HOST.encode() in path.read_bytes()
        for path in sample.rglob("*")
        if path.is_file() and path.suffix in (".json", ".jsonl", ".parquet")
    )


@pytest.mark.parametrize("name", ADAPTERS)
def test_every_adapter_builds_its_sample_into_shards_the_trainer_reads(
    name: str, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    from vlpipe.trainer.config import resolve_model
    from vlpipe.trainer.samples import encode_sample
    from vlpipe.trainer.tokenizer import ByteTokenizer

    recipe = dataset_recipe(name, None)
    sample = source_spec("dataset").samples(recipe)
    server = ImageServer()
    try:
        if uses_urls(sample):
            sample = served_copy(sample, tmp_path / "served", server)
            fetch = recipe.dataset.fetch.model_copy(
                update={"allow_loopback_ports": (server.port,), "timeout_s": 5.0}
            )
            recipe = dataset_recipe(name, None, fetch=fetch)
        elif (sample / "images").is_dir():
            recipe = dataset_recipe(name, sample / "images")
        quiet = Console(file=io.StringIO())
        run = run_build(recipe, [str(sample)], tmp_path / "out", "inline", console=quiet)
    finally:
        server.close()
    summary = summarize(open_store(str(tmp_path / "out")))
    assert not summary["failed"], summary["failed"]
    assert run["kept"] >= 1
    adapter = bundled_adapters()[name]
    samples = list(shard_samples(tmp_path / "out").values())
    assert samples
    tokenizer, model = ByteTokenizer(), resolve_model("tiny")
    for raw in samples:
        meta = orjson.loads(raw["json"])
        assert (meta["dataset"], meta["source"]) == (name, "dataset")
        assert meta["kind"] in ("image_text", "chat") and meta["license"]
        if meta["task"] != "scene_text_line":
            assert (meta["kind"], meta["task"]) == (adapter.kind, adapter.task)
        example = encode_sample(raw, tokenizer, model, 4096)
        assert any(label >= 0 for label in example.labels)  # something to learn


def test_vlpipe_datasets_lists_twenty_adapters_in_every_group() -> None:
    result = CliRunner().invoke(app, ["datasets", "--json"])
    assert result.exit_code == 0, result.output
    listed = orjson.loads(result.output)
    assert len(listed) >= 20
    assert {entry["group"] for entry in listed} == set(GROUP_TITLES)
    for entry in listed:
        assert entry["layout"] and entry["license"] and entry["schema_source"]
    table = CliRunner().invoke(app, ["datasets"])
    assert table.exit_code == 0 and "scienceqa" in table.output


def test_readme_cites_each_adapters_schema_source() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for adapter in bundled_adapters().values():
        row = next((line for line in readme.splitlines() if f"`{adapter.name}`" in line), None)
        assert row is not None, f"README has no adapter row for {adapter.name}"
        first_url = next(w for w in adapter.schema_source.split() if w.startswith("http"))
        assert first_url.rstrip(";,") in row, f"{adapter.name}: README does not cite {first_url}"


def test_the_mixture_recipe_names_existing_builds_and_keeps_70_30() -> None:
    from vlpipe.trainer.config import load_recipe as load_training

    path = ROOT / "recipes" / "deepseek_vl_mixture.yaml"
    tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    outputs = set()
    for build in tree["builds"]:
        assert build["source"] in source_names()
        if build["source"] == "dataset":
            assert build["dataset"] in bundled_adapters()
        outputs.add(build["output"])
    used = {b["dataset"] for b in tree["builds"] if b["source"] == "dataset"}
    assert used == set(bundled_adapters())  # every adapter has its place in the mixture
    for stage in tree["stages"]:
        recipe = load_training(path, stage=stage)
        for stream in recipe.data.streams:
            assert set(stream.shards) <= outputs, stream.name
    pretrain = load_training(path, stage="stage2_pretrain").data.streams
    total = sum(stream.weight for stream in pretrain)
    text = sum(stream.weight for stream in pretrain if stream.name == "text")
    assert text / total == pytest.approx(0.3, abs=1e-3)
    with pytest.raises(ConfigError, match="pick --stage"):
        load_training(path)


def test_a_dataset_build_needs_an_adapter_and_the_flag_needs_the_source(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["build", "--source", "dataset", "--output", str(tmp_path)])
    assert result.exit_code == 2 and "--dataset NAME" in result.output
    result = runner.invoke(
        app, ["build", "--source", "text", "--dataset", "scienceqa", "--output", str(tmp_path)]
    )
    assert result.exit_code == 2 and "--dataset goes with --source dataset" in result.output
    result = runner.invoke(
        app, ["build", "--source", "dataset", "--dataset", "nope", "--output", str(tmp_path)]
    )
    assert result.exit_code == 2 and "unknown dataset 'nope'" in result.output
