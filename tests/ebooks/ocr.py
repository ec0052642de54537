"""The independent reference for page fidelity: tesseract's reading of a page image, compared with
the text vlpipe paired it with (used by the tests and by ``bench/bench_ebooks.py``)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import unicodedata
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageOps, ImageStat
from rapidfuzz.distance import Levenshtein

_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
_NOT_EN = re.compile(r"[^a-z0-9]+")
_NOT_ZH = re.compile("[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
Box = tuple[int, int, int, int]


def ocr(png: bytes, box: Box | None, lang: str, scale: int = 2, psm: int = 6) -> str:
    """Tesseract's text of ``box`` of the image (grey, dark pages inverted, upscaled: tesseract
    reads best at about 30 px per line)."""
    image = Image.open(io.BytesIO(png)).convert("L")
    if box is not None:
        image = image.crop(box)
    if ImageStat.Stat(image).mean[0] < 110:  # a dark page: tesseract wants dark on light
        image = ImageOps.invert(image)
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    result = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", lang, "--psm", str(psm)],
        input=buffer.getvalue(),
        capture_output=True,
        check=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},  # callers run several at once
    )
    return result.stdout.decode()


def reading_boxes(meta: dict[str, Any], pad: int = 6) -> list[Box]:
    """The regions of a page sample in reading order, from its json: the header, each text
    column (cut at the middle of the gaps, between the margins), the footer."""
    t, width, height = meta["template"], meta["width"], meta["height"]
    columns = t["columns"] if width == t["width"] else 1  # trim drops an empty 2nd column
    inner = width - 2 * t["margin_x"] - (t["columns"] - 1) * t["column_gap"]
    column = inner // t["columns"]
    cuts = [0]
    for n in range(1, columns):
        cuts.append(t["margin_x"] + n * column + (n - 1) * t["column_gap"] + t["column_gap"] // 2)
    cuts.append(width)
    top, bottom = max(0, t["margin_top"] - pad), min(height, height - t["margin_bottom"] + pad)
    body = [(cuts[i], top, cuts[i + 1], bottom) for i in range(len(cuts) - 1)]

    def padded(box: list[int]) -> Box:
        x0, y0, x1, y1 = box
        return max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)

    furniture = {f["role"]: padded(f["box"]) for f in meta.get("furniture", [])}
    header = [furniture["header"]] if "header" in furniture else []
    footer = [furniture["footer"]] if "footer" in furniture else []
    return [*header, *body, *footer]


def normalised(text: str, lang: str) -> str:
    """Letters and digits only (case folded; Chinese: Han characters, letters and digits, no
    spaces), so OCR's punctuation and spacing noise does not count."""
    text = unicodedata.normalize("NFKC", text).lower()
    if lang.startswith("chi") or lang.startswith("zh"):
        return _NOT_ZH.sub("", text)
    return " ".join(_NOT_EN.sub(" ", text).split())


def agreement(read: str, paired: str, lang: str) -> float:
    """Character similarity (1 − normalised edit distance) of the OCR text and the paired text."""
    return Levenshtein.normalized_similarity(normalised(read, lang), normalised(paired, lang))


def page_agreement(
    png: bytes, paired: str, boxes: Sequence[Box], lang: str, scale: int = 2
) -> tuple[float, str]:
    """OCR each box (a column) in turn, joined in reading order, against the paired text."""
    read = "\n".join(ocr(png, box, lang, scale) for box in boxes)
    return agreement(read, paired, lang), read


def tesseract_lang(text: str) -> str:
    """``chi_sim`` for text with Han characters, else ``eng``."""
    return "chi_sim" if _HAN.search(text) else "eng"
