"""Input connectors shared by the sources: loose files, parquet and jsonl tables whose content
columns the source names (``content`` in The Stack's schema), and Hugging Face datasets streamed
through ``datasets``.

The driver *plans* work units (cheap: file listings and metadata); workers *read* one unit each and
yield its documents in a fixed order, so that a unit's documents, chunks and shards are the same
whatever the number of workers. Read problems of one document yield a failed or dropped
``Outcome`` instead of a ``Document``; a unit that cannot be read at all raises ``DocumentError``
for the pipeline to record.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from vlpipe.errors import ConfigError, DocumentError
from vlpipe.recipe import InputConfig
from vlpipe.schema import Document, Drop, Outcome

HF_PREFIXES = ("hf://", "hf:")
ID_COLUMNS = ("hexsha", "id")  # The Stack's content hash, or a dataset's own id
TABLE_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json.gz")
READ_BATCH_ROWS = 16  # parquet rows decoded at a time: notebooks can be megabytes each


class UnreadableInput(DocumentError):
    """A whole input file (or the rest of it) cannot be read."""


class MissingColumns(DocumentError):
    """A table lacks the columns of The Stack's schema."""


ContainerReader = Callable[[Path, str, InputConfig], Iterator[Document | Outcome]]


@dataclass(frozen=True)
class InputLayout:
    """What a source's documents look like on disk, besides tables and datasets."""

    file_suffixes: tuple[str, ...] = ()  # loose files that are one document each
    columns: tuple[str, ...] = ("content",)  # a table's content columns; the first is required
    is_document_folder: Callable[[Path], bool] | None = None  # a folder that is one document
    container_suffixes: tuple[str, ...] = ()  # files holding many documents (arXiv bulk tars)
    read_container: ContainerReader | None = None


@dataclass(frozen=True)
class Unit:
    """One work unit: a group of loose files or document folders, one container or table file,
    or one shard of a HF dataset."""

    index: int
    kind: Literal["files", "container", "parquet", "jsonl", "hf"]
    label: str
    paths: tuple[str, ...] = ()
    root: str = ""
    hf_path: str = ""
    hf_data_dir: str | None = None
    hf_split: str = "train"
    hf_shard: int = 0
    hf_num_shards: int = 1


def plan_units(inputs: list[str], layout: InputLayout, config: InputConfig) -> list[Unit]:
    """Work units for the given inputs, in a deterministic order."""
    units: list[Unit] = []
    for spec in inputs:
        if spec.startswith(HF_PREFIXES):
            dataset = next(spec.removeprefix(p) for p in HF_PREFIXES if spec.startswith(p))
            units.extend(_hf_units(dataset, config, len(units)))
            continue
        path = Path(spec)
        if not path.exists():
            raise ConfigError(f"input path does not exist: {spec}")
        loose, containers, tables = _list_inputs(path, layout)
        if not loose and not containers and not tables:
            suffixes = (*layout.file_suffixes, *layout.container_suffixes, ".parquet", ".jsonl")
            kinds = ", ".join(f"*{suffix}" for suffix in suffixes)
            folders = " or document folders" if layout.is_document_folder else ""
            raise ConfigError(f"no {kinds} files{folders} under {spec}")
        root = str(path.parent if path.is_file() or _is_folder_doc(path, layout) else path)
        for start in range(0, len(loose), config.files_per_unit):
            group = tuple(str(p) for p in loose[start : start + config.files_per_unit])
            units.append(Unit(len(units), "files", f"{spec}[{start}:]", group, root))
        for container in containers:
            label = _relative(container, root)
            units.append(Unit(len(units), "container", label, (str(container),), root))
        for table in tables:
            kind = "parquet" if table.name.endswith(".parquet") else "jsonl"
            units.append(Unit(len(units), kind, _relative(table, root), (str(table),), root))
    return units


def _is_folder_doc(path: Path, layout: InputLayout) -> bool:
    return (
        layout.is_document_folder is not None
        and path.is_dir()
        and not path.is_symlink()
        and layout.is_document_folder(path)
    )


