"""Gopher's quality rules (Rae et al. 2021, MassiveText): a text is prose when it has a sensible
number of words of sensible length, few symbols, is not a list of bullets or trailing ellipses,
has mostly alphabetic words and uses the language's stop words.

For Chinese and Japanese (no word spaces) every Han or kana character counts as a word
(``filters.words``): word counts stay comparable, and the mean word length is taken over the
other words only (skipped when most of the text is Han or kana, where it means nothing). Stop
words are known for English and Chinese, picked by the sample's ``lang`` (put the ``lang``
filter first); other languages skip that rule. Records ``words``.
"""

from __future__ import annotations

from pydantic import Field

from vlpipe.filters.contract import SampleView, Verdict
from vlpipe.filters.words import STOP_WORDS, is_cjk_char, lines, words
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop

NAME = "gopher_quality"
READS = ("text",)
BULLETS = ("•", "●", "○", "▪", "◦", "‣", "-", "*", "·")
ELLIPSES = ("...", "…")


class Options(StrictModel):
    min_words: int = Field(50, ge=0)
    max_words: int = Field(100_000, gt=0)
    min_mean_word_length: float = Field(3, ge=0, description="spaced languages only")
    max_mean_word_length: float = Field(10, gt=0, description="spaced languages only")
    max_symbol_word_ratio: float = Field(0.1, ge=0, description="'#' and ellipses per word")
    max_bullet_lines_ratio: float = Field(0.9, ge=0, le=1)
    max_ellipsis_lines_ratio: float = Field(0.3, ge=0, le=1)
    min_alpha_words_ratio: float = Field(0.8, ge=0, le=1, description="words with a letter")
    min_stop_words: int = Field(2, ge=0, description="languages with a stop-word list")


def check(sample: SampleView, options: Options) -> Verdict:
    text = sample.text or ""
    lang = str(sample.meta.get("lang") or "und").split("-")[0]
    tokens = words(text)
    count = len(tokens)
    if count < options.min_words:
        return Drop(NAME, "too_few_words", f"{count} words < {options.min_words}")
    if count > options.max_words:
        return Drop(NAME, "too_many_words", f"{count} words > {options.max_words}")
    spaced = [t for t in tokens if not is_cjk_char(t)]
    if len(spaced) * 2 >= count:  # a Chinese page with a few English words has no word length
        mean = sum(len(t) for t in spaced) / len(spaced)
        if not options.min_mean_word_length <= mean <= options.max_mean_word_length:
            return Drop(NAME, "word_length", f"mean word length {mean:.1f}")
    symbols = text.count("#") + sum(text.count(e) for e in ELLIPSES)
    if symbols / count > options.max_symbol_word_ratio:
        return Drop(NAME, "symbols", f"{symbols} '#'/ellipses for {count} words")
    text_lines = lines(text)
    if text_lines:
        bullets = sum(1 for line in text_lines if line.startswith(BULLETS)) / len(text_lines)
        if bullets > options.max_bullet_lines_ratio:
            return Drop(NAME, "bullet_lines", f"{bullets:.0%} of lines start with a bullet")
        ellipses = sum(1 for line in text_lines if line.endswith(ELLIPSES)) / len(text_lines)
        if ellipses > options.max_ellipsis_lines_ratio:
            return Drop(NAME, "ellipsis_lines", f"{ellipses:.0%} of lines end with an ellipsis")
    alpha = sum(1 for t in tokens if any(ch.isalpha() for ch in t)) / count
    if alpha < options.min_alpha_words_ratio:
        return Drop(NAME, "non_alpha_words", f"{alpha:.0%} of words have a letter")
    stop = STOP_WORDS.get(lang)
    if stop is not None:
        found = sum(1 for t in tokens if t.lower() in stop)
        if found < options.min_stop_words:
            return Drop(NAME, "few_stop_words", f"{found} {lang} stop words")
    return {"words": count}
