"""What the curation filters cost a build: language ID and the text-quality filters.

    python bench/bench_filters.py [--docs 5000] [--repeats 3]

Builds the same text corpus (paragraphs of the bundled English and Chinese essays, so many
pages mix both, and spam among them) inline with no filters, with ``lang`` only, and with
``lang`` plus the Gopher quality and repetition rules and C4's rules; prints samples/s (median
of repeats) and what each set adds per sample, in microseconds. Every build also signs samples
for dedup.
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

from vlpipe.pipelines.build import run_build
from vlpipe.recipe import FilterStep, load_recipe
from vlpipe.sources.registry import source_spec

SETS = {
    "none": [],
    "lang": ["lang"],
    "lang + quality": ["lang", "gopher_quality", "gopher_repetition", "c4_quality"],
}


def make_corpus(path: Path, docs: int) -> None:
    """Paragraphs of the bundled English and Chinese essays shuffled into new documents, mixed
    pages, and spam and generation loops."""
    samples = source_spec("text").samples() / "essays.jsonl"
    essays = [orjson.loads(line)["text"] for line in samples.read_bytes().splitlines()]
    paragraphs = [p for essay in essays for p in essay.split("\n\n") if len(p) > 80]
    rng = random.Random(0)
    junk = ["BUY NOW!!! best price $$$ click here >>> #deal #sale ... " * 20]
    junk.append("I am a helpful assistant and I will help you with that. " * 40)
    with path.open("wb") as handle:
        for number in range(docs):
            if number % 10 == 9:
                text = junk[number % 2]
            else:
                text = "\n\n".join(rng.sample(paragraphs, min(4, len(paragraphs))))
            handle.write(orjson.dumps({"text": text}) + b"\n")


def build_rate(corpus: Path, work: Path, filters: list[str], docs: int) -> float:
    base = load_recipe("text")
    steps = tuple(FilterStep.model_validate(name) for name in filters)
    recipe = base.model_copy(update={"filters": steps})
    started = time.perf_counter()
    run_build(recipe, [str(corpus)], work, "inline", console=Console(file=io.StringIO()))
    return docs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vlpipe-bench-filters-"))
    try:
        corpus = root / "in" / "texts.jsonl"
        corpus.parent.mkdir()
        make_corpus(corpus, args.docs)
        build_rate(corpus, root / "warm", ["lang"], args.docs)  # load the model once
        rates: dict[str, list[float]] = {name: [] for name in SETS}
        for repeat in range(args.repeats):
            for name, filters in SETS.items():
                work = root / f"{repeat}-{name}"
                rates[name].append(build_rate(corpus, work, filters, args.docs))
                shutil.rmtree(work)
        medians = {name: statistics.median(values) for name, values in rates.items()}
        base = medians["none"]
        print(f"{args.docs:,} documents (EN, ZH, mixed, junk), inline, median of {args.repeats}")
        print("| filters | samples/s | vs none | added µs/sample |")
        print("|---|---:|---:|---:|")
        for name, rate in medians.items():
            added = (1 / rate - 1 / base) * 1e6
            print(f"| {name} | {rate:,.0f} | {rate / base:.2f}× | {added:,.0f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
