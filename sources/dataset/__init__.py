"""Public datasets of DeepSeek-VL's mixture (captions; tables, charts and screens; scene-text OCR;
SFT sets) through one adapter each: ``vlpipe datasets`` lists them, ``vlpipe build --source
dataset --dataset NAME`` builds one. See ``adapters`` for the YAML, ``scene_text`` for the OCR
formats and ``step`` for what becomes of a record."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlpipe.recipe import FilterStep, Recipe, StrictModel
from vlpipe.sources.chat import ChatOptions
from vlpipe.sources.fetch import FetchOptions
from vlpipe.sources.inputs import InputLayout
from vlpipe.sources.registry import SourceSpec


class DatasetOptions(StrictModel):
    """Which dataset (its adapter) and what becomes of its records."""

    adapter: str | None = Field(
        None, description="the dataset: a name `vlpipe datasets` lists, or an adapter YAML file"
    )
    captions: Literal["first", "all"] = Field(
        "first", description="a record with several captions: the first, or a sample for each"
    )
    crops: Literal["none", "lines"] = Field(
        "none", description="scene text: also each legible region cut out as its own sample"
    )
    min_crop_side: int = Field(8, ge=1, description="smaller region crops are left out")
    chat: ChatOptions = Field(ChatOptions(), description="limits on conversations (max_turns …)")
    fetch: FetchOptions = Field(FetchOptions(), description="images that rows name by URL")


class DatasetRecipe(Recipe):
    source: Literal["dataset"] = "dataset"
    dataset: DatasetOptions = DatasetOptions()
    untrusted_images = True
    filters: tuple[FilterStep, ...] = (
        FilterStep.model_validate("image"),
        FilterStep.model_validate("lang"),
    )


def input_layout(recipe: DatasetRecipe) -> InputLayout:
    """Tables and JSON files of records, or the loose ground-truth files of a scene-text set."""
    from vlpipe.sources.dataset.records import layout_of

    return layout_of(recipe.dataset.adapter)


def bundled_sample(recipe: DatasetRecipe) -> str:
    """The adapter's fixture (``samples/<name>``): rows in the dataset's own schema."""
    from vlpipe.sources.dataset.records import require_adapter

    return require_adapter(recipe.dataset.adapter).name


SPEC = SourceSpec(
    name="dataset",
    recipe=DatasetRecipe,
    layout=InputLayout(columns=()),
    step="vlpipe.sources.dataset.step:open_step",
    layout_for=input_layout,
    samples_for=bundled_sample,
)
