"""Jupyter build throughput as a user meets it: whole processes, side by side, on real notebooks.

    python bench/bench_jupyter.py [--corpus bench/out/jupyter-real] [--copies 8] [--repeats 3]
                                  [--only WORD …]

The corpus is the Jupyter regression set (``python -m bench.jupyter.fetch_notebooks``) repeated
``--copies`` times (hard links under other names: a corpus of forks repeats its notebooks too);
``--generated N`` builds N synthetic notebooks instead. Each contender is one fresh process, timed
from its start to its exit (imports, Ray start-up and the ledger included), and the contenders
take turns within each repeat so that they share the machine's noise:

- ``vlpipe build --executor inline``, ``--executor ray --workers 1`` and ``--workers 2`` (embedded
  Ray; ``--workers N …`` runs other counts, for a scaling curve on a bigger machine), and
  ``vlpipe build`` with the default executor (``auto`` picks one for the plan);
- naive: ``nbformat.read`` + Pillow ``verify`` + ``webdataset.ShardWriter``, one process;
- floor: ``orjson`` parse + base64 decode + bytes into a tar, no checks at all.

Prints notebooks/s (median over repeats), the ratios, notebooks per CPU-second (the per-core
figure, steadier than wall time on a busy machine), the seconds from each vlpipe build's start
to its first committed chunk, its time to the end on one notebook, and the inline build against
the naive script within each repeat (the machine's speed drifts between repeats). ``--only``
keeps the contenders naming a word (``--only floor``: inline, naive and floor), for more repeats
in the same time.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import IO

from vlpipe.manifests.ledger import DOCUMENTS
from vlpipe.manifests.store import TMP_MARK

REAL_CORPUS = Path("bench/out/jupyter-real")
NAIVE, FLOOR = "naive (nbformat + verify + ShardWriter)", "floor (orjson + b64 + tar)"
INLINE = "vlpipe build --executor inline"


def naive(corpus: Path, out: Path) -> int:
    """What a careful script would do without vlpipe: nbformat, Pillow verify, ShardWriter."""
    import nbformat
    import webdataset as wds
    from PIL import Image

    def code_lines(source: str) -> int:
        return sum(1 for line in source.splitlines() if line.strip()[:1] not in ("", "#"))

    out.mkdir()
    samples = 0
    with wds.ShardWriter(str(out / "naive-%06d.tar"), maxcount=5000, verbose=0) as sink:
        for path in sorted(corpus.rglob("*.ipynb")):
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
    import orjson

    out.mkdir()
    samples = 0
    with tarfile.open(out / "floor.tar", "w") as tar:
        for path in sorted(corpus.rglob("*.ipynb")):
            try:
                notebook = orjson.loads(path.read_bytes())
            except orjson.JSONDecodeError:
                continue
            for number, cell in enumerate(notebook.get("cells", [])):
                for output in cell.get("outputs", []):
                    png = output.get("data", {}).get("image/png")
                    if png is None:
                        continue
                    data = base64.b64decode("".join(png) if isinstance(png, list) else png)
                    info = tarfile.TarInfo(f"{path.stem}_{number}_{samples}.png")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                    samples += 1
    return samples


def copied_corpus(source: Path, copies: int, target: Path) -> int:
    """``copies`` hard-linked copies of every notebook under ``source``; returns the count."""
    count = 0
    for copy in range(copies):
        for path in sorted(source.rglob("*.ipynb")):
            linked = target / f"copy{copy}" / path.relative_to(source)
            linked.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, linked)
            count += 1
    return count


def generated_corpus(folder: Path, notebooks: int) -> int:
    """Synthetic notebooks (real matplotlib PNGs, several cells, some with two plots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rng = np.random.default_rng(0)
    pngs = []
    for number in range(32):
        figure, axes = plt.subplots(figsize=(4, 3))
        axes.plot(np.cumsum(rng.normal(size=200)), label=f"series {number}")
        axes.legend()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=60)
        plt.close(figure)
        pngs.append(base64.b64encode(buffer.getvalue()).decode())
    folder.mkdir(parents=True)
    for number in range(notebooks):
        cells: list[dict] = [{"cell_type": "markdown", "metadata": {}, "source": f"# {number}"}]
        for index in range(6):
            source = "\n".join(f"v_{index}_{i} = compute({number}, {i})" for i in range(3 + index))
            outputs = []
            if index in (2, 4) or (index == 5 and number % 3 == 0):
                for plot in range(2 if (number + index) % 5 == 0 else 1):
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
        kernel = {"language": "python", "name": "python3", "display_name": "Python 3"}
        notebook = {"cells": cells, "metadata": {"kernelspec": kernel}}
        notebook |= {"nbformat": 4, "nbformat_minor": 5}
        (folder / f"nb_{number:05d}.ipynb").write_text(json.dumps(notebook))
    return notebooks


def commands(corpus: Path, out: Path, workers: list[int]) -> dict[str, list[str]]:
    build = [sys.executable, "-m", "vlpipe", "build", "--source", "jupyter"]
    build += ["--input", str(corpus), "--output", str(out)]
    this = [sys.executable, __file__]
    ray = {
        f"vlpipe build --executor ray --workers {n}": [
            *build,
            "--executor",
            "ray",
            "--workers",
            str(n),
        ]
        for n in workers
    }
    return {
        INLINE: [*build, "--executor", "inline"],
        **ray,
        "vlpipe build (default: auto)": build,
        NAIVE: [*this, "--naive", str(corpus), str(out)],
        FLOOR: [*this, "--floor", str(corpus), str(out)],
    }


