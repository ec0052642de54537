"""Build recipes: YAML files validated by pydantic.

A recipe holds everything that decides a build's output (source options, filter thresholds, shard
sizes). Its canonical JSON is stored in ``OUT/build.json`` so that a re-run with a different recipe
is refused instead of mixing two builds in one output folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vlpipe.errors import ConfigError


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class TextOptions(StrictModel):
    """Text-only documents (DeepSeek-VL keeps ~30% text in pretraining to keep the LM's skills)."""

    min_chars: int = Field(100, ge=1, description="shorter texts are dropped")
    max_chars: int = Field(200_000, gt=0, description="longer texts are dropped")
    lang: str = Field("und", description="BCP-47 language written into each sample")


class ChatOptions(StrictModel):
    """Conversations for SFT: ``messages`` [{role, content}] and optional ``images``."""

    max_images: int = Field(8, ge=0)
    max_turns: int = Field(64, gt=0)
    lang: str = "und"


class CodeImageFilter(StrictModel):
    """DeepSeek-VL's rule for notebook pairs: a single image and at least N lines of code."""

    images_per_cell: int = Field(1, ge=1)
    min_code_lines: int = Field(5, ge=0)


class ImageLimits(StrictModel):
    max_image_bytes: int = Field(16 * 2**20, gt=0)
    max_pixels: int = Field(40_000_000, gt=0, description="decompression-bomb guard")
    min_side: int = Field(16, ge=1)
    max_aspect_ratio: float = Field(20.0, gt=1)
    full_decode: bool = Field(
        True, description="decode every pixel (catches any corruption); false: header + CRC check"
    )


class FilterConfig(StrictModel):
    code_image: CodeImageFilter = CodeImageFilter()
    image: ImageLimits = ImageLimits()


class OutputConfig(StrictModel):
    docs_per_chunk: int = Field(
        500, gt=0, description="documents committed together: the unit of resume and of shards"
    )
    max_samples_per_shard: int = Field(5_000, gt=0)
    max_shard_bytes: int = Field(512 * 2**20, gt=0)


class InputConfig(StrictModel):
    max_doc_bytes: int = Field(32 * 2**20, gt=0, description="larger documents are dropped unread")
    files_per_unit: int = Field(
        500, gt=0, description="loose files (.ipynb, .txt) grouped into one work unit"
    )
    hf_data_dir: str | None = None
    hf_split: str = "train"


class Recipe(StrictModel):
    source: Literal["jupyter", "text", "chat", "arxiv", "ebooks", "websight"]
    input: InputConfig = InputConfig()
    jupyter: JupyterOptions = JupyterOptions()
    text: TextOptions = TextOptions()
    chat: ChatOptions = ChatOptions()
    filters: FilterConfig = FilterConfig()
    output: OutputConfig = OutputConfig()


def load_recipe(source: str, path: Path | None = None) -> Recipe:
    """The recipe at ``path``, or the bundled default recipe of ``source``."""
    if path is None:
        bundled = resources.files("vlpipe.recipes") / f"{source}.yaml"
        if not bundled.is_file():
            raise ConfigError(f"no bundled recipe for source {source!r}")
        text, where = bundled.read_text(encoding="utf-8"), f"bundled {source}.yaml"
    else:
        try:
            text, where = path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise ConfigError(f"cannot read recipe {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {where} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {where} must be a mapping")
    data.setdefault("source", source)
    if data["source"] != source:
        raise ConfigError(f"recipe {where} is for source {data['source']!r}, not {source!r}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"recipe {where}: {loc}: {first['msg']}") from None
