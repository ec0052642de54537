"""Write small vlpipe shards exactly as FORMAT.md specifies (deterministic tar members)."""

from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path
from typing import Any

from PIL import Image

from vlpipe.trainer.config import Recipe, recipe_from_dict

WORDS = (
    "plot",
    "axis",
    "line",
    "scatter",
    "figure",
    "label",
    "title",
    "grid",
    "color",
    "data",
    "ряд",
    "数据",
    "legend",
    "bar",
)


def png_bytes(seed: int, size: tuple[int, int] = (40, 28)) -> bytes:
    """A deterministic image: a colour per seed plus a few bars, so images differ."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    for x in range(0, size[0], 6):
        h = rng.randrange(size[1])
        img.paste(tuple(rng.randrange(256) for _ in range(3)), (x, size[1] - h, x + 4, size[1]))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def words(seed: int, n: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def meta(kind: str, task: str, i: int, **extra: object) -> bytes:
    return json.dumps(
        {
            "kind": kind,
            "task": task,
            "source": "fixture",
            "doc_id": f"doc{i}",
            "lang": "en",
            "license": None,
            **extra,
        }
    ).encode()


def image_text(i: int) -> dict[str, bytes]:
    code = f"import matplotlib.pyplot as plt\nplt.plot([{i}, {i % 7}])\n# {words(i, 3)}\n"
    return {
        "json": meta("image_text", "code_from_plot", i, target="py"),
        "png": png_bytes(i),
        "py": code.encode(),
    }


def interleaved(i: int) -> dict[str, bytes]:
    text = f"{words(i, 4)} <image> {words(i + 1, 3)} <image> {words(i + 2, 2)}"
    return {
        "json": meta("interleaved", "web_document", i),
        "0.png": png_bytes(i),
        "1.png": png_bytes(i + 1000),
        "txt": text.encode(),
    }


def text(i: int) -> dict[str, bytes]:
    return {"json": meta("text", "text", i), "txt": words(i, 12).encode()}


def chat(i: int) -> dict[str, bytes]:
    turns = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is drawn here? <image>"},
        {"role": "assistant", "content": words(i, 5)},
        {"role": "user", "content": "And the colour?"},
        {"role": "assistant", "content": words(i + 7, 2)},
    ]
    return {
        "json": meta("chat", "visual_qa", i),
        "0.png": png_bytes(i),
        "chat.json": json.dumps(turns, ensure_ascii=False).encode(),
    }


MAKERS = {"image_text": image_text, "interleaved": interleaved, "text": text, "chat": chat}


def write_shard(path: Path, samples: list[tuple[str, dict[str, bytes]]]) -> Path:
    """Members ``<key>.<ext>`` with mtime 0, uid/gid 0, mode 0o444, in sample order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for key, files in samples:
            for ext in sorted(files):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size, info.mtime, info.mode = len(files[ext]), 0, 0o444
                info.uid = info.gid = 0
                tar.addfile(info, io.BytesIO(files[ext]))
    return path


def make_shards(
    root: Path, kind: str, shards: int = 2, per_shard: int = 8, start: int = 0
) -> list[str]:
    """``shards`` tars of ``per_shard`` samples of one kind under ``root/shards``."""
    paths = []
    for s in range(shards):
        samples = []
        for j in range(per_shard):
            i = start + s * per_shard + j
            samples.append((f"{kind}_{i:05d}", MAKERS[kind](i)))
        paths.append(str(write_shard(root / "shards" / f"fixture-{kind}-{s:04d}.tar", samples)))
    return paths


def tiny_recipe(out: Path, streams: list[dict[str, Any]], **train: Any) -> Recipe:
    """A recipe on the tiny model, CPU, fp32, short sequences; ``train`` overrides train.*."""
    return recipe_from_dict(
        {
            "model": "tiny",
            "out": str(out),
            "data": {
                "seq_len": 96,
                "batch_size": 2,
                "num_workers": 0,
                "shuffle_buffer": 8,
                "streams": streams,
            },
            "train": {
                "steps": 4,
                "warmup_steps": 1,
                "lr": 3e-3,
                "precision": "fp32",
                "device": "cpu",
                "log_every": 1,
                "checkpoint_every": 100,
                **train,
            },
        }
    )
