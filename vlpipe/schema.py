"""The data model shared by sources, filters and manifests (DESIGN.md: document, sample, ledger)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["kept", "dropped", "failed"]


_DIGESTS: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()


def sha256(data: bytes) -> bytes:
    """The sha256 of ``data``, computed once per bytes object however many parts of the build ask
    (the image filter's memos, its record, the pHash memo, the ledger's member row): the last 64
    objects' digests are kept by identity, each with its object so that the id is not reused."""
    known = _DIGESTS.get(id(data))
    if known is not None and known[0] is data:
        return known[1]
    digest = hashlib.sha256(data).digest()
    _DIGESTS[id(data)] = (data, digest)
    if len(_DIGESTS) > 64:
        _DIGESTS.popitem(last=False)
    return digest


@dataclass(frozen=True)
class Document:
    """One unit of input: raw bytes plus where it came from."""

    doc_id: str
    content: bytes | str
    origin: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Drop:
    """A filter's verdict against a document or a candidate sample."""

    filter: str
    reason: str  # a short category, e.g. ``too_few_code_lines``
    detail: str = ""  # the specifics, e.g. ``3 code lines < 5``


@dataclass(frozen=True)
class Sample:
    """One training example: tar members sharing ``key`` (extension → bytes)."""

    key: str
    files: dict[str, bytes]


@dataclass(frozen=True)
class DroppedCandidate:
    key: str
    drop: Drop


@dataclass(frozen=True)
class Signature:
    """What corpus-wide dedup compares a kept sample by (computed in the build, kept in the
    ledger): a MinHash of its text and a perceptual hash of each image."""

    minhash: bytes | None = None  # num_perm little-endian uint32 values; None: no text
    image_phash: tuple[int, ...] = ()


AssetStatus = Literal["fetched", "cached", "local", "dropped"]


@dataclass(frozen=True)
class Asset:
    """A file a document refers to and a source had to get (an image URL of an MMC4 document):
    where it came from, or why it could not be had. Each becomes a row of the assets ledger."""

    url: str
    status: AssetStatus
    sample_key: str | None = None  # the sample it went into, if any
    reason: str | None = None  # why it was dropped: ``http_404``, ``too_large`` …
    detail: str | None = None
    sha256: str | None = None
    size: int | None = None
    http_status: int | None = None
    attempts: int = 0


@dataclass(frozen=True)
class Outcome:
    """What became of one document: kept samples, dropped candidates, or a failure."""

    doc_id: str
    samples: tuple[Sample, ...] = ()
    dropped: tuple[DroppedCandidate, ...] = ()
    drop: Drop | None = None  # the document itself was dropped before any candidate
    error_class: str | None = None
    error: str | None = None
    doc_bytes: int = 0
    assets: tuple[Asset, ...] = ()

    @property
    def status(self) -> Status:
        if self.error_class is not None:
            return "failed"
        return "kept" if self.samples else "dropped"


def commonest_drop(dropped: Sequence[DroppedCandidate], what: str) -> Drop:
    """A document whose every candidate was dropped is dropped for their commonest reason (ties:
    the first in document order), under that reason's filter, with its first detail."""
    reasons = [d.drop.reason for d in dropped]
    main = max(reasons, key=reasons.count)
    first = next(d.drop for d in dropped if d.drop.reason == main)
    return Drop(first.filter, main, f"{len(dropped)} {what} dropped; first: {first.detail}")


def sample_key(doc_id: str, index: int) -> str:
    """Deterministic, WebDataset-safe key (no dots): a hash of the document id and an index."""
    digest = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()
    return f"{digest}_{index:04d}"
