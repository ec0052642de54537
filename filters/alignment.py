"""How well a page's target text matches what its page shows, as the source measured it
(``alignment_score`` in the sample's json: the arXiv source's character F1 of the page markdown
against the PDF's text layer). A pair whose text is not on its page teaches hallucination."""

from __future__ import annotations

from pydantic import Field

from vlpipe.filters.contract import SampleView, Verdict
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop

NAME = "alignment"
READS = ("meta:alignment_score",)


class Options(StrictModel):
    min_score: float = Field(0.5, ge=0, le=1)


def check(sample: SampleView, options: Options) -> Verdict:
    score = float(sample.meta["alignment_score"])
    if score < options.min_score:
        page = sample.meta.get("page")
        where = f"page {page}: " if page is not None else ""
        return Drop(NAME, "low_alignment", f"{where}alignment {score:.2f} < {options.min_score}")
    return None
