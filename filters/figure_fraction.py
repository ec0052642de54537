"""Pages that are mostly figures (``figure_fraction`` in the sample's json: the share of the page's
content area under images and vector drawings, as the source measured it): little text to read,
so a poor OCR pair."""

from __future__ import annotations

from pydantic import Field

from vlpipe.filters.contract import SampleView, Verdict
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop

NAME = "figure_fraction"
READS = ("meta:figure_fraction",)


class Options(StrictModel):
    max_fraction: float = Field(0.5, gt=0, le=1)


def check(sample: SampleView, options: Options) -> Verdict:
    covered = float(sample.meta["figure_fraction"])
    if covered > options.max_fraction:
        page = sample.meta.get("page")
        where = f"page {page}: " if page is not None else ""
        detail = f"{where}figures cover {covered:.0%} > {options.max_fraction:.0%}"
        return Drop(NAME, "mostly_figure", detail)
    return None
