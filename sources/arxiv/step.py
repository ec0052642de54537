"""One arXiv paper → its outcome: (page image, page markdown) pairs, Nougat-style.

The source is unpacked with guards (``archive``) and its main file found (``mainfile``); the
paper is compiled by the sandboxed TeX renderer and its pages rendered with their text layer; the
markdown made from the source by pandoc (``pandoc``) is cut into pages by aligning it with those
text layers (``align``). Pages whose alignment is poor, or that are mostly figures, are dropped
with the reason. Samples are ``image_text``, task ``ocr_page``, target ``md``.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import orjson
import pymupdf

from vlpipe.renderers import PdfConfig, PdfPage, TexConfig, TexResult, compile_latex_dir, render_pdf
from vlpipe.schema import (
    Document,
    Drop,
    DroppedCandidate,
    Outcome,
    Sample,
    sample_key,
)
from vlpipe.sources.arxiv import ArxivOptions, ArxivRecipe
from vlpipe.sources.arxiv.align import (
    PageMarkdown,
    blank_pages,
    caption_labels_as_on_pages,
    paper_lang,
    split_pages,
)
from vlpipe.sources.arxiv.archive import (
    SOURCE,
    PaperFiles,
    find_license,
    parse_arxiv_id,
    read_folder,
    unpack_source,
)
from vlpipe.sources.arxiv.mainfile import find_main_file
from vlpipe.sources.arxiv.pandoc import paper_markdown
from vlpipe.sources.registry import stateless

FIGURE_GRID = 64  # figure coverage is measured on a 64×64 raster of the page
TABLE_WORDS = 12  # a vector drawing around more words than this is a table's rules, not a figure


def paper_outcome(document: Document, recipe: ArxivRecipe) -> Outcome:
    """Unpack, compile, render, convert, align and pack one paper (``DocumentError`` on bad
    input: the ledger records the failure and the build goes on)."""
    options = recipe.arxiv
    paper = _paper_files(document, options)
    size = sum(len(data) for data in paper.files.values()) if isinstance(paper, PaperFiles) else 0
    if isinstance(paper, Drop):
        return Outcome(document.doc_id, drop=paper, doc_bytes=_content_size(document))
    main = find_main_file(paper.files)
    compiled = _compile(paper.files, main, options)
    pdf_config = PdfConfig(longest_side=options.longest_side, max_pages=options.max_pages)
    # pandoc runs in its own process while this one rasterises the pages: a second core's work
    with ThreadPoolExecutor(max_workers=1) as pool:
        converting = pool.submit(
            paper_markdown, paper.files, main, compiled.outputs, options.pandoc_timeout_s
        )
        pages = render_pdf(compiled.pdf, pdf_config)
        coverage = figure_coverage(compiled.pdf)
        markdown = converting.result()
    page_texts = [page.text for page in pages]
    parts = split_pages(caption_labels_as_on_pages(markdown.text, page_texts), page_texts)
    context = _paper_metadata(document, paper, main, compiled, len(pages))
    context["lang"] = paper_lang(markdown.text) if options.lang == "auto" else options.lang
    context["table_fallbacks"] = markdown.table_fallbacks
    context["conversion_fallbacks"] = list(markdown.conversion_fallbacks)
    samples, dropped = [], []
    blank = blank_pages(page_texts)
    for page, part, covered, empty in zip(pages, parts, coverage, blank, strict=True):
        key = sample_key(document.doc_id, page.index)
        if sum(page.missing_glyphs.values()) > options.max_missing_glyphs:
            dropped.append(DroppedCandidate(key, _missing_glyphs_drop(page)))
        elif empty and not part.markdown.strip():  # counted as dropped, not as misaligned
            detail = f"page {page.index + 1}: nothing but running heads and page numbers"
            dropped.append(DroppedCandidate(key, Drop(SOURCE, "blank_page", detail)))
        else:
            samples.append(_page_sample(key, page, part, covered, context))
    drop = None if pages else Drop(SOURCE, "no_pages", "the PDF has no pages")
    return Outcome(document.doc_id, tuple(samples), tuple(dropped), drop=drop, doc_bytes=size)


def _missing_glyphs_drop(page: PdfPage) -> Drop:
    fonts = ", ".join(f"{font} ({count})" for font, count in sorted(page.missing_glyphs.items()))
    detail = (
        f"page {page.index + 1}: {sum(page.missing_glyphs.values())} characters drawn as "
        f"missing-glyph boxes, by font: {fonts}; the fonts the paper asks for are not installed "
        "or lack these characters"
    )
    return Drop(SOURCE, "missing_glyphs", detail)


def _content_size(document: Document) -> int:
    return 0 if isinstance(document.content, Path) else len(document.content)


def _paper_files(document: Document, options: ArxivOptions) -> PaperFiles | Drop:
    limits = options.archive
    content: Any = document.content
    if isinstance(content, Path):
        return read_folder(content, limits)
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return unpack_source(data, limits)


def _compile(files: dict[str, bytes], main: str, options: ArxivOptions) -> TexResult:
    """Compile in the TeX sandbox. The files are written to a private folder first (names were
    checked when the archive was read) because ``compile_latex`` re-encodes the main file as
    UTF-8, which would break Latin-1 sources; ``compile_latex_dir`` copies bytes as they are."""
    config = TexConfig(
        max_errors=options.max_tex_errors,
        timeout_s=options.tex_timeout_s,
        cpu_s=max(1, int(options.tex_timeout_s)),
        memory_mb=options.tex_memory_mb,
        max_source_mb=max(1, options.archive.max_unpacked_bytes // 2**20),
    )
    main_path = PurePosixPath(main)
    with tempfile.TemporaryDirectory(prefix="vlpipe-arxiv-") as tmp:
        for name, data in files.items():
            target = Path(tmp, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return compile_latex_dir(Path(tmp, main_path.parent), main_path.name, config)


def figure_coverage(pdf: bytes) -> list[float]:
    """The fraction of each page's content area (the box around its text and figures, so that
    margins do not count) covered by figures: raster images, and vector drawings that do not
    enclose much text (table rules do). PyMuPDF's image, drawing and word boxes."""
    fractions = []
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        for page in doc:
            rects = [pymupdf.Rect(info["bbox"]) for info in page.get_image_info()]
            words = [tuple(word[:4]) for word in page.get_text("words")]
            # the C-level paths (their boxes are all clustering reads): get_drawings is slow
            paths = [{"rect": pymupdf.Rect(path["rect"])} for path in page.get_cdrawings()]
            for cluster in page.cluster_drawings(drawings=paths):
                if _words_in(words, cluster) <= TABLE_WORDS:
                    rects.append(cluster)
            content = pymupdf.Rect()
            if words:
                content = pymupdf.Rect(*(f(w[i] for w in words) for f, i in _BOUNDS)) & page.rect
            for rect in rects:
                content |= rect & page.rect
            fractions.append(_covered(rects, content) if rects else 0.0)
    return fractions


