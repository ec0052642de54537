"""Language ID, text length, and the Gopher / C4 / classifier quality filters on written texts in
English, Chinese and a mixed page, and on the junk they exist to catch."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.filters.texts import (
    BULLETS,
    EN_PROSE,
    FR_PROSE,
    LOOP,
    LOREM,
    MENU,
    MIXED_PAGE,
    SPAM,
    ZH_PROSE,
)
from vlpipe.filters import (
    c4_quality,
    gopher_quality,
    gopher_repetition,
    lang,
    quality_classifier,
    text_length,
)
from vlpipe.filters.contract import SampleView, Verdict
from vlpipe.schema import Drop, Sample


def text_sample(text: str, **meta: Any) -> SampleView:
    info = {"kind": "text", "lang": "und", **meta}
    return SampleView(Sample("k_0000", {"txt": text.encode(), "json": orjson.dumps(info)}))


def reason(verdict: Verdict) -> str | None:
    return verdict.reason if isinstance(verdict, Drop) else None


# -- language ID ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [(EN_PROSE, "en"), (ZH_PROSE, "zh"), (FR_PROSE, "fr")]
)
def test_language_is_identified_and_recorded(text: str, expected: str) -> None:
    verdict = lang.check(text_sample(text), lang.Options())
    assert isinstance(verdict, dict)
    assert verdict["lang"] == expected and verdict["lang_score"] > 0.5
    assert "langs" not in verdict  # one language


def test_chinese_prose_is_chinese_not_japanese() -> None:
    """The compressed model reads some Chinese as Japanese; Japanese is written with kana."""
    for sentence in ZH_PROSE.split("。")[:4]:
        verdict = lang.check(text_sample(sentence * 2), lang.Options())
        assert isinstance(verdict, dict) and verdict["lang"] == "zh", sentence
    japanese = "こんにちは、世界。今日はいい天気ですね。明日も晴れるでしょうか。"
    assert lang.check(text_sample(japanese), lang.Options())["lang"] == "ja"  # type: ignore[index]


def test_a_mixed_page_records_both_languages_and_is_kept_when_both_are_wanted() -> None:
    wanted = lang.Options(keep=["en", "zh"], min_score=0.99)
    verdict = lang.check(text_sample(MIXED_PAGE), wanted)
    assert isinstance(verdict, dict)
    assert set(verdict["langs"]) == {"en", "zh"} and sum(verdict["langs"].values()) > 0.99
    assert reason(lang.check(text_sample(MIXED_PAGE), lang.Options(keep=["en"]))) in {
        "not_kept",
        None,
    }


def test_unwanted_and_unsure_languages_are_dropped() -> None:
    english_only = lang.Options(keep=["en"])
    assert reason(lang.check(text_sample(FR_PROSE), english_only)) == "not_kept"
    assert reason(lang.check(text_sample(EN_PROSE), english_only)) is None
    too_sure = lang.Options(keep=["en"], min_score=0.9999)
    assert reason(lang.check(text_sample(EN_PROSE), too_sure)) == "low_score"


def test_short_texts_get_no_verdict_and_keep_their_declared_language() -> None:
    verdict = lang.check(text_sample("OK, 好", lang="zh-CN"), lang.Options(keep=["en"]))
    assert verdict == {"lang": "zh-cn", "lang_score": None}


def test_a_contradicted_declaration_is_flagged_or_dropped() -> None:
    flagged = lang.check(text_sample(EN_PROSE, lang="zh"), lang.Options())
    assert isinstance(flagged, dict)
    assert (flagged["lang"], flagged["lang_declared"], flagged["lang_mismatch"]) == (
        "en",
        "zh",
        True,
    )
    agreed = lang.check(text_sample(ZH_PROSE, lang="zh-Hans"), lang.Options())
    assert isinstance(agreed, dict) and agreed["lang_mismatch"] is False
    mixed = lang.check(text_sample(MIXED_PAGE, lang="zh"), lang.Options())
    assert isinstance(mixed, dict) and mixed["lang_mismatch"] is False  # zh is in the mix
    dropped = lang.check(text_sample(EN_PROSE, lang="zh"), lang.Options(mismatch="drop"))
    assert reason(dropped) == "lang_mismatch"


def test_math_markup_and_placeholders_do_not_sway_the_verdict() -> None:
    page = "# 2 Method\n\n" + EN_PROSE + "\n\n$$\\sum_{i=1}^{n} \\alpha_i x_i$$ <image> `code`"
    verdict = lang.check(text_sample(page), lang.Options())
    assert isinstance(verdict, dict) and verdict["lang"] == "en"


def test_the_model_comes_from_the_installed_package_and_a_missing_one_is_a_config_error() -> None:
    from vlpipe.errors import ConfigError

    assert lang.default_model_path().name == "lid.176.ftz"
    assert lang.default_model_path().is_file()
    with pytest.raises(ConfigError, match="not found"):
        lang.load_model("/nonexistent/lid.bin")


# -- length and quality --------------------------------------------------------------------------


def test_text_length_counts_characters_that_are_not_whitespace() -> None:
    options = text_length.Options(min_chars=10, max_chars=40)
    assert reason(text_length.check(text_sample("   \n "), options)) == "empty"
    assert reason(text_length.check(text_sample("a b c d e"), options)) == "too_short"
    assert text_length.check(text_sample("灯塔守护人在清晨登上了灯塔"), options) == {"chars": 13}
    assert reason(text_length.check(text_sample("x" * 41), options)) == "too_long"


@pytest.mark.parametrize("text", [EN_PROSE, ZH_PROSE, MIXED_PAGE])
def test_real_prose_passes_every_quality_rule(text: str) -> None:
    for module in (gopher_quality, gopher_repetition, c4_quality):
        verdict = module.check(text_sample(text), module.Options())
        assert not isinstance(verdict, Drop), (module.NAME, verdict)


def test_chinese_prose_is_judged_by_characters_not_spaces() -> None:
    verdict = gopher_quality.check(text_sample(ZH_PROSE, lang="zh"), gopher_quality.Options())
    assert isinstance(verdict, dict) and verdict["words"] > 150  # one word per character
    english_rules_on_chinese = gopher_quality.check(
        text_sample(ZH_PROSE, lang="en"), gopher_quality.Options()
    )
    assert reason(english_rules_on_chinese) in {"word_length", "few_stop_words"}


@pytest.mark.parametrize(
    ("text", "module", "expected"),
    [
        (SPAM, gopher_quality, "symbols"),
        (BULLETS, gopher_quality, "bullet_lines"),
        ("word " * 10, gopher_quality, "too_few_words"),
        ("1234 5678 9012 3456 " * 20, gopher_quality, "non_alpha_words"),
        (LOOP, gopher_repetition, "top_ngram"),
        (MENU, gopher_repetition, "duplicate_lines"),
        (EN_PROSE + "\n\n" + EN_PROSE, gopher_repetition, "duplicate_lines"),
        (EN_PROSE + " " + EN_PROSE, gopher_repetition, "duplicate_ngrams"),
        (LOREM, c4_quality, "lorem_ipsum"),
    ],
)
def test_junk_is_dropped_with_its_reason(text: str, module: Any, expected: str) -> None:
    verdict = module.check(text_sample(text), module.Options())
    assert reason(verdict) == expected, verdict


def test_stop_words_are_looked_for_in_the_text_s_language() -> None:
    nouns = "Dog cat bird fish tree rock sand wave moon star. " * 8
    english = gopher_quality.check(text_sample(nouns, lang="en"), gopher_quality.Options())
    assert reason(english) == "few_stop_words"
    unknown = gopher_quality.check(text_sample(nouns, lang="und"), gopher_quality.Options())
    assert reason(unknown) is None  # no stop-word list to judge by


def test_c4_drops_pages_of_menu_lines_but_only_drops_never_edits() -> None:
    menu = "\n".join(["Home", "Products", "Contact us", "Cookie policy"] * 5)
    assert reason(c4_quality.check(text_sample(menu), c4_quality.Options())) == "bad_lines"
    code = "Use a dict like {'a': 1} to count words in the text of the page."
    assert c4_quality.check(text_sample(code), c4_quality.Options()) == {"c4_bad_lines": 0.0}
    strict = c4_quality.Options(drop_curly_bracket=True)
    assert reason(c4_quality.check(text_sample(code), strict)) == "curly_bracket"


# -- the fastText quality classifier ------------------------------------------------------------


def prose_variants() -> list[str]:
    sentences = [s.strip() + "." for s in EN_PROSE.split(".") if s.strip()]
    return [" ".join(sentences[i:] + sentences[:i]) for i in range(len(sentences))] * 4


def junk_variants() -> list[str]:
    return [SPAM[i * 7 :] + MENU[: 40 + i] for i in range(len(prose_variants()))]


@pytest.mark.skipif(shutil.which("fasttext") is None, reason="needs Debian's fasttext command")
def test_a_trained_classifier_scores_prose_above_spam(tmp_path: Path) -> None:
    model = tmp_path / "quality.bin"
    report = quality_classifier.train(
        prose_variants(), junk_variants(), model, epochs=20, dim=16, seed=3
    )
    assert report.positives == report.negatives == len(prose_variants())
    assert report.accuracy == 1.0
    options = quality_classifier.Options(model_path=str(model), threshold=0.5)
    kept = quality_classifier.check(text_sample(EN_PROSE), options)
    assert isinstance(kept, dict) and kept["quality_score"] > 0.5
    assert reason(quality_classifier.check(text_sample(SPAM), options)) == "low_quality"
    again = tmp_path / "again.bin"
    quality_classifier.train(prose_variants(), junk_variants(), again, epochs=20, dim=16, seed=3)
    assert again.read_bytes() == model.read_bytes()  # one thread, fixed seed: the same model
