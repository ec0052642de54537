"""Page templates in the renderer: the pure parts (two-column page plans, trimmed pages, running
header and footer, cuts in the leading, the template draw, fonts, CSS) and, with real Chromium,
two-column pages, furniture, per-document geometry, the page colour and atoms."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from PIL import ImageChops
from pydantic import ValidationError

from tests.renderers._render_helpers import image
from vlpipe.errors import ConfigError
from vlpipe.renderers import BrowserPool, HtmlDocument, RenderError
from vlpipe.renderers.chromium import Layout, PageScript, PageScriptError, furniture_record
from vlpipe.renderers.dom import paginated_css
from vlpipe.renderers.layout import (
    PageGeometry,
    TextLine,
    contrast,
    fit_line,
    join_furniture,
    page_furniture,
    plan_page_cuts,
    plan_pages,
)
from vlpipe.renderers.templates import (
    PageTemplate,
    TemplateOptions,
    check_fonts,
    draw_template,
    font_families,
    missing_fonts,
)

TWO = PageGeometry(
    width=1000, height=400, margin_x=50, margin_top=50, margin_bottom=50, columns=2, column_gap=40
)


def _lines(count: int, top: float = 50.0, pitch: float = 30.0, height: float = 20.0) -> list:
    return [TextLine(top + i * pitch, top + i * pitch + height, f"l{i} ", i) for i in range(count)]


# -- pure ----------------------------------------------------------------------------------------


def test_two_column_pages_fill_the_left_column_then_the_right() -> None:
    lines = _lines(30)  # 300 px of content per band: 10 lines a band, 3 bands
    pages = plan_pages(lines, TWO, lines[-1].bottom)
    assert [len(p.bands) for p in pages] == [2, 1]
    assert [b for p in pages for b in p.bands] == list(
        pairwise(plan_page_cuts(lines, 50, lines[-1].bottom, TWO.content_height))
    )
    read = [int(t[1:]) for p in pages for t in re.findall(r"l\d+", p.text)]
    assert read == list(range(30))  # column 1, then column 2, then the next page: each line once
    assert TWO.column_width == (1000 - 100 - 40) // 2
    assert all((p.width, p.height) == (1000, 400) for p in pages)


def test_trim_ends_the_last_page_below_its_content_and_drops_an_empty_column() -> None:
    trimmed = TWO.model_copy(update={"trim": True})
    lines = _lines(25)
    full, last = plan_pages(lines, trimmed, lines[-1].bottom)
    assert (full.width, full.height) == (1000, 400)
    tallest = max(bottom - top for top, bottom in last.bands)
    assert last.height == 50 + tallest + 50 and len(last.bands) == 1
    assert last.width == 1000 - TWO.column_width - TWO.column_gap


def test_cuts_leave_the_leading_above_a_line_with_it() -> None:
    lines = _lines(40, pitch=30, height=20)  # 10 px of leading between lines
    cuts = plan_page_cuts(lines, 50, lines[-1].bottom, 300)
    for cut in cuts[1:-1]:
        following = min(ln.top for ln in lines if ln.top >= cut)
        preceding = max(ln.bottom for ln in lines if ln.bottom <= cut)
        assert following - cut >= 5 and cut >= preceding  # half the gap goes with the line
    tall_formula = [TextLine(44, 70, "$x$", 0, pre=True), *_lines(3)]
    assert plan_page_cuts(tall_formula, 50, 200, 300)[0] == 44  # the first page reaches up


def test_furniture_is_part_of_the_text_only_on_pages_with_text() -> None:
    g = PageGeometry(margin_top=60, margin_bottom=60, header="A Book", footer="— {page} —")
    page, blank = plan_pages(_lines(3, top=60), g, 150)[0], plan_pages([], g, 1)
    furniture = page_furniture(g, page, 7)
    assert [(f.role, f.text) for f in furniture] == [("header", "A Book"), ("footer", "— 7 —")]
    assert all(0 < f.top < 60 or f.top > g.height - 60 for f in furniture)
    assert join_furniture(page.text, furniture) == f"A Book\n\n{page.text}\n\n— 7 —"
    assert blank == [] and page_furniture(g, page.__class__((), 1024, 1024, ""), 1) == []
    assert fit_line("  a  very long   title " * 20, 400, 20) == "a very long title a…"


def test_geometry_refuses_unreadable_or_crowded_templates() -> None:
    with pytest.raises(ValidationError, match="contrast"):
        PageGeometry(color="#777777", background="#888888")
    with pytest.raises(ValidationError, match="header"):
        PageGeometry(margin_top=10, header="{page}")
    with pytest.raises(ValidationError, match="no room"):
        PageGeometry(width=200, margin_x=40, columns=2, column_gap=90)
    with pytest.raises(ValidationError):
        PageGeometry(font_family="serif; } body { display: none")
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert PageGeometry(color="#e8e6e3", background="#1f2023").color == "#e8e6e3"


def test_page_precedence_overrides_text_but_not_code_or_math() -> None:
    g = PageGeometry(font_family='"Nimbus Roman", serif', color="#222222", text_align="justify")
    document = paginated_css(g)
    assert "!important" not in document.split("body {")[0]  # the document's CSS wins
    assert 'font-family: "Nimbus Roman", serif;' in document
    page = paginated_css(g.model_copy(update={"precedence": "page"}))
    assert 'font-family: "Nimbus Roman", serif !important' in page
    assert ":not(pre, pre *, code" in page and ".katex *" in page
    assert "text-align: justify !important" in page
    two = paginated_css(TWO)
    assert f"padding: 50px {1000 - 50 - TWO.column_width}px 0 50px" in two


def test_the_draw_is_seeded_weighted_and_by_language() -> None:
    templates = (
        PageTemplate(name="any", weight=3),
        PageTemplate(name="other"),
        PageTemplate(name="zh_only", langs=("zh",)),
    )
    draws = [draw_template(templates, 0, f"book{n}", "en").name for n in range(400)]
    assert draws == [draw_template(templates, 0, f"book{n}", "en-US").name for n in range(400)]
    assert "zh_only" not in draws and 250 < draws.count("any") < 350
    zh = {draw_template(templates, 0, f"book{n}", "zh-CN").name for n in range(100)}
    assert zh == {"any", "other", "zh_only"}
    reseeded = [draw_template(templates, 1, f"book{n}", "en").name for n in range(400)]
    assert reseeded != draws
    with pytest.raises(ValidationError, match="any language"):
        TemplateOptions(templates=(PageTemplate(name="a", langs=("zh",)),))
    with pytest.raises(ValidationError, match="unique"):
        TemplateOptions(templates=(PageTemplate(), PageTemplate()))


def test_font_stacks_must_be_installed() -> None:
    assert font_families('"Noto Serif CJK SC", Nimbus Roman ,serif') == [
        "Noto Serif CJK SC",
        "Nimbus Roman",
    ]
    good = PageTemplate(name="ok", font_family='"DejaVu Serif", "Noto Serif CJK SC", serif')
    bad = PageTemplate(name="bad", font_family='"No Such Font 42", serif')
    assert missing_fonts([good, bad]) == ["bad: No Such Font 42"]
    with pytest.raises(ConfigError, match="No Such Font 42"):
        check_fonts([good, bad])


# -- Chromium ------------------------------------------------------------------------------------

PARAGRAPHS = "".join(
    f"<p>Paragraph {n}. " + "Salt wind rattled the panes while gulls argued. " * 6 + "</p>"
    for n in range(1, 25)
)


def test_a_two_column_page_is_two_bands_side_by_side(pool: BrowserPool) -> None:
    """The right column is the next band, pixel for pixel as a one-column page of the column
    width shows it, and the text reads column 1 then column 2."""
    base = {"height": 900, "margin_x": 60, "margin_top": 60, "margin_bottom": 60}
    two = PageGeometry(width=1000, columns=2, column_gap=40, background="#f4ecd8", **base)
    one = PageGeometry(width=two.column_width + 120, background="#f4ecd8", **base)
    doc = HtmlDocument(f"<html><body>{PARAGRAPHS}</body></html>")
    pages = pool.render(doc, "paginated", Layout(two))
    singles = pool.render(doc, "paginated", Layout(one))
    assert len(singles) >= 3 and len(pages) == (len(singles) + 1) // 2
    width, right = two.column_width, 60 + two.column_width + 40
    column = (60, 60, 60 + width, 900 - 60)

    def same(a: bytes, box_a: tuple[int, int, int, int], b: bytes) -> bool:
        return ImageChops.difference(image(a).crop(box_a), image(b).crop(column)).getbbox() is None

    assert same(pages[0].png, column, singles[0].png)
    assert same(pages[0].png, (right, 60, right + width, 900 - 60), singles[1].png)
    a, b = singles[0].text, singles[1].text
    # a paragraph running on from column 1 into column 2 stays one paragraph of the text
    assert pages[0].text in (f"{a}\n\n{b}", f"{a} {b}")
    assert image(pages[0].png).getpixel((5, 5)) == (0xF4, 0xEC, 0xD8)  # margins in the page colour


def test_header_and_footer_sit_in_the_margins_and_open_and_close_the_text(
    pool: BrowserPool,
) -> None:
    g = PageGeometry(
        height=800, margin_top=64, margin_bottom=64, header="The Almanac", footer="{page}"
    )
    pages = pool.render(HtmlDocument(PARAGRAPHS), "paginated", Layout(g, first_page=41))
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=41):
        header, footer = page.furniture
        assert (header.text, footer.text) == ("The Almanac", str(number))
        assert page.text.startswith("The Almanac\n\n")
        assert page.text.endswith(f"\n\n{number}")
        assert header.box[3] <= 64 and footer.box[1] >= 800 - 64
        records = furniture_record(page, page.text)
        assert records[1]["span"] == [len(page.text) - len(str(number)), len(page.text)]
        ink = image(page.png).crop(header.box).getextrema()
        assert ink[0][0] < 128  # the header is drawn, in the top layer over the root's clip


def test_per_document_geometry_trim_and_viewport(pool: BrowserPool) -> None:
    trimmed = PageGeometry(width=600, height=900, trim=True)
    [short] = pool.render(HtmlDocument("<p>One short question.</p>"), "paginated", Layout(trimmed))
    assert (short.width, image(short.png).size[0]) == (600, 600)
    assert short.height < 200 and image(short.png).size[1] == short.height
    [again] = pool.render(HtmlDocument("<p>Back to the pool's page.</p>"), "paginated")
    assert image(again.png).size == (pool.config.geometry.width, pool.config.geometry.height)


MARK = "(atom) => { const e = document.querySelector('#f'); e.setAttribute(atom, '$x^2$'); }"


def test_atoms_read_as_their_value_and_cannot_be_forged(pool: BrowserPool) -> None:
    html = (
        '<p>Area <span id="f">x²</span> units, <span data-vlpipe-atom-0="FORGED">real</span>.</p>'
    )
    script = PageScript("window.ready = true;", MARK)
    [page] = pool.render(HtmlDocument(html), "paginated", Layout(script=script))
    assert page.text == "Area $x^2$ units, real."
    failing = PageScript("", "(atom) => 'formula 3 cannot be typeset'")
    with pytest.raises(PageScriptError, match="formula 3"):
        pool.render(HtmlDocument(html), "paginated", Layout(script=failing))
    broken = PageScript("throw new Error('no library')", MARK)
    with pytest.raises(RenderError, match="library"):
        pool.render(HtmlDocument(html), "paginated", Layout(script=broken))
