"""C4's page rules (Raffel et al. 2020), as drops only: C4 deleted the lines it disliked, but a
target text must stay exactly what its image shows, so here a text whose lines are mostly of the
kinds C4 deleted is dropped instead, as is any page C4 dropped whole (lorem ipsum; with
``drop_curly_bracket``, a ``{``, C4's tell of code).

A line C4 deleted: one that does not end in terminal punctuation, one of fewer than
``min_words_per_line`` words (Chinese and Japanese: characters, see ``filters.words``), one that
mentions JavaScript, or a cookie / privacy / terms-of-use notice. Records ``c4_bad_lines``.
"""

from __future__ import annotations

import re

from pydantic import Field

from vlpipe.filters.contract import SampleView, Verdict
from vlpipe.filters.words import lines, unspaced, words
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop

NAME = "c4_quality"
READS = ("text",)
TERMINAL = (".", "!", "?", '"', "'", "”", "’", "。", "！", "？", "…", "」", "』", "”", "）")
POLICY = re.compile(
    r"terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies", re.I
)
JAVASCRIPT = re.compile(r"javascript", re.I)
LOREM = re.compile(r"lorem ipsum", re.I)


class Options(StrictModel):
    max_bad_lines: float = Field(0.5, ge=0, le=1, description="share of lines C4 would delete")
    min_words_per_line: int = Field(3, ge=1, description="Chinese/Japanese: 5 characters per word")
    drop_curly_bracket: bool = Field(False, description="C4 dropped pages with '{' as code")


def check(sample: SampleView, options: Options) -> Verdict:
    text = sample.text or ""
    if LOREM.search(text):
        return Drop(NAME, "lorem_ipsum", "placeholder text")
    if options.drop_curly_bracket and "{" in text:
        return Drop(NAME, "curly_bracket", "a '{' (C4 took it for code)")
    text_lines = lines(text)
    if not text_lines:
        return {"c4_bad_lines": 0.0}
    min_tokens = options.min_words_per_line
    if unspaced(str(sample.meta.get("lang") or ""), text):
        min_tokens *= 5
    bad = sum(1 for line in text_lines if c4_deletes(line, min_tokens)) / len(text_lines)
    if bad > options.max_bad_lines:
        return Drop(NAME, "bad_lines", f"{bad:.0%} of lines are of the kinds C4 deleted")
    return {"c4_bad_lines": round(bad, 4)}


def c4_deletes(line: str, min_tokens: int) -> bool:
    return (
        not line.endswith(TERMINAL)
        or len(words(line)) < min_tokens
        or bool(JAVASCRIPT.search(line))
        or bool(POLICY.search(line))
    )
