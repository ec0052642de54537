"""PDF → page PNGs plus each page's text layer and word boxes, with PyMuPDF.

The text comes in content-stream order by default (``sort_text=False``): for TeX output that is
the reading order, two-column papers included, whereas sorting by position interleaves columns.
Word boxes are given in the pixel coordinates of the page image, ready for alignment.
Hostile PDFs (garbage, truncated/repaired, encrypted, empty, absurd page sizes, too many pages)
fail with a :class:`PdfError` before anything large is allocated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Self

import pymupdf
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vlpipe.renderers.errors import PdfError

# Keep whitespace, clip to the media box; expand ligatures (ﬁ → fi) and join hyphenated words.
_TEXT_FLAGS = (
    pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP | pymupdf.TEXT_DEHYPHENATE
)
# Largest page side the PDF specification allows (200 inches), in points.
PDF_MAX_PAGE_PT = 14400.0

pymupdf.TOOLS.mupdf_display_errors(False)
pymupdf.TOOLS.mupdf_display_warnings(False)


class PdfConfig(BaseModel):
    """Target resolution (``longest_side`` in pixels, or ``dpi``) and the guards."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    longest_side: int | None = Field(1024, ge=16, le=16384)
    dpi: float | None = Field(None, gt=0, le=1200)
    max_pages: int = Field(500, ge=1)
    max_page_pt: float = Field(PDF_MAX_PAGE_PT, gt=0)
    max_pixels: int = Field(64_000_000, ge=1024)
    sort_text: bool = False
    allow_repaired: bool = False

    @model_validator(mode="after")
    def _one_resolution(self) -> Self:
        if (self.longest_side is None) == (self.dpi is None):
            raise ValueError("set exactly one of longest_side and dpi")
        return self


class Word(NamedTuple):
    """One word and its box in page-image pixels; ``block``/``line`` number it on the page."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    block: int
    line: int


@dataclass(frozen=True, slots=True)
class PdfPage:
    """One rendered page: PNG bytes, pixel size, text (blocks as paragraphs) and word boxes."""

    index: int
    png: bytes
    width: int
    height: int
    text: str
    words: tuple[Word, ...]
    missing_glyphs: dict[str, int]  # font name → characters drawn as its missing-glyph box


def page_zoom(width_pt: float, height_pt: float, config: PdfConfig) -> float:
    """Scale from PDF points to pixels for one page."""
    if config.longest_side is not None:
        return config.longest_side / max(width_pt, height_pt)
    assert config.dpi is not None
    return config.dpi / 72.0


def open_pdf(data: bytes, config: PdfConfig | None = None) -> pymupdf.Document:
    """Open PDF bytes, refusing what cannot be rendered faithfully (with a clear reason)."""
    cfg = config or PdfConfig()
    if not data:
        raise PdfError("empty file, not a PDF")
    if b"%PDF-" not in data[:1024]:
        raise PdfError("not a PDF (no %PDF- header)")
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        raise PdfError(f"unreadable PDF: {exc}") from None
    try:
        if doc.needs_pass:
            raise PdfError("PDF is encrypted (password required)")
        if doc.is_repaired and not cfg.allow_repaired:
            raise PdfError("PDF is damaged or truncated (its cross-reference table was rebuilt)")
        if doc.page_count == 0:
            raise PdfError("PDF has no pages")
        if doc.page_count > cfg.max_pages:
            raise PdfError(f"PDF has {doc.page_count} pages, over the {cfg.max_pages}-page limit")
    except BaseException:
        doc.close()
        raise
    return doc


def _page_text(page: pymupdf.Page, sort: bool) -> str:
    blocks = page.get_text("blocks", flags=_TEXT_FLAGS, sort=sort)
    texts = [b[4].strip() for b in blocks if b[6] == 0 and b[4].strip()]
    return "\n\n".join(texts)


def missing_glyphs(page: pymupdf.Page) -> dict[str, int]:
    """Per font, the characters drawn with glyph 0, the font's ``.notdef`` box: text the font
    lacks (a CJK paper whose fonts are not installed shows boxes where its characters should be,
    and its text layer reads them as NUL). Type 3 fonts number glyphs by character code, where
    0 is a real glyph, so they are not counted."""
    fonts = page.get_fonts()
    type3 = {name.partition("+")[2] or name for _, _, kind, name, _, _ in fonts if kind == "Type3"}
    counts: dict[str, int] = {}
    for span in page.get_texttrace():
        if span["font"] in type3 or span["font"].startswith("Type3 ("):  # a Type 3 without name
            continue
        missing = sum(1 for char in span["chars"] if char[1] == 0)
        if missing:
            counts[span["font"]] = counts.get(span["font"], 0) + missing
    return counts


def _render_page(page: pymupdf.Page, index: int, cfg: PdfConfig) -> PdfPage:
    rect = page.rect
    if not (0 < rect.width <= cfg.max_page_pt and 0 < rect.height <= cfg.max_page_pt):
        raise PdfError(
            f"page {index + 1} is {rect.width:.0f}×{rect.height:.0f} pt, outside "
            f"the (0, {cfg.max_page_pt:g}] pt limit"
        )
    zoom = page_zoom(rect.width, rect.height, cfg)
    width, height = math.ceil(rect.width * zoom), math.ceil(rect.height * zoom)
    if width * height > cfg.max_pixels:
        raise PdfError(
            f"page {index + 1} would be {width}×{height} px, over the {cfg.max_pixels} pixel limit"
        )
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    words = tuple(
        Word(
            (x0 - rect.x0) * zoom,
            (y0 - rect.y0) * zoom,
            (x1 - rect.x0) * zoom,
            (y1 - rect.y0) * zoom,
            text,
            block,
            line,
        )
        for x0, y0, x1, y1, text, block, line, _ in page.get_text(
            "words", flags=_TEXT_FLAGS, sort=cfg.sort_text
        )
    )
    text = _page_text(page, cfg.sort_text)
    png = pix.tobytes("png")
    return PdfPage(index, png, pix.width, pix.height, text, words, missing_glyphs(page))


def render_pdf(data: bytes, config: PdfConfig | None = None) -> list[PdfPage]:
    """Render every page of a PDF to PNG with its text; raises ``PdfError`` for bad PDFs."""
    cfg = config or PdfConfig()
    doc = open_pdf(data, cfg)
    try:
        return [_render_page(doc[i], i, cfg) for i in range(doc.page_count)]
    except (RuntimeError, ValueError) as exc:
        raise PdfError(f"cannot render PDF: {exc}") from None
    finally:
        doc.close()
