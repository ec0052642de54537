"""Ebook pages/s and WebSight screenshots/s through the vlpipe build, beside the renderer's floor:
one bare persistent Playwright page doing the same screenshots with no safety (no network
blocking, no watchdog, no measuring, no archive checks, no shards).

    python bench/bench_ebooks.py --books 6 --pages 60 --repeats 3
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ebooks.books import en_book, websight_rows
from vlpipe.pipelines.build import run_build
from vlpipe.recipe import load_recipe
from vlpipe.renderers import find_chromium
from vlpipe.sources.ebooks.book import open_book, safe_extract


def vlpipe_rate(source: str, inputs: Path) -> tuple[float, int]:
    """Samples per second of one inline build (1 browser) into a fresh folder."""
    recipe = load_recipe(source)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        totals = run_build(
            recipe, [str(inputs)], Path(out), "inline", console=Console(file=io.StringIO())
        )
        seconds = time.perf_counter() - started
    return totals["samples"] / seconds, totals["samples"]


def floor_rate(pages: list[tuple[str, int]], width: int, height: int) -> float:
    """Screenshots per second of one bare page: ``(url or html, screenshots of it)``."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(None), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": height})
        started, shots = time.perf_counter(), 0
        for target, count in pages:
            if target.startswith("file://"):
                page.goto(target)
            else:
                page.set_content(target)
            for n in range(count):
                page.evaluate("y => window.scrollTo(0, y)", n * height)
                page.screenshot()
                shots += 1
        seconds = time.perf_counter() - started
        browser.close()
    return shots / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--books", type=int, default=6)
    parser.add_argument("--paragraphs", type=int, default=60)
    parser.add_argument("--pages", type=int, default=30, help="WebSight pages")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        books, web = root / "books", root / "web"
        books.mkdir()
        web.mkdir()
        data = en_book(paragraphs=args.paragraphs)
        for n in range(args.books):
            (books / f"book{n}.epub").write_bytes(data)
        rows = websight_rows()
        for n in range(args.pages):
            (web / f"page{n}.html").write_text(rows[n % len(rows)]["text"])
        extracted = root / "extracted"
        extracted.mkdir()
        recipe = load_recipe("ebooks")
        safe_extract(data, extracted, recipe.ebooks.archive)
        book = open_book(extracted)
        g = recipe.ebooks.page
        results: dict[str, list[float]] = {
            k: [] for k in ("ebook", "ebook_floor", "web", "web_floor")
        }
        for _ in range(args.repeats):
            rate, pages = vlpipe_rate("ebooks", books)
            results["ebook"].append(rate)
            per_chapter = max(1, round(pages / args.books / len(book.chapters)))
            chapters = [((extracted / c.path).as_uri(), per_chapter) for c in book.chapters]
            results["ebook_floor"].append(floor_rate(chapters * args.books, g.width, g.height))
            results["web"].append(vlpipe_rate("websight", web)[0])
            html = [(rows[n % len(rows)]["text"], 1) for n in range(args.pages)]
            results["web_floor"].append(floor_rate(html, 1024, 1024))
    med = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"ebook pages/s      vlpipe {med['ebook']:.2f}   floor {med['ebook_floor']:.2f}"
        f"   ratio {med['ebook'] / med['ebook_floor']:.2f}"
    )
    print(
        f"websight shots/s   vlpipe {med['web']:.2f}   floor {med['web_floor']:.2f}"
        f"   ratio {med['web'] / med['web_floor']:.2f}"
    )
    print(
        f"(medians of {args.repeats}; 1 browser; {args.books} books x {args.paragraphs} paragraphs,"
        f" {args.pages} pages)"
    )


if __name__ == "__main__":
    main()
