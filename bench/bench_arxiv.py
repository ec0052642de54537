"""arXiv source benchmark: build throughput, and markdown fidelity of pandoc vs LaTeXML.

    python bench/bench_arxiv.py [--repeat 2]

1. Builds the fixture papers (loose sources + the bulk archive) with ``vlpipe build`` inline and
   reports papers/min and pages/min.
2. For each compilable fixture paper, converts the source to markdown with pandoc (vlpipe's
   converter) and with LaTeXML (``latexmlc`` → HTML → pandoc → markdown, Nougat's route) when
   installed, splits both into pages with the same alignment, and reports the time per paper
   and the fidelity: per page, the character-level F1 between the page's markdown (markup
   stripped) and the PDF text layer; mean and 10th percentile.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from vlpipe.pipelines.build import run_build
from vlpipe.recipe import ArchiveLimits, load_recipe
from vlpipe.renderers import render_pdf
from vlpipe.sources.arxiv.align import char_f1, split_pages
from vlpipe.sources.arxiv.archive import read_folder
from vlpipe.sources.arxiv.mainfile import find_main_file
from vlpipe.sources.arxiv.pandoc import PANDOC_OUTPUT, paper_markdown
from vlpipe.sources.arxiv.step import _compile

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "arxiv"
INPUTS = [FIXTURES / "sources", FIXTURES / "bulk"]
PAPERS = ["full", "twocol", "latin1"]


def build_throughput(repeat: int) -> None:
    recipe = load_recipe("arxiv")
    best = None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            totals = run_build(
                recipe,
                [str(p) for p in INPUTS],
                Path(tmp),
                "inline",
                console=Console(file=io.StringIO()),
            )
        best = totals if best is None or totals["seconds"] < best["seconds"] else best
    assert best is not None
    minutes = best["seconds"] / 60
    print(
        f"build: {best['documents']} papers ({best['kept']} kept), {best['samples']} pages kept in "
        f"{best['seconds']:.1f}s → {best['documents'] / minutes:.0f} papers/min, "
        f"{best['samples'] / minutes:.0f} pages/min (inline, 1 process)"
    )


def pandoc_markdown(files: dict[str, bytes], main: str, _: Path) -> str:
    return paper_markdown(files, main)


def latexml_markdown(files: dict[str, bytes], main: str, folder: Path) -> str:
    """LaTeXML's HTML of the paper (macros and inputs handled by LaTeXML), then pandoc → md."""
    html = folder / "out.html"
    subprocess.run(
        ["latexmlc", "--quiet", "--nocomments", "--format=html5", f"--dest={html}", main],
        cwd=folder,
        capture_output=True,
        timeout=300,
        check=True,
    )
    done = subprocess.run(
        ["pandoc", "-f", "html", "-t", PANDOC_OUTPUT, "--wrap=none", str(html)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    return done.stdout.decode()


def fidelity(
    name: str, convert: Callable[[dict[str, bytes], str, Path], str]
) -> tuple[float, list[float]]:
    limits = ArchiveLimits(max_unpacked_bytes=2**28, max_members=5000)
    files = read_folder(FIXTURES / "papers" / name, limits).files
    main = find_main_file(files)
    texts = [
        page.text for page in render_pdf(_compile(files, main, load_recipe("arxiv").arxiv).pdf)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for relative, data in files.items():
            Path(tmp, relative).parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, relative).write_bytes(data)
        started = time.perf_counter()
        markdown = convert(files, main, Path(tmp))
        seconds = time.perf_counter() - started
    parts = split_pages(markdown, texts)
    return seconds, [char_f1(part.markdown, text) for part, text in zip(parts, texts, strict=True)]


def report(tool: str, convert: Callable[[dict[str, bytes], str, Path], str]) -> None:
    times, scores = [], []
    for name in PAPERS:
        seconds, page_scores = fidelity(name, convert)
        times.append(seconds)
        scores.extend(page_scores)
    tenth = statistics.quantiles(scores, n=10)[0] if len(scores) > 1 else scores[0]
    print(
        f"{tool:8s}: {statistics.mean(times):.2f}s/paper to markdown; page char-F1 over "
        f"{len(scores)} pages: mean {statistics.mean(scores):.3f}, p10 {tenth:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="build runs; the best is reported")
    args = parser.parse_args()
    build_throughput(args.repeat)
    report("pandoc", pandoc_markdown)
    if shutil.which("latexmlc"):
        report("LaTeXML", latexml_markdown)
    else:
        print("LaTeXML: not installed (apt-get install latexml) — skipped", file=sys.stderr)


if __name__ == "__main__":
    main()
