"""Images, MMC4 rows and builds for the MMC4 and fetcher tests."""

from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path
from typing import Any

import orjson
from PIL import Image, ImageDraw
from rich.console import Console

from vlpipe.pipelines.build import run_build
from vlpipe.recipe import Recipe, load_recipe


def photo(seed: int, size: tuple[int, int] = (160, 120), fmt: str = "JPEG") -> bytes:
    """A photo-like image (a gradient sky, hills and a few shapes), different for each seed."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size)
    top, bottom = [rng.randrange(256) for _ in range(3)], [rng.randrange(256) for _ in range(3)]
    draw = ImageDraw.Draw(image)
    for y in range(height):
        mix = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)],
            tuple(round(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True)),
        )
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(5, max(6, width // 4))
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def png_bomb(side: int = 50_000) -> bytes:
    """A PNG whose header declares ``side`` × ``side`` pixels, in a few hundred bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def mmc4_row(
    url: str,
    sentences: list[str],
    images: list[dict[str, Any]],
    duplicate: int = 0,
) -> dict[str, Any]:
    """A document in MMC4's published schema: ``images`` give ``image_name``, ``raw_url``,
    ``matched_text_index`` and optionally ``matched_sim`` / ``face_detections``; the similarity
    matrix is made to agree with them."""
    info = []
    matrix = []
    for number, image in enumerate(images):
        sim = image.get("matched_sim", 0.3 + 0.01 * number)
        info.append(
            {
                "face_detections": image.get("face_detections"),
                "image_name": image["image_name"],
                "matched_sim": sim,
                "matched_text_index": image["matched_text_index"],
                "raw_url": image["raw_url"],
            }
        )
        matrix.append(
            [sim if j == image["matched_text_index"] else sim - 0.05 for j in range(len(sentences))]
        )
    return {
        "image_info": info,
        "similarity_matrix": matrix,
        "text_list": sentences,
        "url": url,
        "could_have_url_duplicate": duplicate,
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(json.dumps(row).encode() + b"\n" for row in rows))
    return path


def mmc4_recipe(**options: Any) -> Recipe:
    """The bundled MMC4 recipe with some ``mmc4`` options (and ``output``/``input``) changed."""
    data = load_recipe("mmc4").model_dump()
    for section in ("output", "input"):
        data[section].update(options.pop(section, {}))
    fetch = options.pop("fetch", {})
    data["mmc4"].update(options)
    data["mmc4"]["fetch"].update(fetch)
    return type(load_recipe("mmc4")).model_validate(data)


def build(inputs: list[Path | str], out: Path, recipe: Recipe) -> dict[str, Any]:
    quiet = Console(file=io.StringIO())
    return run_build(recipe, [str(p) for p in inputs], out, "inline", console=quiet)


def shard_members(out: Path) -> dict[str, bytes]:
    found = {}
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            found.update({m.name: tar.extractfile(m).read() for m in tar.getmembers()})
    return found


def samples(out: Path) -> dict[str, dict[str, Any]]:
    """Kept samples by doc_id: their json, text and image members."""
    members = shard_members(out)
    found: dict[str, dict[str, Any]] = {}
    for name, data in members.items():
        if name.endswith(".json"):
            key = name.removesuffix(".json")
            meta = orjson.loads(data)
            images = sorted(
                n for n in members if n.startswith(key + ".") and n[len(key) + 1].isdigit()
            )
            found[meta["doc_id"]] = {
                "meta": meta,
                "text": members[f"{key}.txt"].decode(),
                "images": [members[n] for n in images],
            }
    return found
