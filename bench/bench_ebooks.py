"""Ebook pages/s and WebSight screenshots/s through the vlpipe build, beside the renderer's floor:
one bare persistent Playwright page doing the same screenshots with no safety (no network
blocking, no watchdog, no measuring, no archive checks, no shards).

With the real books of ``bench/ebooks/books.json`` (``python -m bench.ebooks.fetch_books``
first), every template of the bundled recipe also builds them alone: its pages/s beside the
floor at its page size, and the OCR agreement of its pages (tesseract's reading of the image,
columns and furniture box by box, against the paired text; ``tests/ebooks/ocr.py``), English and
Chinese. Then one build of all the real books with every template, drawn per chapter, writes
its ``vlpipe inspect`` contact sheet to ``bench/out/ebooks/templates/inspect.html``: the pages
of the templates side by side. The synthetic runs use the default template alone (the page every
book had before templates), so their figures compare with earlier ones.

    python bench/bench_ebooks.py --books 6 --pages 60 --repeats 3 [--real DIR] [--ocr-pages 4]
        [--table-books sherlock-holmes hongloumeng-zhiping] [--real-only]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from playwright.sync_api import sync_playwright
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ebooks.books import en_book, websight_rows
from tests.ebooks.ocr import page_agreement, reading_boxes, tesseract_lang
from vlpipe.manifests.inspect import write_contact_sheet
from vlpipe.manifests.shards import iter_samples
from vlpipe.manifests.store import open_store
from vlpipe.pipelines.build import run_build
from vlpipe.recipe import Recipe, load_recipe
from vlpipe.renderers import find_chromium
from vlpipe.renderers.templates import PageTemplate
from vlpipe.sources.ebooks import DEFAULT_TEMPLATE, EbooksRecipe
from vlpipe.sources.ebooks.book import open_book, safe_extract

OUT = Path(__file__).resolve().parent / "out" / "ebooks"
REAL_BOOKS = OUT / "books"


def ebook_recipe(**options: Any) -> EbooksRecipe:
    """The bundled ebook recipe with ``options`` of ``ebooks:`` replaced."""
    base: EbooksRecipe = load_recipe("ebooks")  # type: ignore[assignment]
    return base.model_copy(update={"ebooks": base.ebooks.model_copy(update=options)})


def only(template: PageTemplate) -> EbooksRecipe:
    """The bundled ebook recipe with ``template`` alone, for every language (a zh template,
    alone, on the zh books)."""
    return ebook_recipe(templates=(template.model_copy(update={"langs": ()}),))


def vlpipe_rate(recipe: Recipe, inputs: Path, out: Path) -> tuple[float, int]:
    """Samples per second of one inline build (1 browser) of ``inputs`` into ``out``."""
    started = time.perf_counter()
    totals = run_build(recipe, [str(inputs)], out, "inline", console=Console(file=io.StringIO()))
    seconds = time.perf_counter() - started
    return totals["samples"] / seconds, totals["samples"]


def built_pages(out: Path) -> list[tuple[dict[str, Any], bytes, str]]:
    """Every kept page of a build: its json, PNG and text."""
    return [
        (orjson.loads(s["json"]), s["png"], s["txt"].decode())
        for s in iter_samples(open_store(out))
    ]


def ocr_agreement(page: tuple[dict[str, Any], bytes, str]) -> float:
    info, png, text = page
    return page_agreement(png, text, reading_boxes(info), tesseract_lang(text))[0]


def template_run(
    template: PageTemplate, books: list[Path], extracted: dict[Path, Path], ocr_pages: int
) -> dict[str, Any]:
    """One template alone over ``books``: build pages/s, the floor at its page size over the
    same chapters and page counts, and the OCR agreement of the fullest pages per language."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp, "books")
        inputs.mkdir()
        for book in books:
            (inputs / book.name).write_bytes(book.read_bytes())
        rate, produced = vlpipe_rate(only(template), inputs, Path(tmp, "out"))
        pages = built_pages(Path(tmp, "out"))
    per_chapter = Counter((p[0]["doc_id"].rsplit("/", 1)[-1], p[0]["chapter_path"]) for p in pages)
    chapters = [
        ((extracted[next(b for b in books if b.name == name)] / path).as_uri(), count)
        for (name, path), count in sorted(per_chapter.items())
    ]
    floor = floor_rate(chapters, template.width, template.height)
    by_lang: dict[str, list[tuple[dict[str, Any], bytes, str]]] = defaultdict(list)
    for page in pages:
        by_lang["zh" if tesseract_lang(page[2]) == "chi_sim" else "en"].append(page)
    scores: dict[str, list[float]] = {}
    with ThreadPoolExecutor(2) as workers:
        for lang, found in by_lang.items():
            fullest = sorted(found, key=lambda p: (-len(p[2]), p[0]["doc_id"], p[0]["page"]))
            scores[lang] = list(workers.map(ocr_agreement, fullest[:ocr_pages]))
    return {"pages": produced, "rate": rate, "floor": floor, "ocr": scores}


