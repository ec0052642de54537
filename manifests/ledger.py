"""The parquet ledger: a row for every input document and for every candidate sample.

Layout under the build's output (a folder or an object-store prefix, ``manifests.store``)::

    ledger/samples/<chunk>.parquet     candidates of the chunk's documents (kept and dropped)
    ledger/assets/<chunk>.parquet      files the documents refer to (image URLs), got or not
    ledger/documents/<chunk>.parquet   the chunk's documents; written last: it *is* the commit
    ledger/claims/<chunk>              held while a chunk's files are put in place

The commit of a chunk (``commit_chunk``): take its claim, check in the store that nobody
committed the chunk meanwhile, put its shards in place, then its sample rows (and asset rows),
then its document rows, each visible whole and made durable in that order, and drop the claim.
So a committed chunk always has all its shards, and no second attempt at a chunk (a task that
Ray retried after its worker died, a straggler of a killed run) can rewrite a committed one.
Anything without a committed chunk is a leftover of an interrupted attempt, which the next run
removes and writes again.
"""

from __future__ import annotations

import dataclasses
import io
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from vlpipe.manifests.shards import Placement, WrittenShard
from vlpipe.manifests.store import TMP_MARK, Store, open_store
from vlpipe.schema import Outcome, Sample, Signature, sha256

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
        ("run", pa.string()),  # the run that committed the document's chunk
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


BUILD_FILE = "build.json"
SHARDS = "shards"
DOCUMENTS = "ledger/documents"
SAMPLES = "ledger/samples"
ASSETS = "ledger/assets"
CLAIMS = "ledger/claims"
FOLDERS = (SHARDS, DOCUMENTS, SAMPLES, ASSETS, CLAIMS)


def chunk_key(folder: str, chunk: ChunkId | str) -> str:
    return f"{folder}/{chunk if isinstance(chunk, str) else chunk.name}.parquet"


def read_build_record(out: Store) -> dict[str, Any] | None:
    """The build's record (recipe, inputs, planned units), None when ``out`` holds no build."""
    return orjson.loads(out.read(BUILD_FILE)) if out.exists(BUILD_FILE) else None


def planned_units(out: Store) -> int | None:
    """How many work units the build in ``out`` plans (those a later version did not supersede;
    None: no build record)."""
    record = read_build_record(out)
    if record is None:
        return None
    return sum(1 for unit in record["units"] if unit.get("superseded_by") is None)


def is_committed(out: Store, chunk: ChunkId) -> bool:
    return out.exists(chunk_key(DOCUMENTS, chunk))


def document_row(
    source: str, chunk: ChunkId, outcome: Outcome, shards: list[str], run: str
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
        "run": run,
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
                "sha256": sha256(data).hex(),
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
    out: Store,
    chunk: ChunkId,
    shards: list[WrittenShard],
    documents: list[dict[str, Any]],
    samples: list[dict[str, Any]],
    assets: list[dict[str, Any]],
    last: bool,
) -> bool:
    """Put the chunk's shards and ledger rows in place (see the module docstring); False, with
    nothing changed, when another attempt committed the chunk first."""
    with out.claim(f"{CLAIMS}/{chunk.name}", f"chunk {chunk.name}"):
        if is_committed(out, chunk):
            return False
        for shard in shards:
            out.put(shard.temporary, f"{SHARDS}/{shard.name}")
        out.sync(SHARDS)
        _write_table(out, chunk_key(SAMPLES, chunk), rows_table(samples, SAMPLE_SCHEMA))
        out.sync(SAMPLES)
        if assets:
            _write_table(out, chunk_key(ASSETS, chunk), rows_table(assets, ASSET_SCHEMA))
            out.sync(ASSETS)
        table = rows_table(documents, DOCUMENT_SCHEMA)
        table = table.replace_schema_metadata({LAST_CHUNK_KEY: b"1" if last else b"0"})
        _write_table(out, chunk_key(DOCUMENTS, chunk), table)
        out.sync(DOCUMENTS)
        return True


