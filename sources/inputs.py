"""Input connectors shared by the sources: loose files, parquet and jsonl tables whose content
columns the source names (``content`` in The Stack's schema), and Hugging Face datasets streamed
through ``datasets``.

The driver *plans* work units (cheap: file listings and metadata); workers *read* one unit each and
yield its documents in a fixed order, so that a unit's documents, chunks and shards are the same
whatever the number of workers. Read problems of one document yield a failed or dropped
``Outcome`` instead of a ``Document``; a corrupt input file raises ``DocumentError`` (recorded,
with how far reading got), a remote stream that breaks raises ``TransientError`` (retried by a
re-run).

Document ids are unique within a build by construction: inputs may not overlap, a file's id is its
path below the input folder's name (``nb/a.ipynb``; as many trailing folder names as it takes to
tell the inputs apart: inputs ``x/nb`` and ``y/nb`` give ``x/nb/a.ipynb`` and ``y/nb/a.ipynb``),
and a row's id is its place (``stack.parquet#row12``; the row's own ``id``/``hexsha`` column
stays in its origin).

Each unit carries a fingerprint of what it reads (sizes and modification times; for tables and
archives also a hash of their tail, where gzip, zip and parquet keep checksums and metadata; the
pinned revision of a Hugging Face dataset), so that a resumed build refuses inputs that changed.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from vlpipe.errors import ConfigError, DocumentError, TransientError
from vlpipe.recipe import InputConfig
from vlpipe.schema import Document, Drop, Outcome

HF_PREFIXES = ("hf://", "hf:")
TABLE_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json.gz", ".jsonl.zip")
READ_BATCH_ROWS = 16  # parquet rows decoded at a time: notebooks can be megabytes each
TAIL_BYTES = 1 << 16  # bytes at the end of a table or archive hashed into its fingerprint


class UnreadableInput(DocumentError):
    """A whole input file (or the rest of it) cannot be read."""


class MissingColumns(DocumentError):
    """A table lacks the columns of The Stack's schema."""


ContainerReader = Callable[[Path, str, InputConfig], Iterator[Document | Outcome]]


@dataclass(frozen=True)
class InputLayout:
    """What a source's documents look like on disk, besides tables and datasets."""

    file_suffixes: tuple[str, ...] = ()  # loose files that are one document each
    # a table's content columns, the first required; () makes the whole row the content (for a
    # source that accepts several row schemas and checks them itself)
    columns: tuple[str, ...] = ("content",)
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
    root: str = ""  # document ids are paths relative to this folder
    hf_path: str = ""
    hf_data_dir: str | None = None
    hf_split: str = "train"
    hf_revision: str | None = None
    hf_shard: int = 0
    hf_num_shards: int = 1
    fingerprint: str = ""


def plan_units(inputs: list[str], layout: InputLayout, config: InputConfig) -> list[Unit]:
    """Work units for the given inputs, in a deterministic order."""
    datasets = [_hf_name(spec) for spec in inputs if _hf_name(spec) is not None]
    urls = [spec for spec in inputs if _hf_name(spec) is None and is_url(spec)]
    paths = [Path(spec) for spec in inputs if _hf_name(spec) is None and not is_url(spec)]
    for path in paths:
        if not path.exists():
            raise ConfigError(f"input path does not exist: {path}")
    _check_distinct(paths, [*datasets, *urls])
    units: list[Unit] = []
    for dataset in datasets:
        units.extend(_hf_units(dataset, config, len(units)))
    for url in urls:
        units.extend(_url_units(url, layout, config, len(units)))
    for path, root in zip(paths, _id_roots(paths, layout), strict=True):
        units.extend(_path_units(path, layout, config, root, len(units)))
    return units


def local_bytes(units: Iterable[Unit]) -> int | None:
    """The bytes the units' inputs hold on this machine's disks, None when some are elsewhere (an
    object store, a Hub dataset) and their size is not known without asking."""
    total = 0
    for unit in units:
        if unit.kind == "hf" or any(is_url(path) for path in unit.paths):
            return None
        for path in map(Path, unit.paths):
            files = _regular_files(path) if path.is_dir() else [path]
            total += sum(file.stat().st_size for file in files)
    return total


