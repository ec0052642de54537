"""Text-only documents → ``text`` samples: the text corpus DeepSeek-VL mixes into pretraining
(about 30%) to keep the language model's skills."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlpipe.recipe import Recipe, StrictModel
from vlpipe.sources.inputs import InputLayout
from vlpipe.sources.registry import SourceSpec


class TextOptions(StrictModel):
    min_chars: int = Field(100, ge=1, description="shorter texts are dropped")
    max_chars: int = Field(200_000, gt=0, description="longer texts are dropped")
    lang: str = Field("und", description="BCP-47 language written into each sample")


class TextRecipe(Recipe):
    source: Literal["text"] = "text"
    text: TextOptions = TextOptions()


SPEC = SourceSpec(
    name="text",
    recipe=TextRecipe,
    layout=InputLayout(file_suffixes=(".txt",), columns=("text",)),
    step="vlpipe.sources.text.step:open_step",
)
