"""K-12 exam questions → (page image, text with LaTeX math) pairs, rendered through the same page
templates as ebooks (DeepSeek-VL's exam questions "with different templates"): ``question``
turns a row into a page (pure), ``step`` typesets its math with KaTeX and renders it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlpipe.recipe import FilterStep, Recipe
from vlpipe.renderers.templates import PageTemplate, TemplateOptions
from vlpipe.sources.inputs import InputLayout
from vlpipe.sources.registry import SourceSpec

# `make assets` extracts KaTeX's dist (katex.min.js, katex.min.css, fonts/*.woff2) from npm here.
KATEX_DIR = "share/vlpipe/assets/katex-0.19.1"
Part = Literal["stem", "options", "answer", "explanation"]
PARTS: tuple[Part, ...] = ("stem", "options", "answer", "explanation")
COLUMNS = ("question", "options", "answer", "explanation", "images", "format", "lang", "number")
DEFAULT_TEMPLATE = PageTemplate(
    name="default",
    width=1024,
    height=1024,
    margin_x=48,
    margin_top=40,
    margin_bottom=40,
    font_size_px=20.0,
    line_height=1.6,
    trim=True,
)


class ExamOptions(TemplateOptions):
    """Question rows → page images with their text, formulas as LaTeX. A template's
    ``header``/``footer`` may name ``{title}`` (the row's ``title``, e.g. the paper) and
    ``{page}``; ``trim`` ends a question's last page below it."""

    templates: tuple[PageTemplate, ...] = (DEFAULT_TEMPLATE,)
    parts: tuple[Part, ...] = Field(PARTS, min_length=1, description="shown, in this order")
    format: Literal["markdown", "html"] = Field("markdown", description="unless the row says")
    lang: str | None = Field(None, description="unless the row says; None: zh if Han, else en")
    max_formula_chars: int = Field(2000, gt=0, description="longer formulas drop the question")
    max_image_bytes: int = Field(4 * 2**20, gt=0)
    max_image_pixels: int = Field(16_000_000, gt=0, description="decompression-bomb guard")
    katex: str = Field(KATEX_DIR, description="KaTeX's dist folder; relative: under sys.prefix")
    browsers: int = Field(1, ge=1, le=64, description="Chromiums per worker")
    load_timeout_s: float = Field(10.0, gt=0)
    render_timeout_s: float = Field(30.0, gt=0, description="per question")
    max_pages: int = Field(8, ge=1, description="questions needing more pages fail")


class ExamsRecipe(Recipe):
    source: Literal["exams"] = "exams"
    exams: ExamOptions = ExamOptions()
    filters: tuple[FilterStep, ...] = (
        FilterStep.model_validate({"image": {"full_decode": False, "min_ink": 0.002}}),
        FilterStep.model_validate({"text_length": {"min_chars": 5}}),
        FilterStep.model_validate("lang"),
    )


SPEC = SourceSpec(
    name="exams",
    recipe=ExamsRecipe,
    layout=InputLayout(columns=COLUMNS),
    step="vlpipe.sources.exams.step:open_step",
)
