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
    open_book,
    safe_extract,
    tidy_cjk_spaces,
)
from vlpipe.sources.registry import DocumentStep, StepContext

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
def open_step(recipe: EbooksRecipe, _: StepContext) -> Iterator[DocumentStep]:
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
            safe_extract(content, root, recipe.ebooks.archive)
            book, fmt = open_book(root), "epub"
        else:
            raise NotAnEpub("an ebook row must hold the EPUB file's bytes")
        if not book.chapters:
            return Outcome(document.doc_id, drop=Drop(SOURCE, "no_chapters", "empty spine"))
        scripts = recipe.ebooks.javascript
        markups = [chapter_markup(_chapter_bytes(book, c), c, scripts) for c in book.chapters]
        docs = [HtmlDocument(m.text, book.root, m.entry) for m in markups]
        results = pool.render_many(docs)
    return _pack(document, book, fmt, [m.fallback for m in markups], results)


def _chapter_bytes(book: Book, chapter: Chapter) -> bytes:
    return book.root.joinpath(*chapter.path.split("/")).read_bytes()


def _pack(
    document: Document,
    book: Book,
    fmt: str,
    fallbacks: list[str | None],
    results: list[list[RenderedPage] | DocumentError],
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
            dropped.append(DroppedCandidate(key, Drop(SOURCE, "chapter_failed", message)))
            index += 1
            continue
        for page in result:
            key = sample_key(document.doc_id, index)
            place = {"page": index, "chapter": number, "chapter_path": chapter.path}
            place |= {"page_in_chapter": page.index, "xhtml_fallback": fallbacks[number]}
            samples.append(_page_sample(key, page, place, document, book, fmt))
            index += 1
    if len(errors) == len(book.chapters):
        raise DocumentError(f"no chapter rendered; first: {errors[0]}")
    drop = None if samples else commonest_drop(dropped, "pages")
    return Outcome(document.doc_id, tuple(samples), tuple(dropped), drop)


def _page_sample(
    key: str,
    page: RenderedPage,
    place: dict[str, Any],
    document: Document,
    book: Book,
    fmt: str,
) -> Sample:
    """A page and exactly its text; blank, image-only and near-blank pages are the filters'
    business (``image``, ``text_length``), its language the ``lang`` filter's."""
    text = tidy_cjk_spaces(page.text)
    info = book.info
    metadata = {
        "kind": "image_text",
        "task": "ocr_page",
        "source": SOURCE,
        "doc_id": document.doc_id,
        "lang": info.language or "und",
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