def _hf_name(spec: str) -> str | None:
    """The dataset of a ``hf:NAME`` input (``hf://…`` is a path in the Hub's file system)."""
    if spec.startswith("hf://"):
        return None
    return next((spec.removeprefix(p) for p in HF_PREFIXES if spec.startswith(p)), None)


def is_url(spec: str) -> bool:
    """An fsspec URL (``s3://``, ``gs://``, ``hf://`` …) rather than a local path."""
    return "://" in spec and not spec.startswith("file://")


def _url_units(url: str, layout: InputLayout, config: InputConfig, first_index: int) -> list[Unit]:
    """Units of the files under an object-store prefix (or of one object): loose documents and
    tables; document folders and containers are read from local paths only."""
    from fsspec.core import url_to_fs

    try:
        fs, top = url_to_fs(url)
        found = [top] if fs.isfile(top) else sorted(fs.find(top))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot list input {url}: {exc}") from None
    files = [f for f in found if not any(p.startswith(".") for p in f.split("/"))]
    if layout.container_suffixes and any(f.endswith(layout.container_suffixes) for f in files):
        raise ConfigError(f"{url}: container files (e.g. bulk archives) must be local")
    loose = [f for f in files if layout.file_suffixes and f.endswith(layout.file_suffixes)]
    tables = [f for f in files if f.endswith(TABLE_SUFFIXES) and f not in loose]
    if not loose and not tables:
        raise ConfigError(f"no documents or tables under {url}")
    parent = top.rsplit("/", 1)[0] if "/" in top.rstrip("/") else ""
    root = fs.unstrip_protocol(parent)
    units: list[Unit] = []
    for start in range(0, len(loose), config.files_per_unit):
        group = tuple(fs.unstrip_protocol(f) for f in loose[start : start + config.files_per_unit])
        label = f"{_relative(fs.unstrip_protocol(top), root)}[{start}:]"
        units.append(Unit(first_index + len(units), "files", label, group, root))
    for table in tables:
        kind = "parquet" if table.endswith(".parquet") else "jsonl"
        address = fs.unstrip_protocol(table)
        units.append(
            Unit(first_index + len(units), kind, _relative(address, root), (address,), root)
        )
    return [_fingerprinted(unit) for unit in units]


def _check_distinct(paths: list[Path], remote: list[str | None]) -> None:
    """Inputs that overlap (the same folder, dataset or prefix twice, or a folder and one below
    it) would read documents twice, under the same ids."""
    names = [PurePosixPath(os.path.abspath(p)) for p in paths]
    names += [PurePosixPath(str(spec).rstrip("/")) for spec in remote]
    for number, one in enumerate(names):
        for other in names[number + 1 :]:
            if one.is_relative_to(other) or other.is_relative_to(one):
                raise ConfigError(f"inputs overlap: {one} and {other}")


def _id_roots(paths: list[Path], layout: InputLayout) -> list[str]:
    """For each input, the folder its document ids are relative to: its folder's parent (a single
    input ``data/nb`` gives ids ``nb/…``), or further up until no input's id prefix equals or
    starts another's."""
    anchors = [
        Path(os.path.abspath(p if p.is_dir() and not _is_folder_doc(p, layout) else p.parent))
        for p in paths
    ]
    for depth in range(1, max((len(a.parts) for a in anchors), default=1)):
        prefixes = [anchor.parts[1:][-depth:] for anchor in anchors]
        if not any(
            one[: len(other)] == other
            for n, one in enumerate(prefixes)
            for m, other in enumerate(prefixes)
            if n != m
        ):
            return [
                str(Path(*anchor.parts[: len(anchor.parts) - len(prefix)]))
                for anchor, prefix in zip(anchors, prefixes, strict=True)
            ]
    return [anchor.anchor for anchor in anchors]  # whole paths: the files are distinct


