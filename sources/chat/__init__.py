"""Conversations → ``chat`` samples for SFT (DeepSeek-VL stage 3); see ``step`` for the row
format."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlpipe.recipe import FilterStep, Recipe, StrictModel
from vlpipe.sources.inputs import InputLayout
from vlpipe.sources.registry import SourceSpec


class ChatOptions(StrictModel):
    """Conversations for SFT: ``messages`` [{role, content}] and optional ``images``."""

    max_images: int = Field(8, ge=0)
    max_turns: int = Field(64, gt=0)
    lang: str = "und"


class ChatRecipe(Recipe):
    source: Literal["chat"] = "chat"
    chat: ChatOptions = ChatOptions()
    untrusted_images = True
    filters: tuple[FilterStep, ...] = (
        FilterStep.model_validate("image"),
        FilterStep.model_validate("lang"),
    )


SPEC = SourceSpec(
    name="chat",
    recipe=ChatRecipe,
    layout=InputLayout(columns=("messages", "images")),
    step="vlpipe.sources.chat.step:open_step",
)
