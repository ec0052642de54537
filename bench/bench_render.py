"""Renderer throughput, vlpipe next to its baselines in one process run.

HTML → PNG at 1024×1024 over generated pages (text, tables, inline SVG, CJK, data: images):

* ``vlpipe pool``: :class:`vlpipe.renderers.BrowserPool` (long-lived browsers, network blocked,
  watchdog), in viewport mode and in paginated mode (which also extracts each page's text); the
  pages have no scripts, so each is written in place of the previous one; then the same pages
  with a script each, which get a window of their own (a navigation) each;
* ``naive``: launch a browser per page, ``set_content``, screenshot, close;
* ``floor``: one bare persistent page in a loop, no routes, no limits, no text: the upper bound.

LaTeX → PDF → PNG for a generated multi-page article: vlpipe's sandboxed compile plus PyMuPDF
rendering, against a bare ``pdflatex`` subprocess plus the same PyMuPDF rendering.

Page templates (``--templates``): generated chapters (English and Chinese) paginated at each
template of the bundled ebook recipe by a one-browser pool (page scripts off, as the ebook source
runs it), against the floor at the same page
size (one bare page: load the chapter, then scroll and screenshot once per page the pool made),
so a costly template (two columns, a running header and footer) shows up.

Run ``python bench/bench_render.py`` (about 9 minutes on 2 cores; ``--templates``: the templates
only; ``--html``: HTML → PNG only); ``--help`` for sizes.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pymupdf
from PIL import Image
from playwright.sync_api import sync_playwright

from vlpipe.recipe import load_recipe
from vlpipe.renderers import (
    BrowserConfig,
    BrowserPool,
    HtmlDocument,
    PdfConfig,
    TexConfig,
    compile_latex,
    find_chromium,
    find_tex_binary,
    render_pdf,
)
from vlpipe.renderers.chromium import CHROMIUM_ARGS, Layout
from vlpipe.renderers.templates import PageTemplate

SIZE = 1024
LOREM = (
    "Vision-language models learn to read documents, charts and code from rendered pages "
    "paired with their text, so the renderer's throughput bounds how much data a build makes. "
)
CJK = "视觉语言模型从渲染页面及其文本中学习阅读文档、图表和代码，渲染速度决定了数据规模。"


def _data_png(seed: int) -> str:
    img = Image.new("RGB", (64, 48), ((seed * 40) % 256, (seed * 90) % 256, 160))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def make_pages(count: int) -> list[str]:
    """Varied one-screen HTML pages, deterministic in ``count``."""
    pages = []
    for i in range(count):
        kind = i % 5
        head = f"<h2>Page {i}</h2>"
        if kind == 0:
            body = "".join(f"<p>{LOREM * (2 + (i + k) % 3)}</p>" for k in range(4))
        elif kind == 1:
            rows = "".join(
                f"<tr><td>{r}</td><td>{r * i % 97}</td><td>{LOREM[: 20 + r]}</td></tr>"
                for r in range(14)
            )
            body = f"<table border=1 cellpadding=4>{rows}</table>"
        elif kind == 2:
            bars = "".join(
                f"<rect x='{20 + 40 * k}' y='{300 - (k * i) % 250}' width='30' "
                f"height='{(k * i) % 250}' fill='hsl({k * 30},60%,50%)'/>"
                for k in range(12)
            )
            body = f"<svg width='520' height='320'>{bars}</svg><p>{LOREM}</p>"
        elif kind == 3:
            body = "".join(f"<p>{CJK * (3 + k)}</p>" for k in range(4))
        else:
            imgs = "".join(f"<img src='{_data_png(i + k)}' width=128 height=96>" for k in range(8))
            body = f"<div>{imgs}</div><p>{LOREM * 2}</p>"
        pages.append(f"<!doctype html><html><body>{head}{body}</body></html>")
    return pages


def timed(fn: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Median pages/s over ``repeats`` runs of ``fn`` (which returns the pages it produced)."""
    rates = []
    produced = 0
    for _ in range(repeats):
        start = time.perf_counter()
        produced = fn()
        rates.append(produced / (time.perf_counter() - start))
    return statistics.median(rates), produced


