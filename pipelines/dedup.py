"""Corpus-wide deduplication: ``vlpipe dedup OUT --output OUT2``.

A build signs every kept sample (``filters.signatures``: MinHash of its text, pHash of each image)
and keeps the signatures in its ledger, so dedup never reads a shard to decide:

1. **Exact duplicates**: samples whose members (all but the json) have the same sha256s.
2. **Candidates**: text signatures bucketed by LSH (``bands`` × ``rows`` of the MinHash: texts of
   Jaccard similarity s share a bucket with probability 1 − (1 − s^rows)^bands), image pHashes by
   multi-index hashing (split into ``image_distance + 1`` blocks: two hashes within that Hamming
   distance share a block exactly).
3. **Verification** (unlike datatrove, a shared bucket is not enough): the MinHash agreement (an
   estimate of the Jaccard similarity) at least ``text_threshold``, every image within
   ``image_distance``; with ``match: all`` every kind of content a pair has must agree.
4. **Clusters** (union-find over the verified pairs); each keeps its first sample in build order
   (earlier builds given with ``--against`` first, then unit, chunk, position), whatever the
   number of workers; the others are removed as ``dedup/exact_duplicate`` or
   ``dedup/near_duplicate`` with ``duplicate_of``.

OUT2 has OUT's chunks: each chunk's shards are OUT's with the removed samples' tar members left
out (the others copied byte for byte), its ledger rows updated (a document whose every sample was
removed is dropped for the commonest dedup reason), committed with the build's commit protocol, so
``kept + dropped + failed = read`` still holds and an interrupted dedup resumes. Chunks are
written inline or by Ray tasks.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
from pydantic import Field, model_validator

from vlpipe.errors import ConfigError
from vlpipe.manifests import ledger
from vlpipe.manifests.shards import ShardWriter
from vlpipe.manifests.store import Store, open_store
from vlpipe.recipe import StrictModel
from vlpipe.runtime import Executor, choose_executor

NAME = "dedup"


class DedupOptions(StrictModel):
    exact: bool = Field(True, description="remove samples whose members are byte-identical")
    near: bool = Field(True, description="remove near duplicates (text MinHash, image pHash)")
    bands: int = Field(14, ge=1, description="LSH bands of the MinHash")
    rows: int = Field(8, ge=1, description="MinHash values per band")
    text_threshold: float = Field(0.7, gt=0, le=1, description="estimated Jaccard similarity")
    image_distance: int = Field(6, ge=0, le=32, description="pHash Hamming distance")
    match: Literal["all", "any"] = Field(
        "all", description="all: text and images (what a pair has) must agree; any: one suffices"
    )

    @model_validator(mode="after")
    def _fits_the_signature(self) -> DedupOptions:
        if self.bands * self.rows > 1024:
            raise ValueError("bands × rows exceeds any MinHash length")
        return self


@dataclass(frozen=True)
class Corpus:
    """The kept samples of one or more builds, in build order, with their signatures."""

    keys: list[str]
    builds: np.ndarray  # index of the build each sample belongs to (0: the one deduplicated)
    content: list[tuple[str, ...]]  # member sha256s, json left out
    minhash: np.ndarray  # (n, num_perm) uint32; rows of samples without text are unused
    has_text: np.ndarray
    phash: list[tuple[int, ...]]


@dataclass(frozen=True)
class Removal:
    duplicate_of: str  # the key of the sample kept in its place
    reason: Literal["exact_duplicate", "near_duplicate"]
    detail: str


def load_corpus(outputs: list[Store]) -> Corpus:
    """Kept samples of ``outputs``, earlier builds first (they win); the build to deduplicate is
    the last, build number 0."""
    keys: list[str] = []
    builds: list[int] = []
    content: list[tuple[str, ...]] = []
    hashes: list[bytes | None] = []
    phash: list[tuple[int, ...]] = []
    for position, out in enumerate(outputs):
        number = len(outputs) - 1 - position
        for _, table in committed_sample_tables(out):
            if "minhash" not in table.schema.names:
                raise ConfigError(f"{out.url} was built without dedup signatures: build again")
            for row in table.to_pylist():
                if row["status"] != "kept":
                    continue
                keys.append(row["key"])
                builds.append(number)
                metadata = f"{row['key']}.json"
                content.append(tuple(m["sha256"] for m in row["members"] if m["name"] != metadata))
                hashes.append(row["minhash"])
                phash.append(tuple(row["image_phash"] or ()))
    width = max((len(h) // 4 for h in hashes if h), default=0)
    minhash = np.zeros((len(keys), width), dtype=np.uint32)
    for index, value in enumerate(hashes):
        if value:
            minhash[index] = np.frombuffer(value, dtype="<u4")
    has_text = np.array([bool(h) for h in hashes], dtype=bool)
    return Corpus(keys, np.array(builds, dtype=np.int32), content, minhash, has_text, phash)


def committed_sample_tables(out: Store) -> Iterator[tuple[str, Any]]:
    """The sample rows of each committed chunk, in chunk order."""
    for name in sorted(ledger.committed_chunks(out)):
        yield name, ledger.read_table(out, ledger.chunk_key(ledger.SAMPLES, name))


def find_duplicates(
    corpus: Corpus, options: DedupOptions, builds: list[str] | None = None
) -> dict[int, Removal]:
    """Sample index (of build 0) → why it goes; the first sample of each cluster stays.
    ``builds``: the builds' folders, newest last, to say which one a kept sample is in."""
    parent = list(range(len(corpus.keys)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    def union(a: int, b: int) -> None:
        first, second = sorted((root(a), root(b)))
        parent[second] = first  # the earlier sample is the cluster's root

    if options.exact:
        for group in _groups(corpus.content):
            for member in group[1:]:
                union(group[0], member)
    if options.near:
        for a, b in _verified(corpus, _candidates(corpus, options), options):
            union(a, b)
    removals = {}
    for index in range(len(corpus.keys)):
        first = root(index)
        if first != index and corpus.builds[index] == 0:
            same = corpus.content[index] == corpus.content[first] and corpus.content[index]
            reason = "exact_duplicate" if same else "near_duplicate"
            detail = f"duplicate of {corpus.keys[first]}"
            if corpus.builds[first] and builds:
                detail += f" in {builds[len(builds) - 1 - int(corpus.builds[first])]}"
            removals[index] = Removal(corpus.keys[first], reason, detail)
    return removals


def _groups(values: Iterable[Any]) -> Iterator[list[int]]:
    """Indexes of equal (non-empty) values, two or more, each group in index order."""
    seen: dict[Any, list[int]] = {}
    for index, value in enumerate(values):
        if value:
            seen.setdefault(value, []).append(index)
    return (group for group in seen.values() if len(group) > 1)


def _candidates(corpus: Corpus, options: DedupOptions) -> set[tuple[int, int]]:
    """Pairs (earlier, later) that share an LSH bucket of their text or a pHash block."""
    pairs: set[tuple[int, int]] = set()
    texts = np.flatnonzero(corpus.has_text)
    width = corpus.minhash.shape[1]
    if options.bands * options.rows > width and len(texts):
        raise ConfigError(
            f"bands × rows = {options.bands * options.rows} > the {width} MinHash values the "
            "builds signed with"
        )
    for band in range(options.bands if len(texts) else 0):
        rows = corpus.minhash[texts, band * options.rows : (band + 1) * options.rows]
        for group in _groups(map(bytes, rows)):
            pairs.update((int(texts[group[0]]), int(texts[m])) for m in group[1:])
    blocks = options.image_distance + 1
    for block in range(blocks):
        low, high = 64 * block // blocks, 64 * (block + 1) // blocks
        mask = (1 << (high - low)) - 1
        # the first image finds the candidates (within the distance, it shares a block with
        # the other's first image); verification then compares every image
        keyed = [(len(p), (p[0] >> low) & mask) if p else None for p in corpus.phash]
        for group in _groups(keyed):
            pairs.update((group[0], member) for member in group[1:])
    return pairs


def _verified(
    corpus: Corpus, pairs: set[tuple[int, int]], options: DedupOptions
) -> list[tuple[int, int]]:
    if not pairs:
        return []
    first, second = (np.array(side, dtype=np.int64) for side in zip(*sorted(pairs), strict=True))
    both_text = corpus.has_text[first] & corpus.has_text[second]
    some_text = corpus.has_text[first] | corpus.has_text[second]
    agreement = (corpus.minhash[first] == corpus.minhash[second]).mean(axis=1)
    text_ok = both_text & (agreement >= options.text_threshold)
    kept = []
    for n, (a, b) in enumerate(zip(first.tolist(), second.tolist(), strict=True)):
        images_a, images_b = corpus.phash[a], corpus.phash[b]
        has_images = bool(images_a or images_b)
        images_ok = len(images_a) == len(images_b) and all(
            int(x ^ y).bit_count() <= options.image_distance
            for x, y in zip(images_a, images_b, strict=True)
        )
        checks = ([bool(text_ok[n])] if some_text[n] else []) + ([images_ok] if has_images else [])
        if checks and (all(checks) if options.match == "all" else any(checks)):
            kept.append((a, b))
    return kept


def run_dedup(
    source: Store | Path | str,
    destination: Store | Path | str,
    options: DedupOptions,
    against: list[Store | Path | str],
    executor: Executor = "inline",
    workers: int | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Deduplicate the build in ``source`` (and against earlier builds) into ``destination``
    (folders or object-store URLs)."""
    out, target = open_store(source), open_store(destination)
    earlier = [open_store(build) for build in against]
    for build in (out, *earlier):
        if ledger.read_build_record(build) is None:
            raise ConfigError(f"{build.url} holds no vlpipe build")
    corpus = load_corpus([*earlier, out])
    removals = find_duplicates(corpus, options, [build.url for build in (*earlier, out)])
    removed = {corpus.keys[i]: removal for i, removal in removals.items()}
    _prepare_target(out, target, options, earlier)
    chunks = sorted(ledger.committed_chunks(out))
    pending = [name for name in chunks if not ledger.is_committed(target, _chunk(name))]
    payload = {
        name: {k: dataclasses.asdict(r) for k, r in _chunk_removals(out, name, removed).items()}
        for name in pending
    }
    if executor == "auto":
        executor = choose_executor(len(pending), workers, address)[0]
    if executor == "inline" or not pending:
        for name in pending:
            write_chunk(out.url, target.url, name, payload[name])
    else:
        _write_on_ray(out, target, pending, payload, workers, address)
    exact = sum(1 for r in removals.values() if r.reason == "exact_duplicate")
    return {
        "samples": int(np.sum(corpus.builds == 0)),
        "removed": len(removals),
        "exact": exact,
        "near": len(removals) - exact,
        "chunks": len(chunks),
        "written": len(pending),
    }


def _chunk(name: str) -> ledger.ChunkId:
    return ledger.ChunkId.parse(name)


def _chunk_removals(out: Store, name: str, removed: dict[str, Removal]) -> dict[str, Removal]:
    keys = ledger.read_table(out, ledger.chunk_key(ledger.SAMPLES, name), columns=["key"])
    return {key: removed[key] for key in keys.column("key").to_pylist() if key in removed}


def _prepare_target(out: Store, target: Store, options: DedupOptions, against: list[Store]) -> None:
    """OUT2's build record: OUT's, plus what the dedup did; a different dedup is refused."""
    record = ledger.read_build_record(out) or {}
    record["dedup"] = {
        "options": options.model_dump(mode="json"),
        "input": _location(out),
        "against": [_location(build) for build in against],
        "chunks": sorted(ledger.committed_chunks(out)),
    }
    previous = ledger.read_build_record(target)
    if previous is not None and previous.get("dedup") != record["dedup"]:
        raise ConfigError(f"{target.url} holds another build or dedup; choose another --output")
    for folder in ledger.FOLDERS:
        target.makedirs(folder)
    ledger.remove_uncommitted(target, ledger.committed_chunks(target))
    if previous is None:
        options_json = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        target.write(ledger.BUILD_FILE, orjson.dumps(record, option=options_json))


def _location(store: Store) -> str:
    return str(Path(store.url).resolve()) if "://" not in store.url else store.url


def write_chunk(source: str, destination: str, name: str, removed: dict[str, Any]) -> None:
    """One chunk of the build at ``source`` into ``destination`` without the removed samples,
    committed. (URLs, not stores: this runs as a Ray task too.)"""
    out, target, chunk = open_store(source), open_store(destination), _chunk(name)
    samples = ledger.read_table(out, ledger.chunk_key(ledger.SAMPLES, name)).to_pylist()
    documents = ledger.read_table(out, ledger.chunk_key(ledger.DOCUMENTS, name))
    last = (documents.schema.metadata or {}).get(ledger.LAST_CHUNK_KEY) == b"1"
    recipe = (ledger.read_build_record(out) or {})["recipe"]
    with target.spool(ledger.SHARDS) as spool:
        writer = ShardWriter(
            spool,
            f"{recipe['source']}-{name}",
            recipe["output"]["max_samples_per_shard"],
            recipe["output"]["max_shard_bytes"],
        )
        _copy_kept(out, samples, removed, writer)
        document_rows = [_document(row, samples) for row in documents.to_pylist()]
        assets_key = ledger.chunk_key(ledger.ASSETS, name)
        assets = ledger.read_table(out, assets_key).to_pylist() if out.exists(assets_key) else []
        try:
            ledger.commit_chunk(target, chunk, writer.written, document_rows, samples, assets, last)
        finally:
            writer.discard()


def _copy_kept(
    out: Store, samples: list[dict[str, Any]], removed: dict[str, Any], writer: ShardWriter
) -> None:
    """Copy the tar members of the samples that stay; mark the others as removed."""
    with writer:
        for row in samples:
            if row["status"] != "kept":
                continue
            if row["key"] in removed:
                why = removed[row["key"]]
                row.update(status="dropped", filter=NAME, reason=why["reason"])
                row.update(detail=why["detail"], duplicate_of=why["duplicate_of"])
                row.update(shard=None, offset=None, tar_bytes=None)
                continue
            with out.open(f"{ledger.SHARDS}/{row['shard']}") as shard:
                shard.seek(row["offset"])
                placement = writer.write_members(shard.read(row["tar_bytes"]))
            row.update(shard=placement.shard, offset=placement.offset)


def _document(row: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """A document row after the dedup: its remaining samples, or dropped when none remain."""
    if row["status"] != "kept":
        return row
    mine = {s["key"]: s for s in samples if s["doc_id"] == row["doc_id"]}
    left = [key for key in row["sample_keys"] if mine[key]["status"] == "kept"]
    row["shards"] = sorted({mine[key]["shard"] for key in left})
    if not left:
        reasons = Counter(mine[key]["reason"] for key in row["sample_keys"])
        reason = reasons.most_common(1)[0][0]
        first = next(mine[k] for k in row["sample_keys"] if mine[k]["reason"] == reason)
        row.update(status="dropped", filter=NAME, reason=reason, detail=first["detail"])
    row["sample_keys"] = left
    return row


def _write_on_ray(
    out: Store,
    target: Store,
    pending: list[str],
    payload: dict[str, dict[str, Any]],
    workers: int | None,
    address: str | None,
) -> None:
    import ray

    from vlpipe.runtime import init_ray

    init_ray(address, workers)
    task = ray.remote(num_cpus=1, max_retries=3)(write_chunk)
    ray.get([task.remote(out.url, target.url, name, payload[name]) for name in pending])
