"""Shared paths and archive builders for the arXiv tests."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures" / "arxiv"
PAPERS = FIXTURES / "papers"
SOURCES = FIXTURES / "sources"
BULK = FIXTURES / "bulk" / "arXiv_src_2401_001.tar"
HOSTILE = FIXTURES / "hostile"


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)
