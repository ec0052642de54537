"""Loader throughput: vlpipe's trainer loader vs a plain webdataset + DataLoader pipeline.

Both read the same generated image_text shards with the same number of workers and do the same
per-sample work (decode the PNG, pad to square, resize + normalise for both vision branches,
tokenise the text); vlpipe additionally mixes, packs and tracks its data position.

    python bench/bench_loader.py [--workers 2] [--samples 384] [--repeats 3] [--preset small]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import webdataset as wds
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "trainer"))
from shardkit import image_text, png_bytes, write_shard

from vlpipe.trainer.config import DataConfig, resolve_model
from vlpipe.trainer.data import DataPosition, make_loader
from vlpipe.trainer.samples import image_views
from vlpipe.trainer.tokenizer import ByteTokenizer


def make_bench_shards(root: Path, shards: int, per_shard: int) -> list[str]:
    """Plot-sized images (400×300 PNG) with their code, like `vlpipe build --source jupyter`."""
    urls = []
    for s in range(shards):
        samples = []
        for j in range(per_shard):
            i = s * per_shard + j
            sample = image_text(i)
            sample["png"] = png_bytes(i, size=(400, 300))
            samples.append((f"s{i:06d}", sample))
        urls.append(str(write_shard(root / f"bench-{s:04d}.tar", samples)))
    return urls


def run_vlpipe(urls: list[str], preset: str, workers: int, n: int) -> float:
    cfg = DataConfig.model_validate(
        {
            "seq_len": 1024,
            "batch_size": 8,
            "num_workers": workers,
            "shuffle_buffer": 64,
            "streams": [{"name": "mm", "shards": urls, "weight": 1.0}],
        }
    )
    loader = make_loader(cfg, resolve_model(preset), ByteTokenizer(), 0, 1, DataPosition())
    start, seen = time.perf_counter(), 0
    for batch in loader:
        seen += sum(batch["meta"]["samples"].values())
        if seen >= n:
            break
    return seen / (time.perf_counter() - start)


def run_baseline(urls: list[str], preset: str, workers: int, n: int) -> float:
    model_cfg, tok = resolve_model(preset), ByteTokenizer()

    def transform(sample: dict) -> dict:
        lo, hi = image_views(sample["png"], model_cfg)
        return {"lo": lo, "hi": hi, "ids": torch.tensor(tok.encode(sample["py"].decode()))}

    dataset = (
        wds.WebDataset(urls, resampled=True, shardshuffle=False, nodesplitter=wds.split_by_node)
        .shuffle(64)
        .map(transform)
        .batched(8, collation_fn=list)
    )
    loader = DataLoader(dataset, batch_size=None, num_workers=workers)
    start, seen = time.perf_counter(), 0
    for batch in loader:
        seen += len(batch)
        if seen >= n:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--samples", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="small", help="model preset fixing image sizes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        urls = make_bench_shards(Path(tmp), shards=8, per_shard=64)
        results: dict[str, list[float]] = {"vlpipe": [], "webdataset": []}
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            results["vlpipe"].append(run_vlpipe(urls, args.preset, args.workers, args.samples))
            results["webdataset"].append(
                run_baseline(urls, args.preset, args.workers, args.samples)
            )
    cfg = resolve_model(args.preset)
    print(
        f"loader, {args.samples} samples x {args.repeats} repeats, {args.workers} workers, "
        f"views {cfg.vision_lo.image_size}+{cfg.vision_hi.image_size} px"
    )
    med = {k: statistics.median(v) for k, v in results.items()}
    for name, values in results.items():
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:<11} median {med[name]:8.1f} samples/s   (runs: {runs})")
    print(f"  ratio vlpipe/webdataset: {med['vlpipe'] / med['webdataset']:.2f}")


if __name__ == "__main__":
    main()
