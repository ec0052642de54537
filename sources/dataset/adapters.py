"""Dataset adapters: what one public dataset looks like, and how its records become samples.

An adapter is a YAML file in ``adapters/`` (or a user's own file, ``--dataset path.yaml``). For
datasets whose rows are a plain column mapping, ``columns`` names the fields that hold the image,
the caption, the question and answer, the conversation …; the scene-text formats (``format``
other than ``rows``) are parsed by code (``scene_text``), and the YAML only describes them.

A column is a path into the row: ``caption``, ``ground_truth[0].full_answer``, ``meta.title``.
``image_template`` builds an image path from the row instead (``"{split}/{ques_type}/{record_key}
/image.png"``, ``"train2014/{file_name}"``); ``record_key`` is the record's key where a JSON file
is an object of records, ``stem`` a loose file's name without its suffix.
"""

from __future__ import annotations

import re
import string
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from vlpipe.errors import ConfigError, DocumentError
from vlpipe.recipe import StrictModel

Group = Literal["caption", "chart_table_screen", "scene_text", "sft"]
Format = Literal[
    "rows", "coco_captions", "icdar", "art", "rects", "coco_text", "textocr", "hiertext"
]
# formats whose records are rows of fields mapped by ``columns`` (COCO's captions: each image
# joined with its captions); the others are scene-text annotations, parsed by code
ROW_FORMATS = ("rows", "coco_captions")
GROUP_TITLES = {
    "caption": "captions",
    "chart_table_screen": "tables, charts and screens",
    "scene_text": "scene-text OCR",
    "sft": "supervised fine-tuning",
}
PATH_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class MissingColumn(DocumentError):
    """A record lacks a field its adapter reads (a later release may have renamed it)."""


class Columns(StrictModel):
    """Where a row keeps what a sample needs (paths into the row; null: the dataset has none)."""

    id: str | None = None
    image: str | None = Field(None, description="one image: HF Image struct, bytes, path or URL")
    images: str | None = Field(None, description="a list of images")
    caption: str | None = None
    question: str | None = None
    answer: str | None = None
    choices: str | None = Field(None, description="options of a multiple-choice question")
    hint: str | None = Field(None, description="context shown with the question")
    explanation: str | None = Field(None, description="appended to the answer")
    conversation: str | None = Field(None, description="LLaVA from/value or role/content turns")
    license: str | None = None
    lang: str | None = None