def bench_pool(pages: list[str], browsers: int, mode: str, repeats: int) -> tuple[float, int]:
    cfg = BrowserConfig(browsers=browsers)
    docs = [HtmlDocument(html) for html in pages]
    with BrowserPool(cfg) as pool:
        pool.render_many(docs[: browsers * 2], mode)  # warm-up

        def run() -> int:
            results = pool.render_many(docs, mode)  # type: ignore[arg-type]
            failed = [r for r in results if isinstance(r, Exception)]
            assert not failed, failed[:3]
            return sum(len(r) for r in results)  # type: ignore[arg-type]

        return timed(run, repeats)


def bench_naive(pages: list[str], repeats: int) -> tuple[float, int]:
    executable = find_chromium()
    with sync_playwright() as pw:

        def run() -> int:
            for html in pages:
                browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
                page = browser.new_page(viewport={"width": SIZE, "height": SIZE})
                page.set_content(html)
                page.screenshot()
                browser.close()
            return len(pages)

        return timed(run, repeats)


def bench_floor(pages: list[str], repeats: int) -> tuple[float, int]:
    executable = find_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": SIZE, "height": SIZE})
        cdp = page.context.new_cdp_session(page)

        def run() -> int:
            for html in pages:
                page.set_content(html)
                cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True})
            return len(pages)

        try:
            return timed(run, repeats)
        finally:
            browser.close()


def make_chapters(count: int) -> list[str]:
    """Chapter-like documents of several pages, alternately English and Chinese."""
    chapters = []
    for i in range(count):
        text = LOREM * 3 if i % 2 == 0 else CJK * 4
        body = "".join(f"<p>{k}. {text}</p>" for k in range(40))
        chapters.append(f"<!doctype html><html><body><h1>Chapter {i}</h1>{body}</body></html>")
    return chapters


def bench_template(
    template: PageTemplate, chapters: list[str], repeats: int
) -> tuple[float, float, int]:
    """(pool pages/s, floor pages/s, pages) for one template over ``chapters``."""
    geometry = template.furnished({"title": "The Lighthouse Almanac", "author": "A. Keeper"})
    config = BrowserConfig(
        browsers=1, geometry=geometry, page_scripts=False, max_pages=500, max_height_px=10**6
    )
    docs = [HtmlDocument(html) for html in chapters]
    counts: list[int] = []
    with BrowserPool(config) as pool:
        pool.render(docs[0], "paginated", Layout(geometry))  # warm-up

        def run() -> int:
            counts[:] = [len(pool.render(d, "paginated", Layout(geometry))) for d in docs]
            return sum(counts)

        rate, produced = timed(run, repeats)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": template.width, "height": template.height})
        cdp = page.context.new_cdp_session(page)

        def floor() -> int:
            for html, count in zip(chapters, counts, strict=True):
                page.set_content(html)
                for n in range(count):
                    page.evaluate("y => window.scrollTo(0, y)", n * template.height)
                    cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True})
            return sum(counts)

        try:
            floor_rate, _ = timed(floor, repeats)
        finally:
            browser.close()
    return rate, floor_rate, produced


def make_article(sections: int) -> str:
    """A multi-page article without cross references (one TeX run for both contenders)."""
    parts = [r"\documentclass{article}\usepackage{amsmath}\begin{document}"]
    for s in range(sections):
        parts.append(rf"\section*{{Section {s}}}")
        parts.extend(LOREM * 6 + "\n\n" for _ in range(3))
        parts.append(
            rf"\begin{{equation*}} f_{{{s}}}(x) = \sum_{{k=0}}^{{n}} a_k x^k \end{{equation*}}"
        )
        parts.append(r"\begin{tabular}{lrr} a & 1 & 2 \\ b & 3 & 4 \end{tabular}")
    parts.append(r"\end{document}")
    return "\n".join(parts)


def bench_tex_vlpipe(tex: str, repeats: int) -> tuple[float, int]:
    def run() -> int:
        result = compile_latex(tex, config=TexConfig(engine="pdflatex"))
        assert result.runs == 1, result.runs
        return len(render_pdf(result.pdf, PdfConfig(longest_side=SIZE)))

    return timed(run, repeats)


