"""Pure pagination: the page (:class:`PageGeometry`), where to cut a laid-out document into
pages, and the text of each page.

The browser measures the document once (``vlpipe.renderers.dom.MEASURE_JS``) and returns one
:class:`TextLine` per line fragment of every text node, in DOM (reading) order, with its vertical
extent in document pixels. Everything below is plain Python over those boxes, so it is unit-tested
without a browser; importing this module loads neither Playwright nor PyMuPDF, so configuration
models can use :class:`PageGeometry`.

**Columns.** A page of ``columns`` columns is laid out as one column of the column width and cut
into bands of the content height exactly as a one-column page is; consecutive bands fill the
columns of a page left to right (:func:`plan_pages`). So a page's text is its first column's lines,
then its second column's, and no line is cut, in a column or between pages.

**Page furniture** (a running header and footer, with ``{page}`` replaced by the page number) is
part of the page's text: the header, a blank line, the body, a blank line, the footer
(:func:`page_furniture`, :func:`join_furniture`); pages without body text carry none.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Line boxes that overlap by less than this many pixels still count as separate lines: the content
# areas of tightly set lines (line-height ≈ 1) touch, and merging them would forbid every cut.
_OVERLAP_TOLERANCE_PX = 1.0
_LEAD_PX = 8.0  # at most this much leading above a line goes with it to the next page


Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
# WCAG's minimum contrast for body text: a template must not make its text hard to see.
MIN_CONTRAST = 4.5
FURNITURE_SCALE = 0.75  # the header and footer are set at this share of the base size
FURNITURE_LINE = 1.25  # their line height, in their font size
_MIN_FURNITURE_PX = 11.0


class PageGeometry(BaseModel):
    """The page (and viewport) in CSS pixels, one CSS px = one image px, and the base typography
    of paginated mode. ``None`` (and ``precedence: document``) leave a choice to the document's
    own CSS; the defaults render a document as it asks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(1024, ge=64, le=8192)
    height: int = Field(1024, ge=64, le=8192)
    margin_x: int = Field(48, ge=0)
    margin_top: int = Field(48, ge=0)
    margin_bottom: int = Field(48, ge=0)
    font_size_px: float = Field(18.0, gt=0, description="base size; the document's own CSS wins")
    line_height: float = Field(1.5, gt=0)
    font_family: str | None = Field(
        None,
        pattern=r"^[^;{}<>\\]*$",
        description="default family (a CSS font stack); the document's CSS wins",
    )
    columns: int = Field(1, ge=1, le=2, description="text columns, filled left to right")
    column_gap: int = Field(40, ge=0, description="px between columns")
    text_align: Literal["justify", "start"] | None = Field(None, description="None: the document's")
    color: Colour | None = Field(None, description="text colour, #rrggbb; None: the document's")
    background: Colour | None = Field(
        None, description="page colour, #rrggbb; None: the document's"
    )
    precedence: Literal["document", "page"] = Field(
        "document",
        description="document: the document's CSS wins over the page's typography; page: the "
        "page's family, colours, line height and alignment win for text (not for images, "
        "tables, preformatted text or math)",
    )
    header: str | None = Field(
        None, max_length=200, description="running header; {page} is the page number"
    )
    footer: str | None = Field(
        None, max_length=200, description="running footer; {page} is the page number"
    )
    trim: bool = Field(
        False, description="end the last page below its content (and drop an empty 2nd column)"
    )

    @model_validator(mode="after")
    def _room_for_content(self) -> Self:
        if self.content_height < 16 or self.column_width < 16:
            raise ValueError("margins (and columns) leave no room for content")
        furniture = math.ceil(self.furniture_px * FURNITURE_LINE) + 4
        if self.header is not None and self.margin_top < furniture:
            raise ValueError(f"a header needs margin_top >= {furniture}")
        if self.footer is not None and self.margin_bottom < furniture:
            raise ValueError(f"a footer needs margin_bottom >= {furniture}")
        ratio = contrast(self.color or "#000000", self.background or "#ffffff")
        if ratio < MIN_CONTRAST:
            raise ValueError(f"text/background contrast {ratio:.1f} < {MIN_CONTRAST}")
        return self

    @property
    def content_height(self) -> int:
        """Pixels of document shown on one page, between the top and bottom margins."""
        return self.height - self.margin_top - self.margin_bottom

    @property
    def column_width(self) -> int:
        """Width of one text column (the width the document is laid out at)."""
        gaps = (self.columns - 1) * self.column_gap
        return (self.width - 2 * self.margin_x - gaps) // self.columns

    @property
    def furniture_px(self) -> float:
        """Font size of the running header and footer."""
        return max(_MIN_FURNITURE_PX, round(self.font_size_px * FURNITURE_SCALE, 1))


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@dataclass(frozen=True, slots=True)
class TextLine:
    """The part of one DOM text node that sits on one visual line.

    ``block`` identifies the nearest block-level ancestor; ``kind`` is ``"cell"`` (table cell),
    ``"item"`` (list item) or ``"block"``; ``group`` is the row of a cell or the list of an item.
    ``pre`` marks text whose whitespace the page preserves (``white-space: pre*``).
    """

    top: float
    bottom: float
    text: str
    block: int
    kind: str = "block"
    group: int = -1
    pre: bool = False

    @classmethod
    def from_js(cls, raw: Sequence[object]) -> TextLine:
        """Build from the compact list ``[top, bottom, text, block, kind, group, pre]``."""
        top, bottom, text, block, kind, group, pre = raw
        return cls(
            float(top),  # type: ignore[arg-type]
            float(bottom),  # type: ignore[arg-type]
            str(text),
            int(block),  # type: ignore[call-overload]
            str(kind),
            int(group),  # type: ignore[call-overload]
            bool(pre),
        )


