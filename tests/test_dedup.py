"""Corpus-wide dedup on planted duplicates: exact copies, texts with a few words changed, images
re-encoded and resized; against an earlier build; the same result whatever the worker count."""

from __future__ import annotations

import base64
import io
import random
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from PIL import Image

from tests.jupyter.helpers import build
from vlpipe.manifests import ledger
from vlpipe.manifests.stats import summarize
from vlpipe.pipelines.dedup import DedupOptions, run_dedup
from vlpipe.recipe import load_recipe
from vlpipe.schema import sample_key

WORDS = [
    "harbour",
    "keeper",
    "lantern",
    "morning",
    "tide",
    "stone",
    "window",
    "letter",
    "orchard",
    "village",
    "river",
    "bridge",
    "winter",
    "garden",
    "market",
    "school",
    "engine",
    "signal",
    "island",
    "north",
    "south",
    "station",
    "copper",
    "wheat",
    "forest",
    "meadow",
    "candle",
    "kitchen",
    "ladder",
    "mirror",
    "needle",
    "pocket",
    "ribbon",
    "saddle",
    "thunder",
    "valley",
]


def essay(seed: int, words: int = 300) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def edited(text: str, changes: int, seed: int) -> str:
    rng = random.Random(seed)
    tokens = text.split()
    for _ in range(changes):
        tokens[rng.randrange(len(tokens))] = rng.choice(["alpha", "beta", "gamma"])
    return " ".join(tokens)


