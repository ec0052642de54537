"""PDF → page PNGs and text layer with PyMuPDF, on TeX output and on hostile PDFs."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from tests.renderers._render_helpers import FIXTURES, image
from vlpipe.renderers import PdfConfig, PdfError, compile_latex_dir, render_pdf


@pytest.fixture(scope="module")
def article_pdf(tools: None) -> bytes:
    return compile_latex_dir(FIXTURES / "article").pdf


def _minimal_pdf(objects: list[bytes]) -> bytes:
    """A syntactically valid PDF (correct xref offsets) made of the given objects."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_tex_pdf_pages_have_images_text_and_word_boxes(article_pdf: bytes) -> None:
    pages = render_pdf(article_pdf)
    assert len(pages) == 2
    first = pages[0]
    assert max(first.width, first.height) == 1024
    assert image(first.png).size == (first.width, first.height)
    assert first.text.startswith("Curating Vision-Language Data\n\nvlpipe test fixture")
    assert "\n\n1\nIntroduction\n\nVision-language models learn" in first.text
    words = [w.text for w in first.words]
    assert words[:3] == ["Curating", "Vision-Language", "Data"]
    assert all(
        0 <= w.x0 < w.x1 <= first.width and 0 <= w.y0 < w.y1 <= first.height for w in first.words
    )
    # the word box of the title sits in the upper part of the page, centred
    title = first.words[0]
    assert title.y1 < first.height / 4 and title.x0 > first.width / 8
    assert "References" in pages[1].text


def test_missing_glyph_boxes_are_counted_per_font(article_pdf: bytes, tmp_path: Path) -> None:
    """Glyph 0 is the ``.notdef`` box in the fonts TeX embeds, but a real glyph in a Type 3
    font, which numbers glyphs by character code: an empty font map makes pdfTeX embed Computer
    Modern as Type 3 bitmaps, where Γ is code 0."""
    assert all(not page.missing_glyphs for page in render_pdf(article_pdf))
    (tmp_path / "main.tex").write_text(
        "\\pdfmapfile{}\\documentclass{article}\\begin{document}$\\Gamma$ is code 0.\\end{document}"
    )
    pdf = compile_latex_dir(tmp_path).pdf
    assert {font[2] for font in pymupdf.open(stream=pdf)[0].get_fonts()} == {"Type3"}
    [page] = render_pdf(pdf)
    assert "is code 0." in page.text and page.missing_glyphs == {}
    # a Type 3 font without a name (as some figure makers write them) is still left out
    with pymupdf.open(stream=pdf) as doc:
        font = doc[0].get_fonts()[0][0]
        doc.xref_set_key(font, "Name", "null")
        [page] = render_pdf(doc.tobytes())
    assert "is code 0." in page.text and page.missing_glyphs == {}


def test_dpi_mode_and_page_limit(article_pdf: bytes) -> None:
    [page, _] = render_pdf(article_pdf, PdfConfig(longest_side=None, dpi=72))
    assert (page.width, page.height) == (596, 842)  # A4 (595.3 × 841.9 pt), rounded up
    with pytest.raises(PdfError, match="has 2 pages, over the 1-page limit"):
        render_pdf(article_pdf, PdfConfig(max_pages=1))
    with pytest.raises(ValueError, match="exactly one of longest_side and dpi"):
        PdfConfig(longest_side=None)


def test_garbage_truncated_and_empty_pdfs_fail(article_pdf: bytes) -> None:
    with pytest.raises(PdfError, match="empty file"):
        render_pdf(b"")
    with pytest.raises(PdfError, match="no %PDF- header"):
        render_pdf(b"\x00\x01garbage" * 100)
    with pytest.raises(PdfError, match=r"damaged or truncated|unreadable"):
        render_pdf(b"%PDF-1.7\n" + b"\xff garbage \x00" * 500)
    with pytest.raises(PdfError, match="damaged or truncated"):
        render_pdf(article_pdf[: len(article_pdf) // 2])
    no_pages = _minimal_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    )
    with pytest.raises(PdfError, match="no pages"):
        render_pdf(no_pages)


def test_encrypted_pdf_fails(article_pdf: bytes) -> None:
    with pymupdf.open(stream=article_pdf, filetype="pdf") as doc:
        locked = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="o", user_pw="u")
    with pytest.raises(PdfError, match="encrypted"):
        render_pdf(locked)


def test_huge_pages_fail_before_rendering() -> None:
    with pymupdf.open() as doc:
        doc.new_page(width=200000, height=200000)
        huge = doc.tobytes()
        doc.new_page(width=14000, height=14000)
        big = doc.tobytes()
    with pytest.raises(PdfError, match=r"page 1 is 200000×200000 pt, outside"):
        render_pdf(huge)
    with pytest.raises(PdfError, match="over the 1000000 pixel limit"):
        render_pdf(
            big[:], PdfConfig(longest_side=None, dpi=72, max_page_pt=1e6, max_pixels=1_000_000)
        )
