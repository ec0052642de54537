"""One book (an ``.epub`` file or a book folder) → ``image_text`` samples, task ``ocr_page``.

Each chapter of the spine is laid out at the recipe's page geometry by the browser pool's
paginated mode and cut into pages; a page image is paired with exactly the text shown on it.
Keys are ``sample_key(book, n)`` with ``n`` counting pages across the whole book (a chapter that
fails to render takes one number, recorded as a dropped candidate, so later keys never shift
with the renderer's luck on an earlier chapter).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from vlpipe.errors import DocumentError
from vlpipe.filters.page import ink_fraction
from vlpipe.renderers import BrowserConfig, BrowserPool, HtmlDocument, RenderedPage
from vlpipe.schema import (
    Document,
    Drop,
    DroppedCandidate,
    Outcome,
    Sample,
    commonest_drop,
    sample_key,
)
from vlpipe.sources.ebooks import EbookOptions, EbooksRecipe
from vlpipe.sources.ebooks.book import (
    Book,
    Chapter,
    NotAnEpub,
    chapter_markup,
    detect_script,
    lang_mismatch,
    open_book,
    safe_extract,
    tidy_cjk_spaces,
)
from vlpipe.sources.registry import DocumentStep

SOURCE = "ebooks"


def browser_config(options: EbookOptions) -> BrowserConfig:
    geometry = options.page
    return BrowserConfig(
        browsers=options.browsers,
        mode="paginated",
        geometry=geometry,
        javascript=True,  # see block_scripts: the book's own scripts are stopped by CSP
        load_timeout_s=options.load_timeout_s,
        render_timeout_s=options.render_timeout_s,
        max_pages=options.max_pages_per_chapter,
        max_height_px=options.max_pages_per_chapter * geometry.content_height + geometry.height,
    )


@contextmanager
def open_step(recipe: EbooksRecipe) -> Iterator[DocumentStep]:
    """One browser pool for all the books of a work unit (or of an inline run)."""
    with BrowserPool(browser_config(recipe.ebooks)) as pool:
        yield partial(book_outcome, pool)


def book_outcome(pool: BrowserPool, document: Document, recipe: EbooksRecipe) -> Outcome:
    """Unpack (or open) the book, render its chapters, judge and pack the pages."""
    content: Any = document.content
    with tempfile.TemporaryDirectory(prefix="vlpipe-ebook-") as private:
        if isinstance(content, Path):
            book, fmt = open_book(content), "folder"
        elif isinstance(content, bytes):
            root = Path(private)
            safe_extract(content, root, recipe.ebooks.archive, recipe.filters.image.max_pixels)
            book, fmt = open_book(root), "epub"
        else:
            raise NotAnEpub("an ebook row must hold the EPUB file's bytes")
        if not book.chapters:
            return Outcome(document.doc_id, drop=Drop(SOURCE, "no_chapters", "empty spine"))
        scripts = recipe.ebooks.javascript
        markups = [chapter_markup(_chapter_bytes(book, c), c, scripts) for c in book.chapters]
        docs = [HtmlDocument(m.text, book.root, m.entry) for m in markups]
        results = pool.render_many(docs)
    return _pack(document, book, fmt, [m.fallback for m in markups], results, recipe.ebooks)


def _chapter_bytes(book: Book, chapter: Chapter) -> bytes:
    return book.root.joinpath(*chapter.path.split("/")).read_bytes()


def _pack(
    document: Document,
    book: Book,
    fmt: str,
    fallbacks: list[str | None],
    results: list[list[RenderedPage] | DocumentError],
    options: EbookOptions,
) -> Outcome:
    samples: list[Sample] = []
    dropped: list[DroppedCandidate] = []
    errors: list[str] = []
    index = 0
    for number, (chapter, result) in enumerate(zip(book.chapters, results, strict=True)):
        if isinstance(result, DocumentError):
            message = f"chapter {number} ({chapter.path}): {type(result).__name__}: {result}"
            errors.append(message)
            key = sample_key(document.doc_id, index)
            dropped.append(DroppedCandidate(key, Drop("render", "chapter_failed", message)))
            index += 1
            continue
        for page in result:
            key = sample_key(document.doc_id, index)
            place = {"page": index, "chapter": number, "chapter_path": chapter.path}
            place |= {"page_in_chapter": page.index, "xhtml_fallback": fallbacks[number]}
            packed = _page_sample(key, page, place, document, book, fmt, options)
            if isinstance(packed, Drop):
                dropped.append(DroppedCandidate(key, packed))
            else:
                samples.append(packed)
            index += 1
    if len(errors) == len(book.chapters):
        raise DocumentError(f"no chapter rendered; first: {errors[0]}")
    drop = None if samples else commonest_drop(dropped, "pages")
    return Outcome(document.doc_id, tuple(samples), tuple(dropped), drop)


def page_drop(text: str, png: bytes, options: EbookOptions) -> Drop | None:
    """Blank (no text, no ink), image-only (no text) and near-blank (little text) pages."""
    chars = sum(1 for ch in text if not ch.isspace())
    if chars == 0:
        ink = ink_fraction(png)
        if ink <= options.blank_max_ink:
            return Drop("page", "blank_page", f"ink {ink:.4f} <= {options.blank_max_ink}")
        return Drop("page", "image_only_page", f"no text, ink {ink:.3f}")
    if chars < options.min_page_chars:
        return Drop("page", "near_blank_page", f"{chars} characters < {options.min_page_chars}")
    return None


def _page_sample(
    key: str,
    page: RenderedPage,
    place: dict[str, Any],
    document: Document,
    book: Book,
    fmt: str,
    options: EbookOptions,
) -> Sample | Drop:
    text = tidy_cjk_spaces(page.text)
    verdict = page_drop(text, page.png, options)
    if verdict is not None:
        return verdict
    info = book.info
    script = detect_script(text)
    mismatch = lang_mismatch(info.language, script)
    if mismatch and options.lang_mismatch == "drop":
        return Drop("lang", "lang_mismatch", f"declared {info.language}, text is {script}")
    metadata = {
        "kind": "image_text",
        "task": "ocr_page",
        "source": SOURCE,
        "doc_id": document.doc_id,
        "lang": info.language or _lang_of(script),
        "lang_detected": script,
        "lang_mismatch": mismatch,
        "license": info.rights,
        "target": "txt",
        **place,
        "width": page.width,
        "height": page.height,
        "book": {
            "format": fmt,
            "title": info.title,
            "language": info.language,
            "identifiers": list(info.identifiers),
            "creators": list(info.creators),
            "rights": info.rights,
            "epub_version": info.epub_version,
            "chapters": len(book.chapters),
        },
        "origin": document.origin,
    }
    files = {
        "png": page.png,
        "txt": text.encode("utf-8", "surrogatepass"),
        "json": orjson.dumps(metadata, default=str),
    }
    return Sample(key, files)


def _lang_of(script: str | None) -> str:
    """An undeclared book's language where its script names one (Han: Chinese), else ``und``."""
    return {"Hani": "zh", "Jpan": "ja", "Kore": "ko"}.get(script or "", "und")