def bench_tex_floor(tex: str, repeats: int) -> tuple[float, int]:
    pdflatex = find_tex_binary("pdflatex")

    def run() -> int:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "main.tex").write_text(tex)
            subprocess.run(
                [pdflatex, "-interaction=batchmode", "main.tex"],
                cwd=tmp,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            with pymupdf.open(Path(tmp, "main.pdf")) as doc:
                for page in doc:
                    zoom = SIZE / max(page.rect.width, page.rect.height)
                    page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom)).tobytes("png")
                return doc.page_count

    return timed(run, repeats)


def bench_templates(chapter_count: int, repeats: int) -> None:
    chapters = make_chapters(chapter_count)
    print(f"Page templates, {len(chapters)} chapters, 1 browser, median of {repeats} repeats")
    print("| template | page | columns | furniture | pages | pages/s | floor | ratio |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    for template in load_recipe("ebooks").ebooks.templates:  # type: ignore[attr-defined]
        rate, floor_rate, produced = bench_template(template, chapters, repeats)
        furniture = "+".join(r for r in ("header", "footer") if getattr(template, r)) or "–"
        print(
            f"| {template.name} | {template.width}×{template.height} | {template.columns} | "
            f"{furniture} | {produced} | {rate:.2f} | {floor_rate:.2f} | {rate / floor_rate:.2f} |"
        )


def bench_html(args: argparse.Namespace) -> None:
    pages = make_pages(args.pages)
    # A page with a script gets a window of its own (a navigation); one without is written in
    # place of the previous one.
    script = "<script>document.title = 'x';</script></body>"
    scripted = [page.replace("</body>", script) for page in pages]
    print(f"HTML → PNG, {SIZE}×{SIZE}, {len(pages)} pages, median of {args.repeats} repeats")
    rows = [
        (
            f"vlpipe pool ×{args.browsers}, viewport",
            bench_pool(pages, args.browsers, "viewport", args.repeats),
        ),
        (
            f"vlpipe pool ×{args.browsers}, paginated+text",
            bench_pool(pages, args.browsers, "paginated", args.repeats),
        ),
        (
            "  same pages with a script, viewport",
            bench_pool(scripted, args.browsers, "viewport", args.repeats),
        ),
        (
            "  same pages with a script, paginated",
            bench_pool(scripted, args.browsers, "paginated", args.repeats),
        ),
        ("naive: browser per page", bench_naive(pages[: args.naive_pages], args.repeats)),
        ("floor: one bare page", bench_floor(pages, args.repeats)),
    ]
    floor = rows[-1][1][0]
    naive = rows[-2][1][0]
    for name, (rate, produced) in rows:
        print(
            f"  {name:<36} {rate:7.2f} pages/s  ({produced} pages)  "
            f"×{rate / naive:5.1f} naive  ×{rate / floor:4.2f} floor"
        )


def bench_tex(sections: int, repeats: int) -> None:
    tex = make_article(sections)
    print(f"LaTeX → PDF → PNG, article of {sections} sections, median of {repeats} repeats")
    vl_rate, vl_pages = bench_tex_vlpipe(tex, repeats)
    fl_rate, fl_pages = bench_tex_floor(tex, repeats)
    print(
        f"  {'vlpipe: sandboxed TeX + PyMuPDF':<36} {vl_rate:7.2f} pages/s  ({vl_pages} pages)"
        f"  ×{vl_rate / fl_rate:4.2f} floor"
    )
    print(f"  {'floor: bare pdflatex + PyMuPDF':<36} {fl_rate:7.2f} pages/s  ({fl_pages} pages)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200, help="HTML pages per repeat")
    parser.add_argument("--naive-pages", type=int, default=8, help="pages for the naive baseline")
    parser.add_argument("--browsers", type=int, default=2, help="browsers in the vlpipe pool")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sections", type=int, default=16, help="sections in the LaTeX article")
    parser.add_argument("--tex-repeats", type=int, default=3)
    parser.add_argument("--templates", action="store_true", help="only the page templates")
    parser.add_argument("--html", action="store_true", help="only HTML → PNG")
    parser.add_argument("--chapters", type=int, default=4, help="chapters per template")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress in logs

    if not args.html:
        bench_templates(args.chapters, args.repeats)
    if args.templates:
        return
    bench_html(args)
    if not args.html:
        bench_tex(args.sections, args.tex_repeats)


if __name__ == "__main__":
    main()
