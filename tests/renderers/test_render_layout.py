"""Pure pagination (the page geometry, page cuts and per-page text), without a browser."""

from __future__ import annotations

from itertools import pairwise

import pytest
from pydantic import ValidationError

from vlpipe.renderers.layout import (
    PageGeometry,
    TextLine,
    lines_on_page,
    page_text,
    plan_page_cuts,
)


def _lines(
    count: int, top: float = 48.0, pitch: float = 27.0, height: float = 21.0, block: int = 0
) -> list[TextLine]:
    return [
        TextLine(top + i * pitch, top + i * pitch + height, f"w{i} ", block) for i in range(count)
    ]


def test_cuts_fall_between_lines_and_cover_each_line_once() -> None:
    lines = _lines(100)
    cuts = plan_page_cuts(lines, 48, lines[-1].bottom, 928)
    assert cuts[0] == 48 and cuts[-1] == 2742
    for top, bottom in pairwise(cuts):
        assert 0 < bottom - top <= 928
    for ln in lines:  # no cut strictly inside a line box
        assert not any(ln.top < c < ln.bottom for c in cuts)
    pages = [lines_on_page(lines, a, b) for a, b in pairwise(cuts)]
    assert sum(len(p) for p in pages) == len(lines)
    assert [ln for p in pages for ln in p] == lines


def test_line_taller_than_a_page_forces_a_cut() -> None:
    giant = [TextLine(10, 3000, "huge", 0)]
    cuts = plan_page_cuts(giant, 10, 3000, 1000)
    assert cuts == [10, 1010, 2010, 3000]


def test_empty_document_has_no_pages() -> None:
    assert plan_page_cuts([], 48, 48, 900) == []
    with pytest.raises(ValueError):
        plan_page_cuts([], 0, 10, 0)


def test_page_text_joins_blocks_cells_and_items() -> None:
    lines = [
        TextLine(0, 10, "Title", 1),
        TextLine(20, 30, "A paragraph that ", 2),
        TextLine(40, 50, "wraps. ", 2),
        TextLine(60, 70, "中文段落", 3),
        TextLine(80, 90, "没有空格。", 3),
        TextLine(100, 110, "a1", 4, "cell", 9),
        TextLine(100, 110, "b1", 5, "cell", 9),
        TextLine(120, 130, "a2", 6, "cell", 10),
        TextLine(140, 150, "one", 7, "item", 11),
        TextLine(160, 170, "two", 8, "item", 11),
        TextLine(160, 170, "\n", 8, "item", 11, pre=True),
        TextLine(180, 190, "x = 1\n  y = 2\n", 12, pre=True),
    ]
    assert page_text(lines) == (
        "Title\n\nA paragraph that wraps.\n\n中文段落没有空格。\n\na1\tb1\na2\n\none\ntwo"
        "\n\nx = 1\n  y = 2"
    )


def test_inline_whitespace_collapses_across_fragments() -> None:
    lines = [TextLine(0, 10, "bold ", 1), TextLine(0, 10, " and", 1), TextLine(0, 10, " ", 1)]
    assert page_text(lines) == "bold and"


def test_page_geometry_defaults_and_content_height() -> None:
    g = PageGeometry()
    assert (g.width, g.height, g.margin_x, g.margin_top, g.margin_bottom) == (
        1024,
        1024,
        48,
        48,
        48,
    )
    assert (g.font_size_px, g.line_height, g.font_family) == (18.0, 1.5, None)
    assert g.content_height == 1024 - 96
    assert PageGeometry(height=512, margin_top=10, margin_bottom=2).content_height == 500


@pytest.mark.parametrize(
    "fields",
    [
        {"height": 100, "margin_top": 50, "margin_bottom": 40},
        {"width": 100, "margin_x": 45},
        {"colour": "red"},
        {"width": 32},
    ],
)
def test_page_geometry_rejects_pages_without_room_and_unknown_fields(
    fields: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        PageGeometry.model_validate(fields)