def real_books_table(folder: Path, names: list[str] | None, ocr_pages: int) -> None:
    """Per template of the bundled recipe, over the real books (those ``names``d, or all):
    pages/s vs floor, OCR agreement."""
    books = sorted(b for b in folder.glob("*.epub") if names is None or b.stem in names)
    recipe = ebook_recipe()
    with tempfile.TemporaryDirectory() as tmp:
        extracted = {}
        for book in books:
            root = Path(tmp, book.stem)
            root.mkdir()
            safe_extract(book.read_bytes(), root, recipe.ebooks.archive)
            extracted[book] = root
        languages = {b: open_book(extracted[b]).info.language or "" for b in books}
        print(
            f"Real books ({', '.join(b.stem for b in books)}), one template at a time, 1 browser, "
            f"inline; OCR: mean (min) over the {ocr_pages} fullest pages per language"
        )
        print(
            "| template | columns | furniture | pages | pages/s | floor | ratio | OCR en | OCR zh |"
        )
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
        for template in recipe.ebooks.templates:
            chosen = [b for b in books if not template.langs or languages[b].startswith("zh")]
            run = template_run(template, chosen, extracted, ocr_pages)
            furniture = "+".join(r for r in ("header", "footer") if getattr(template, r)) or "–"
            ocr = {
                lang: f"{statistics.mean(v):.4f} ({min(v):.4f})" if v else "–"
                for lang, v in ((lang, run["ocr"].get(lang, [])) for lang in ("en", "zh"))
            }
            print(
                f"| {template.name} | {template.columns} | {furniture} | {run['pages']} | "
                f"{run['rate']:.2f} | {run['floor']:.2f} | {run['rate'] / run['floor']:.2f} | "
                f"{ocr['en']} | {ocr['zh']} |",
                flush=True,
            )


def template_sheet(folder: Path) -> None:
    """One build of the real books with every template, drawn per chapter, and its contact
    sheet: which templates the pages were drawn with."""
    out = OUT / "templates"
    shutil.rmtree(out, ignore_errors=True)
    rate, produced = vlpipe_rate(ebook_recipe(template_per="chapter"), folder, out)
    drawn = Counter(info["template"]["name"] for info, _, _ in built_pages(out))
    sheet = write_contact_sheet(out, limit=produced)
    print(
        f"All templates, drawn per chapter: {produced} pages at {rate:.2f} pages/s, "
        f"{len(drawn)} templates ({', '.join(f'{n} {c}' for n, c in sorted(drawn.items()))}); "
        f"contact sheet: {sheet}"
    )


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
    parser.add_argument("--real", type=Path, default=REAL_BOOKS, help="folder of real EPUBs")
    parser.add_argument("--ocr-pages", type=int, default=4, help="pages OCR'd per language")
    parser.add_argument(
        "--table-books", nargs="+", help="real books (file stems) of the per-template table"
    )
    parser.add_argument("--real-only", action="store_true", help="skip the synthetic runs")
    args = parser.parse_args()
    if args.real.is_dir():
        real_books_table(args.real, args.table_books, args.ocr_pages)
        template_sheet(args.real)
    else:
        print(f"no real books in {args.real}: run make bench-data")
    if args.real_only:
        return
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
        default = only(DEFAULT_TEMPLATE)
        safe_extract(data, extracted, default.ebooks.archive)
        book = open_book(extracted)
        g = DEFAULT_TEMPLATE
        results: dict[str, list[float]] = {
            k: [] for k in ("ebook", "ebook_floor", "web", "web_floor")
        }
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as out:
                rate, pages = vlpipe_rate(default, books, Path(out))
            results["ebook"].append(rate)
            per_chapter = max(1, round(pages / args.books / len(book.chapters)))
            chapters = [((extracted / c.path).as_uri(), per_chapter) for c in book.chapters]
            results["ebook_floor"].append(floor_rate(chapters * args.books, g.width, g.height))
            with tempfile.TemporaryDirectory() as out:
                results["web"].append(vlpipe_rate(load_recipe("websight"), web, Path(out))[0])
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
