"""Build recipes: YAML files validated by pydantic.

A recipe holds everything that decides a build's output (source options, filter thresholds, shard
sizes). Its canonical JSON is stored in ``OUT/build.json`` so that a re-run with a different recipe
is refused instead of mixing two builds in one output folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_serializer,
    model_validator,
)

from vlpipe.errors import ConfigError


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArchiveLimits(StrictModel):
    """Guards for untrusted archives (EPUB zips, arXiv tars and gzips). Path traversal, absolute
    names, links and encrypted members are always refused; these bound what a bomb can cost."""

    max_members: int = Field(5_000, gt=0)
    max_unpacked_bytes: int = Field(
        512 * 2**20, gt=0, description="sum of the members' sizes, declared and actual"
    )
    max_image_pixels: int = Field(
        40_000_000, gt=0, description="an image inside whose header declares more is a bomb"
    )
    max_member_bytes: int = Field(128 * 2**20, gt=0)
    max_ratio: float = Field(
        200.0, gt=1, description="uncompressed / compressed size of any member over 1 MiB"
    )


class FilterStep(StrictModel):
    """One entry of a recipe's ``filters:`` list: ``{name: {options}}`` (or just ``name``), its
    options validated by that filter's own model."""

    name: str
    options: BaseModel

    @model_validator(mode="before")
    @classmethod
    def _from_entry(cls, entry: Any) -> Any:
        if isinstance(entry, cls):
            return entry
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ValueError("a filter is written `name` or `name: {options}`")
        ((name, raw),) = entry.items()
        from vlpipe.filters.contract import filter_spec

        try:
            model = filter_spec(name).options
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if isinstance(raw, BaseModel):
            return {"name": name, "options": raw}
        try:
            return {"name": name, "options": model.model_validate(raw or {})}
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{name}.{where}: {first['msg']}") from None

    @model_serializer
    def _as_entry(self) -> dict[str, Any]:
        return {self.name: self.options.model_dump(mode="json")}


class SignatureOptions(StrictModel):
    """How samples are signed for corpus-wide dedup (``vlpipe dedup`` compares builds signed
    alike). MinHash over word n-grams of the text (Chinese: character n-grams), datatrove's
    defaults: 5-grams, 112 permutations (14 bands × 8 rows)."""

    text: bool = Field(True, description="MinHash the sample's text")
    images: bool = Field(True, description="perceptual hash (pHash) of each image")
    ngram: int = Field(5, ge=1)
    num_perm: int = Field(112, ge=8, le=1024)
    seed: int = 1


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
    ray_min_bytes: int = Field(
        0,
        ge=0,
        description="executor auto: local inputs smaller than this build inline (Ray's start-up "
        "would cost more than a second worker saves on a source this cheap per byte)",
    )
    images: str | None = Field(
        None, description="a folder (or tar) holding the images rows refer to by name or path"
    )


class Recipe(StrictModel):
    """What every build has; each source's recipe (``SourceSpec.recipe``) adds a field named after
    the source holding its options, and narrows ``source`` to that name."""

    source: str
    input: InputConfig = InputConfig()
    filters: tuple[FilterStep, ...] = Field(
        (), description="filters run on every candidate sample, in this order"
    )
    signatures: SignatureOptions = SignatureOptions()
    output: OutputConfig = OutputConfig()
    max_failure_rate: float | None = Field(
        0.5,
        gt=0,
        le=1,
        description="stop the build when more of a worker's last `failure_window` documents "
        "failed (a broken environment, not bad input); null: never",
    )
    failure_window: int = Field(200, ge=1, description="documents the failure rate is taken over")

    # A source whose images come from untrusted input (not from its own renderer) must run the
    # image filter: it is what stops decompression bombs and corrupt streams reaching a trainer.
    untrusted_images: ClassVar[bool] = False

    @model_validator(mode="after")
    def _images_are_checked(self) -> Self:
        if self.untrusted_images and "image" not in (step.name for step in self.filters):
            raise ValueError(
                f"filters: the {self.source} source's images are untrusted input: its recipe "
                "must list the `image` filter"
            )
        return self


def load_recipe(source: str, path: Path | None = None) -> Recipe:
    """The recipe at ``path``, or the bundled default recipe of ``source``, validated by the
    source's own recipe model."""
    from vlpipe.sources.registry import source_spec

    model = source_spec(source).recipe
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
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "".join(f"{p}: " for p in [".".join(str(p) for p in first["loc"])] if p)
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"recipe {where}: {loc}{message}") from None
