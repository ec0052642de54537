"""Jupyter notebooks → (plot image, the code that drew it) pairs, as DeepSeek-VL built its
web-code data from The Stack's notebooks: ``notebook`` parses and finds candidates (pure),
``step`` judges and packs them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlpipe.recipe import FilterStep, Recipe, StrictModel
from vlpipe.sources.inputs import InputLayout
from vlpipe.sources.registry import SourceSpec


class JupyterOptions(StrictModel):
    """How notebooks become (plot image, code) candidates."""

    context_cells: int | Literal["all"] = Field(
        "all", description="preceding code cells prepended to the producing cell's code"
    )
    max_code_chars: int = Field(
        16_000, gt=0, description="cap on the sample's code; oldest context cells are cut first"
    )
    strip_magics: bool = Field(True, description="remove IPython magics and shell escapes")
    python_only: bool = Field(True, description="drop notebooks whose kernel is not Python")


class JupyterRecipe(Recipe):
    source: Literal["jupyter"] = "jupyter"
    jupyter: JupyterOptions = JupyterOptions()
    untrusted_images = True
    filters: tuple[FilterStep, ...] = (
        FilterStep.model_validate("code_image"),
        FilterStep.model_validate("image"),
    )


SPEC = SourceSpec(
    name="jupyter",
    recipe=JupyterRecipe,
    layout=InputLayout(file_suffixes=(".ipynb",), columns=("content",)),
    step="vlpipe.sources.jupyter.step:open_step",
)
