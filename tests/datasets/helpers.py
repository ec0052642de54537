"""Building an adapter's records in a test, and reading back what the build wrote."""

from __future__ import annotations

import io
import tarfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console

from vlpipe.pipelines.build import run_build
from vlpipe.recipe import load_recipe


def dataset_recipe(adapter: str, images: Path | None, **options: Any) -> Any:
    """The bundled dataset recipe for ``adapter``, ``images`` as --images, ``options`` over
    its ``dataset`` section."""
    recipe = load_recipe("dataset")
    update: dict[str, Any] = {
        "dataset": recipe.dataset.model_copy(update={"adapter": adapter, **options})
    }
    if images is not None:
        update["input"] = recipe.input.model_copy(update={"images": str(images)})
    return recipe.model_copy(update=update)


def build(
    adapter: str, inputs: Path, out: Path, images: Path | None = None, **options: Any
) -> dict[str, Any]:
    """An inline build of ``inputs`` with ``adapter``; the run's summary."""
    recipe = dataset_recipe(adapter, images, **options)
    return run_build(recipe, [str(inputs)], out, "inline", console=Console(file=io.StringIO()))


def shard_samples(out: Path) -> dict[str, dict[str, bytes]]:
    """Every sample in the build's shards: its members (extension → bytes) by key."""
    grouped: dict[str, dict[str, bytes]] = defaultdict(dict)
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, _, ext = member.name.partition(".")
                handle = tar.extractfile(member)
                assert handle is not None
                grouped[key][ext] = handle.read()
    return dict(grouped)


def documents(out: Path) -> dict[str, dict[str, Any]]:
    """The ledger's document rows by doc id."""
    return {row["doc_id"]: row for row in pq.read_table(out / "ledger" / "documents").to_pylist()}