class Adapter(StrictModel):
    name: str
    title: str
    group: Group
    format: Format = "rows"
    task: str = Field(description="the samples' task: caption, chart_qa, scene_text, sft …")
    layout: str = Field(description="the dataset's published layout, in a line")
    schema_source: str = Field(description="where that layout is published (dataset card, repo)")
    license: str
    lang: str = "en"
    columns: Columns = Columns()
    optional: tuple[str, ...] = Field((), description="columns a record may lack")
    image_template: str | None = None
    answer_template: str | None = Field(
        None, description="the answer made of the row's fields where no column holds it as text"
    )
    only: dict[str, tuple[Any, ...]] = Field(
        {}, description="records whose column holds another value are dropped (excluded_record)"
    )
    image_extensions: tuple[str, ...] = Field(
        (), description="tried in order when the image path has no suffix of its own"
    )
    strip_prefix: str = Field("", description="removed from a loose file's stem (gt_img_1→img_1)")
    record_files: tuple[str, ...] = Field(
        (),
        description="names (or name endings) of the JSON or ground-truth files holding records, "
        "where a download holds others beside them (IconQA's pid_splits.json): the rest of an "
        "--input folder is not read, and an --input file must have such a name too",
    )
    prompt: str | None = Field(None, description="a caption dataset used as chat: the user turn")
    icdar_fields: Literal["icdar2015", "mlt", "rctw"] = "icdar2015"

    @model_validator(mode="after")
    def _consistent(self) -> Adapter:
        columns = self.columns
        if self.format in ROW_FORMATS:
            texts = [columns.caption, columns.question, columns.conversation]
            if sum(text is not None for text in texts) != 1:
                raise ValueError(
                    "a rows adapter maps exactly one of caption, question, conversation"
                )
            if columns.question is not None and (columns.answer is None) == (
                self.answer_template is None
            ):
                raise ValueError("a question needs an answer column or an answer_template")
        images = [columns.image, columns.images, self.image_template]
        if sum(image is not None for image in images) > 1:
            raise ValueError("map at most one of image, images, image_template")
        for name in self.optional:
            if getattr(columns, name, None) is None:
                raise ValueError(f"optional names {name!r}, which is not a mapped column")
        return self

    @property
    def kind(self) -> Literal["image_text", "chat"]:
        """The samples' kind: captions are ``image_text`` unless a prompt makes them a chat."""
        if self.format not in ROW_FORMATS or (
            self.columns.caption is not None and self.prompt is None
        ):
            return "image_text"
        return "chat"

    def field(self, row: Any, column: str) -> Any:
        """The value of a mapped column (``None`` when an optional one is absent)."""
        path = getattr(self.columns, column)
        assert path is not None, f"{column} is not mapped"
        value = pick(row, path)
        if value is _ABSENT:
            if column in self.optional:
                return None
            raise MissingColumn(
                f"adapter {self.name!r} ({self.title}): the record has no {path!r} (its "
                f"{column}); it has {_keys(row)}. A later release may have renamed it: "
                f"map the new name in a copy of the adapter (--dataset FILE.yaml)"
            )
        return value

    def render(self, template: str, row: Any, **context: str) -> str:
        """A template (``image_template``, ``answer_template``) filled from a record."""
        fields = {**(row if isinstance(row, dict) else {}), **context}
        try:
            return template.format_map(_Strict(fields, self))
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise MissingColumn(f"adapter {self.name!r}: {template!r}: {exc!r}") from None

    def excluded(self, row: Any) -> str | None:
        """Why ``only`` leaves the record out, None when it does not."""
        for path, values in self.only.items():
            value = pick(row, path)
            if value not in values:
                shown = "absent" if value is _ABSENT else repr(value)
                return f"{path} is {shown}, not one of {list(values)}"
        return None


class _Strict(dict[str, Any]):
    def __init__(self, fields: dict[str, Any], adapter: Adapter) -> None:
        super().__init__(fields)
        self.adapter = adapter

    def __missing__(self, key: str) -> Any:
        raise MissingColumn(
            f"adapter {self.adapter.name!r} ({self.adapter.title}): image_template names "
            f"{key!r}, which the record lacks; it has {_keys(self)}"
        )


_ABSENT = object()


def pick(row: Any, path: str) -> Any:
    """The value at ``path`` in a nested row, ``_ABSENT`` when a step is missing."""
    value = row
    for name, index in PATH_STEP.findall(path):
        if name:
            if not isinstance(value, dict) or name not in value:
                return _ABSENT
            value = value[name]
        else:
            if not isinstance(value, list | tuple) or int(index) >= len(value):
                return _ABSENT
            value = value[int(index)]
    return value


def _keys(row: Any) -> str:
    if not isinstance(row, dict):
        return f"no fields (a {type(row).__name__})"
    return ", ".join(sorted(map(str, row))) or "no fields"


def template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


@cache
def bundled_adapters() -> dict[str, Adapter]:
    """The adapters vlpipe ships, by name."""
    folder = resources.files("vlpipe.sources.dataset") / "adapters"
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            adapter = _parse(entry.read_text(encoding="utf-8"), entry.name)
            if adapter.name != entry.name.removesuffix(".yaml"):
                raise ConfigError(f"adapters/{entry.name} names itself {adapter.name!r}")
            found[adapter.name] = adapter
    return found


def load_adapter(name: str) -> Adapter:
    """A bundled adapter by name, or a user's adapter file."""
    if name.endswith((".yaml", ".yml")):
        try:
            return _parse(Path(name).read_text(encoding="utf-8"), name)
        except OSError as exc:
            raise ConfigError(f"cannot read adapter {name}: {exc.strerror}") from None
    adapters = bundled_adapters()
    if name not in adapters:
        raise ConfigError(
            f"unknown dataset {name!r}; `vlpipe datasets` lists them: {', '.join(adapters)}"
        )
    return adapters[name]


def _parse(text: str, label: str) -> Adapter:
    try:
        return Adapter.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"adapter {label}: {exc}") from None
