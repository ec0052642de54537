"""Jupyter build throughput: vlpipe against a naive one-process baseline and the I/O floor.

    python bench/bench_jupyter.py [--notebooks 2000] [--repeats 3]

All three build the same generated corpus of notebooks (real matplotlib PNGs, several cells,
some cells with two plots, some without) into tar shards:
- vlpipe: ``run_build`` inline (one process) and on the embedded Ray with every core;
- naive: ``nbformat.read`` + Pillow ``verify`` + ``webdataset.ShardWriter``, one process;
- floor: ``orjson`` parse + base64 decode + bytes into a tar, no checks at all.
Prints notebooks/s (median over repeats) and the ratios.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import shutil
import statistics
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib
import nbformat
import orjson
import webdataset as wds
from PIL import Image
from rich.console import Console

from vlpipe.filters.code_image import code_lines
from vlpipe.pipelines.build import run_build
from vlpipe.recipe import load_recipe

matplotlib.use("Agg")


def plot_pngs(count: int) -> list[str]:
    import matplotlib.pyplot as plt
    import numpy as np

    rng = np.random.default_rng(0)
    encoded = []
    for number in range(count):
        figure, axes = plt.subplots(figsize=(4, 3))
        axes.plot(np.cumsum(rng.normal(size=200)), label=f"series {number}")
        axes.legend()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=60)
        plt.close(figure)
        encoded.append(base64.b64encode(buffer.getvalue()).decode())
    return encoded


def make_corpus(folder: Path, notebooks: int) -> None:
    pngs = plot_pngs(32)
    folder.mkdir(parents=True)
    for number in range(notebooks):
        cells = [{"cell_type": "markdown", "metadata": {}, "source": f"# Analysis {number}"}]
        for index in range(6):
            source = "\n".join(
                f"value_{index}_{i} = compute({number}, {i})" for i in range(3 + index)
            )
            outputs = []
            if index in (2, 4) or (index == 5 and number % 3 == 0):
                plots = 2 if (number + index) % 5 == 0 else 1
                for plot in range(plots):
                    png = pngs[(number + index + plot) % len(pngs)]
                    data = {"image/png": png, "text/plain": ["<Figure size 400x300 with 1 Axes>"]}
                    outputs.append({"output_type": "display_data", "data": data, "metadata": {}})
            cells.append(
                {
                    "cell_type": "code",
                    "execution_count": index + 1,
                    "metadata": {},
                    "outputs": outputs,
                    "source": source,
                }
            )
        notebook = {
            "cells": cells,
            "metadata": {
                "kernelspec": {"language": "python", "name": "python3", "display_name": "Python 3"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (folder / f"nb_{number:05d}.ipynb").write_text(json.dumps(notebook))


def naive(corpus: Path, out: Path) -> int:
    """What a careful script would do without vlpipe: nbformat, Pillow verify, ShardWriter."""
    out.mkdir()
    samples = 0
    with wds.ShardWriter(str(out / "naive-%06d.tar"), maxcount=5000, verbose=0) as sink:
        for path in sorted(corpus.glob("*.ipynb")):
            try:
                notebook = nbformat.read(str(path), as_version=4)
            except Exception:
                continue
            previous = []
            for cell in notebook.cells:
                if cell.cell_type != "code":
                    continue
                images = [
                    o.data["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})
                ]
                code = "\n\n".join([*previous, cell.source])
                previous.append(cell.source)
                if len(images) != 1 or code_lines(cell.source) < 5:
                    continue
                data = base64.b64decode(images[0])
                try:
                    Image.open(io.BytesIO(data)).verify()
                except Exception:
                    continue
                sink.write({"__key__": f"{path.stem}_{samples}", "png": data, "py": code.encode()})
                samples += 1
    return samples


def floor(corpus: Path, out: Path) -> int:
    """The least any build must do: parse JSON, decode base64, write bytes into a tar."""
    out.mkdir()
    samples = 0
    with tarfile.open(out / "floor.tar", "w") as tar:
        for path in sorted(corpus.glob("*.ipynb")):
            notebook = orjson.loads(path.read_bytes())
            for number, cell in enumerate(notebook["cells"]):
                for output in cell.get("outputs", []):
                    png = output.get("data", {}).get("image/png")
                    if png is None:
                        continue
                    data = base64.b64decode(png)
                    info = tarfile.TarInfo(f"{path.stem}_{number}_{samples}.png")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                    samples += 1
    return samples


def vlpipe_build(executor: str, full_decode: bool = True) -> Callable[[Path, Path], int]:
    recipe = load_recipe("jupyter")
    limits = recipe.filters.image.model_copy(update={"full_decode": full_decode})
    filters = recipe.filters.model_copy(update={"image": limits})
    recipe = recipe.model_copy(update={"filters": filters})
    quiet = Console(file=io.StringIO())

    def run(corpus: Path, out: Path) -> int:
        return run_build(recipe, [str(corpus)], out, executor, console=quiet)["samples"]

    return run


def timed(
    run: Callable[[Path, Path], int], corpus: Path, scratch: Path, repeats: int
) -> tuple[float, int]:
    seconds, samples = [], 0
    for repeat in range(repeats):
        out = scratch / f"out-{repeat}"
        started = time.perf_counter()
        samples = run(corpus, out)
        seconds.append(time.perf_counter() - started)
        shutil.rmtree(out)
    return statistics.median(seconds), samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        scratch = Path(temporary)
        corpus = scratch / "corpus"
        make_corpus(corpus, args.notebooks)
        megabytes = sum(p.stat().st_size for p in corpus.iterdir()) / 2**20
        runs = f"median of {args.repeats} runs"
        print(f"corpus: {args.notebooks} notebooks, {megabytes:.0f} MiB; {runs}")
        import ray

        from vlpipe.runtime import init_ray

        init_ray(None, None)  # started once, outside the timings, as on a running cluster
        cpus = int(ray.cluster_resources()["CPU"])
        contenders = {
            "vlpipe inline (1 process)": vlpipe_build("inline"),
            "vlpipe inline, full_decode: false": vlpipe_build("inline", full_decode=False),
            f"vlpipe ray ({cpus} workers)": vlpipe_build("ray"),
            "naive (nbformat + verify + ShardWriter)": naive,
            "floor (orjson + b64 + tar)": floor,
        }
        rates = {}
        for name, run in contenders.items():
            seconds, samples = timed(run, corpus, scratch, args.repeats)
            rates[name] = args.notebooks / seconds
            rate = f"{rates[name]:9.1f} notebooks/s"
            print(f"{name:45s} {rate}  {seconds:6.2f} s  {samples} samples")
        *ours, baseline, bare = rates.values()
        for name, rate in zip(contenders, ours, strict=False):
            print(f"{name:45s} / naive {rate / baseline:5.2f}x   / floor {rate / bare:5.2f}x")


if __name__ == "__main__":
    main()
