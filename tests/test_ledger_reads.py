"""Ledger parquet is read from memory that Arrow owns (``ledger.arrow_owned``): a table read
from a Python object keeps references to it that Arrow's threads may drop while the interpreter
shuts down, which aborts the process (apache/arrow#34314)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vlpipe.manifests import ledger
from vlpipe.manifests.store import LocalStore


def _parquet(rows: int) -> bytes:
    table = pa.table({"doc_id": [f"d{i}" for i in range(rows)], "unit": list(range(rows))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="none")  # pages Arrow can slice, not copy
    return buffer.getvalue()


def test_a_parquet_reader_on_arrow_owned_memory_holds_no_python_object() -> None:
    data = _parquet(500)
    before = sys.getrefcount(data)
    owned = pq.ParquetFile(ledger.arrow_owned(data))
    assert sys.getrefcount(data) == before
    # The measure can fail: a reader on the bytes themselves keeps them alive, and so would
    # each buffer of its pages that a pool thread releases.
    borrowed = pq.ParquetFile(pa.BufferReader(data))
    assert sys.getrefcount(data) > before
    assert owned.read().equals(borrowed.read())
    assert owned.read().column("doc_id").to_pylist()[:2] == ["d0", "d1"]


def test_read_table_reads_whole_and_partial_columns(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "t.parquet").write_bytes(_parquet(3))
    table = ledger.read_table(store, "ledger/t.parquet", columns=["unit"])
    assert table.column_names == ["unit"] and table.column("unit").to_pylist() == [0, 1, 2]
