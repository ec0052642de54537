"""Gopher's repetition rules (Rae et al. 2021): repeated lines and paragraphs, and text dominated by
one n-gram or by n-grams that occur more than once — boilerplate, spam, generation loops, a page
template printed on every page.

Thresholds are Gopher's. Words are ``filters.words`` tokens, so in Chinese and Japanese an n-gram
is n characters. Records ``repetition``: the largest duplicated-n-gram character fraction.
"""

from __future__ import annotations

from collections import Counter

from pydantic import Field

from vlpipe.filters.contract import SampleView, Verdict
from vlpipe.filters.words import lines, paragraphs, words
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop

NAME = "gopher_repetition"
READS = ("text",)


class Options(StrictModel):
    max_duplicate_lines: float = Field(0.3, ge=0, le=1, description="share of lines")
    max_duplicate_paragraphs: float = Field(0.3, ge=0, le=1, description="share of paragraphs")
    max_duplicate_line_chars: float = Field(0.2, ge=0, le=1)
    max_duplicate_paragraph_chars: float = Field(0.2, ge=0, le=1)
    max_top_ngram_chars: dict[int, float] = Field(
        {2: 0.20, 3: 0.18, 4: 0.16},
        description="n → the most common n-gram may cover at most this share of characters",
    )
    max_duplicate_ngram_chars: dict[int, float] = Field(
        {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="n → n-grams that occur again may cover at most this share of characters",
    )


def check(sample: SampleView, options: Options) -> Verdict:
    text = sample.text or ""
    for name, parts, max_share, max_chars in (
        ("lines", lines(text), options.max_duplicate_lines, options.max_duplicate_line_chars),
        (
            "paragraphs",
            paragraphs(text),
            options.max_duplicate_paragraphs,
            options.max_duplicate_paragraph_chars,
        ),
    ):
        share, chars = duplicated(parts)
        if share > max_share:
            return Drop(NAME, f"duplicate_{name}", f"{share:.0%} of {name} repeat")
        if chars > max_chars:
            return Drop(NAME, f"duplicate_{name}_chars", f"{chars:.0%} of characters repeat")
    tokens = words(text)
    total = sum(len(t) for t in tokens)
    if not total:
        return {"repetition": 0.0}
    for n, limit in sorted(options.max_top_ngram_chars.items()):
        top = top_ngram_chars(tokens, n) / total
        if top > limit:
            return Drop(NAME, "top_ngram", f"one {n}-gram covers {top:.0%} of characters")
    worst = 0.0
    limits = sorted(options.max_duplicate_ngram_chars.items())
    for number, (n, limit) in enumerate(limits):
        repeated = duplicate_ngram_chars(tokens, n) / total
        worst = max(worst, repeated)
        if repeated > limit:
            return Drop(NAME, "duplicate_ngrams", f"repeated {n}-grams cover {repeated:.0%}")
        # words in repeated longer n-grams are in repeated shorter ones: if this share is under
        # every later limit, no later n can pass its own
        if all(repeated <= later for _, later in limits[number + 1 :]):
            break
    return {"repetition": round(worst, 4)}


def duplicated(parts: list[str]) -> tuple[float, float]:
    """The share of parts that repeat an earlier one, and the share of characters in them."""
    if not parts:
        return 0.0, 0.0
    seen: set[str] = set()
    count = chars = 0
    for part in parts:
        if part in seen:
            count += 1
            chars += len(part)
        seen.add(part)
    return count / len(parts), chars / max(1, sum(len(p) for p in parts))


def top_ngram_chars(tokens: list[str], n: int) -> int:
    """Characters covered by the commonest n-gram (its count × its length, as Gopher counts)."""
    counts = Counter(zip(*(tokens[i:] for i in range(n)), strict=False))
    if not counts:
        return 0
    gram, count = counts.most_common(1)[0]
    return count * sum(len(t) for t in gram) if count > 1 else 0


def duplicate_ngram_chars(tokens: list[str], n: int) -> int:
    """Characters of the words covered by n-grams that occurred before (each word once)."""
    seen: set[tuple[str, ...]] = set()
    covered = [False] * len(tokens)
    for i, gram in enumerate(zip(*(tokens[i:] for i in range(n)), strict=False)):
        if gram in seen:
            covered[i : i + n] = [True] * n
        seen.add(gram)
    return sum(len(t) for t, hit in zip(tokens, covered, strict=True) if hit)