def _path_units(
    path: Path, layout: InputLayout, config: InputConfig, root: str, first_index: int
) -> list[Unit]:
    loose, containers, tables = _list_inputs(path, layout)
    if not loose and not containers and not tables:
        suffixes = (*layout.file_suffixes, *layout.container_suffixes, ".parquet", ".jsonl")
        kinds = ", ".join(f"*{suffix}" for suffix in suffixes)
        folders = " or document folders" if layout.is_document_folder else ""
        raise ConfigError(f"no {kinds} files{folders} under {path}")
    units: list[Unit] = []
    for start in range(0, len(loose), config.files_per_unit):
        group = loose[start : start + config.files_per_unit]
        label = f"{_relative(path, root)}[{start}:]"
        paths = tuple(str(p) for p in group)
        units.append(Unit(first_index + len(units), "files", label, paths, root))
    for container in containers:
        label = _relative(container, root)
        units.append(Unit(first_index + len(units), "container", label, (str(container),), root))
    for table in tables:
        kind = "parquet" if table.name.endswith(".parquet") else "jsonl"
        label = _relative(table, root)
        units.append(Unit(first_index + len(units), kind, label, (str(table),), root))
    return [_fingerprinted(unit) for unit in units]


def _fingerprinted(unit: Unit) -> Unit:
    """A table or a container is fingerprinted whole, tail included; a group of loose files by
    each file's fingerprint (``group_fingerprint``), so that a plan can tell which file changed."""
    if unit.kind == "files":
        return dataclasses.replace(unit, fingerprint=group_fingerprint(unit.paths))
    return dataclasses.replace(unit, fingerprint=path_fingerprint(unit.paths[0], hash_tail=True))


def group_fingerprint(paths: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path}\0{path_fingerprint(path)}\0".encode())
    return digest.hexdigest()


def path_fingerprint(path: str, hash_tail: bool = False) -> str:
    """What changes when an input changes: a local file's size and modification time (a
    document folder's: of every file inside), with ``hash_tail`` also a hash of its last bytes;
    an object's size and what its store says identifies its content (an S3 ETag, a GCS md5 or
    generation) or at least its last write."""
    digest = hashlib.sha256()
    if is_url(path):
        import fsspec

        fs, key = fsspec.core.url_to_fs(path)
        info = fs.info(key)
        marks = [info.get(k) for k in ("ETag", "md5Hash", "generation", "LastModified", "mtime")]
        digest.update(orjson.dumps([info.get("size"), *map(str, marks)]))
        return digest.hexdigest()
    local = Path(path)
    for file in sorted(_regular_files(local)) if local.is_dir() else [local]:
        info = file.stat()
        digest.update(f"{file.relative_to(local.parent)}\0{info.st_size}\0".encode())
        digest.update(f"{info.st_mtime_ns}\0".encode())
        if hash_tail:
            with file.open("rb") as handle:
                handle.seek(max(0, info.st_size - TAIL_BYTES))
                digest.update(handle.read())
    return digest.hexdigest()


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


def _regular_files(folder: Path) -> Iterator[Path]:
    """The files under ``folder``, symlinks neither followed nor listed."""
    for parent, _, names in os.walk(folder):
        for name in names:
            if not (file := Path(parent, name)).is_symlink():
                yield file


def _relative(path: Path | str, root: str) -> str:
    if is_url(str(path)):
        return str(path).removeprefix(root.rstrip("/") + "/")
    return Path(os.path.abspath(path)).relative_to(root).as_posix()


def _open(path: str) -> BinaryIO:
    """A local file or an object-store URL, to read."""
    if is_url(path):
        import fsspec

        return fsspec.open(path, "rb").open()  # type: ignore[no-any-return]
    return open(path, "rb")


