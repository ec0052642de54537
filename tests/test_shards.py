"""Shard members are formed directly, and must be what ``tarfile`` itself writes."""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from vlpipe.manifests.shards import _header, tar_members
from vlpipe.schema import Sample


def tarfile_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o444
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def test_headers_are_tarfiles_byte_for_byte() -> None:
    rng = random.Random(5)
    compared = 0
    for _ in range(5000):
        name = "".join(rng.choices("abcdef0123_.-/é", k=rng.randrange(1, 150))) + ".json"
        size = rng.choice([0, 1, 511, 512, rng.randrange(10**10), 8**11 - 1, 8**11])
        try:
            expected = tarfile_header(name, size)
        except ValueError:  # too long for USTAR, or too large: refused by both
            with pytest.raises(ValueError):
                _header(name, size)
            continue
        assert _header(name, size) == expected, (name, size)
        compared += 1
    assert compared > 1000


def test_members_read_back_with_tarfile() -> None:
    files = {"png": b"\x89PNG" * 300, "py": b"x = 1\n", "json": b"{}"}
    data = tar_members(Sample("0a1b2c_0001", files)) + bytes(1024)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [f"0a1b2c_0001.{ext}" for ext in files]
        assert all((m.mode, m.mtime, m.uid) == (0o444, 0, 0) for m in members)
        assert [tar.extractfile(m).read() for m in members] == list(files.values())