def _list_inputs(path: Path, layout: InputLayout) -> tuple[list[Path], list[Path], list[Path]]:
    """Loose documents (files and document folders), container files and tables under ``path``.

    Symlinks are never followed, and hidden entries (``.ipynb_checkpoints``, ``.git``) skipped.
    """
    if _is_folder_doc(path, layout):
        return [path], [], []
    files: list[Path] = [path] if path.is_file() else []
    folders: list[Path] = []
    for folder, subfolders, names in os.walk(path) if path.is_dir() else ():
        visible = sorted(d for d in subfolders if not d.startswith("."))
        documents = [d for d in visible if _is_folder_doc(Path(folder, d), layout)]
        folders.extend(Path(folder, d) for d in documents)
        subfolders[:] = [d for d in visible if d not in documents]
        files.extend(Path(folder, name) for name in names if not name.startswith("."))
    files = [f for f in files if f.is_file() and not f.is_symlink()]
    loose = [f for f in files if layout.file_suffixes and f.name.endswith(layout.file_suffixes)]
    containers = [
        f for f in files if layout.container_suffixes and f.name.endswith(layout.container_suffixes)
    ]
    tables = [f for f in files if f.name.endswith(TABLE_SUFFIXES) and f not in containers]
    return sorted(loose + folders), sorted(containers), sorted(tables)


def _relative(path: Path, root: str) -> str:
    return f"{Path(root).name}/{path.relative_to(root).as_posix()}"


def _hf_units(dataset: str, config: InputConfig, first_index: int) -> list[Unit]:
    stream = _hf_stream(dataset, config.hf_data_dir, config.hf_split)
    shards = stream.num_shards
    return [
        Unit(
            first_index + shard,
            "hf",
            f"{dataset}#shard{shard}",
            hf_path=dataset,
            hf_data_dir=config.hf_data_dir,
            hf_split=config.hf_split,
            hf_shard=shard,
            hf_num_shards=shards,
        )
        for shard in range(shards)
    ]


def _hf_stream(dataset: str, data_dir: str | None, split: str) -> Any:
    from datasets import load_dataset

    try:
        return load_dataset(dataset, data_dir=data_dir, split=split, streaming=True)
    except Exception as exc:  # datasets raises many unrelated types for a bad dataset id
        raise ConfigError(f"cannot open Hugging Face dataset {dataset!r}: {exc}") from None


def iter_documents(
    unit: Unit, config: InputConfig, layout: InputLayout
) -> Iterator[Document | Outcome]:
    """The unit's documents in order; per-document read problems as ``Outcome`` rows.

    ``layout.columns`` name a table's content columns: the first is required, the others
    optional. A single column's value is the document's content, several make a dict; every
    other column is kept as the document's origin. A document folder's content is its ``Path``.
    """
    columns = layout.columns
    if unit.kind == "files":
        for path in map(Path, unit.paths):
            if path.is_dir():
                yield _folder_document(path, unit.root, config)
            else:
                yield _file_document(path, unit.root, config)
    elif unit.kind == "container":
        assert layout.read_container is not None
        yield from layout.read_container(Path(unit.paths[0]), unit.label, config)
    elif unit.kind == "parquet":
        yield from _parquet_documents(Path(unit.paths[0]), unit.label, config, columns)
    elif unit.kind == "jsonl":
        yield from _jsonl_documents(Path(unit.paths[0]), unit.label, config, columns)
    else:
        stream = _hf_stream(unit.hf_path, unit.hf_data_dir, unit.hf_split)
        rows = stream.shard(num_shards=unit.hf_num_shards, index=unit.hf_shard)
        for number, row in enumerate(rows):
            yield row_document(row, f"{unit.label}#row{number}", config, columns)