_BOUNDS = ((min, 0), (min, 1), (max, 2), (max, 3))  # a union of boxes: its x0, y0, x1, y1


def _words_in(words: list[tuple[float, ...]], box: pymupdf.Rect) -> int:
    """How many word boxes overlap ``box`` (plain tuples: a Rect per word is slow)."""
    return sum(
        1 for x0, y0, x1, y1 in words if x0 < box.x1 and box.x0 < x1 and y0 < box.y1 and box.y0 < y1
    )


def _covered(rects: list[pymupdf.Rect], page: pymupdf.Rect) -> float:
    """Union area of ``rects`` over the area of ``page``, on a coarse raster (overlaps count
    once)."""
    grid = np.zeros((FIGURE_GRID, FIGURE_GRID), dtype=bool)
    for rect in rects:
        clipped = pymupdf.Rect(rect) & page
        if clipped.is_empty:
            continue
        x0, x1 = (int((v - page.x0) / page.width * FIGURE_GRID) for v in (clipped.x0, clipped.x1))
        y0, y1 = (int((v - page.y0) / page.height * FIGURE_GRID) for v in (clipped.y0, clipped.y1))
        grid[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)] = True
    return float(grid.mean())


def _paper_metadata(
    document: Document,
    paper: PaperFiles,
    main: str,
    compiled: TexResult,
    page_count: int,
) -> dict[str, Any]:
    origin = {key: value for key, value in document.origin.items() if key != "version"}
    named = parse_arxiv_id(Path(str(origin.get("member") or document.doc_id)).name)
    return {
        "kind": "image_text",
        "task": "ocr_page",
        "source": SOURCE,
        "doc_id": document.doc_id,
        "license": find_license(paper.files),
        "target": "md",
        "arxiv_id": origin.pop("arxiv_id", None) or named.id,
        "version": document.origin.get("version") or named.version,
        "page_count": page_count,
        "main_file": main,
        "tex_engine": compiled.engine,
        "tex_errors": {"count": len(compiled.errors), "first": list(compiled.errors[:3])},
        "fonts_substituted": compiled.fonts_substituted,
        "bibliography": compiled.bibliography,
        "refused_members": list(paper.refused),
        "origin": origin,
    }


def _page_sample(
    key: str,
    page: PdfPage,
    part: PageMarkdown,
    covered: float,
    context: dict[str, Any],
) -> Sample:
    """A page with its markdown and the measures the ``alignment`` and ``figure_fraction``
    filters judge it by."""
    metadata = {
        **context,
        "page": page.index + 1,
        "alignment_score": round(part.score, 4),
        "figure_fraction": round(covered, 4),
    }
    files = {"png": page.png, "md": part.markdown.encode("utf-8")}
    return Sample(key, {**files, "json": orjson.dumps(metadata, default=str)})


open_step = stateless(paper_outcome)
