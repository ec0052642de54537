"""Reading what arXiv serves: a paper's source files from a gzipped tar, a gzipped single
``.tex``, a PDF (dropped: no source), an unpacked folder or a bulk ``arXiv_src_YYMM_NNN.tar``
archive; arXiv ids from file names; a license the source states.

Archives are never extracted to disk: members are read into memory with guards (regular files
only, no absolute or ``..`` names, total size, member count, gzip ratio), so a hostile tar cannot
write or read outside its paper. Formats come from magic bytes, never from names.

This module is what the source's spec needs to find documents, so it stays light: no alignment
(rapidfuzz) and no PDF (PyMuPDF) imports.
"""

from __future__ import annotations

import io
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from vlpipe.errors import DocumentError
from vlpipe.recipe import ArchiveLimits, InputConfig
from vlpipe.schema import Document, Drop, Outcome
from vlpipe.sources.inputs import too_large

SOURCE = "arxiv"  # the source's name: its spec, drop reasons (``arxiv/pdf_only``), sample metadata
# Loose files: arXiv names them ``<id>``, ``<id>.gz`` or ``<id>.tar.gz`` (ids end in a digit);
# the format is read from the magic bytes, never from the name.
FILE_SUFFIXES = (".gz", ".tgz", ".pdf", *"0123456789")
CONTAINER_SUFFIXES = (".tar",)
_ID = re.compile(
    r"^(?P<id>\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?\d{7})(?:v(?P<version>\d+))?"
    r"(?:\.tar\.gz|\.tgz|\.gz|\.pdf|\.tar)?$"
)
_OLD_STYLE = re.compile(r"^([a-z][a-z\-]*(?:\.[A-Z]{2})?)(\d{7})$")
DOCUMENTCLASS = re.compile(r"\\document(?:class|style)\b")
_LICENSE_URL = re.compile(
    r"creativecommons\.org/(?:licenses/([a-z\-]+)/(\d\.\d)|publicdomain/zero)"
)
_LICENSE_NAME = re.compile(r"\bCC[ -](BY(?:-(?:NC|SA|ND))*)[ -](\d\.\d)\b|\bCC0\b")
_WITHDRAWN = re.compile(rb"withdraw", re.IGNORECASE)
TEX_SUFFIXES = (".tex", ".ltx", ".latex")


class ArchiveError(DocumentError):
    """The paper's archive is hostile, too large or not an arXiv source at all."""


@dataclass(frozen=True)
class PaperFiles:
    """A paper's source files (relative POSIX path → bytes) and the members that were refused."""

    files: dict[str, bytes]
    refused: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArxivId:
    id: str | None
    version: int | None


def parse_arxiv_id(name: str) -> ArxivId:
    """The arXiv id and version in a file name (``2401.00001v2.gz``, ``hep-th9901001``)."""
    match = _ID.match(PurePosixPath(name).name)
    if match is None:
        return ArxivId(None, None)
    old = _OLD_STYLE.match(match["id"])
    identifier = f"{old[1]}/{old[2]}" if old else match["id"]
    version = int(match["version"]) if match["version"] else None
    return ArxivId(identifier, version)


SourceFormat = Literal["gzip", "tar", "pdf", "text", "binary"]


def sniff(data: bytes) -> SourceFormat:
    """The format of arXiv source bytes, from magic bytes (names lie: ``<id>`` may be a tar)."""
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:5] == b"%PDF-":
        return "pdf"
    if (len(data) >= 512 and data[257:262] == b"ustar") or _is_old_tar(data):
        return "tar"
    return "binary" if b"\0" in data[:8192] else "text"


def _is_old_tar(data: bytes) -> bool:
    """A pre-POSIX tar header has no magic; its checksum field is the only tell."""
    if len(data) < 512 or not data[:1].strip(b"\0"):
        return False
    try:
        return tarfile.TarInfo.frombuf(data[:512], "utf-8", "surrogateescape") is not None
    except tarfile.HeaderError:
        return False


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Decompress a gzip stream, stopping at ``max_bytes`` (a gzip bomb never inflates fully)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise ArchiveError(f"corrupt gzip stream: {exc}") from None
    if len(out) > max_bytes:
        raise ArchiveError(f"gzip stream inflates beyond the {max_bytes}-byte limit (gzip bomb)")
    return out


def read_tar(data: bytes, limits: ArchiveLimits) -> PaperFiles:
    """The regular files of a tar held in memory; links, devices and unsafe names are refused."""
    files: dict[str, bytes] = {}
    refused: list[str] = []
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for count, member in enumerate(tar, start=1):
                if count > limits.max_members:
                    raise ArchiveError(f"archive has over {limits.max_members} members")
                name = _safe_name(member.name)
                if member.isdir():
                    continue
                if name is None or not member.isfile():
                    refused.append(member.name)
                    continue
                total += member.size
                if total > limits.max_unpacked_bytes:
                    raise ArchiveError(f"archive holds over {limits.max_unpacked_bytes} bytes")
                extracted = tar.extractfile(member)
                assert extracted is not None  # a regular file always has data
                files[name] = extracted.read()
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"corrupt tar archive: {exc}") from None
    return PaperFiles(files, tuple(refused))