def _merged_extents(lines: Iterable[TextLine]) -> list[tuple[float, float]]:
    """Vertical intervals covered by text, overlapping line boxes merged, sorted by top."""
    merged: list[list[float]] = []
    for top, bottom in sorted((ln.top, ln.bottom) for ln in lines if ln.bottom > ln.top):
        if merged and top < merged[-1][1] - _OVERLAP_TOLERANCE_PX:
            merged[-1][1] = max(merged[-1][1], bottom)
        else:
            merged.append([top, bottom])
    return [(a, b) for a, b in merged]


def plan_page_cuts(
    lines: Sequence[TextLine], content_top: float, content_bottom: float, page_height: int
) -> list[int]:
    """Page boundaries ``[y0, y1, …, yn]`` in document pixels; page *i* shows ``[yi, yi+1)``.

    Each page holds at most ``page_height`` pixels. A boundary that would fall inside a line of
    text moves up above that line's top, into the leading above it (half the gap to the line
    before, at most ``_LEAD_PX``: glyphs of a fallback font, accents and formulas reach above
    the line's box), so no line is cut; only a line taller than a whole page (or lines so
    tightly overlapped that no gap exists within a page height) forces a cut through text.
    The first page starts at ``content_top``, or higher where a line reaches above it (a formula
    taller than its line), never above the document's top.
    """
    if page_height <= 0:
        raise ValueError("page_height must be positive")
    start = math.floor(max(0.0, min([content_top, *(ln.top for ln in lines)])))
    end = math.ceil(content_bottom)
    if end <= start:
        return []
    extents = _merged_extents(lines)
    # Where a cut may not fall: each line and the leading above it.
    zones = [
        (top - min(_LEAD_PX, max(0.0, top - (extents[n - 1][1] if n else -math.inf)) / 2), bottom)
        for n, (top, bottom) in enumerate(extents)
    ]
    tops = [a for a, _ in zones]
    cuts = [start]
    y = start
    while y + page_height < end:
        target = y + page_height
        cut = target
        i = bisect.bisect_left(tops, target) - 1
        if i >= 0:
            top, bottom = zones[i]
            if top < target < bottom and math.floor(top) > y:
                cut = math.floor(top)
        cuts.append(cut)
        y = cut
    cuts.append(end)
    return cuts


def lines_on_page(lines: Sequence[TextLine], top: float, bottom: float) -> list[TextLine]:
    """The lines whose top edge lies in ``[top, bottom)``: each line belongs to exactly one page."""
    return [ln for ln in lines if top <= ln.top < bottom]


def lines_in_view(lines: Sequence[TextLine], top: float, bottom: float) -> list[TextLine]:
    """The lines whose vertical centre lies in ``[top, bottom)`` (a single screenshot's text)."""
    return [ln for ln in lines if top <= (ln.top + ln.bottom) / 2 < bottom]


