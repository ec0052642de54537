"""Text-only documents → ``text`` samples: the text corpus DeepSeek-VL mixes into pretraining
(about 30%) to keep the language model's skills."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlpipe.recipe import FilterStep, Recipe, StrictModel
from vlpipe.sources.inputs import InputLayout
from vlpipe.sources.registry import SourceSpec


class TextOptions(StrictModel):
    lang: str = Field("und", description="language written into a sample without a `lang` column")


class TextRecipe(Recipe):
    source: Literal["text"] = "text"
    text: TextOptions = TextOptions()
    filters: tuple[FilterStep, ...] = (
        FilterStep.model_validate({"text_length": {"min_chars": 100, "max_chars": 200_000}}),
        FilterStep.model_validate({"lang": {"keep": ["en", "zh"]}}),
        FilterStep.model_validate("gopher_quality"),
        FilterStep.model_validate("gopher_repetition"),
    )


SPEC = SourceSpec(
    name="text",
    recipe=TextRecipe,
    layout=InputLayout(file_suffixes=(".txt",), columns=("text",)),
    step="vlpipe.sources.text.step:open_step",
)