def _safe_name(name: str) -> str | None:
    """``name`` as a clean relative path, or None when it could escape the paper's folder."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\0" in name:
        return None
    clean = PurePosixPath(*[part for part in path.parts if part != "."])
    return clean.as_posix() if clean.parts else None


def unpack_source(data: bytes, limits: ArchiveLimits) -> PaperFiles | Drop:
    """A paper's files from what arXiv serves, or a ``Drop`` for PDF-only and withdrawn papers."""
    kind = sniff(data)
    if kind == "gzip":
        data = gunzip(data, limits.max_unpacked_bytes)
        kind = sniff(data)
    if kind == "tar":
        return read_tar(data, limits)
    if kind == "pdf":
        return Drop(SOURCE, "pdf_only", "the submission is a PDF without TeX source")
    if kind == "binary":
        raise ArchiveError("not a TeX source, tar or gzip archive (binary data)")
    if not DOCUMENTCLASS.search(decode_tex(data)):
        reason = "withdrawn" if _WITHDRAWN.search(data[:4096]) else "no_tex_source"
        return Drop(SOURCE, reason, data[:120].decode("utf-8", "replace").strip())
    return PaperFiles({"main.tex": data})


def read_folder(folder: Path, limits: ArchiveLimits) -> PaperFiles:
    """An unpacked paper folder read with the same guards as a tar (symlinks are refused)."""
    files: dict[str, bytes] = {}
    refused: list[str] = []
    total = 0
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink() or (not path.is_file() and not path.is_dir()):
            refused.append(relative)
        elif path.is_file():
            if len(files) >= limits.max_members:
                raise ArchiveError(f"folder has over {limits.max_members} files")
            total += path.stat().st_size
            if total > limits.max_unpacked_bytes:
                raise ArchiveError(f"folder holds over {limits.max_unpacked_bytes} bytes")
            files[relative] = path.read_bytes()
    return PaperFiles(files, tuple(refused))


def is_paper_folder(folder: Path) -> bool:
    """A folder is one paper when a top-level ``.tex`` file in it declares ``\\documentclass``."""
    for path in sorted(folder.iterdir()):
        if path.suffix in TEX_SUFFIXES and path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if DOCUMENTCLASS.search(decode_tex(handle.read(65536))):
                    return True
    return False


def decode_tex(data: bytes) -> str:
    """TeX source as text: UTF-8, else Latin-1 (old sources), which never fails."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def find_license(files: dict[str, bytes]) -> str | None:
    """A license the source states (a Creative Commons URL or name in any text file), else None:
    arXiv's license is chosen at submission and usually not in the source."""
    for _, data in sorted(files.items()):
        if sniff(data) != "text" or len(data) > 2**21:
            continue
        text = decode_tex(data)
        url = _LICENSE_URL.search(text)
        if url:
            return f"CC-{url[1].upper()}-{url[2]}" if url[1] else "CC0-1.0"
        named = _LICENSE_NAME.search(text) if "licen" in text.lower() else None
        if named:
            return f"CC-{named[1].upper()}-{named[2]}" if named[1] else "CC0-1.0"
    return None


def read_bulk_archive(path: Path, label: str, config: InputConfig) -> Iterator[Document | Outcome]:
    """The papers of an arXiv bulk archive (``arXiv_src_YYMM_NNN.tar``: ``YYMM/<id>.gz`` and
    ``YYMM/<id>.pdf`` members), one document per member, ``doc_id`` ``<archive>#<member>`` (the
    arXiv id is in its origin: two archives may hold the same paper). A tar that is not a bulk
    archive is one paper whose ``doc_id`` is the archive's path."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            members = [m for m in tar if not m.isdir()]
            papers = [m for m in members if parse_arxiv_id(m.name).id is not None]
            if not papers or len(papers) < len(members) / 2:
                yield _whole_tar(path, label, config)
                return
            for member in members:
                yield _bulk_member(tar, member, label, config)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{label}: not a readable tar archive: {exc}") from None


def _whole_tar(path: Path, label: str, config: InputConfig) -> Document | Outcome:
    size = path.stat().st_size
    if size > config.max_doc_bytes:
        return too_large(label, size, config)
    return Document(label, path.read_bytes(), {"path": label})


def _bulk_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, label: str, config: InputConfig
) -> Document | Outcome:
    arxiv = parse_arxiv_id(member.name)
    doc_id = f"{label}#{member.name}"
    if not member.isfile():
        return Outcome(doc_id, error_class="ArchiveError", error=f"{member.name}: not a file")
    if member.size > config.max_doc_bytes:
        return too_large(doc_id, member.size, config)
    extracted = tar.extractfile(member)
    assert extracted is not None  # a regular file always has data
    origin = {"archive": label, "member": member.name, "arxiv_id": arxiv.id}
    return Document(doc_id, extracted.read(), {**origin, "version": arxiv.version})
