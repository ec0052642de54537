"""Images and files for the dataset adapters' bundled samples (``sources/dataset/samples``),
written by ``python -m tests.datasets.make_samples``: each sample is a record in its dataset's
published schema, and each image shows what its record says (a scene-text image draws its
transcriptions in their quadrilaterals, a chart draws its values)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont

LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SAMPLES = Path(__file__).resolve().parents[2] / "sources" / "dataset" / "samples"


def font(size: int, cjk: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(CJK_FONT if cjk else LATIN_FONT, size)


def encoded(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=fmt, quality=85)
    return buffer.getvalue()


def scene(
    size: tuple[int, int], words: list[tuple[str, float, float, int, float]], cjk: bool = False
) -> tuple[Image.Image, list[list[float]]]:
    """A photo-like image with each word (text, centre x, centre y, font size, angle in degrees)
    drawn on a sign, and each word's quadrilateral (x1, y1, …, x4, y4: clockwise from the
    top-left corner of the text), as scene-text sets annotate them."""
    width, height = size
    image = Image.new("RGB", size, (96, 120, 88))
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 8):  # a textured background, not a blank page
        draw.line([(0, y), (width, y + 20)], fill=(88 + y % 40, 110, 80), width=3)
    quads = []
    for text, cx, cy, points, angle in words:
        face = font(points, cjk)
        left, top, right, bottom = face.getbbox(text)
        w, h = right - left + 12, bottom - top + 12
        sign = Image.new("RGBA", (w, h), (245, 240, 220, 255))
        ImageDraw.Draw(sign).text((6 - left, 6 - top), text, font=face, fill=(20, 20, 20))
        turned = sign.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        image.paste(turned, (round(cx - turned.width / 2), round(cy - turned.height / 2)), turned)
        radians = math.radians(-angle)
        corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
        quad = []
        for x, y in corners:
            quad += [
                round(cx + x * math.cos(radians) - y * math.sin(radians), 1),
                round(cy + x * math.sin(radians) + y * math.cos(radians), 1),
            ]
        quads.append(quad)
    return image, quads


def bar_chart(
    title: str, bars: dict[str, float], size: tuple[int, int] = (360, 240)
) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 6), title, font=font(14), fill="black")
    top, bottom, left = 40, size[1] - 30, 30
    peak = max(bars.values())
    step = (size[0] - left - 10) // max(1, len(bars))
    for n, (label, value) in enumerate(bars.items()):
        x = left + n * step + 6
        y = bottom - (bottom - top) * value / peak
        draw.rectangle([x, y, x + step - 12, bottom], fill=(50 + 40 * n % 200, 90, 160))
        draw.text((x, bottom + 4), label, font=font(11), fill="black")
        draw.text((x, y - 14), f"{value:g}", font=font(11), fill="black")
    draw.line([(left, top), (left, bottom), (size[0] - 5, bottom)], fill="black")
    return image


def screen(title: str, rows: list[str], size: tuple[int, int] = (240, 400)) -> Image.Image:
    """A phone screenshot: an app bar with a title and a list of labelled rows."""
    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, size[0], 48], fill=(33, 110, 200))
    draw.text((12, 14), title, font=font(16), fill="white")
    for n, row in enumerate(rows):
        y = 60 + n * 44
        draw.rectangle([8, y, size[0] - 8, y + 36], outline=(200, 200, 200), fill="white")
        draw.text((16, y + 10), row, font=font(13), fill=(30, 30, 30))
    return image


def picture(text: str, size: tuple[int, int] = (320, 240), seed: int = 0) -> Image.Image:
    """A simple drawn scene (shapes on a gradient) with a caption-worthy subject."""
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(size[1]):
        draw.line([(0, y), (size[0], y)], fill=(120 + y // 4, 170 - y // 5, 220 - seed * 20))
    draw.ellipse([40 + seed * 10, 60, 150 + seed * 10, 170], fill=(220, 60, 40))
    draw.rectangle([170, 100, 290, 200], fill=(40, 140, 60))
    draw.text((12, size[1] - 24), text, font=font(14), fill="white")
    return image


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def write_json(path: Path, value: Any) -> None:
    write(path, orjson.dumps(value, option=orjson.OPT_INDENT_2))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    write(path, b"".join(orjson.dumps(row) + b"\n" for row in rows))


def write_parquet(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    """Rows as a Hugging Face dataset's parquet shard stores them (an ``Image`` feature is a
    struct of ``bytes`` and ``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


HF_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def hf_image(image: Image.Image, fmt: str = "JPEG") -> dict[str, Any]:
    return {"bytes": encoded(image, fmt), "path": None}
