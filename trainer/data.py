"""Shard loading: endless seeded streams per shard set, mixed at recipe weights, packed.

Each DataLoader worker runs the whole chain on its own slice of the data:

    shard order (seeded; resampled or epoch-shuffled, split by rank and worker)
      ─▶ wds.tarfile_to_samples (bad tars counted, skipped) ─▶ wds.shuffle (seeded buffer)
      ─▶ mixture draw (seeded, recipe weights) ─▶ encode (bad samples counted, skipped)
      ─▶ first-fit packing into batch_size rows of seq_len tokens

Everything is a function of (seed, rank, worker), so the data position is just "how many raw
samples each stream has given and how many mixture draws were made": a resumed run rebuilds the
streams and fast-forwards them without decoding images. Workers are addressed by a *virtual* id
rotated on resume, so the round-robin order of the DataLoader continues exactly where it stopped.
"""

from __future__ import annotations

import glob
import itertools
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import webdataset as wds
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from vlpipe.errors import ConfigError
from vlpipe.trainer.config import DataConfig, ModelConfig, StreamConfig
from vlpipe.trainer.samples import IGNORE, Example, SampleError, encode_sample, sample_texts
from vlpipe.trainer.tokenizer import BaseTokenizer

log = logging.getLogger("vlpipe.trainer.data")


def expand_shards(specs: list[str]) -> list[str]:
    """Tar paths from files, globs and build output directories; sorted, without duplicates."""
    urls: list[str] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            inner = path / "shards" if (path / "shards").is_dir() else path
            urls += sorted(str(p) for p in inner.glob("*.tar"))
        else:
            urls += sorted(glob.glob(spec)) if glob.has_magic(spec) else [spec]
    urls = sorted(set(urls))
    if not urls:
        raise ConfigError(f"no shards found for {specs}")
    missing = [u for u in urls if not Path(u).is_file()]
    if missing:
        raise ConfigError(f"shard not found: {missing[0]}")
    return urls


class ShardError(ValueError):
    """A shard that cannot be read as a whole (e.g. truncated by a crashed copy)."""


def tar_is_complete(path: str) -> bool:
    """A tar ends with two zero blocks and is a whole number of 512-byte blocks; a truncated
    one almost never is. (tarfile's stream reader often just stops early instead of failing.)"""
    size = Path(path).stat().st_size
    if size < 1024 or size % 512:
        return False
    with open(path, "rb") as fh:
        fh.seek(size - 1024)
        return not any(fh.read(1024))


class ErrorCounter:
    """A webdataset ``handler``: counts each skipped tar/sample by reason, warns the first few
    times, and tells webdataset to carry on. One bad shard must not stop a training run."""

    def __init__(self, counts: dict[str, int] | None = None, warn_limit: int = 5) -> None:
        self.counts: dict[str, int] = dict(counts or {})
        self.warn_limit = warn_limit
        self.muted = False

    def __call__(self, exn: Exception) -> bool:
        if not self.muted:
            ours = isinstance(exn, SampleError | ShardError)
            reason = f"{type(exn).__name__}: {exn}" if ours else type(exn).__name__
            self.counts[reason] = self.counts.get(reason, 0) + 1
            if sum(self.counts.values()) <= self.warn_limit:
                log.warning("skipping bad data (%s)", exn)
        return True

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def shard_order(
    urls: list[str], seed: str, slot: int, nslots: int, resample: bool
) -> Iterator[dict[str, str]]:
    """Endless shard sequence for one (rank, worker) slot.

    ``resample``: every slot draws shards with replacement from its own seeded RNG (webdataset's
    ResampledShards idea) — never runs dry, whatever the number of slots. Otherwise: epochs of a
    seeded permutation shared by all slots, each slot taking every nslots-th shard (what
    ``wds.split_by_node`` + ``wds.split_by_worker`` do, with our virtual worker id)."""
    if resample:
        rng = random.Random(f"{seed}/slot{slot}")
        while True:
            yield {"url": rng.choice(urls)}
    mine_any = False
    for epoch in itertools.count():
        order = list(urls)
        random.Random(f"{seed}/epoch{epoch}").shuffle(order)
        mine = order[slot::nslots]
        if not mine and not mine_any:
            raise ConfigError(
                f"{len(urls)} shards cannot feed {nslots} rank×worker slots; "
                "set resample: true or use fewer workers"
            )
        mine_any = True
        for url in mine:
            yield {"url": url}