def _hf_units(spec: str, config: InputConfig, first_index: int) -> list[Unit]:
    """One unit per shard of a streamed dataset, pinned to one revision (``NAME@REVISION``, else
    the Hub's current commit of ``NAME``); a local dataset folder is fingerprinted instead."""
    dataset, _, revision = spec.partition("@")
    fingerprint = ""
    if Path(dataset).is_dir():
        fingerprint = path_fingerprint(dataset)
    else:
        revision = revision or hub_revision(dataset)
    stream = _hf_stream(dataset, config.hf_data_dir, config.hf_split, revision or None)
    return [
        Unit(
            first_index + shard,
            "hf",
            f"{spec}#shard{shard}",
            hf_path=dataset,
            hf_data_dir=config.hf_data_dir,
            hf_split=config.hf_split,
            hf_revision=revision or None,
            hf_shard=shard,
            hf_num_shards=stream.num_shards,
            fingerprint=fingerprint,
        )
        for shard in range(stream.num_shards)
    ]


def hub_revision(dataset: str) -> str:
    """The commit a Hub dataset is at now: a build reads that commit to its end, even if the
    dataset moves on while it runs or between a run and its resume."""
    from huggingface_hub import HfApi

    try:
        sha = HfApi().dataset_info(dataset).sha
    except Exception as exc:  # the hub client raises many unrelated types
        raise ConfigError(f"cannot resolve the revision of dataset {dataset!r}: {exc}") from None
    if not sha:
        raise ConfigError(f"the Hub reports no revision for dataset {dataset!r}")
    return str(sha)


def _hf_stream(dataset: str, data_dir: str | None, split: str, revision: str | None) -> Any:
    from datasets import load_dataset

    try:
        return load_dataset(
            dataset, data_dir=data_dir, split=split, streaming=True, revision=revision
        )
    except Exception as exc:  # datasets raises many unrelated types for a bad dataset id
        raise ConfigError(f"cannot open Hugging Face dataset {dataset!r}: {exc}") from None


def iter_documents(
    unit: Unit, config: InputConfig, layout: InputLayout
) -> Iterator[Document | Outcome]:
    """The unit's documents in order; per-document read problems as ``Outcome`` rows.

    ``layout.columns`` name a table's content columns: the first is required, the others
    optional. A single column's value is the document's content, several make a dict; every
    other column is kept as the document's origin; no columns: the whole row is the content.
    A document folder's content is its ``Path``.
    """
    columns = layout.columns
    if unit.kind == "files":
        for path in unit.paths:
            if not is_url(path) and Path(path).is_dir():
                yield _folder_document(Path(path), unit.root, config)
            else:
                yield _file_document(path, unit.root, config)
    elif unit.kind == "container":
        assert layout.read_container is not None
        yield from layout.read_container(Path(unit.paths[0]), unit.label, config)
    elif unit.kind == "parquet":
        yield from _parquet_documents(unit.paths[0], unit.label, config, columns)
    elif unit.kind == "jsonl":
        yield from _jsonl_documents(unit.paths[0], unit.label, config, columns)
    else:
        yield from _hf_documents(unit, config, columns)


def _hf_documents(
    unit: Unit, config: InputConfig, columns: tuple[str, ...]
) -> Iterator[Document | Outcome]:
    """A dataset shard's rows. A stream from the Hub that breaks is transient (a re-run retries
    it); a local dataset folder that cannot be read is corrupt, like any local file."""
    local = Path(unit.hf_path).is_dir()
    try:
        stream = _hf_stream(unit.hf_path, unit.hf_data_dir, unit.hf_split, unit.hf_revision)
        rows = stream.shard(num_shards=unit.hf_num_shards, index=unit.hf_shard)
        for number, row in enumerate(rows):
            yield row_document(row, f"{unit.label}#row{number}", config, columns)
    except (DocumentError, TransientError):
        raise
    except Exception as exc:  # datasets and the hub client raise many unrelated types
        if local:
            raise UnreadableInput(f"{unit.label}: {type(exc).__name__}: {exc}") from None
        raise TransientError(f"{unit.label}: {type(exc).__name__}: {exc}") from exc