def rows_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Ledger rows as an Arrow table of ``schema`` (every column typed: nothing is inferred)."""
    _skip_pandas_probe()
    return pa.Table.from_pylist(rows, schema)


@cache
def _skip_pandas_probe() -> None:
    """pyarrow imports pandas (a second or more) the first time it converts Python objects, only
    to ask whether they are pandas objects; ledger rows never are. When pandas is not loaded yet,
    that first probe is answered "not installed", so a build that does not use pandas never loads
    it. pyarrow still loads it on the first call that needs it (``to_pandas``, ``from_pandas``,
    type inference)."""
    if "pandas" in sys.modules:
        return

    class NoPandas:
        @staticmethod
        def find_spec(name: str, *_: object) -> None:
            if name == "pandas":
                raise ModuleNotFoundError("not loaded for ledger rows", name="pandas")

    sys.meta_path.insert(0, NoPandas())  # type: ignore[arg-type]
    try:
        pa.array([], pa.null())
    finally:
        sys.meta_path.remove(sys.meta_path[0])


def _write_table(out: Store, key: str, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    out.write(key, buffer.getvalue())


def arrow_owned(data: bytes) -> pa.BufferReader:
    """``data`` copied into memory that Arrow owns, to read parquet from.

    Arrow reading from a Python object (a file, ``bytes``) keeps slices of it in buffers that
    its pool threads may release after the read returned; a release needs the GIL, and one
    that comes while the interpreter shuts down ends the process with SIGABRT
    ("terminate called without an active exception", apache/arrow#34314). A build aborted
    that way about once in 300 exits; a copy that Arrow owns never needs the GIL."""
    buffer = pa.allocate_buffer(len(data))
    memoryview(buffer).cast("B")[:] = data
    return pa.BufferReader(buffer)


def read_table(out: Store, key: str, columns: list[str] | None = None) -> pa.Table:
    """One parquet file of the ledger (as ``ParquetFile``: ``pq.read_table`` would load
    ``pyarrow.dataset``, and pandas with it)."""
    _skip_pandas_probe()
    return pq.ParquetFile(arrow_owned(out.read(key))).read(columns=columns)


def committed_chunks(out: Store) -> dict[str, bool]:
    """Committed chunk names → whether the chunk was the last of its unit."""
    found: dict[str, bool] = {}
    for name in out.list(DOCUMENTS):
        if name.endswith(".parquet") and TMP_MARK not in name:
            # the footer alone, parsed in this thread: no page reader for a pool thread to
            # release late (``arrow_owned``), and no need to read the whole file
            with out.open(f"{DOCUMENTS}/{name}") as handle:
                metadata = pq.read_schema(handle).metadata or {}
            found[name.removesuffix(".parquet")] = metadata.get(LAST_CHUNK_KEY) == b"1"
    return found


def remove_uncommitted(out: Store, committed: dict[str, bool]) -> int:
    """Delete temporary files, claims, and the shards and sample rows of chunks that never
    committed (run before any worker starts)."""
    removed = 0
    for folder in FOLDERS:
        for name in out.list(folder):
            match = _SHARD_CHUNK.search(name)
            chunk = match.group(1) if match else name.split(".")[0]
            if TMP_MARK in name or chunk not in committed or folder == CLAIMS:
                out.remove(f"{folder}/{name}")
                removed += 1
    return removed


def read_documents(out: Store | Path | str) -> pa.Table:
    return _read_all(open_store(out), DOCUMENTS, DOCUMENT_SCHEMA)


def read_samples(out: Store | Path | str) -> pa.Table:
    return _read_all(open_store(out), SAMPLES, SAMPLE_SCHEMA)


def read_assets(out: Store | Path | str) -> pa.Table:
    return _read_all(open_store(out), ASSETS, ASSET_SCHEMA)


def _read_all(out: Store, folder: str, schema: pa.Schema) -> pa.Table:
    names = [n for n in out.list(folder) if n.endswith(".parquet") and TMP_MARK not in n]
    tables = [read_table(out, f"{folder}/{name}").cast(schema) for name in names]
    return (
        pa.concat_tables(tables).replace_schema_metadata(None) if tables else schema.empty_table()
    )
