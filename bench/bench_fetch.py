"""Image fetching throughput: vlpipe's fetcher against img2dataset, the same URLs, one run.

    python bench/bench_fetch.py [--urls 5000] [--hosts 64] [--latency-ms 50] [--repeats 3]

A local server (aiohttp, its own process) serves ``--urls`` distinct URLs of realistic JPEGs (30 to
250 KB, mean about 90 KB) on ``--hosts`` loopback addresses (127.0.0.1 … 127.0.0.N: hosts for a
per-host limit), each answer delayed by ``--latency-ms``. Contenders, same machine, same URLs:

- **vlpipe fetcher**: ``vlpipe.sources.fetch.Fetcher`` (SSRF guard, per-host limit, size cap,
  magic bytes and header check, opt-out, cache) writing a tar shard and an asset ledger row per
  image (parquet, the build's schema);
- **vlpipe build**: ``vlpipe build --source mmc4`` (inline, one process) over documents of four
  images each: fetching plus everything a build does (each image decoded and screened by the
  image filter, text filters, shards, the whole ledger);
- **img2dataset** (``pip install img2dataset``, run by the Python of ``--img2dataset-python``:
  by default a venv of its own at ``bench/out/img2dataset-venv``, which ``make bench`` makes, as
  its pins would downgrade packages vlpipe needs), webdataset output, sha256, one process per core
  × ``--threads`` threads.

Both run with and without resizing (img2dataset ``resize_mode=no`` + ``skip_reencode`` against
``keep``; ``keep_ratio_largest`` 256 against ``longest_side`` 256). Prints images/s (median of
repeats) and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import textwrap
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from rich.console import Console

from vlpipe.manifests.ledger import ASSET_SCHEMA
from vlpipe.pipelines.build import run_build
from vlpipe.recipe import load_recipe
from vlpipe.sources.fetch import (
    FetchCache,
    Fetched,
    Fetcher,
    FetchOptions,
    ImageLimits,
    ResizeOptions,
    prepare_image,
)

HERE = Path(__file__).parent
WORK = HERE / "out" / "fetch"
PORT = 18431
LIMITS = ImageLimits(max_bytes=16 * 2**20, max_pixels=40_000_000)
SENTENCE = "The photographs on this page show the harbour, its boats and the market by the quay."


def make_images(count: int) -> list[bytes]:
    """Photo-like JPEGs (smooth gradients with noise and shapes) of web sizes."""
    rng = np.random.default_rng(0)
    images = []
    for number in range(count):
        width = int(rng.integers(400, 1000))
        height = int(width * rng.uniform(0.6, 1.0))
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([(x * (number % 7 + 1) + y) % 256, (y * 2) % 256, (x + y) % 256], -1)
        noise = rng.normal(0, 6 + number % 12, (height, width, 3))
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(rng.integers(70, 92)))
        images.append(buffer.getvalue())
    return images


def serve(hosts: int, latency_s: float, folder: Path, ready: Any) -> None:
    """The image server (a process of its own): ``/img/<n>.jpg`` → image ``n % count``."""
    from aiohttp import web

    images = [p.read_bytes() for p in sorted(folder.glob("*.jpg"))]

    async def image(request: web.Request) -> web.Response:
        await asyncio.sleep(latency_s)
        number = int(request.match_info["number"])
        return web.Response(body=images[number % len(images)], content_type="image/jpeg")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/img/{number}.jpg", image)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in range(1, hosts + 1):
            await web.TCPSite(runner, f"127.0.0.{host}", PORT, backlog=4096).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def urls(count: int, hosts: int) -> list[str]:
    return [f"http://127.0.0.{1 + n % hosts}:{PORT}/img/{n}.jpg" for n in range(count)]


# -- contenders --------------------------------------------------------------------------------


def vlpipe_fetcher(addresses: list[str], out: Path, resize: ResizeOptions) -> int:
    """Fetch every URL, write each image into a tar shard and a ledger row per URL (images are
    prepared by two threads: Pillow lets go of the GIL while it decodes and resizes)."""
    options = FetchOptions(allow_loopback_ports=(PORT,), per_host=8, concurrency=256)
    rows: list[dict[str, Any]] = []
    with (
        Fetcher(options, FetchCache(out / "cache"), LIMITS) as fetcher,
        tarfile.open(out / "shard-000000.tar", "w") as tar,
        ThreadPoolExecutor(2) as pool,
    ):
        waiting: deque[Future[tuple[Fetched, tuple[str, bytes] | None]]] = deque()
        for result in fetcher.fetch_all(addresses):
            waiting.append(pool.submit(_prepared, result, resize))
            while waiting and (len(waiting) > 64 or waiting[0].done()):
                _write(tar, rows, *waiting.popleft().result())
        while waiting:
            _write(tar, rows, *waiting.popleft().result())
    pq.write_table(pa.Table.from_pylist(rows, ASSET_SCHEMA), out / "assets.parquet")
    return sum(1 for row in rows if row["status"] != "dropped")


def _prepared(result: Fetched, resize: ResizeOptions) -> tuple[Fetched, tuple[str, bytes] | None]:
    return result, None if result.status == "dropped" else prepare_image(result.body(), resize)


def _write(tar: tarfile.TarFile, rows: list[dict[str, Any]], result: Fetched, image: Any) -> None:
    key = f"{len(rows):09d}"
    if image is not None:
        ext, data = image
        member = tarfile.TarInfo(f"{key}.{ext}")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    fields = {name: getattr(result, name) for name in ASSET_SCHEMA.names if hasattr(result, name)}
    rows.append({**fields, "source": "bench", "doc_id": key, "sample_key": key})


def vlpipe_build(addresses: list[str], out: Path, resize: ResizeOptions) -> int:
    """``vlpipe build --source mmc4`` over documents of four images each."""
    rows = []
    for start in range(0, len(addresses), 4):
        group = addresses[start : start + 4]
        rows.append(
            {
                "url": f"http://example.com/{start}",
                "text_list": [f"{SENTENCE} Part {start + n}." for n in range(len(group))],
                "image_info": [
                    {"image_name": f"{start + n}.jpg", "raw_url": url, "matched_text_index": n,
                     "matched_sim": 0.3, "face_detections": None}
                    for n, url in enumerate(group)
                ],
                "similarity_matrix": [[0.3] * len(group)] * len(group),
            }
        )  # fmt: skip
    docs = out / "docs.jsonl"
    docs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    recipe = load_recipe("mmc4")
    data = recipe.model_dump(mode="json")
    data["mmc4"]["fetch"]["allow_loopback_ports"] = [PORT]
    data["mmc4"]["resize"] = resize.model_dump()
    data["output"]["docs_per_chunk"] = 250
    quiet = Console(file=io.StringIO())
    run_build(
        type(recipe).model_validate(data), [str(docs)], out / "build", "inline", console=quiet
    )
    assets = pq.read_table(out / "build" / "ledger" / "assets").column("status").to_pylist()
    return sum(1 for status in assets if status != "dropped")


IMG2DATASET = textwrap.dedent(
    """
    import json, sys, time
    from img2dataset import download
    args = json.loads(sys.argv[1])
    started = time.perf_counter()
    download(**args)
    print(time.perf_counter() - started)
    """
)


def img2dataset(python: str, addresses: list[str], out: Path, resize: bool, threads: int) -> float:
    """img2dataset's wall time for the URLs (its own timing of ``download``)."""
    listing = out / "urls.txt"
    listing.write_text("\n".join(addresses) + "\n")
    args = {
        "url_list": str(listing),
        "output_folder": str(out / "img2dataset"),
        "input_format": "txt",
        "output_format": "webdataset",
        "processes_count": os.cpu_count() or 1,
        "thread_count": threads,
        "timeout": 10,
        "retries": 0,
        "compute_hash": "sha256",
        "number_sample_per_shard": 10_000,
        "extract_exif": False,
        **(
            {"resize_mode": "keep_ratio_largest", "image_size": 256}
            if resize
            else {"resize_mode": "no", "skip_reencode": True}
        ),
    }
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    done = subprocess.run(
        [python, "-c", IMG2DATASET, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=out,
    )
    if done.returncode != 0:
        raise RuntimeError(f"img2dataset failed:\n{done.stderr[-3000:]}")
    stats = json.loads(next((out / "img2dataset").glob("*_stats.json")).read_text())
    if stats["successes"] != len(addresses):
        raise RuntimeError(f"img2dataset fetched {stats['successes']} of {len(addresses)}")
    return float(done.stdout.strip().splitlines()[-1])


# -- the run -----------------------------------------------------------------------------------


def timed(function: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def fresh(name: str) -> Path:
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=5000)
    parser.add_argument("--hosts", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=128, help="img2dataset threads/process")
    parser.add_argument(
        "--img2dataset-python", default=str(HERE / "out" / "img2dataset-venv" / "bin" / "python")
    )
    args = parser.parse_args()
    images_dir = fresh("images")
    images = make_images(40)
    for number, data in enumerate(images):
        (images_dir / f"{number:03d}.jpg").write_bytes(data)
    sizes = [len(images[n % len(images)]) for n in range(args.urls)]
    mean = statistics.mean(sizes) / 1000
    print(
        f"{args.urls} URLs on {args.hosts} loopback hosts, {args.latency_ms:.0f} ms latency, "
        f"images {min(sizes) // 1000}–{max(sizes) // 1000} KB (mean {mean:.0f} KB)"
    )
    ready = multiprocessing.Event()
    server = multiprocessing.Process(
        target=serve, args=(args.hosts, args.latency_ms / 1000, images_dir, ready), daemon=True
    )
    server.start()
    ready.wait(30)
    addresses = urls(args.urls, args.hosts)
    random.Random(0).shuffle(addresses)
    have_baseline = Path(args.img2dataset_python).exists()
    if not have_baseline:
        print(f"img2dataset: no {args.img2dataset_python} (make a venv, pip install img2dataset)")
    try:
        for label, resize in (
            ("no resize", ResizeOptions()),
            ("resize 256", ResizeOptions(mode="longest_side", size=256)),
        ):
            rates: dict[str, list[float]] = {
                "vlpipe fetcher": [],
                "vlpipe build": [],
                "img2dataset": [],
            }
            for _ in range(args.repeats):
                seconds, kept = timed(vlpipe_fetcher, addresses, fresh("vlpipe"), resize)
                assert kept == args.urls, f"vlpipe fetched {kept} of {args.urls}"
                rates["vlpipe fetcher"].append(args.urls / seconds)
                seconds, kept = timed(vlpipe_build, addresses, fresh("build"), resize)
                assert kept == args.urls, f"the build fetched {kept} of {args.urls}"
                rates["vlpipe build"].append(args.urls / seconds)
                if have_baseline:
                    seconds = img2dataset(
                        args.img2dataset_python, addresses, fresh("i2d"), label != "no resize",
                        args.threads,
                    )  # fmt: skip
                    rates["img2dataset"].append(args.urls / seconds)
            report(label, {k: v for k, v in rates.items() if v})
    finally:
        server.terminate()


def report(label: str, rates: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(values) for name, values in rates.items()}
    base = medians.get("img2dataset")
    print(f"\n{label}: images/s, median of {len(next(iter(rates.values())))}")
    for name, value in medians.items():
        ratio = f"  {value / base:.2f}× img2dataset" if base else ""
        runs = ", ".join(f"{v:.0f}" for v in rates[name])
        print(f"  {name:<16} {value:8.1f}{ratio}   (runs: {runs})")


if __name__ == "__main__":
    sys.exit(main())
