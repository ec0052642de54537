"""Ebooks through page templates: the draw per book or chapter, what the json records, fonts,
and fidelity under the bundled templates, judged by tesseract's reading of the page images."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.ebooks.books import en_book, zh_book
from tests.ebooks.ocr import page_agreement, reading_boxes, tesseract_lang
from vlpipe.errors import ConfigError
from vlpipe.recipe import load_recipe
from vlpipe.renderers import BrowserPool
from vlpipe.renderers.templates import PageTemplate
from vlpipe.schema import Document, Outcome
from vlpipe.sources.ebooks import EbooksRecipe
from vlpipe.sources.ebooks import step as ebooks
from vlpipe.sources.registry import StepContext

BUNDLED: EbooksRecipe = load_recipe("ebooks")  # type: ignore[assignment]
TEMPLATES = {t.name: t for t in BUNDLED.ebooks.templates}


def with_options(**options: object) -> EbooksRecipe:
    return BUNDLED.model_copy(update={"ebooks": BUNDLED.ebooks.model_copy(update=options)})


@pytest.fixture(scope="module")
def pool() -> Iterator[BrowserPool]:
    with BrowserPool(ebooks.browser_config(BUNDLED.ebooks)) as started:
        yield started


def render(pool: BrowserPool, data: bytes, name: str, recipe: EbooksRecipe) -> Outcome:
    return ebooks.book_outcome(pool, Document(name, data, {"path": name}), recipe)


def meta(files: dict[str, bytes]) -> dict:  # type: ignore[type-arg]
    return orjson.loads(files["json"])


def test_bundled_recipe_has_eight_templates_for_each_language_all_installed() -> None:
    any_language = [t for t in BUNDLED.ebooks.templates if not t.langs]
    assert len(any_language) >= 8 and len(TEMPLATES) >= 11
    assert {t.columns for t in any_language} == {1, 2}
    ebooks.check_fonts(BUNDLED.ebooks.templates)  # raises when a template's font is missing


def test_a_missing_font_stops_the_build_before_any_book() -> None:
    broken = PageTemplate(name="broken", font_family='"No Such Font 42", serif')
    with (
        pytest.raises(ConfigError, match="No Such Font 42"),
        ebooks.open_step(with_options(templates=(broken,)), StepContext(Path("unused"))),
    ):
        pass


def test_each_book_draws_its_template_records_it_and_draws_it_again(pool: BrowserPool) -> None:
    data = en_book(paragraphs=4)
    drawn = {}
    for name in ("shelf/a.epub", "shelf/b.epub", "shelf/c.epub"):
        outcome = render(pool, data, name, BUNDLED)
        names = {meta(s.files)["template"]["name"] for s in outcome.samples}
        assert names == {BUNDLED.ebooks.draw(name, "en").name}
        drawn[name] = outcome
    assert len({meta(o.samples[0].files)["template"]["name"] for o in drawn.values()}) > 1
    again = render(pool, data, "shelf/a.epub", BUNDLED)
    assert [s.files for s in again.samples] == [s.files for s in drawn["shelf/a.epub"].samples]
    record = meta(again.samples[1].files)["template"]
    assert record == TEMPLATES[record["name"]].model_dump(mode="json")


def test_template_per_chapter_and_zh_templates_only_for_zh_books(pool: BrowserPool) -> None:
    recipe = with_options(template_per="chapter")
    outcome = render(pool, zh_book(paragraphs=3), "zh.epub", recipe)
    for sample in outcome.samples:
        info = meta(sample.files)
        drawn = recipe.ebooks.draw(f"zh.epub#{info['chapter']}", "zh-CN")
        assert info["template"]["name"] == drawn.name
    zh_only = {t.name for t in BUNDLED.ebooks.templates if t.langs == ("zh",)}
    english = {BUNDLED.ebooks.draw(f"book{n}", "en").name for n in range(200)}
    chinese = {BUNDLED.ebooks.draw(f"book{n}", "zh-CN").name for n in range(200)}
    assert not english & zh_only and zh_only <= chinese and english <= chinese


def test_page_numbers_run_on_across_chapters_and_sit_in_the_json(pool: BrowserPool) -> None:
    recipe = with_options(templates=(TEMPLATES["classic_serif"],))
    outcome = render(pool, en_book(paragraphs=12), "book.epub", recipe)
    for sample in outcome.samples:
        info, text = meta(sample.files), sample.files["txt"].decode()
        if not text:  # the cover: no text, so no furniture
            assert info["furniture"] == []
            continue
        header, footer = info["furniture"]
        assert header["text"] == "The Lighthouse Almanac" and footer["text"] == str(
            info["page"] + 1
        )
        for item in (header, footer):
            start, end = item["span"]
            assert text[start:end] == item["text"]
        assert text.startswith("The Lighthouse Almanac\n\n") and text.endswith(
            f"\n\n{footer['text']}"
        )


# Full pages OCR'd under templates of every family: serif/sans/mono, sizes, two columns, tints,
# dark, phone, Song/Kai/Hei, running header and footer. The agreement is tesseract's reading of
# the image (columns and furniture read box by box, in reading order) against the paired text.
FIDELITY = [
    ("default", "en", 0.99),
    ("classic_serif", "en", 0.99),
    ("a4_two_column", "en", 0.99),
    ("typewriter", "en", 0.99),
    ("night", "en", 0.99),
    ("typewriter", "zh", 0.95),  # CJK fallback glyphs reach above the Latin face's line box
    ("phone", "zh", 0.95),
    ("zh_song", "zh", 0.95),
    ("zh_kai", "zh", 0.95),
    ("zh_hei_two_column", "zh", 0.95),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "lang", "least"), FIDELITY)
def test_ocr_reads_the_paired_text_under_each_template(
    pool: BrowserPool, name: str, lang: str, least: float
) -> None:
    recipe = with_options(templates=(TEMPLATES[name],))
    data = en_book(paragraphs=40) if lang == "en" else zh_book(paragraphs=40)
    outcome = render(pool, data, f"{lang}.epub", recipe)
    page = max(outcome.samples[:4], key=lambda s: len(s.files["txt"]))  # a full page
    info, text = meta(page.files), page.files["txt"].decode()
    score, read = page_agreement(page.files["png"], text, reading_boxes(info), tesseract_lang(text))
    assert score >= least, f"{name}/{lang}: {score:.4f}\n--- read\n{read}\n--- paired\n{text}"
    if TEMPLATES[name].columns == 2:  # column 1 is read before column 2, as the text has it
        numbers = re.compile(r"(?:Paragraph |第)\s*(\d+)")
        paired = [int(n) for n in numbers.findall(text)]
        assert [int(n) for n in numbers.findall(read)] == paired == sorted(paired)