def _join_block(lines: Sequence[TextLine]) -> str:
    """Concatenate one block's line fragments the way CSS collapses whitespace between them.

    Soft line wraps add nothing: the space a wrap replaced is already in the fragment text, and
    CJK text, which wraps between characters, has none, so no spurious spaces appear.
    """
    out = ""
    for ln in lines:
        text = ln.text
        if not ln.pre and text.startswith(" ") and (not out or out[-1] in " \n"):
            text = text[1:]
        out += text
    if any(ln.pre for ln in lines):
        return out.strip("\n").rstrip()
    return re.sub(r" *\n *", "\n", out).strip()


def _separator(prev: TextLine, cur: TextLine) -> str:
    """What separates two consecutive blocks: cells of a row a tab, rows and list items a newline,
    everything else a blank line (a paragraph break)."""
    if prev.kind == cur.kind == "cell":
        return "\t" if prev.group == cur.group else "\n"
    if prev.kind == cur.kind == "item" and prev.group == cur.group:
        return "\n"
    return "\n\n"


def page_text(lines: Sequence[TextLine]) -> str:
    """The text of some lines in reading order: blocks joined by paragraph/row/cell separators."""
    runs: list[list[TextLine]] = []
    for ln in lines:
        if runs and runs[-1][-1].block == ln.block:
            runs[-1].append(ln)
        else:
            runs.append([ln])
    out: list[str] = []
    prev: TextLine | None = None
    for run in runs:
        text = _join_block(run)
        if not text:
            continue
        if prev is not None:
            out.append(_separator(prev, run[0]))
        out.append(text)
        prev = run[0]
    return "".join(out)


@dataclass(frozen=True, slots=True)
class PagePlan:
    """One page: the document bands its columns show (``(top, bottom)`` in document pixels, left
    column first), the size of its image, and its body text in reading order."""

    bands: tuple[tuple[int, int], ...]
    width: int
    height: int
    text: str


def plan_pages(
    lines: Sequence[TextLine], geometry: PageGeometry, content_bottom: float
) -> list[PagePlan]:
    """Cut a document laid out at the column width into pages of ``geometry.columns`` columns.

    With ``trim`` the last page ends ``margin_bottom`` below its tallest band and, when it fills
    only its first column, loses the empty ones."""
    g = geometry
    cuts = plan_page_cuts(lines, g.margin_top, content_bottom, g.content_height)
    bands = list(pairwise(cuts))
    pages = []
    for first in range(0, len(bands), g.columns):
        group = tuple(bands[first : first + g.columns])
        shown = [ln for top, bottom in group for ln in lines_on_page(lines, top, bottom)]
        width, height = g.width, g.height
        if g.trim and first + g.columns >= len(bands):
            tallest = max(bottom - top for top, bottom in group)
            height = min(g.height, g.margin_top + tallest + g.margin_bottom)
            width -= (g.columns - len(group)) * (g.column_width + g.column_gap)
        pages.append(PagePlan(group, width, height, page_text(shown)))
    return pages


@dataclass(frozen=True, slots=True)
class Furniture:
    """A running header or footer of one page: its text and the top of its line, in page px."""

    role: Literal["header", "footer"]
    text: str
    top: float


def fit_line(text: str, width_px: float, font_px: float) -> str:
    """``text`` on one line (whitespace collapsed), cut with an ellipsis to at most one character
    per ``font_px`` of ``width_px`` (a CJK character is one em wide, Latin ones less), so it
    always fits."""
    line = " ".join(text.split())
    most = max(1, int(width_px // font_px))
    return line if len(line) <= most else line[: most - 1].rstrip() + "…"


def page_furniture(geometry: PageGeometry, page: PagePlan, number: int) -> list[Furniture]:
    """The header and footer of a page numbered ``number``; none on a page without body text
    (a cover, a full-page image)."""
    g = geometry
    if not page.text:
        return []
    line = g.furniture_px * FURNITURE_LINE
    room = page.width - 2 * g.margin_x
    placed = (
        ("header", g.header, (g.margin_top - line) / 2),
        ("footer", g.footer, page.height - g.margin_bottom + (g.margin_bottom - line) / 2),
    )
    found = []
    for role, pattern, top in placed:
        text = fit_line((pattern or "").replace("{page}", str(number)), room, g.furniture_px)
        if text:
            found.append(Furniture(role, text, top))  # type: ignore[arg-type]
    return found


def join_furniture(body: str, furniture: Sequence[Furniture]) -> str:
    """A page's whole text: its header, a blank line, its body, a blank line, its footer."""
    header = [f.text for f in furniture if f.role == "header"]
    footer = [f.text for f in furniture if f.role == "footer"]
    return "\n\n".join([*header, *([body] if body else []), *footer])