def committed(out: Path) -> bool:
    """Whether a build into ``out`` has committed a chunk (the ledger's first document file)."""
    folder = out / DOCUMENTS
    return folder.is_dir() and any(
        TMP_MARK not in name for name in (p.name for p in folder.iterdir())
    )


def watched_run(command: list[str], out: Path, log: IO[bytes]) -> tuple[int, float | None]:
    """Run ``command`` to its end, output to ``log``, watching ``out``: its exit status and the
    seconds from its start to the first committed chunk (None: none before it ended)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    first = None
    while process.poll() is None:
        if first is None and committed(out):
            first = time.perf_counter() - started
        time.sleep(0.02)
    return process.returncode, first


def timed(command: list[str], out: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, of the process and what it waited for) and
    seconds to the first committed chunk (vlpipe's builds; the end for the others)."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        returncode, first = watched_run(command, out, log)
        seconds = time.perf_counter() - started
        log.seek(0)
        text = log.read().decode(errors="replace")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{text[-3000:]}")
    shutil.rmtree(out)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return seconds, cpu, seconds if first is None else first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=REAL_CORPUS)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--generated", type=int, help="N synthetic notebooks instead")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--only", nargs="+", metavar="WORD", help="contenders naming a WORD (inline, naive: always)"
    )
    parser.add_argument(
        "--workers", nargs="+", type=int, default=[1, 2], help="Ray worker counts to run"
    )
    parser.add_argument("--naive", nargs=2, type=Path, metavar=("CORPUS", "OUT"))
    parser.add_argument("--floor", nargs=2, type=Path, metavar=("CORPUS", "OUT"))
    args = parser.parse_args()
    if args.naive or args.floor:
        print((naive if args.naive else floor)(*(args.naive or args.floor)))
        return
    Path("bench/out").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir="bench/out") as temporary:
        scratch = Path(temporary)
        corpus, one = scratch / "corpus", scratch / "one"
        if args.generated:
            notebooks = generated_corpus(corpus, args.generated)
        elif args.corpus.is_dir():
            notebooks = copied_corpus(args.corpus, args.copies, corpus)
        else:
            raise SystemExit(f"no {args.corpus}: run make bench-data first")
        first = min(corpus.rglob("*.ipynb"))
        one.mkdir()
        shutil.copy(first, one / first.name)
        megabytes = sum(p.stat().st_size for p in corpus.rglob("*.ipynb")) / 2**20
        print(f"corpus: {notebooks} notebooks, {megabytes:.0f} MiB; median of {args.repeats}")
        runs = {
            name: command
            for name, command in commands(corpus, scratch / "out", args.workers).items()
            if not args.only or name in (INLINE, NAIVE) or any(w in name for w in args.only)
        }
        starts = {
            n: c
            for n, c in commands(one, scratch / "out", args.workers).items()
            if n in runs and "vlpipe" in n
        }
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        first: dict[str, list[float]] = {name: [] for name in runs}
        startup: dict[str, list[float]] = {name: [] for name in starts}
        for _ in range(args.repeats):
            for name, command in runs.items():
                wall, used, first_chunk = timed(command, scratch / "out")
                seconds[name].append(wall)
                cpu[name].append(used)
                first[name].append(first_chunk)
            for name, command in starts.items():
                startup[name].append(timed(command, scratch / "out")[0])
        rates = {name: notebooks / statistics.median(s) for name, s in seconds.items()}
        inline = rates[INLINE]
        print(f"{'contender':40s} {'notebooks/s':>11s} {'/ naive':>7s} {'/ inline':>8s} "
              f"{'/ floor':>7s} {'per CPU-s':>9s} first chunk  one notebook")  # fmt: skip
        for name, rate in rates.items():
            one_doc = f"{statistics.median(startup[name]):5.2f} s" if name in startup else ""
            first_chunk = f"{statistics.median(first[name]):9.2f} s" if name in starts else ""
            own = "ray" not in name and "auto" not in name  # Ray's workers are not its CPU time
            per_cpu = f"{notebooks / statistics.median(cpu[name]):9.1f}" if own else ""
            floor_ratio = f"{rate / rates[FLOOR]:6.2f}x" if FLOOR in rates else "      -"
            print(f"{name:40s} {rate:11.1f} {rate / rates[NAIVE]:6.2f}x {rate / inline:7.2f}x "
                  f"{floor_ratio} {per_cpu:>9s} {first_chunk:>11s}  {one_doc}")  # fmt: skip
        print("per CPU-s: notebooks per CPU-second of the process (Ray's workers are not its own)")
        # the machine's speed drifts between repeats: the ratio within each repeat is steadier
        walls = [n / i for i, n in zip(seconds[INLINE], seconds[NAIVE], strict=True)]
        cpus = [n / i for i, n in zip(cpu[INLINE], cpu[NAIVE], strict=True)]
        print(
            f"inline / naive within each repeat, median: {statistics.median(walls):.2f}x wall, "
            f"{statistics.median(cpus):.2f}x CPU (repeats: "
            f"{', '.join(f'{w:.2f}' for w in walls)})"
        )


if __name__ == "__main__":
    main()
