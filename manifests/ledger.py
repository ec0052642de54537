"""The parquet ledger: a row for every input document and for every candidate sample.

Layout under the build's output folder::

    ledger/samples/<chunk>.parquet     candidates of the chunk's documents (kept and dropped)
    ledger/assets/<chunk>.parquet      files the documents refer to (image URLs), got or not
    ledger/documents/<chunk>.parquet   the chunk's documents; written last: it *is* the commit
    ledger/claims/<chunk>              locked while a chunk's files are put in place

The commit of a chunk (``commit_chunk``): take its claim (an exclusive lock), check on disk that
nobody committed the chunk meanwhile, rename its shards into place, then its sample rows (and
asset rows), then its document rows, make the renames durable, drop the claim. So a committed
chunk always has all its shards, and no second attempt at a chunk (a task that Ray retried after
its worker died, a straggler of a killed run) can rewrite a committed one. Anything without a
committed chunk is a leftover of an interrupted attempt, which the next run removes and writes
again.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from vlpipe.errors import BuildStopped
from vlpipe.manifests.shards import TMP_MARK, Placement, WrittenShard, fsync_dir, temporary_path
from vlpipe.schema import Outcome, Sample, Signature

LAST_CHUNK_KEY = b"vlpipe.last_chunk"
CLAIM_WAIT_S = 30.0  # how long a commit waits for another attempt's claim on the same chunk
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
        ("minhash", pa.binary()),  # of the sample's text (filters.signatures)
        ("image_phash", pa.list_(pa.uint64())),  # one per image, in member order
        ("duplicate_of", pa.string()),  # the sample a dedup kept in this one's place
    ]
)
ASSET_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("doc_id", pa.string()),
        ("url", pa.string()),
        ("status", pa.string()),
        ("sample_key", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("sha256", pa.string()),
        ("size", pa.int64()),
        ("http_status", pa.int32()),
        ("attempts", pa.int32()),
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


def build_file(out: Path) -> Path:
    """The build's record: recipe, inputs and the planned work units (resume checks it)."""
    return out / "build.json"


def planned_units(out: Path) -> int | None:
    """How many work units the build in ``out`` planned (None: no build record)."""
    record = build_file(out)
    return len(orjson.loads(record.read_bytes())["units"]) if record.exists() else None


def documents_dir(out: Path) -> Path:
    return out / "ledger" / "documents"


def samples_dir(out: Path) -> Path:
    return out / "ledger" / "samples"


def shards_dir(out: Path) -> Path:
    return out / "shards"


def assets_dir(out: Path) -> Path:
    return out / "ledger" / "assets"


def claims_dir(out: Path) -> Path:
    return out / "ledger" / "claims"


def output_dirs(out: Path) -> tuple[Path, ...]:
    return (shards_dir(out), documents_dir(out), samples_dir(out), assets_dir(out), claims_dir(out))


def is_committed(out: Path, chunk: ChunkId) -> bool:
    return (documents_dir(out) / f"{chunk.name}.parquet").exists()


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
    source: str, doc_id: str, sample: Sample, placement: Placement, signature: Signature
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
        "minhash": signature.minhash,
        "image_phash": list(signature.image_phash),
        "duplicate_of": None,
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
            "minhash": None,
            "image_phash": [],
            "duplicate_of": None,
        }
        for dropped in outcome.dropped
    ]


def asset_rows(source: str, outcome: Outcome) -> list[dict[str, Any]]:
    return [
        {"source": source, "doc_id": outcome.doc_id, **dataclasses.asdict(asset)}
        for asset in outcome.assets
    ]


def commit_chunk(
    out: Path,
    chunk: ChunkId,
    shards: list[WrittenShard],
    documents: list[dict[str, Any]],
    samples: list[dict[str, Any]],
    assets: list[dict[str, Any]],
    last: bool,
) -> bool:
    """Put the chunk's shards and ledger rows in place (see the module docstring); False, with
    nothing changed, when another attempt committed the chunk first."""
    with _claim(claims_dir(out) / chunk.name, chunk):
        if is_committed(out, chunk):
            return False
        for shard in shards:
            os.replace(shard.temporary, shards_dir(out) / shard.name)
        fsync_dir(shards_dir(out))
        _write_atomic(
            pa.Table.from_pylist(samples, SAMPLE_SCHEMA), samples_dir(out) / f"{chunk.name}.parquet"
        )
        fsync_dir(samples_dir(out))
        if assets:
            table = pa.Table.from_pylist(assets, ASSET_SCHEMA)
            _write_atomic(table, assets_dir(out) / f"{chunk.name}.parquet")
            fsync_dir(assets_dir(out))
        table = pa.Table.from_pylist(documents, DOCUMENT_SCHEMA)
        table = table.replace_schema_metadata({LAST_CHUNK_KEY: b"1" if last else b"0"})
        _write_atomic(table, documents_dir(out) / f"{chunk.name}.parquet")
        fsync_dir(documents_dir(out))
        return True


@contextmanager
def _claim(path: Path, chunk: ChunkId) -> Iterator[None]:
    """Hold the chunk's claim: an exclusive ``flock`` on ``claims/<chunk>``, which the kernel
    releases when its holder dies, so a worker killed mid-commit never blocks the retry. Another
    live holder is mid-commit (for milliseconds): wait, and stop the build if it never lets go.
    The file is removed while held; a waiter that then locks the removed file tries again."""
    deadline = time.monotonic() + CLAIM_WAIT_S
    while True:
        handle = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            if time.monotonic() > deadline:
                raise BuildStopped(
                    f"chunk {chunk.name} stays claimed by another attempt ({path}); "
                    "re-run the build to resume"
                ) from None
            time.sleep(0.05)
            continue
        try:
            current = os.stat(path).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(handle)
    try:
        os.write(handle, f"{socket.gethostname()} {os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(handle)


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
    """Delete temporary files, claims, and the shards and sample rows of chunks that never
    committed (run before any worker starts)."""
    removed = 0
    for folder in output_dirs(out):
        for path in folder.iterdir():
            match = _SHARD_CHUNK.search(path.name)
            chunk = match.group(1) if match else path.name.split(".")[0]
            if TMP_MARK in path.name or chunk not in committed or folder == claims_dir(out):
                path.unlink()
                removed += 1
    return removed


def read_documents(out: Path) -> pa.Table:
    return _read_all(documents_dir(out), DOCUMENT_SCHEMA)


def read_samples(out: Path) -> pa.Table:
    return _read_all(samples_dir(out), SAMPLE_SCHEMA)


def read_assets(out: Path) -> pa.Table:
    return _read_all(assets_dir(out), ASSET_SCHEMA)


def _read_all(folder: Path, schema: pa.Schema) -> pa.Table:
    paths = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    tables = [pq.read_table(path, schema=schema) for path in paths]
    return (
        pa.concat_tables(tables).replace_schema_metadata(None) if tables else schema.empty_table()
    )
