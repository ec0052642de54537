"""One book (an ``.epub`` file or a book folder) → ``image_text`` samples, task ``ocr_page``.

Each chapter of the spine is laid out at a page template drawn for the book (or the chapter) by
the browser pool's paginated mode and cut into pages; a page image is paired with exactly the
text shown on it, running header and footer included. Keys are ``sample_key(book, n)`` with ``n``
counting pages across the whole book (a chapter that fails to render takes one number, recorded
as a dropped candidate, so later keys never shift with the renderer's luck on an earlier
chapter); a footer's ``{page}`` prints ``n + 1``, so chapters render in reading order.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from vlpipe.errors import DocumentError
from vlpipe.renderers import BrowserConfig, BrowserPool, HtmlDocument, RenderedPage
from vlpipe.renderers.chromium import Layout, furniture_record
from vlpipe.renderers.layout import PageGeometry
from vlpipe.renderers.templates import PageTemplate, check_fonts
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
    BookInfo,
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
    """The pool of a work unit; its height limit lets the longest chapter of any template
    through (``max_pages_per_chapter`` pages of all its columns)."""
    tallest = max(
        options.max_pages_per_chapter * t.columns * t.content_height + t.height
        for t in options.templates
    )
    return BrowserConfig(
        browsers=options.browsers,
        mode="paginated",
        geometry=options.templates[0].geometry(),
        page_scripts=options.javascript,  # off: the renderer's CSP stops the book's scripts
        load_timeout_s=options.load_timeout_s,
        render_timeout_s=options.render_timeout_s,
        max_pages=options.max_pages_per_chapter,
        max_height_px=tallest,
    )


@contextmanager
def open_step(recipe: EbooksRecipe, _: StepContext) -> Iterator[DocumentStep]:
    """One browser pool for all the books of a work unit (or of an inline run); a template
    naming a font that is not installed stops the build before any book."""
    check_fonts(recipe.ebooks.templates)
    with BrowserPool(browser_config(recipe.ebooks)) as pool:
        yield partial(book_outcome, pool)


def book_outcome(pool: BrowserPool, document: Document, recipe: EbooksRecipe) -> Outcome:
    """Unpack (or open) the book, render its chapters in reading order, pack the pages."""
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
        rendered = _render_chapters(pool, document.doc_id, book, recipe.ebooks)
    return _pack(document, book, fmt, rendered)


@dataclass(frozen=True)
class _Rendered:
    """One chapter's pages (or why it has none), the template they were drawn with, and the
    book's page number (from 0) of its first page."""

    chapter: Chapter
    fallback: str | None
    template: PageTemplate
    first: int
    result: list[RenderedPage] | DocumentError


def _render_chapters(
    pool: BrowserPool, doc_id: str, book: Book, options: EbookOptions
) -> list[_Rendered]:
    """Each chapter at its template, in reading order: a chapter's first page number is where
    the previous chapter ended (a chapter that fails takes one number)."""
    rendered = []
    first = 0
    for number, chapter in enumerate(book.chapters):
        markup = chapter_markup(_chapter_bytes(book, chapter), chapter)
        key = doc_id if options.template_per == "book" else f"{doc_id}#{number}"
        template = options.draw(key, book.info.language)
        layout = Layout(_furnished(template, book.info), first_page=first + 1)
        result: list[RenderedPage] | DocumentError
        try:
            result = pool.render(HtmlDocument(markup.text, book.root, markup.entry), None, layout)
        except DocumentError as exc:
            result = exc
        rendered.append(_Rendered(chapter, markup.fallback, template, first, result))
        first += len(result) if isinstance(result, list) else 1
    return rendered


def _pack(document: Document, book: Book, fmt: str, rendered: list[_Rendered]) -> Outcome:
    samples: list[Sample] = []
    dropped: list[DroppedCandidate] = []
    errors: list[str] = []
    for number, chapter in enumerate(rendered):
        result, path = chapter.result, chapter.chapter.path
        if isinstance(result, DocumentError):
            message = f"chapter {number} ({path}): {type(result).__name__}: {result}"
            errors.append(message)
            key = sample_key(document.doc_id, chapter.first)
            dropped.append(DroppedCandidate(key, Drop(SOURCE, "chapter_failed", message)))
            continue
        for page in result:
            index = chapter.first + page.index
            place = {"page": index, "chapter": number, "chapter_path": path}
            place |= {"page_in_chapter": page.index, "xhtml_fallback": chapter.fallback}
            key = sample_key(document.doc_id, index)
            samples.append(_page_sample(key, page, place, chapter.template, document, book, fmt))
    if len(errors) == len(book.chapters):
        raise DocumentError(f"no chapter rendered; first: {errors[0]}")
    drop = None if samples else commonest_drop(dropped, "pages")
    return Outcome(document.doc_id, tuple(samples), tuple(dropped), drop)


def _chapter_bytes(book: Book, chapter: Chapter) -> bytes:
    return book.root.joinpath(*chapter.path.split("/")).read_bytes()


def _furnished(template: PageTemplate, info: BookInfo) -> PageGeometry:
    """The template's geometry with the book's ``{title}`` and ``{author}`` in its header and
    footer (CJK-tidied, as the page text will be)."""
    values = {"title": info.title or "", "author": next(iter(info.creators), "")}
    return template.furnished({name: tidy_cjk_spaces(value) for name, value in values.items()})


def _page_sample(
    key: str,
    page: RenderedPage,
    place: dict[str, Any],
    template: PageTemplate,
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
        "template": template.model_dump(mode="json"),
        "furniture": furniture_record(page, text),
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
