"""Text length, in characters that are not whitespace (so a CJK page and an English page of the
same look count alike, and layout spaces count nothing): an empty text (a blank page, an
image-only page), one too short to be worth a sample, or one too long for a sequence."""

from __future__ import annotations

from pydantic import Field

from vlpipe.filters.contract import SampleView, Verdict
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop

NAME = "text_length"
READS = ("text",)


class Options(StrictModel):
    min_chars: int = Field(1, ge=1, description="fewer non-whitespace characters: too_short")
    max_chars: int | None = Field(None, gt=0, description="more: too_long; null: no limit")


def check(sample: SampleView, options: Options) -> Verdict:
    chars = sum(1 for ch in sample.text or "" if not ch.isspace())
    if chars == 0:
        return Drop(NAME, "empty", "no text")
    if chars < options.min_chars:
        return Drop(NAME, "too_short", f"{chars} chars < {options.min_chars}")
    if options.max_chars is not None and chars > options.max_chars:
        return Drop(NAME, "too_long", f"{chars} chars > {options.max_chars}")
    return {"chars": chars}
