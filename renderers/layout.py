"""Pure pagination: the page (:class:`PageGeometry`), where to cut a laid-out document into
pages, and the text of each page.

The browser measures the document once (``vlpipe.renderers.dom.MEASURE_JS``) and returns one
:class:`TextLine` per line fragment of every text node, in DOM (reading) order, with its vertical
extent in document pixels. Everything below is plain Python over those boxes, so it is unit-tested
without a browser; importing this module loads neither Playwright nor PyMuPDF, so configuration
models can use :class:`PageGeometry`.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Line boxes that overlap by less than this many pixels still count as separate lines: the content
# areas of tightly set lines (line-height ≈ 1) touch, and merging them would forbid every cut.
_OVERLAP_TOLERANCE_PX = 1.0


class PageGeometry(BaseModel):
    """The page (and viewport) in CSS pixels, one CSS px = one image px, and the base typography
    of paginated mode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(1024, ge=64, le=8192)
    height: int = Field(1024, ge=64, le=8192)
    margin_x: int = Field(48, ge=0)
    margin_top: int = Field(48, ge=0)
    margin_bottom: int = Field(48, ge=0)
    font_size_px: float = Field(18.0, gt=0, description="base size; the document's own CSS wins")
    line_height: float = Field(1.5, gt=0)
    font_family: str | None = Field(None, description="default family; the document's CSS wins")

    @model_validator(mode="after")
    def _room_for_content(self) -> Self:
        if self.content_height < 16 or self.width - 2 * self.margin_x < 16:
            raise ValueError("margins leave no room for content")
        return self

    @property
    def content_height(self) -> int:
        """Pixels of document shown on one page, between the top and bottom margins."""
        return self.height - self.margin_top - self.margin_bottom


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
    text moves up to that line's top, so no line is cut; only a line taller than a whole page (or
    lines so tightly overlapped that no gap exists within a page height) forces a cut through text.
    """
    if page_height <= 0:
        raise ValueError("page_height must be positive")
    start = math.floor(content_top)
    end = math.ceil(content_bottom)
    if end <= start:
        return []
    extents = _merged_extents(lines)
    tops = [a for a, _ in extents]
    cuts = [start]
    y = start
    while y + page_height < end:
        target = y + page_height
        cut = target
        i = bisect.bisect_left(tops, target) - 1
        if i >= 0:
            top, bottom = extents[i]
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
