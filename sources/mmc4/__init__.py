"""Interleaved image-text web documents → ``interleaved`` samples: MMC4 rows (``text_list``,
``image_info``, ``similarity_matrix`` …) and OBELICS-style rows (``texts`` and ``images`` lists of
equal length, one of each pair null). Images come from ``--images``, the fetch cache or the web
(``vlpipe.sources.fetch``). See ``step`` for the rules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlpipe.recipe import FilterStep, Recipe, StrictModel
from vlpipe.sources.fetch import FetchOptions, ResizeOptions
from vlpipe.sources.inputs import InputLayout
from vlpipe.sources.registry import SourceSpec


class Mmc4Options(StrictModel):
    """Which images of a document are used, and how they are had."""

    min_matched_sim: float | None = Field(
        None,
        description="images matched to their sentence with a lower CLIP similarity are left out",
    )
    drop_face_images: bool = Field(True, description="leave out images with face detections")
    max_images: int = Field(
        32, ge=0, description="a document with more images (after the rules above) is dropped"
    )
    min_images: int = Field(
        1, ge=0, description="a document with fewer usable images after fetching is dropped"
    )
    lang: str = "en"
    license: str | None = "ODC-BY-1.0"
    fetch: FetchOptions = FetchOptions()
    resize: ResizeOptions = ResizeOptions()


class Mmc4Recipe(Recipe):
    source: Literal["mmc4"] = "mmc4"
    mmc4: Mmc4Options = Mmc4Options()
    untrusted_images = True
    filters: tuple[FilterStep, ...] = (FilterStep.model_validate("image"),)


SPEC = SourceSpec(
    name="mmc4",
    recipe=Mmc4Recipe,
    layout=InputLayout(columns=()),  # MMC4 or OBELICS rows: the step tells them apart
    step="vlpipe.sources.mmc4.step:open_step",
)
