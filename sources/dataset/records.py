"""How a dataset's files hold its records: table rows (parquet, jsonl, a Hugging Face dataset),
a JSON file of records (an array, or an object keyed by record id as LLaVA-style and ArT files
are), the COCO-style ``imgs``/``anns`` join, HierText's ``annotations``, or one ground-truth file
per image (ICDAR-style text files, ReCTS JSON)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from vlpipe.errors import ConfigError, DocumentError
from vlpipe.recipe import InputConfig
from vlpipe.schema import Document, Outcome
from vlpipe.sources.dataset.adapters import ROW_FORMATS, Adapter, MissingColumn, load_adapter
from vlpipe.sources.dataset.scene_text import records_coco
from vlpipe.sources.inputs import InputLayout, UnreadableInput

JSON_FILES = (".json", ".json.gz", ".jsonl.gz")  # HierText ships one JSON object as .jsonl.gz
LOOSE_FILES = {"icdar": (".txt",), "rects": (".json",)}


def require_adapter(name: str | None) -> Adapter:
    if not name:
        raise ConfigError("--source dataset needs --dataset NAME (`vlpipe datasets` lists them)")
    return load_adapter(name)


def layout_of(name: str | None) -> InputLayout:
    adapter = require_adapter(name)
    if adapter.format in LOOSE_FILES:
        loose = adapter.record_files or LOOSE_FILES[adapter.format]
        return InputLayout(file_suffixes=loose, columns=())
    default = (".json",) if adapter.format in ROW_FORMATS else JSON_FILES
    containers = adapter.record_files or default
    reader = partial(read_json_records, adapter)
    return InputLayout(columns=(), container_suffixes=containers, read_container=reader)


def read_json_records(
    adapter: Adapter, path: Path, label: str, config: InputConfig
) -> Iterator[Document | Outcome]:
    """The records of one JSON file, each a document ``<file>#<key>``."""
    try:
        raw = path.read_bytes()
        data = orjson.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise UnreadableInput(f"{label}: not a readable JSON file: {exc}") from None
    for key, record in json_records(data, adapter):
        yield Document(f"{label}#{key}", record, {"file": label, "record_key": key})


def json_records(data: Any, adapter: Adapter) -> Iterator[tuple[str, Any]]:
    """(key, record) pairs of a parsed JSON file, in the file's order."""
    if adapter.format in ("coco_text", "textocr"):
        yield from records_coco(data, adapter)
    elif adapter.format == "coco_captions":
        yield from coco_captions(data, adapter)
    elif adapter.format == "hiertext":
        annotations = data.get("annotations") if isinstance(data, dict) else None
        if not isinstance(annotations, list):
            raise MissingColumn(f"adapter {adapter.name!r}: the file has no 'annotations' list")
        for number, record in enumerate(annotations):
            image_id = record.get("image_id") if isinstance(record, dict) else None
            yield str(image_id if image_id is not None else number), record
    elif isinstance(data, list):
        yield from ((str(number), record) for number, record in enumerate(data))
    elif isinstance(data, dict):
        yield from ((str(key), record) for key, record in data.items())
    else:
        raise DocumentError(f"a {type(data).__name__}, not an array or object of records")


def coco_captions(data: Any, adapter: Adapter) -> Iterator[tuple[str, dict[str, Any]]]:
    """COCO's captions file: each of its ``images`` with the ``captions`` its ``annotations``
    give it, in the file's image order."""
    for key in ("images", "annotations"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise MissingColumn(f"adapter {adapter.name!r}: the file has no {key!r} list")
    captions: dict[Any, list[str]] = {}
    for annotation in data["annotations"]:
        if isinstance(annotation, dict) and isinstance(annotation.get("caption"), str):
            captions.setdefault(annotation.get("image_id"), []).append(annotation["caption"])
    for image in data["images"]:
        if isinstance(image, dict):
            yield str(image.get("id")), {**image, "captions": captions.get(image.get("id"), [])}
