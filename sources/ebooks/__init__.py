"""EPUB / HTML books → page images, each with exactly the text shown on it (DeepSeek-VL's rendered
ebooks, "with different templates"): ``book`` reads and checks the book (pure), ``step`` draws a
page template per book (or chapter), renders and packs its pages."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlpipe.recipe import ArchiveLimits, FilterStep, Recipe
from vlpipe.renderers.templates import PageTemplate, TemplateOptions
from vlpipe.sources.ebooks.book import is_book_folder
from vlpipe.sources.inputs import InputLayout
from vlpipe.sources.registry import SourceSpec

# The page every book was rendered with before templates: the recipe's default template.
DEFAULT_TEMPLATE = PageTemplate(
    name="default", margin_x=64, margin_top=64, margin_bottom=64, font_size_px=20.0, line_height=1.6
)


class EbookOptions(TemplateOptions):
    """EPUB / HTML books → page images with exactly the text shown on them (DeepSeek-VL's
    rendered ebooks). A template's ``header``/``footer`` may name ``{title}`` and ``{author}``
    (the book's) and ``{page}`` (the page number in the book)."""

    templates: tuple[PageTemplate, ...] = (DEFAULT_TEMPLATE,)
    template_per: Literal["book", "chapter"] = Field(
        "book", description="draw a template for each book, or for each of its chapters"
    )
    browsers: int = Field(1, ge=1, le=64, description="Chromiums per worker")
    javascript: bool = Field(False, description="run the book's scripts (EPUB 3 allows them)")
    load_timeout_s: float = Field(15.0, gt=0)
    render_timeout_s: float = Field(60.0, gt=0, description="per chapter")
    max_pages_per_chapter: int = Field(200, ge=1, description="longer chapters fail")
    archive: ArchiveLimits = ArchiveLimits()


class EbooksRecipe(Recipe):
    source: Literal["ebooks"] = "ebooks"
    ebooks: EbookOptions = EbookOptions()
    filters: tuple[FilterStep, ...] = (
        FilterStep.model_validate({"image": {"full_decode": False, "min_ink": 0.002}}),
        FilterStep.model_validate({"text_length": {"min_chars": 20}}),
        FilterStep.model_validate("lang"),
    )


SPEC = SourceSpec(
    name="ebooks",
    recipe=EbooksRecipe,
    layout=InputLayout(
        file_suffixes=(".epub",), columns=("content",), is_document_folder=is_book_folder
    ),
    step="vlpipe.sources.ebooks.step:open_step",
)