def raw_stream(
    spec: StreamConfig,
    urls: list[str],
    seed: int,
    slot: int,
    nslots: int,
    buffer: int,
    counter: ErrorCounter,
) -> Iterator[dict[str, Any]]:
    """One endless stream of raw samples (extension -> bytes) for a slot."""
    base = f"{seed}/{spec.name}"
    shards = shard_order(urls, base, slot, nslots, spec.resample)
    samples = wds.tarfile_to_samples(handler=counter)(shards)
    rng = random.Random(f"{base}/shuffle/slot{slot}")
    return wds.shuffle(buffer, initial=buffer, rng=rng)(samples)


@dataclass
class StreamState:
    """Data position of one virtual worker; what a checkpoint stores."""

    consumed: dict[str, int] = field(default_factory=dict)
    draws: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Mixture:
    """Samples from several streams at fixed weights, tracking the position of each stream."""

    def __init__(
        self,
        streams: dict[str, Iterator[dict[str, Any]]],
        weights: list[float],
        seed: str,
        state: StreamState,
    ) -> None:
        self.names = list(streams)
        self.streams = streams
        self.weights = weights
        self.rng = random.Random(f"{seed}/mixture")
        for _ in range(state.draws):  # replay the draws already made
            self.rng.choices(self.names, weights)
        self.draws = state.draws
        self.consumed = {n: state.consumed.get(n, 0) for n in self.names}

    def draw(self) -> tuple[str, dict[str, Any]]:
        name = self.rng.choices(self.names, self.weights)[0]
        self.draws += 1
        self.consumed[name] += 1
        return name, next(self.streams[name])


def fast_forward(stream: Iterator[Any], n: int, counter: ErrorCounter) -> None:
    """Skip ``n`` raw samples (no decoding) without re-counting errors already counted."""
    counter.muted = True
    for _ in range(n):
        next(stream)
    counter.muted = False


@dataclass
class Slot:
    rank: int
    world: int
    worker: int
    workers: int

    @property
    def index(self) -> int:
        return self.rank * self.workers + self.worker

    @property
    def count(self) -> int:
        return self.world * self.workers


def intact_shards(spec: StreamConfig, counter: ErrorCounter, count: bool) -> list[str]:
    """The stream's shards minus truncated ones, each skipped one counted once (on a fresh
    start; a resumed run already carries the count)."""
    urls = expand_shards(spec.shards)
    good = []
    for url in urls:
        if tar_is_complete(url):
            good.append(url)
        elif count:
            log.warning("skipping truncated shard %s", url)
            counter(ShardError("truncated tar"))
    if not good:
        raise ConfigError(f"stream {spec.name}: all {len(urls)} shards are truncated")
    return good


def mixed_samples(
    cfg: DataConfig, slot: Slot, state: StreamState, counter: ErrorCounter
) -> Mixture:
    """The seeded mixture for a slot, fast-forwarded to ``state``."""
    streams = {}
    for spec in cfg.streams:
        urls = intact_shards(spec, counter, count=state.draws == 0)
        stream = raw_stream(
            spec, urls, cfg.seed, slot.index, slot.count, cfg.shuffle_buffer, counter
        )
        fast_forward(stream, state.consumed.get(spec.name, 0), counter)
        streams[spec.name] = stream
    return Mixture(streams, [s.weight for s in cfg.streams], f"{cfg.seed}/slot{slot.index}", state)


def collate(rows: list[list[Example]], seq_len: int, pad_id: int) -> dict[str, Tensor]:
    """Packed rows to tensors. Positions restart at 0 for each document and ``doc_ids`` feed the
    block-diagonal mask; padding is its own "document" so its attention rows are never empty."""
    ids, labels, pos, docs, lo, hi = [], [], [], [], [], []
    for row in rows:
        r_ids: list[int] = []
        r_lab: list[int] = []
        r_pos: list[int] = []
        r_doc: list[int] = []
        for d, ex in enumerate(row):
            r_ids += ex.input_ids
            r_lab += ex.labels
            r_pos += range(len(ex.input_ids))
            r_doc += [d] * len(ex.input_ids)
            lo += ex.images_lo
            hi += ex.images_hi
        pad = seq_len - len(r_ids)
        ids.append(r_ids + [pad_id] * pad)
        labels.append(r_lab + [IGNORE] * pad)
        pos.append(r_pos + list(range(pad)))
        docs.append(r_doc + [len(row)] * pad)
    return {
        "input_ids": torch.tensor(ids),
        "labels": torch.tensor(labels),
        "positions": torch.tensor(pos),
        "doc_ids": torch.tensor(docs),
        "images_lo": torch.stack(lo) if lo else torch.zeros(0, 3, 1, 1),
        "images_hi": torch.stack(hi) if hi else torch.zeros(0, 3, 1, 1),
    }