def text_corpus(folder: Path) -> dict[str, str]:
    """20 distinct essays, then 4 exact copies and 4 copies with 3 of 300 words changed; returns
    each planted duplicate's row id → the row id of its original."""
    rows = [{"text": essay(n)} for n in range(20)]
    planted = {}
    for n in range(4):
        planted[len(rows)] = n
        rows.append({"text": rows[n]["text"]})
    for n in range(4, 8):
        planted[len(rows)] = n
        rows.append({"text": edited(rows[n]["text"], 3, n)})
    folder.mkdir(parents=True)
    (folder / "essays.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return {f"in/essays.jsonl#L{d + 1}": f"in/essays.jsonl#L{o + 1}" for d, o in planted.items()}


def text_recipe() -> Any:
    base = load_recipe("text")
    return base.model_copy(update={"filters": (), "output": base.output.model_copy(
        update={"docs_per_chunk": 7, "max_samples_per_shard": 3}
    )})  # fmt: skip


def removed(out: Path) -> dict[str, tuple[str, str]]:
    """doc_id of each removed sample → (reason, doc_id of the sample kept in its place)."""
    rows = ledger.read_samples(out).to_pylist()
    by_key = {row["key"]: row["doc_id"] for row in rows}
    return {
        row["doc_id"]: (row["reason"], by_key.get(row["duplicate_of"], row["duplicate_of"]))
        for row in rows
        if row["filter"] == "dedup"
    }


def shard_samples(out: Path) -> dict[str, bytes]:
    found = {}
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                found[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    return found


def test_planted_exact_and_near_duplicate_texts_are_removed(tmp_path: Path) -> None:
    truth = text_corpus(tmp_path / "in")
    out, deduped = tmp_path / "out", tmp_path / "deduped"
    build([tmp_path / "in"], out, text_recipe())
    result = run_dedup(out, deduped, DedupOptions(), [])
    found = removed(deduped)
    assert {doc: original for doc, (_, original) in found.items()} == truth
    reasons = {doc: reason for doc, (reason, _) in found.items()}
    assert sorted(reasons.values()) == ["exact_duplicate"] * 4 + ["near_duplicate"] * 4
    assert (result["removed"], result["exact"], result["near"]) == (8, 4, 4)
    summary = summarize(deduped)
    assert summary["read"] == 28 == summary["kept"] + sum(summary["dropped"].values())
    assert summary["dropped"] == {"dedup/exact_duplicate": 4, "dedup/near_duplicate": 4}
    assert summary["samples"] == 20
    kept = shard_samples(deduped)
    original = shard_samples(out)
    assert all(original[name] == data for name, data in kept.items())  # copied byte for byte
    assert len(kept) == 2 * 20 and len(original) == 2 * 28


def test_thresholds_decide_what_is_near(tmp_path: Path) -> None:
    text_corpus(tmp_path / "in")
    out = tmp_path / "out"
    build([tmp_path / "in"], out, text_recipe())
    strict = run_dedup(out, tmp_path / "strict", DedupOptions(text_threshold=0.999), [])
    assert (strict["exact"], strict["near"]) == (4, 0)
    exact_off = run_dedup(out, tmp_path / "near", DedupOptions(exact=False, near=True), [])
    assert exact_off["removed"] == 8  # exact copies are near duplicates too
    nothing = run_dedup(out, tmp_path / "off", DedupOptions(exact=False, near=False), [])
    assert nothing["removed"] == 0


def test_an_earlier_build_wins(tmp_path: Path) -> None:
    rows = [{"text": essay(n)} for n in range(6)]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "a.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows[:3]))
    (tmp_path / "new").mkdir()
    newer = [rows[0], {"text": edited(rows[1]["text"], 2, 1)}, *rows[3:]]
    (tmp_path / "new" / "b.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in newer))
    build([tmp_path / "old"], tmp_path / "old_out", text_recipe())
    build([tmp_path / "new"], tmp_path / "new_out", text_recipe())
    run_dedup(tmp_path / "new_out", tmp_path / "dedup", DedupOptions(), [tmp_path / "old_out"])
    found = removed(tmp_path / "dedup")
    assert {doc: reason for doc, (reason, _) in found.items()} == {
        "new/b.jsonl#L1": "exact_duplicate",
        "new/b.jsonl#L2": "near_duplicate",
    }
    details = {
        row["doc_id"]: row["detail"]
        for row in ledger.read_samples(tmp_path / "dedup").to_pylist()
        if row["filter"] == "dedup"
    }
    assert str(tmp_path / "old_out") in details["new/b.jsonl#L1"]
    assert found["new/b.jsonl#L1"][1] == sample_key("old/a.jsonl#L1", 0)


def photo(seed: int, side: int = 256) -> Image.Image:
    """A photograph-like image: smooth random colour blobs."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, size=(8, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC)


def encoded(image: Image.Image, fmt: str, **options: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return base64.b64encode(buffer.getvalue()).decode()


def test_near_duplicate_images_re_encoded_or_resized_are_found(tmp_path: Path) -> None:
    def row(image: str, answer: str) -> dict[str, Any]:
        ask = {"role": "user", "content": "<image>\nWhat is shown?"}
        return {"messages": [ask, {"role": "assistant", "content": answer}], "images": [image]}

    rows = [row(encoded(photo(n), "PNG"), essay(n, 40)) for n in range(6)]
    rows.append(row(encoded(photo(0), "JPEG", quality=70), essay(0, 40)))  # re-encoded
    rows.append(row(encoded(photo(1).resize((180, 180)), "PNG"), essay(1, 40)))  # resized
    rows.append(row(encoded(photo(2), "PNG"), essay(99, 40)))  # same image, another answer
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "chats.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    out = tmp_path / "out"
    build([tmp_path / "in"], out, load_recipe("chat"))
    run_dedup(out, tmp_path / "all", DedupOptions(), [])
    assert removed(tmp_path / "all") == {
        "in/chats.jsonl#L7": ("near_duplicate", "in/chats.jsonl#L1"),
        "in/chats.jsonl#L8": ("near_duplicate", "in/chats.jsonl#L2"),
    }  # the third has the same image and another answer: not a duplicate with match=all
    run_dedup(out, tmp_path / "any", DedupOptions(match="any"), [])
    assert removed(tmp_path / "any")["in/chats.jsonl#L9"] == (
        "near_duplicate",
        "in/chats.jsonl#L3",
    )


@pytest.mark.slow
def test_dedup_is_the_same_inline_and_on_ray_and_resumes(tmp_path: Path, own_ray: None) -> None:
    text_corpus(tmp_path / "in")
    out = tmp_path / "out"
    build([tmp_path / "in"], out, text_recipe())
    run_dedup(out, tmp_path / "inline", DedupOptions(), [])
    on_ray = run_dedup(out, tmp_path / "ray", DedupOptions(), [], "ray", 2)
    assert on_ray["written"] == on_ray["chunks"] == 4
    for shard in (tmp_path / "inline" / "shards").iterdir():
        assert (tmp_path / "ray" / "shards" / shard.name).read_bytes() == shard.read_bytes()
    assert removed(tmp_path / "ray") == removed(tmp_path / "inline")
    again = run_dedup(out, tmp_path / "ray", DedupOptions(), [], "inline")
    assert again["written"] == 0  # every chunk committed: nothing redone
    from vlpipe.errors import ConfigError

    with pytest.raises(ConfigError, match="another build or dedup"):
        run_dedup(out, tmp_path / "ray", DedupOptions(text_threshold=0.5), [])
