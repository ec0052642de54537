"""Loader: mixture ratio, packing with document boundaries, bad data, exact fast-forward."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import torch

from tests.trainer.shardkit import image_text, make_shards, png_bytes, write_shard
from vlpipe.trainer.config import DataConfig, resolve_model
from vlpipe.trainer.data import (
    DataPosition,
    ErrorCounter,
    Slot,
    StreamState,
    make_loader,
    mixed_samples,
    packed_batches,
)
from vlpipe.trainer.samples import IGNORE
from vlpipe.trainer.tokenizer import ByteTokenizer

CFG = resolve_model("tiny")


def data_cfg(streams: list[dict], **kw) -> DataConfig:
    base = {"seq_len": 96, "batch_size": 2, "num_workers": 0, "shuffle_buffer": 8}
    return DataConfig.model_validate({**base, **kw, "streams": streams})


def test_mixture_realises_recipe_weights(shards: dict[str, Path]) -> None:
    cfg = data_cfg(
        [
            {"name": "mm", "shards": [str(shards["image_text"])], "weight": 0.7},
            {"name": "text", "shards": [str(shards["text"])], "weight": 0.3},
        ],
        seed=7,
    )
    mix = mixed_samples(cfg, Slot(0, 1, 0, 1), StreamState(), ErrorCounter())
    draws = [mix.draw() for _ in range(2000)]
    kinds = {
        name: {json.loads(raw["json"])["kind"] for n, raw in draws if n == name}
        for name in ("mm", "text")
    }
    assert kinds == {"mm": {"image_text"}, "text": {"text"}}  # draws really come from the stream
    p = sum(name == "mm" for name, _ in draws) / len(draws)
    assert abs(p - 0.7) < 0.03
    assert mix.consumed == {"mm": round(p * 2000), "text": 2000 - round(p * 2000)}


def test_packing_respects_document_boundaries(shards: dict[str, Path]) -> None:
    cfg = data_cfg(
        [
            {"name": "text", "shards": [str(shards["text"])], "weight": 1.0},
            {"name": "chat", "shards": [str(shards["chat"])], "weight": 1.0},
        ],
        seq_len=256,
    )
    tok = ByteTokenizer()
    batch = next(packed_batches(cfg, CFG, tok, Slot(0, 1, 0, 1), StreamState()))
    ids, labels, pos, docs = (batch[k] for k in ("input_ids", "labels", "positions", "doc_ids"))
    assert ids.shape == (2, 256)
    starts = torch.ones_like(docs, dtype=torch.bool)
    starts[:, 1:] = docs[:, 1:] != docs[:, :-1]
    assert (pos[starts] == 0).all() and (pos[~starts] > 0).all()
    assert (ids[starts & (ids != tok.pad_id)] == tok.bos_id).all()  # each document starts anew
    assert (labels[ids == tok.pad_id] == IGNORE).all()
    assert (labels[ids == tok.image_id] == IGNORE).all()
    assert len(set(docs[0][ids[0] != tok.pad_id].tolist())) >= 2  # several documents per row
    assert batch["images_lo"].shape[0] * CFG.image_tokens == int((ids == tok.image_id).sum())


def test_bad_shards_are_skipped_and_counted(tmp_path: Path) -> None:
    good = make_shards(tmp_path / "good", "image_text", shards=1, per_shard=6)[0]
    data = Path(good).read_bytes()
    truncated = tmp_path / "bad" / "truncated.tar"
    truncated.parent.mkdir(parents=True)
    truncated.write_bytes(data[: len(data) * 3 // 5 + 100])
    no_image = image_text(50)
    del no_image["png"]
    corrupt = image_text(51)
    corrupt["png"] = png_bytes(51)[:70]
    write_shard(
        tmp_path / "bad" / "broken.tar",
        [("s50", no_image), ("s51", corrupt), ("s52", image_text(52))],
    )
    cfg = data_cfg(
        [
            {
                "name": "mm",
                "shards": [good, str(truncated), str(tmp_path / "bad")],
                "weight": 1.0,
                "resample": False,
            }
        ]
    )
    batches = list(
        itertools.islice(
            packed_batches(cfg, CFG, ByteTokenizer(), Slot(0, 1, 0, 1), StreamState()), 12
        )
    )
    errors = batches[-1]["meta"]["state"].errors
    reasons = " ".join(errors)
    assert errors["ShardError: truncated tar"] == 1
    assert "image_text sample with 0 images" in reasons
    assert "corrupt image" in reasons
    assert all(b["images_lo"].shape[0] > 0 for b in batches)


def _fingerprint(batch: dict) -> tuple:
    return tuple(batch["input_ids"].flatten().tolist()), float(batch["images_hi"].sum())


def test_fast_forward_continues_the_exact_stream_with_workers(shards: dict[str, Path]) -> None:
    cfg = data_cfg(
        [
            {
                "name": "mm",
                "shards": [str(shards["image_text"]), str(shards["interleaved"])],
                "weight": 0.6,
            },
            {"name": "text", "shards": [str(shards["text"])], "weight": 0.4},
        ],
        num_workers=2,
    )
    tok = ByteTokenizer()
    straight = [
        _fingerprint(b)
        for b in itertools.islice(make_loader(cfg, CFG, tok, 0, 1, DataPosition()), 7)
    ]
    position = DataPosition()
    for batch in itertools.islice(make_loader(cfg, CFG, tok, 0, 1, position), 3):
        position.update(batch["meta"])
    saved = DataPosition(position.to_dict())
    resumed = [
        _fingerprint(b) for b in itertools.islice(make_loader(cfg, CFG, tok, 0, 1, saved), 4)
    ]
    assert resumed == straight[3:]
    assert len(set(straight)) == 7