def packed_batches(
    cfg: DataConfig, model_cfg: ModelConfig, tok: BaseTokenizer, slot: Slot, state: StreamState
) -> Iterator[dict[str, Any]]:
    """Endless batches for one slot, each carrying the slot's data state *after* it.

    First-fit packing: a document goes into the first row with room, a new row opens while the
    batch has fewer than batch_size rows; the first document that fits nowhere closes the batch
    and is carried to the next one — and is *not* counted as consumed in the state shipped with
    this batch, so a resume re-reads it."""
    counter = ErrorCounter(state.errors)
    mix = mixed_samples(cfg, slot, state, counter)
    carry: tuple[str, Example] | None = None
    while True:
        rows: list[list[Example]] = []
        room: list[int] = []
        names: dict[str, int] = {}
        while True:
            if carry is None:
                name, raw = mix.draw()
                try:
                    example = encode_sample(raw, tok, model_cfg, cfg.seq_len)
                except (ValueError, OSError, KeyError) as exn:  # SampleError, bad JSON/UTF-8
                    counter(
                        exn
                        if isinstance(exn, SampleError)
                        else SampleError(f"undecodable sample: {type(exn).__name__}")
                    )
                    continue
            else:
                name, example = carry
                carry = None
            size = len(example.input_ids)
            target = next((i for i, r in enumerate(room) if r >= size), None)
            if target is None and len(rows) < cfg.batch_size:
                rows.append([])
                room.append(cfg.seq_len)
                target = len(rows) - 1
            if target is None:
                carry = (name, example)
                break
            rows[target].append(example)
            room[target] -= size
            names[name] = names.get(name, 0) + 1
        consumed = dict(mix.consumed)
        consumed[carry[0]] -= 1
        after = StreamState(consumed, mix.draws - 1, dict(counter.counts))
        batch = collate(rows, cfg.seq_len, tok.pad_id)
        batch["meta"] = {"worker": slot.worker, "state": after, "samples": names}
        yield batch


class PackedDataset(IterableDataset):
    """The per-worker batch stream as a torch IterableDataset (use ``batch_size=None``)."""

    def __init__(
        self,
        cfg: DataConfig,
        model_cfg: ModelConfig,
        tok: BaseTokenizer,
        rank: int,
        world: int,
        states: dict[int, StreamState],
        rotation: int,
    ) -> None:
        super().__init__()
        self.cfg, self.model_cfg, self.tok = cfg, model_cfg, tok
        self.rank, self.world = rank, world
        self.states, self.rotation = states, rotation

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        workers = info.num_workers if info else 1
        worker = ((info.id if info else 0) + self.rotation) % workers
        slot = Slot(self.rank, self.world, worker, workers)
        state = self.states.get(worker, StreamState())
        return packed_batches(self.cfg, self.model_cfg, self.tok, slot, state)


class DataPosition:
    """Tracks, in the training process, the latest state of every virtual worker."""

    def __init__(self, saved: dict[str, Any] | None = None) -> None:
        saved = saved or {"batches": 0, "workers": {}}
        self.batches: int = saved["batches"]
        self.workers: dict[int, StreamState] = {
            int(w): StreamState(**s) for w, s in saved["workers"].items()
        }

    def update(self, meta: dict[str, Any]) -> None:
        self.batches += 1
        self.workers[meta["worker"]] = meta["state"]

    def errors(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for state in self.workers.values():
            for reason, n in state.errors.items():
                total[reason] = total.get(reason, 0) + n
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "workers": {
                w: {"consumed": s.consumed, "draws": s.draws, "errors": s.errors}
                for w, s in self.workers.items()
            },
        }


def make_loader(
    cfg: DataConfig,
    model_cfg: ModelConfig,
    tok: BaseTokenizer,
    rank: int,
    world: int,
    position: DataPosition,
) -> Iterator[dict[str, Any]]:
    """Endless iterator of packed batches continuing from ``position``."""
    workers = max(cfg.num_workers, 1)
    dataset = PackedDataset(
        cfg,
        model_cfg,
        tok,
        rank,
        world,
        dict(position.workers),
        rotation=position.batches % workers,
    )
    if cfg.num_workers == 0:
        return iter(dataset)
    return iter(
        DataLoader(dataset, batch_size=None, num_workers=cfg.num_workers, prefetch_factor=2)
    )


def iter_texts(cfg: DataConfig, limit: int) -> Iterator[str]:
    """Texts from the first ``limit`` samples of every stream (for training a BPE tokenizer)."""
    counter = ErrorCounter()
    for spec in cfg.streams:
        stream = raw_stream(
            spec, intact_shards(spec, counter, count=False), cfg.seed, 0, 1, 1, counter
        )
        for raw in itertools.islice(stream, limit):
            yield from sample_texts(raw)
