"""Samples of the scene-text adapters, each in its dataset's published annotation format (file
names, keys, types, byte-order marks and line ends as the real files have them; see the adapters'
``schema_source``). Each image draws its transcriptions in their polygons."""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.datasets.drawing import encoded, scene, write

Word = tuple[str, float, float, int, float]  # text, centre x, centre y, font size, degrees


def _coords(quad: list[float]) -> str:
    return ",".join(str(round(c)) for c in quad)


def _pairs(quad: list[float]) -> list[list[int]]:
    """``[[x, y], …]`` with integer pixels, as the JSON formats store polygons."""
    return [[round(quad[i]), round(quad[i + 1])] for i in range(0, len(quad), 2)]


def _eight(quad: list[float]) -> list[list[int]]:
    """A quadrilateral as ArT's 8-vertex polygon: 4 points along the top edge left to right,
    4 along the bottom edge right to left (clockwise)."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = (tuple(p) for p in _pairs(quad))
    top = [(x0 + (x1 - x0) * t / 3, y0 + (y1 - y0) * t / 3) for t in range(4)]
    bottom = [(x2 + (x3 - x2) * t / 3, y2 + (y3 - y2) * t / 3) for t in range(4)]
    return [[round(x), round(y)] for x, y in top + bottom]


def _page(words: list[tuple[str, float, float, int]], centre: tuple[float, float], angle: float):
    """Words laid out on an upright page (offsets from its centre), the page turned ``angle``
    degrees counter-clockwise about ``centre``: a photo of a sign taken askew."""
    cx, cy = centre
    radians = math.radians(angle)
    cos, sin = math.cos(radians), math.sin(radians)
    return [
        (text, cx + dx * cos + dy * sin, cy - dx * sin + dy * cos, size, angle)
        for text, dx, dy, size in words
    ]


def _bbox(quad: list[float]) -> list[float]:
    xs, ys = quad[0::2], quad[1::2]
    return [round(min(xs), 2), round(min(ys), 2), round(max(xs) - min(xs), 2),
            round(max(ys) - min(ys), 2)]  # fmt: skip


def _icdar_file(lines: list[str]) -> str:
    """An RRC ground-truth file: UTF-8 with a byte-order mark, CRLF line ends."""
    return "\ufeff" + "\r\n".join(lines) + "\r\n"


def icdar2015(folder: Path) -> None:
    image, quads = scene(
        (400, 300),
        [("OPEN", 110, 70, 28, 0), ("DAILY", 260, 70, 28, 0), ("EXIT", 200, 210, 30, 8),
         ("blur", 340, 260, 12, 0)],
    )  # fmt: skip
    write(folder / "images" / "img_1.jpg", encoded(image))
    texts = ["OPEN", "DAILY", "EXIT", "###"]
    lines = [f"{_coords(q)},{t}" for q, t in zip(quads, texts, strict=True)]
    write(folder / "gt" / "gt_img_1.txt", "\ufeff" + "\r\n".join(lines) + "\r\n")


def mlt17(folder: Path) -> None:
    """``gt_img_1.txt`` ↔ ``img_1.jpg``: ``x1,…,y4,script,transcription``."""
    words: list[Word] = [
        ("Castle", 130, 45, 30, 0), ("Museum", 330, 45, 30, 0),
        ("博物馆", 150, 115, 30, 0), ("入口", 300, 115, 30, 0),
        ("박물관", 150, 185, 30, 0), ("입구", 300, 185, 30, 0),
        ("Tickets", 120, 255, 24, 0), ("1,000", 260, 255, 24, 0),
        ("xq", 420, 290, 9, 0), ("mn", 440, 30, 9, 0),
    ]  # fmt: skip
    image, quads = scene((480, 320), words, cjk=True)
    write(folder / "images" / "img_1.jpg", encoded(image))
    labels = [
        ("Latin", "Castle"), ("Latin", "Museum"), ("Chinese", "博物馆"), ("Chinese", "入口"),
        ("Korean", "박물관"), ("Korean", "입구"), ("Latin", "Tickets"), ("Symbols", "1,000"),
        ("None", "###"), ("Latin", "###"),
    ]  # fmt: skip
    lines = [f"{_coords(q)},{s},{t}" for q, (s, t) in zip(quads, labels, strict=True)]
    write(folder / "gt" / "gt_img_1.txt", _icdar_file(lines))


def mlt19(folder: Path) -> None:
    """``tr_img_00001.txt`` (no ``gt_`` prefix) ↔ ``tr_img_00001.jpg``; a sign photographed
    askew (turned 12°), three lines."""
    page = [
        ("서울역", -10, -70, 34), ("Seoul", -70, 0, 30), ("Station", 70, 0, 30),
        ("Exit", -60, 65, 28), ("3,4", 40, 65, 28), ("ab", 140, 110, 9),
    ]  # fmt: skip
    image, quads = scene((480, 320), _page(page, (240, 160), 12), cjk=True)
    write(folder / "images" / "tr_img_00001.jpg", encoded(image))
    labels = [("Korean", "서울역"), ("Latin", "Seoul"), ("Latin", "Station"), ("Latin", "Exit"),
              ("Symbols", "3,4"), ("Korean", "###")]  # fmt: skip
    lines = [f"{_coords(q)},{s},{t}" for q, (s, t) in zip(quads, labels, strict=True)]
    write(folder / "gt" / "tr_img_00001.txt", _icdar_file(lines))


def rctw17(folder: Path) -> None:
    """``image_0.txt`` ↔ ``image_0.jpg``: text lines ``x1,…,y4,difficult,"transcription"``."""
    words: list[Word] = [
        ("老王面馆", 200, 60, 44, 0), ("牛肉面,拉面", 200, 145, 32, 0),
        ("创于1989", 200, 215, 26, 0), ("营业时间", 340, 275, 11, 0),
    ]  # fmt: skip
    image, quads = scene((400, 300), words, cjk=True)
    write(folder / "images" / "image_0.jpg", encoded(image))
    labels = [(0, "老王面馆"), (0, "牛肉面,拉面"), (0, "创于1989"), (1, "营业时间")]
    lines = [f'{_coords(q)},{d},"{t}"' for q, (d, t) in zip(quads, labels, strict=True)]
    write(folder / "train_gts" / "image_0.txt", _icdar_file(lines))


def art(folder: Path) -> None:
    """``train_labels.json``: ``{"gt_N": [{transcription, points, language, illegibility}]}``
    ↔ ``gt_N.jpg``; polygons of 4 or 8 vertices."""
    labels: dict[str, list[dict[str, Any]]] = {}
    image, quads = scene(
        (400, 260),
        [("COFFEE", 200, 70, 40, 6), ("HOUSE", 200, 150, 36, 0), ("smudge", 340, 230, 10, 0)],
    )
    write(folder / "images" / "gt_0.jpg", encoded(image))
    labels["gt_0"] = [
        {"transcription": "COFFEE", "points": _eight(quads[0]), "language": "Latin",
         "illegibility": False},
        {"transcription": "HOUSE", "points": _pairs(quads[1]), "language": "Latin",
         "illegibility": False},
        {"transcription": "###", "points": _pairs(quads[2]), "language": "None",
         "illegibility": True},
    ]  # fmt: skip
    image, quads = scene(
        (360, 240), [("燎申集团", 180, 80, 44, 0), ("KTV欢唱", 180, 170, 34, 0)], True
    )
    write(folder / "images" / "gt_1.jpg", encoded(image))
    labels["gt_1"] = [
        {"transcription": "燎申集团", "points": _eight(quads[0]), "language": "Chinese",
         "illegibility": False},
        {"transcription": "KTV欢唱", "points": _pairs(quads[1]), "language": "Mixed",
         "illegibility": False},
    ]  # fmt: skip
    write(folder / "train_labels.json", json.dumps(labels, ensure_ascii=False))


def lsvt(folder: Path) -> None:
    """``train_full_labels.json``: ``{"gt_N": [{transcription, points, illegibility}]}`` (no
    language) ↔ ``gt_N.jpg``; text lines."""
    image, quads = scene(
        (420, 280),
        [("一站式购物中心", 210, 80, 40, -4), ("欢迎光临", 210, 170, 36, 0),
         ("模糊", 370, 250, 10, 0)],
        cjk=True,
    )  # fmt: skip
    write(folder / "images" / "gt_0.jpg", encoded(image))
    labels = {
        "gt_0": [
            {"transcription": "一站式购物中心", "points": _pairs(quads[0]), "illegibility": False},
            {"transcription": "欢迎光临", "points": _pairs(quads[1]), "illegibility": False},
            {"transcription": "###", "points": _pairs(quads[2]), "illegibility": True},
        ]
    }
    write(folder / "train_full_labels.json", json.dumps(labels, ensure_ascii=False))


def rects(folder: Path) -> None:
    """``gt_unicode/train_ReCTS_000001.json`` (non-ASCII as ``\\uXXXX``) ↔
    ``img/train_ReCTS_000001.jpg``: ``chars`` and ``lines`` of ``{points: 8 numbers,
    transcription, ignore: 0|1}``."""
    texts = ["老北京炸酱面", "营业中", "电话"]
    image, quads = scene(
        (440, 300), [(texts[0], 220, 90, 48, 0), (texts[1], 220, 190, 34, 0),
                     (texts[2], 390, 275, 10, 0)], cjk=True,
    )  # fmt: skip
    write(folder / "images" / "train_ReCTS_000001.jpg", encoded(image))
    chars = []
    for text, quad in zip(texts[:2], quads, strict=False):
        (x0, y0), (x1, _), (_, y2), _ = _pairs(quad)
        step = (x1 - x0) / len(text)
        for n, char in enumerate(text):
            left, right = round(x0 + n * step), round(x0 + (n + 1) * step)
            chars.append({"ignore": 0, "transcription": char,
                          "points": [left, y0, right, y0, right, y2, left, y2]})  # fmt: skip
    lines = [
        {"ignore": ignore, "transcription": text, "points": [round(c) for c in quad]}
        for text, quad, ignore in zip(texts, quads, (0, 0, 1), strict=True)
    ]
    write(
        folder / "gt_unicode" / "train_ReCTS_000001.json",
        json.dumps({"chars": chars, "lines": lines}, ensure_ascii=True),
    )


def coco_text(folder: Path) -> None:
    """``cocotext.v2.json``: ``imgs``/``anns`` keyed by string ids, ``imgToAnns`` lists of int
    ids, ``bbox`` x, y, w, h; an illegible annotation without ``utf8_string``; an image with no
    text (``[]``), as most COCO images are."""
    image, quads = scene(
        (480, 320),
        [("STOP", 240, 80, 48, 0), ("ONE", 180, 180, 30, 0), ("WAY", 300, 180, 30, 0),
         ("xx", 420, 290, 9, 0)],
    )  # fmt: skip
    name = "COCO_train2014_000000522579.jpg"
    write(folder / "images" / name, encoded(image))
    anns: dict[str, dict[str, Any]] = {}
    texts = ["STOP", "ONE", "WAY", None]
    for number, (quad, text) in enumerate(zip(quads, texts, strict=True)):
        ann_id = 45346 + number
        box = _bbox(quad)
        ann: dict[str, Any] = {
            "mask": [round(c, 1) for c in quad], "class": "machine printed", "bbox": box,
            "image_id": 522579, "id": ann_id, "language": "english" if text else "na",
            "area": round(box[2] * box[3], 2), "legibility": "legible" if text else "illegible",
        }  # fmt: skip
        if text:
            ann["utf8_string"] = text
        anns[str(ann_id)] = ann
    data = {
        "cats": {},
        "info": {"author": "Tomas Veit", "url": "https://bgshih.github.io/cocotext/",
                 "version": "2.0", "description": "COCO-Text v2"},
        "imgs": {
            "522579": {"id": 522579, "set": "train", "width": 480, "file_name": name,
                       "height": 320},
            "391895": {"id": 391895, "set": "train", "width": 640,
                       "file_name": "COCO_train2014_000000391895.jpg", "height": 360},
        },
        "anns": anns,
        "imgToAnns": {"522579": [int(key) for key in anns], "391895": []},
    }  # fmt: skip
    write(folder / "cocotext.v2.json", json.dumps(data))


def textocr(folder: Path) -> None:
    """``TextOCR_0.1_train.json``: COCO-Text's layout with ``points`` for ``mask``, string ids
    everywhere, ``file_name`` ``train/<id>.jpg`` (the zip's folder is ``train_images``); ``.``
    for an illegible word. A poster photographed askew (turned 15°), three lines of words."""
    image_id = "a4ea732cd3d5948a"
    page = [
        ("LIVE", -70, -75, 40), ("MUSIC", 80, -75, 40),
        ("every", -115, 0, 28), ("Friday", 0, 0, 28), ("night", 115, 0, 28),
        ("free", -70, 70, 28), ("entry", 40, 70, 28), ("mfg", 140, 75, 9),
    ]  # fmt: skip
    image, quads = scene((480, 360), _page(page, (240, 180), 15))
    write(folder / "images" / f"{image_id}.jpg", encoded(image))
    anns = {}
    for number, ((text, *_), quad) in enumerate(zip(page, quads, strict=True), start=1):
        ann_id = f"{image_id}_{number}"
        box = _bbox(quad)
        anns[ann_id] = {
            "id": ann_id, "image_id": image_id, "bbox": box, "points": quad,
            "utf8_string": "." if text == "mfg" else text, "area": round(box[2] * box[3], 2),
        }  # fmt: skip
    data = {
        "imgs": {image_id: {"id": image_id, "width": 480, "height": 360, "set": "train",
                            "file_name": f"train/{image_id}.jpg"}},
        "anns": anns,
        "imgToAnns": {image_id: list(anns)},
    }  # fmt: skip
    write(folder / "TextOCR_0.1_train.json", json.dumps(data))


def _union(quads: list[list[float]], pad: int = 2) -> list[list[int]]:
    xs = [x for quad in quads for x in quad[0::2]]
    ys = [y for quad in quads for y in quad[1::2]]
    left, top = round(min(xs)) - pad, round(min(ys)) - pad
    right, bottom = round(max(xs)) + pad, round(max(ys)) + pad
    return [[left, top], [right, top], [right, bottom], [left, bottom]]


def hiertext(folder: Path) -> None:
    """``gt/train.jsonl.gz``: one gzipped JSON object (not JSON lines) of ``annotations``, each
    image's ``paragraphs`` → ``lines`` → ``words`` with ``vertices``, ``text``, ``legible``;
    two signs side by side, each a paragraph, their lines level with each other's."""
    image_id = "0a0b1c2d3e4f5a6b"
    layout = [  # paragraph → lines → words (text, centre x, centre y, size)
        [[("FRESH", 75, 70, 26), ("BREAD", 175, 70, 26)], [("daily", 110, 130, 24)]],
        [[("CLOSED", 360, 70, 26)], [("on", 315, 130, 24), ("Sundays", 395, 130, 24)],
         [("scrawl", 360, 190, 12)]],
    ]  # fmt: skip
    words: list[Word] = [(t, x, y, s, 0) for p in layout for line in p for t, x, y, s in line]
    image, quads = scene((480, 240), words)
    write(folder / "images" / f"{image_id}.jpg", encoded(image))
    flags = {"handwritten": False, "vertical": False}
    found = iter(quads)
    paragraphs = []
    for paragraph in layout:
        lines, paragraph_quads = [], []
        for line in paragraph:
            line_quads = [next(found) for _ in line]
            paragraph_quads += line_quads
            legible = line[0][0] != "scrawl"
            entries = [
                {"vertices": _pairs(q), "text": t if legible else "", "legible": legible,
                 **flags, "handwritten": not legible}
                for (t, *_), q in zip(line, line_quads, strict=True)
            ]  # fmt: skip
            text = " ".join(word["text"] for word in entries) if legible else ""
            lines.append({"vertices": _union(line_quads), "text": text, "legible": legible,
                          **flags, "handwritten": not legible, "words": entries})  # fmt: skip
        paragraphs.append({"vertices": _union(paragraph_quads, 6), "legible": True,
                           "lines": lines})  # fmt: skip
    data = {
        "info": {"date": "2022-03", "version": "v1"},
        "annotations": [{"image_id": image_id, "image_width": 480, "image_height": 240,
                         "paragraphs": paragraphs}],
    }  # fmt: skip
    write(folder / "gt" / "train.jsonl.gz", gzip.compress(json.dumps(data).encode(), mtime=0))


WRITERS: dict[str, Callable[[Path], None]] = {
    "icdar2015": icdar2015,
    "mlt17": mlt17,
    "mlt19": mlt19,
    "rctw17": rctw17,
    "art": art,
    "lsvt": lsvt,
    "rects": rects,
    "coco_text": coco_text,
    "textocr": textocr,
    "hiertext": hiertext,
}