def _file_document(path: str, root: str, config: InputConfig) -> Document | Outcome:
    doc_id = _relative(path, root)
    try:
        with _open(path) as handle:
            content = handle.read(config.max_doc_bytes + 1)
            if len(content) > config.max_doc_bytes:
                handle.seek(0, os.SEEK_END)
                return too_large(doc_id, handle.tell(), config)
    except FileNotFoundError as exc:
        return Outcome(doc_id, error_class="ReadError", error=f"cannot read {path}: {exc}")
    except OSError as exc:
        if is_url(path):  # the network or the store, not the document
            raise TransientError(f"cannot read {path}: {exc}") from exc
        return Outcome(doc_id, error_class="ReadError", error=f"cannot read {path}: {exc}")
    return Document(doc_id, content, {"path": doc_id})


def _folder_document(path: Path, root: str, config: InputConfig) -> Document | Outcome:
    doc_id = _relative(path, root)
    size = sum(file.stat().st_size for file in _regular_files(path))
    if size > config.max_doc_bytes:
        return too_large(doc_id, size, config)
    return Document(doc_id, path, {"path": doc_id})


def too_large(doc_id: str, size: int, config: InputConfig) -> Outcome:
    drop = Drop("doc_size", "doc_too_large", f"{size} bytes > {config.max_doc_bytes}")
    return Outcome(doc_id, drop=drop, doc_bytes=size)


def row_document(
    row: dict[str, Any], doc_id: str, config: InputConfig, columns: tuple[str, ...]
) -> Document | Outcome:
    """A table row as a document, e.g. The Stack's schema: notebook JSON in ``content``, the
    other columns (``hexsha``, the repository's name, path and licenses) kept as origin."""
    if not columns:
        size = _size(row.values())
        if size > config.max_doc_bytes:
            return too_large(doc_id, size, config)
        return Document(doc_id, row)
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
    path: str, label: str, config: InputConfig, columns: tuple[str, ...]
) -> Iterator[Document | Outcome]:
    try:
        # A local file is read by Arrow itself: no Python file for its threads to release late
        # (see ``ledger.arrow_owned``).
        table = pq.ParquetFile(_open(path) if is_url(path) else path)
        names = table.schema_arrow.names
        if columns and columns[0] not in names:
            raise MissingColumns(f"{label}: no '{columns[0]}' column; columns: {names}")
        for batch_number, batch in enumerate(table.iter_batches(batch_size=READ_BATCH_ROWS)):
            for offset, row in enumerate(batch.to_pylist()):
                number = batch_number * READ_BATCH_ROWS + offset
                yield row_document(row, f"{label}#row{number}", config, columns)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableInput(f"{label}: not a readable parquet file: {exc}") from None


def _jsonl_documents(
    path: str, label: str, config: InputConfig, columns: tuple[str, ...]
) -> Iterator[Document | Outcome]:
    try:
        with _open(path) as raw, _lines(raw, path) as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                yield _jsonl_row(line, f"{label}#L{number}", config, columns)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise UnreadableInput(f"{label}: {exc}") from None


@contextmanager
def _lines(raw: BinaryIO, path: str) -> Iterator[BinaryIO]:
    """A jsonl file's lines: plain, gzip, or the single member of a zip (as MMC4 ships its
    shards: ``docs_no_face_shard_0_v2.jsonl.zip``)."""
    if path.endswith(".gz"):
        with gzip.open(raw) as handle:
            yield handle  # type: ignore[misc]
    elif path.endswith(".zip"):
        with zipfile.ZipFile(raw) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise zipfile.BadZipFile(f"the zip holds {len(members)} files, not one jsonl")
            with archive.open(members[0]) as handle:
                yield handle  # type: ignore[misc]
    else:
        yield raw


def _jsonl_row(
    line: bytes, doc_id: str, config: InputConfig, columns: tuple[str, ...]
) -> Document | Outcome:
    if len(line) > 2 * config.max_doc_bytes:  # JSON escaping at most doubles a document
        return too_large(doc_id, len(line), config)
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Outcome(doc_id, error_class="InvalidJSON", error=f"jsonl line: {exc}")
    if not isinstance(row, dict):
        return Outcome(doc_id, error_class="MissingContent", error="jsonl line is not an object")
    return row_document(row, doc_id, config, columns)