def _file_document(path: Path, root: str, config: InputConfig) -> Document | Outcome:
    doc_id = _relative(path, root)
    try:
        size = path.stat().st_size
        if size > config.max_doc_bytes:
            return too_large(doc_id, size, config)
        content = path.read_bytes()
    except OSError as exc:
        return Outcome(doc_id, error_class="ReadError", error=f"cannot read {path}: {exc.strerror}")
    return Document(doc_id, content, {"path": doc_id})


def _folder_document(path: Path, root: str, config: InputConfig) -> Document | Outcome:
    doc_id = _relative(path, root)
    size = 0
    for folder, _, names in os.walk(path):
        for name in names:
            file = Path(folder, name)
            if not file.is_symlink():
                size += file.stat().st_size
    if size > config.max_doc_bytes:
        return too_large(doc_id, size, config)
    return Document(doc_id, path, {"path": doc_id})


def too_large(doc_id: str, size: int, config: InputConfig) -> Outcome:
    drop = Drop("doc_size", "doc_too_large", f"{size} bytes > {config.max_doc_bytes}")
    return Outcome(doc_id, drop=drop, doc_bytes=size)


def row_document(
    row: dict[str, Any], fallback_id: str, config: InputConfig, columns: tuple[str, ...]
) -> Document | Outcome:
    """A table row as a document, e.g. The Stack's schema: notebook JSON in ``content``,
    ``hexsha`` as its id, the repository columns kept as origin."""
    identifier = next((row[c] for c in ID_COLUMNS if isinstance(row.get(c), str) and row[c]), None)
    doc_id = identifier or fallback_id
    if row.get(columns[0]) is None:
        return Outcome(doc_id, error_class="MissingContent", error=f"'{columns[0]}' is empty")
    size = _size(row.get(column) for column in columns)
    if size > config.max_doc_bytes:
        return too_large(doc_id, size, config)
    content = row[columns[0]] if len(columns) == 1 else {c: row.get(c) for c in columns}
    origin = {key: value for key, value in row.items() if key not in columns}
    return Document(doc_id, content, origin)


def _size(values: Iterable[Any]) -> int:
    """Bytes of the text and binary leaves of nested lists and dicts (a size guard, not exact)."""
    total = 0
    for value in values:
        if isinstance(value, str | bytes):
            total += len(value)
        elif isinstance(value, dict):
            total += _size(value.values())
        elif isinstance(value, list | tuple):
            total += _size(value)
    return total


def _parquet_documents(
    path: Path, label: str, config: InputConfig, columns: tuple[str, ...]
) -> Iterator[Document | Outcome]:
    try:
        table = pq.ParquetFile(path)
        names = table.schema_arrow.names
        if columns[0] not in names:
            raise MissingColumns(f"{label}: no '{columns[0]}' column; columns: {names}")
        for batch_number, batch in enumerate(table.iter_batches(batch_size=READ_BATCH_ROWS)):
            for offset, row in enumerate(batch.to_pylist()):
                number = batch_number * READ_BATCH_ROWS + offset
                yield row_document(row, f"{label}#row{number}", config, columns)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableInput(f"{label}: not a readable parquet file: {exc}") from None


def _jsonl_documents(
    path: Path, label: str, config: InputConfig, columns: tuple[str, ...]
) -> Iterator[Document | Outcome]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                yield _jsonl_row(line, f"{label}#L{number}", config, columns)
    except (OSError, EOFError) as exc:
        raise UnreadableInput(f"{label}: {exc}") from None


def _jsonl_row(
    line: bytes, fallback_id: str, config: InputConfig, columns: tuple[str, ...]
) -> Document | Outcome:
    if len(line) > 2 * config.max_doc_bytes:  # JSON escaping at most doubles a document
        return too_large(fallback_id, len(line), config)
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Outcome(fallback_id, error_class="InvalidJSON", error=f"jsonl line: {exc}")
    if not isinstance(row, dict):
        return Outcome(
            fallback_id, error_class="MissingContent", error="jsonl line is not an object"
        )
    return row_document(row, fallback_id, config, columns)
