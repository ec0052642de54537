"""Small builders for notebooks and builds used across the Jupyter tests."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from PIL import Image
from rich.console import Console

from vlpipe.pipelines.build import run_build
from vlpipe.recipe import Recipe, load_recipe

FIXTURES = Path(__file__).parents[1] / "fixtures" / "jupyter"
NOTEBOOKS = FIXTURES / "notebooks"
PLOT_CODE = "import numpy as np\nx = np.arange(10)\ny = x ** 2\nfig = None\nplot(x, y)"


def png_bytes(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    """A plot-like PNG: a block of ``color`` on white (a blank image is dropped as near-uniform)."""
    image = Image.new("RGB", (width, height), "white")
    image.paste(color, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def image_output(data: bytes | str, mime: str = "image/png") -> dict[str, Any]:
    text = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {
        "output_type": "display_data",
        "data": {mime: text, "text/plain": "<Figure>"},
        "metadata": {},
    }


def code_cell(source: str, outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": 1,
        "metadata": {},
        "outputs": outputs or [],
        "source": source,
    }


def notebook(*cells: dict[str, Any], language: str = "python") -> dict[str, Any]:
    metadata = {"kernelspec": {"name": language, "language": language, "display_name": language}}
    return {"cells": list(cells), "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def plot_notebook(code: str = PLOT_CODE, images: int = 1) -> dict[str, Any]:
    return notebook(code_cell(code, [image_output(png_bytes(64 + i, 48)) for i in range(images)]))


def dumps(nb: dict[str, Any]) -> bytes:
    return json.dumps(nb).encode()


def recipe(**sections: dict[str, Any]) -> Recipe:
    """The bundled Jupyter recipe with some sections' values changed (``filters``: options of the
    filters it lists, by filter name)."""
    base = load_recipe("jupyter")
    data = base.model_dump()
    for name, values in sections.items():
        if name == "filters":
            for entry in data["filters"]:
                ((filter_name, options),) = entry.items()
                options.update(values.get(filter_name, {}))
        else:
            data[name].update(values)
    return type(base).model_validate(data)


def build(
    inputs: list[Path | str], out: Path, config: Recipe | None = None, **kwargs: Any
) -> dict[str, Any]:
    quiet = Console(file=io.StringIO())
    return run_build(
        config or recipe(),
        [str(p) for p in inputs],
        out,
        kwargs.pop("executor", "inline"),
        console=quiet,
        **kwargs,
    )


def documents(out: Path) -> dict[str, dict[str, Any]]:
    table = pq.read_table(out / "ledger" / "documents").to_pylist()
    return {row["doc_id"]: row for row in table}
