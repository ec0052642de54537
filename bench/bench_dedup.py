"""Near-duplicate text removal: vlpipe against datatrove's MinHash pipeline, same documents.

    python bench/bench_dedup.py [--docs 20000] [--repeats 3]

The corpus: ``--docs`` documents of ~250 words drawn from a Zipf vocabulary (made-up words of
letters: datatrove's normalisation drops digits), of which 5% are exact
copies and 10% are near copies of earlier documents (2% of the words replaced, or a sentence
dropped) — the planted truth. Both contenders read the same jsonl and start from scratch:

- vlpipe: ``vlpipe build --source text`` (inline, no filters: it signs every sample with a
  MinHash and writes shards and ledger) then ``vlpipe dedup`` (inline);
- datatrove: its four-stage MinHash pipeline (signatures, buckets, clusters, filter), one task
  each, with its defaults (5-grams, 14 buckets × 8 hashes) — vlpipe's defaults are the same.

Prints documents/s (median over repeats), the ratio, and precision/recall of each against the
planted duplicates. datatrove is not a vlpipe dependency: ``pip install 'datatrove[processing]'``.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from rich.console import Console

from vlpipe.manifests import ledger
from vlpipe.pipelines.build import run_build
from vlpipe.pipelines.dedup import DedupOptions, run_dedup
from vlpipe.recipe import load_recipe


def make_corpus(path: Path, docs: int, seed: int = 0) -> set[int]:
    """Write the corpus; returns the line numbers (0-based) of the planted duplicates."""
    rng = random.Random(seed)
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
    vocabulary = sorted(
        {"".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(30_000)}
    )
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    texts: list[str] = []
    planted: set[int] = set()
    for number in range(docs):
        roll = rng.random()
        if texts and roll < 0.05:
            texts.append(rng.choice(texts))
            planted.add(number)
        elif texts and roll < 0.15:
            words = rng.choice(texts).split()
            if rng.random() < 0.5:
                for _ in range(max(1, len(words) // 50)):
                    words[rng.randrange(len(words))] = rng.choice(vocabulary)
            else:
                cut = rng.randrange(len(words) - 20)
                del words[cut : cut + 15]
            texts.append(" ".join(words))
            planted.add(number)
        else:
            sentences = [
                " ".join(rng.choices(vocabulary, weights, k=rng.randint(8, 20))) + "."
                for _ in range(rng.randint(12, 20))
            ]
            texts.append(" ".join(sentences))
    with path.open("wb") as handle:
        for number, text in enumerate(texts):
            handle.write(orjson.dumps({"id": str(number), "text": text}) + b"\n")
    return planted


def vlpipe_run(corpus: Path, work: Path) -> set[int]:
    recipe = load_recipe("text").model_copy(update={"filters": ()})
    quiet = Console(file=io.StringIO())
    run_build(recipe, [str(corpus)], work / "out", "inline", console=quiet)
    run_dedup(work / "out", work / "dedup", DedupOptions(), [])
    rows = ledger.read_samples(work / "dedup").select(["doc_id", "filter"]).to_pylist()
    return {int(r["doc_id"].rsplit("#L", 1)[1]) - 1 for r in rows if r["filter"] == "dedup"}


def datatrove_run(corpus: Path, work: Path) -> set[int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    config = MinhashConfig()
    reader = JsonlReader(str(corpus.parent), glob_pattern=corpus.name, id_key="id")
    stages = [
        [reader, MinhashDedupSignature(output_folder=str(work / "sigs"), config=config)],
        [
            MinhashDedupBuckets(
                input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=config
            )
        ],
        [
            MinhashDedupCluster(
                input_folder=str(work / "buckets"), output_folder=str(work / "ids"), config=config
            )
        ],
        [
            JsonlReader(str(corpus.parent), glob_pattern=corpus.name, id_key="id"),
            MinhashDedupFilter(input_folder=str(work / "ids")),
            JsonlWriter(str(work / "kept"), compression=None),
        ],
    ]
    for number, pipeline in enumerate(stages):
        tasks = config.num_buckets if number == 1 else 1  # the bucket stage: one task per band
        LocalPipelineExecutor(
            pipeline=pipeline, tasks=tasks, workers=1, logging_dir=str(work / f"logs{number}")
        ).run()
    kept = {
        int(orjson.loads(line)["id"])
        for path in (work / "kept").glob("*.jsonl")
        for line in path.read_bytes().splitlines()
    }
    total = sum(1 for _ in corpus.open("rb"))
    return set(range(total)) - kept


def scores(found: set[int], planted: set[int]) -> tuple[float, float]:
    hits = len(found & planted)
    return hits / max(1, len(found)), hits / max(1, len(planted))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vlpipe-bench-dedup-"))
    try:
        corpus = root / "corpus" / "docs.jsonl"
        corpus.parent.mkdir()
        planted = make_corpus(corpus, args.docs)
        print(f"{args.docs:,} documents, {len(planted):,} planted duplicates")
        results: dict[str, list[float]] = {"vlpipe": [], "datatrove": []}
        quality: dict[str, tuple[float, float]] = {}
        for repeat in range(args.repeats):
            for name, run in (("vlpipe", vlpipe_run), ("datatrove", datatrove_run)):
                work = root / f"{name}-{repeat}"
                started = time.perf_counter()
                found = run(corpus, work)
                results[name].append(args.docs / (time.perf_counter() - started))
                quality[name] = scores(found, planted)
                shutil.rmtree(work)
        medians = {name: statistics.median(rates) for name, rates in results.items()}
        print(f"| contender | docs/s (median of {args.repeats}) | ratio | precision | recall |")
        print("|---|---:|---:|---:|---:|")
        for name, rate in medians.items():
            precision, recall = quality[name]
            ratio = rate / medians["datatrove"]
            print(f"| {name} | {rate:,.0f} | {ratio:.2f}× | {precision:.4f} | {recall:.4f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
