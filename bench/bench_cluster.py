"""Cluster overhead: the same Jupyter build inline, on the embedded Ray with 2 workers, and
submitted with `vlpipe submit` to a local 2-node Ray cluster (one CPU per node).

    python bench/bench_cluster.py [--notebooks 4000] [--repeats 2]

Every run is a fresh `vlpipe` process writing an empty output folder, timed from its start:
seconds to the first committed chunk (the ledger's first document file), seconds to its end, and
documents/s over the whole run and as the build itself reports it (after its start-up). The
cluster (tests/cluster/local.py) starts before the timed runs, as a cluster is up before anyone
submits to it; its start-up is reported on its own. Prints medians over the repeats.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_jupyter import generated_corpus, watched_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster.local import local_cluster

VLPIPE = [sys.executable, "-m", "vlpipe"]
RECIPE = "source: jupyter\ninput: {files_per_unit: 250}\noutput: {docs_per_chunk: 100}\n"
OWN_RATE = re.compile(r"this run: ([\d,]+) documents in [\d.]+s \(([\d,.]+)/s\)")


@dataclass(frozen=True)
class Run:
    first_chunk_s: float
    total_s: float
    documents: int
    own_rate: float  # documents/s as the build reports it, from its start of work


# Ray gives a new node 30 s to register; on a loaded 2-core machine it sometimes needs more.
RAY_START_TIMEOUT = "The current node timed out during startup"


def timed(command: list[str], out: Path, logs: Path, tries: int = 2) -> Run:
    """Run ``command`` to its end, watching ``out`` for the first committed chunk; a run whose
    Ray did not start in time is run again (once), and says so."""
    for _ in range(tries - 1):
        try:
            return timed_once(command, out, logs)
        except RayDidNotStart:
            print(f"Ray did not start in time; again: {' '.join(command[2:4])} …", flush=True)
    return timed_once(command, out, logs)


class RayDidNotStart(Exception):
    pass


def timed_once(command: list[str], out: Path, logs: Path) -> Run:
    shutil.rmtree(out, ignore_errors=True)
    with open(logs, "wb") as log:
        started = time.perf_counter()
        returncode, first = watched_run(command, out, log)
        total = time.perf_counter() - started
    text = logs.read_text(errors="replace")
    if returncode != 0 and RAY_START_TIMEOUT in text:
        raise RayDidNotStart
    if returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{text[-3000:]}")
    match = OWN_RATE.search(text)
    if match is None:
        raise SystemExit(f"no summary line in the output of {' '.join(command)}:\n{text[-3000:]}")
    documents, rate = (float(group.replace(",", "")) for group in match.groups())
    return Run(first if first is not None else total, total, int(documents), rate)


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.first_chunk_s for r in runs),
        statistics.median(r.total_s for r in runs),
        runs[0].documents,
        statistics.median(r.own_rate for r in runs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    Path("bench/out").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir="bench/out") as temporary:
        scratch = Path(temporary).resolve()
        corpus, out, logs = scratch / "corpus", scratch / "out", scratch / "run.log"
        generated_corpus(corpus, args.notebooks)
        recipe = scratch / "recipe.yaml"
        recipe.write_text(RECIPE)
        build = ["build", "--source", "jupyter", "--recipe", str(recipe)]
        build += ["--input", str(corpus), "--output", str(out)]
        started = time.perf_counter()
        with local_cluster() as cluster:
            print(f"local 2-node cluster up in {time.perf_counter() - started:.1f} s")
            submit = ["submit", "--address", cluster.job_server, "--image-has-vlpipe", "--follow"]
            contenders = {
                "inline, 1 process": [*VLPIPE, *build, "--executor", "inline"],
                "embedded Ray, 2 workers": [*VLPIPE, *build, "--executor", "ray", "--workers", "2"],
                "vlpipe submit, 2 nodes x 1 CPU": [*VLPIPE, *submit, "--", *build],
            }
            runs: dict[str, list[Run]] = {name: [] for name in contenders}
            for _ in range(args.repeats):
                for name, command in contenders.items():
                    runs[name].append(timed(command, out, logs))
        report(runs, args.notebooks, args.repeats)


def report(runs: dict[str, list[Run]], notebooks: int, repeats: int) -> None:
    """Medians, each contender's rate against the inline build's, and what a submission adds
    before the first committed chunk against the embedded Ray (both start a Ray driver)."""
    print(
        f"{notebooks} generated notebooks in units of 250 files, chunks of 100 documents;"
        f" median of {repeats}"
    )
    header = f"{'contender':32s} {'first chunk':>11s} {'total':>8s} {'docs/s (wall)':>13s} "
    print(header + f"{'/ inline':>8s} {'docs/s (build)':>14s}")
    medians = {name: median_run(all_runs) for name, all_runs in runs.items()}
    inline = next(iter(medians.values()))
    for name, run in medians.items():
        ratio = (run.documents / run.total_s) / (inline.documents / inline.total_s)
        print(
            f"{name:32s} {run.first_chunk_s:9.1f} s {run.total_s:6.1f} s "
            f"{run.documents / run.total_s:13.1f} {ratio:7.2f}x {run.own_rate:14.1f}"
        )
    embedded, submitted = list(medians.values())[1:3]
    print(
        f"submission overhead, seconds to the first committed chunk: {submitted.first_chunk_s:.1f}"
        f" s submitted, {embedded.first_chunk_s:.1f} s embedded Ray,"
        f" {inline.first_chunk_s:.1f} s inline"
    )
    for name, all_runs in runs.items():
        each = ", ".join(f"{r.first_chunk_s:.1f}/{r.total_s:.1f}" for r in all_runs)
        print(f"  runs of {name} (first chunk/total s): {each}")


if __name__ == "__main__":
    main()
