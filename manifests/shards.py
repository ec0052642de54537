"""Deterministic WebDataset tar shards, rolled over by sample count and bytes.

``webdataset.ShardWriter`` stamps members with the current time; these shards carry
``mtime=0``, ``uid=gid=0`` and mode ``0o444`` so that the same samples give the same bytes. Shards
are written under temporary names; the chunk's commit (``ledger.commit_chunk``) renames them.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vlpipe.manifests.store import Store, temporary_name
from vlpipe.schema import Sample

BLOCK = tarfile.BLOCKSIZE


@dataclass(frozen=True)
class Placement:
    """Where a sample landed: its shard and the byte range of its members in the tar."""

    shard: str
    offset: int
    size: int


@dataclass(frozen=True)
class WrittenShard:
    """A complete shard under its temporary name, waiting for its chunk's commit."""

    temporary: Path
    name: str


class ShardWriter:
    """Writes samples to ``<directory>/<prefix>-<seq:03d>.tar``, starting a new shard when the
    next sample would pass ``max_samples`` or ``max_bytes``. Shards stay under temporary names
    (``written``) until the chunk commits them; leaving the writer on an exception deletes them.

    Members are written as USTAR header + data + padding directly: ``tarfile.addfile`` deep-copies
    every header, a third of the cost of writing a small sample."""

    def __init__(self, directory: Path, prefix: str, max_samples: int, max_bytes: int) -> None:
        self.directory = directory
        self.prefix = prefix
        self.max_samples = max_samples
        self.max_bytes = max_bytes
        self.shards: list[str] = []
        self.written: list[WrittenShard] = []
        self._file: BinaryIO | None = None
        self._temporary: Path | None = None
        self._offset = 0
        self._count = 0

    def write(self, sample: Sample) -> Placement:
        return self.write_members(tar_members(sample))

    def write_members(self, members: bytes) -> Placement:
        """Append one sample's tar members, already formed (a dedup copies them unchanged)."""
        size = len(members)
        if self._file is not None and (
            self._count >= self.max_samples or self._offset + size > self.max_bytes
        ):
            self._finish()
        if self._file is None:
            self._open()
        assert self._file is not None
        offset = self._offset
        self._file.write(members)
        self._offset += size
        self._count += 1
        return Placement(self.shards[-1], offset, size)

    def close(self) -> list[WrittenShard]:
        if self._file is not None:
            self._finish()
        return self.written

    def discard(self) -> None:
        """Delete every shard this writer started (the chunk is not committed)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        for path in [w.temporary for w in self.written] + [self._temporary]:
            if path is not None:
                path.unlink(missing_ok=True)
        self.written, self._temporary = [], None

    def _open(self) -> None:
        name = f"{self.prefix}-{len(self.shards):03d}.tar"
        self.shards.append(name)
        self._temporary = self.directory / temporary_name(name)
        self._file = open(self._temporary, "wb")  # noqa: SIM115
        self._offset = self._count = 0

    def _finish(self) -> None:
        """End the archive as tarfile does (two zero blocks, padded to a whole record)."""
        assert self._file is not None
        end = self._offset + 2 * tarfile.BLOCKSIZE
        self._file.write(bytes(2 * tarfile.BLOCKSIZE + -end % tarfile.RECORDSIZE))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        assert self._temporary is not None
        self.written.append(WrittenShard(self._temporary, self.shards[-1]))
        self._file = self._temporary = None

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def tar_members(sample: Sample) -> bytes:
    """A sample's files as tar members: a USTAR header, the data, padding to a block."""
    parts = []
    for ext, data in sample.files.items():
        parts += [_header(f"{sample.key}.{ext}", len(data)), data, bytes(-len(data) % BLOCK)]
    return b"".join(parts)


_USTAR_LIMIT = 8**11  # sizes USTAR's 11 octal digits hold
_MODE_IDS = b"0000444\x00" + b"0000000\x00" * 2  # mode 0o444, uid and gid 0
_AFTER_CHECKSUM = b"0" + bytes(100) + b"ustar\x0000" + bytes(64 + 16 + 155 + 12)


def _header(name: str, size: int) -> bytes:
    """The USTAR header ``tarfile`` writes for a read-only member of mtime 0 owned by root (byte
    for byte), formed directly for a short ASCII name: ``TarInfo.tobuf`` costs as much as the
    rest of writing a small sample."""
    encoded = name.encode()
    if len(encoded) > 100 or not encoded.isascii() or size >= _USTAR_LIMIT:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, 0, 0o444
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")
    before = encoded.ljust(100, b"\x00") + _MODE_IDS + b"%011o\x00" % size + b"0" * 11 + b"\x00"
    checksum = sum(before) + 8 * ord(" ") + sum(_AFTER_CHECKSUM)
    return before + b"%06o\x00 " % checksum + _AFTER_CHECKSUM


def iter_samples(out: Store) -> Iterator[dict[str, bytes]]:
    """Samples as {extension: bytes} (plus ``__key__``), shard by shard, in stored order."""
    for name in out.list("shards"):
        if not name.endswith(".tar"):
            continue
        with out.open(f"shards/{name}") as handle, tarfile.open(fileobj=handle) as tar:
            current: dict[str, bytes] = {}
            for member in tar:
                key, _, ext = member.name.partition(".")
                if current and current["__key__"] != key.encode():
                    yield current
                    current = {}
                current["__key__"] = key.encode()
                extracted = tar.extractfile(member)
                current[ext] = extracted.read() if extracted else b""
            if current:
                yield current
