"""The parquet ledger: a row for every input document and for every candidate sample.

Layout under the build's output folder::

    ledger/samples/<chunk>.parquet     candidates of the chunk's documents (kept and dropped)
    ledger/documents/<chunk>.parquet   the chunk's documents; written last: it *is* the commit

A chunk's shards are renamed into place before its ledger files, so a committed chunk always has
all its shards, and anything in ``shards/`` without a committed chunk is a leftover of an
interrupted run that the next run removes and writes again.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vlpipe.manifests.shards import TMP_MARK, Placement, temporary_path
from vlpipe.schema import Outcome, Sample

LAST_CHUNK_KEY = b"vlpipe.last_chunk"
_SHARD_CHUNK = re.compile(r"-(u\d+-c\d+)-\d+\.tar$")

DOCUMENT_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("doc_id", pa.string()),
        ("unit", pa.int32()),
        ("chunk", pa.int32()),
        ("status", pa.string()),
        ("filter", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("error_class", pa.string()),
        ("error", pa.string()),
        ("doc_bytes", pa.int64()),
        ("candidates", pa.int32()),
        ("sample_keys", pa.list_(pa.string())),
        ("shards", pa.list_(pa.string())),
    ]
)
MEMBER = pa.struct([("name", pa.string()), ("size", pa.int64()), ("sha256", pa.string())])
SAMPLE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("key", pa.string()),
        ("doc_id", pa.string()),
        ("status", pa.string()),
        ("filter", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("shard", pa.string()),
        ("offset", pa.int64()),
        ("tar_bytes", pa.int64()),
        ("members", pa.list_(MEMBER)),
    ]
)


@dataclass(frozen=True)
class ChunkId:
    unit: int
    chunk: int

    @property
    def name(self) -> str:
        return f"u{self.unit:05d}-c{self.chunk:05d}"

    @classmethod
    def parse(cls, name: str) -> ChunkId:
        unit, chunk = name.split("-")
        return cls(int(unit[1:]), int(chunk[1:]))


def documents_dir(out: Path) -> Path:
    return out / "ledger" / "documents"


def samples_dir(out: Path) -> Path:
    return out / "ledger" / "samples"


def shards_dir(out: Path) -> Path:
    return out / "shards"


def document_row(
    source: str, chunk: ChunkId, outcome: Outcome, shards: list[str]
) -> dict[str, Any]:
    drop = outcome.drop
    return {
        "source": source,
        "doc_id": outcome.doc_id,
        "unit": chunk.unit,
        "chunk": chunk.chunk,
        "status": outcome.status,
        "filter": drop.filter if drop else None,
        "reason": drop.reason if drop else None,
        "detail": drop.detail if drop else None,
        "error_class": outcome.error_class,
        "error": outcome.error,
        "doc_bytes": outcome.doc_bytes,
        "candidates": len(outcome.samples) + len(outcome.dropped),
        "sample_keys": [sample.key for sample in outcome.samples],
        "shards": shards,
    }


def kept_sample_row(
    source: str, doc_id: str, sample: Sample, placement: Placement
) -> dict[str, Any]:
    return {
        "source": source,
        "key": sample.key,
        "doc_id": doc_id,
        "status": "kept",
        "filter": None,
        "reason": None,
        "detail": None,
        "shard": placement.shard,
        "offset": placement.offset,
        "tar_bytes": placement.size,
        "members": [
            {
                "name": f"{sample.key}.{ext}",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for ext, data in sample.files.items()
        ],
    }


def dropped_sample_rows(source: str, outcome: Outcome) -> list[dict[str, Any]]:
    return [
        {
            "source": source,
            "key": dropped.key,
            "doc_id": outcome.doc_id,
            "status": "dropped",
            "filter": dropped.drop.filter,
            "reason": dropped.drop.reason,
            "detail": dropped.drop.detail,
            "shard": None,
            "offset": None,
            "tar_bytes": None,
            "members": [],
        }
        for dropped in outcome.dropped
    ]


def commit_chunk(
    out: Path,
    chunk: ChunkId,
    documents: list[dict[str, Any]],
    samples: list[dict[str, Any]],
    last: bool,
) -> None:
    """Write the chunk's sample rows, then its document rows, each atomically (the commit)."""
    _write_atomic(
        pa.Table.from_pylist(samples, SAMPLE_SCHEMA), samples_dir(out) / f"{chunk.name}.parquet"
    )
    table = pa.Table.from_pylist(documents, DOCUMENT_SCHEMA)
    table = table.replace_schema_metadata({LAST_CHUNK_KEY: b"1" if last else b"0"})
    _write_atomic(table, documents_dir(out) / f"{chunk.name}.parquet")


def _write_atomic(table: pa.Table, path: Path) -> None:
    temporary = temporary_path(path)
    with open(temporary, "wb") as handle:
        pq.write_table(table, handle, compression="zstd")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def committed_chunks(out: Path) -> dict[str, bool]:
    """Committed chunk names → whether the chunk was the last of its unit."""
    found: dict[str, bool] = {}
    for path in documents_dir(out).glob("*.parquet"):
        metadata = pq.read_schema(path).metadata or {}
        found[path.stem] = metadata.get(LAST_CHUNK_KEY) == b"1"
    return found


def remove_uncommitted(out: Path, committed: dict[str, bool]) -> int:
    """Delete temporary files and the shards and sample rows of chunks that never committed."""
    removed = 0
    for folder in (shards_dir(out), samples_dir(out), documents_dir(out)):
        for path in folder.iterdir():
            match = _SHARD_CHUNK.search(path.name)
            chunk = match.group(1) if match else path.name.split(".")[0]
            if TMP_MARK in path.name or chunk not in committed:
                path.unlink()
                removed += 1
    return removed


def read_documents(out: Path) -> pa.Table:
    return _read_all(documents_dir(out), DOCUMENT_SCHEMA)


def read_samples(out: Path) -> pa.Table:
    return _read_all(samples_dir(out), SAMPLE_SCHEMA)


def _read_all(folder: Path, schema: pa.Schema) -> pa.Table:
    paths = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    tables = [pq.read_table(path, schema=schema) for path in paths]
    return (
        pa.concat_tables(tables).replace_schema_metadata(None) if tables else schema.empty_table()
    )
