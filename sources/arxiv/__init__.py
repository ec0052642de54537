"""arXiv LaTeX sources → (page image, page markdown) pairs, Nougat-style.

The pure parts (no TeX): ``archive`` reads what arXiv serves, ``mainfile`` finds the main file
and inlines its inputs, ``macros`` expands user macros, ``pandoc`` converts LaTeX to markdown,
``align`` cuts the markdown into pages. ``step`` compiles, renders and packs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlpipe.recipe import ArchiveLimits, FilterStep, Recipe, StrictModel
from vlpipe.sources.arxiv.archive import (
    CONTAINER_SUFFIXES,
    FILE_SUFFIXES,
    SOURCE,
    is_paper_folder,
    read_bulk_archive,
)
from vlpipe.sources.inputs import InputLayout
from vlpipe.sources.registry import SourceSpec


class ArxivOptions(StrictModel):
    """arXiv LaTeX sources → (page image, page markdown) pairs, Nougat-style."""

    longest_side: int = Field(1024, ge=64, le=8192, description="page PNG size in pixels")
    max_pages: int = Field(300, ge=1, description="longer papers fail (PDF page limit)")
    lang: str = Field(
        "auto",
        description="BCP-47 language written into each sample; auto: zh for a paper whose text "
        "is mostly CJK characters, else en",
    )
    archive: ArchiveLimits = ArchiveLimits(max_unpacked_bytes=256 * 2**20)
    tex_timeout_s: float = Field(
        300.0,
        gt=0,
        description="wall clock (and CPU seconds) of each TeX pass, bibtex/biber or ghostscript "
        "run, not of their sum: a long document is not cut short, a runaway pass is killed",
    )
    tex_memory_mb: int = Field(2048, ge=256)
    max_tex_errors: int | None = Field(
        100,
        ge=0,
        description="a PDF TeX wrote despite more recoverable errors than this fails (TexError); "
        "null: keep any PDF TeX wrote",
    )
    pandoc_timeout_s: float = Field(60.0, gt=0)
    max_missing_glyphs: int = Field(
        0,
        ge=0,
        description="a page drawing more characters than this as a font's missing-glyph box "
        "(fonts the paper asks for are not installed) is dropped: its image does not show the "
        "text its markdown holds",
    )


class ArxivRecipe(Recipe):
    source: Literal["arxiv"] = "arxiv"
    arxiv: ArxivOptions = ArxivOptions()
    filters: tuple[FilterStep, ...] = (
        FilterStep.model_validate("figure_fraction"),
        FilterStep.model_validate("alignment"),
        FilterStep.model_validate({"image": {"full_decode": False, "min_ink": None}}),
        FilterStep.model_validate("lang"),
    )


SPEC = SourceSpec(
    name=SOURCE,
    recipe=ArxivRecipe,
    layout=InputLayout(
        file_suffixes=FILE_SUFFIXES,
        is_document_folder=is_paper_folder,
        container_suffixes=CONTAINER_SUFFIXES,
        read_container=read_bulk_archive,
    ),
    step="vlpipe.sources.arxiv.step:open_step",
)
