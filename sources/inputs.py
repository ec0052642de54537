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
from collections.abc import Iterable, Iterator
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


@dataclass(frozen=True)
class Unit:
    """One work unit: a group of loose files, one table file, or one shard of a HF dataset."""

    index: int
    kind: Literal["files", "parquet", "jsonl", "hf"]
    label: str
    paths: tuple[str, ...] = ()
    root: str = ""
    hf_path: str = ""
    hf_data_dir: str | None = None
    hf_split: str = "train"
    hf_shard: int = 0
    hf_num_shards: int = 1


def plan_units(
    inputs: list[str], file_suffixes: tuple[str, ...], config: InputConfig
) -> list[Unit]:
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
        loose, tables = _list_files(path, file_suffixes)
        if not loose and not tables:
            kinds = ", ".join(f"*{suffix}" for suffix in (*file_suffixes, ".parquet", ".jsonl"))
            raise ConfigError(f"no {kinds} files under {spec}")
        root = str(path if path.is_dir() else path.parent)
        for start in range(0, len(loose), config.files_per_unit):
            group = tuple(str(p) for p in loose[start : start + config.files_per_unit])
            units.append(Unit(len(units), "files", f"{spec}[{start}:]", group, root))
        for table in tables:
            kind = "parquet" if table.name.endswith(".parquet") else "jsonl"
            units.append(Unit(len(units), kind, _relative(table, root), (str(table),), root))
    return units


def _list_files(path: Path, file_suffixes: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    """Regular files under ``path`` (symlinks and hidden folders such as .ipynb_checkpoints
    are not followed), split into loose documents and tables."""
    if path.is_file():
        files = [path]
    else:
        files = []
        for folder, subfolders, names in os.walk(path):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            files.extend(Path(folder, name) for name in names if not name.startswith("."))
    files = sorted(f for f in files if f.is_file() and not f.is_symlink())
    loose = [f for f in files if f.name.endswith(file_suffixes)]
    tables = [f for f in files if f.name.endswith(TABLE_SUFFIXES)]
    return loose, tables


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
    unit: Unit, config: InputConfig, columns: tuple[str, ...]
) -> Iterator[Document | Outcome]:
    """The unit's documents in order; per-document read problems as ``Outcome`` rows.

    ``columns`` name a table's content columns: the first is required, the others optional.
    A single column's value is the document's content, several make a dict; every other column
    is kept as the document's origin.
    """
    if unit.kind == "files":
        for path in unit.paths:
            yield _file_document(Path(path), unit.root, config)
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
