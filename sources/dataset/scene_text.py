"""Scene-text OCR annotations → the legible text of an image in reading order (pure functions).

Formats, as their authors publish them:

- ``icdar``: one ground-truth text file per image, a text region per line, UTF-8 (often with a
  byte-order mark and CRLF). ICDAR 2015: ``x1,y1,…,x4,y4,transcription`` (the transcription is
  everything after the 8th comma, commas included); MLT-17/19: ``x1,…,y4,script,transcription``;
  RCTW-17: ``x1,…,y4,difficult,"transcription"``. ``###`` (and RCTW's ``difficult`` 1) marks a
  region that is not to be read.
- ``art``: ArT and LSVT, one JSON object ``{"gt_N": [{points, transcription, illegibility,
  language?}]}`` for all images.
- ``rects``: ReCTS, one JSON per image with ``lines`` (and ``chars``) of ``{points: 8 numbers,
  transcription, ignore}``.
- ``coco_text``: COCO-Text v2, ``imgs``/``anns``/``imgToAnns``; ``bbox`` is x, y, w, h,
  ``legibility`` ``legible``/``illegible``, ``utf8_string`` absent on some illegible ones.
- ``textocr``: TextOCR, the same layout; ``points`` a flat polygon, ``utf8_string`` ``.`` for
  illegible words.
- ``hiertext``: HierText, paragraphs → lines → words with ``vertices``, ``text``, ``legible``.

Reading order: HierText's paragraphs keep the dataset's order (its authors' grouping); everything
else (and the lines of a HierText paragraph, which the dataset does not promise to order) is
ordered by geometry: the text's dominant direction is estimated from the long axes of the
elongated regions (a near-square one, a single letter or ideograph, has none), the regions are
turned into that frame, regions whose vertical extents overlap by half form a line of text, read
left to right, lines top to bottom. Rotated photographs of text read right; text running down
(vertical CJK) reads in columns right to left.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from vlpipe.errors import DocumentError
from vlpipe.sources.dataset.adapters import Adapter, MissingColumn

Point = tuple[float, float]
ILLEGIBLE = "###"
MIN_ELONGATION = 1.3  # a region at least this much longer than high shows the text's direction
VERTICAL = math.radians(10)  # an axis this close to vertical is text that runs downwards
# CJK punctuation, kana, ideographs and full-width forms: no spaces between them (Hangul is left
# out: Korean puts spaces between its words, and MLT annotates each word as a region)
CJK_RANGES = (
    ("\u3000", "\u303f"),
    ("\u3040", "\u30ff"),
    ("\u3400", "\u4dbf"),
    ("\u4e00", "\u9fff"),
    ("\uf900", "\ufaff"),
    ("\uff00", "\uffef"),
)


class InvalidAnnotation(DocumentError):
    """A ground-truth record that does not parse in its format."""


@dataclass(frozen=True)
class Region:
    """A text region: its transcription, polygon, whether it can be read, and its script."""

    text: str
    points: tuple[Point, ...]
    legible: bool
    script: str | None = None
    paragraph: int = 0  # HierText's paragraph; 0 elsewhere

    def described(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"text": self.text, "points": [list(p) for p in self.points]}
        if self.script is not None:
            entry["script"] = self.script
        return entry


@dataclass(frozen=True)
class SceneText:
    regions: tuple[Region, ...]
    image: dict[str, Any] = field(default_factory=dict)  # the format's image fields
    ordered_paragraphs: bool = False


# -- parsers -----------------------------------------------------------------------------------


def parse_icdar(text: str, fields: str) -> SceneText:
    """An ICDAR-style ground-truth file (see the module's notes for the three layouts)."""
    regions = []
    extra = {"icdar2015": 0, "mlt": 1, "rctw": 1}[fields]
    # lines end in LF or CRLF only: str.splitlines would also break a transcription at U+2028,
    # U+0085 or a form feed, which are text here
    for number, line in enumerate(text.lstrip("\ufeff").split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        cells = line.split(",", 8 + extra)
        if len(cells) < 9 + extra:
            raise InvalidAnnotation(f"line {number}: {len(cells)} fields, not 8 numbers + text")
        points = _pairs(cells[:8], f"line {number}")
        transcription = cells[8 + extra]
        script = None
        legible = transcription != ILLEGIBLE
        if fields == "mlt":
            script = cells[8].strip()
        elif fields == "rctw":
            transcription = _unquoted(transcription)
            legible = cells[8].strip() != "1" and transcription != ILLEGIBLE
        regions.append(Region(transcription, points, legible, script))
    return SceneText(tuple(regions))


def parse_art(record: Any, adapter: Adapter) -> SceneText:
    """One image of ArT or LSVT: a list of ``{points, transcription, illegibility}``."""
    if not isinstance(record, list):
        raise InvalidAnnotation("an ArT/LSVT image's annotations are not a list")
    return SceneText(_marked_regions(record, "illegibility", "annotation", adapter))


def parse_rects(record: Any, adapter: Adapter) -> SceneText:
    """One ReCTS image: its ``lines`` (``ignore`` 1: not to be read)."""
    lines = _required(record, "lines", adapter)
    if not isinstance(lines, list):
        raise InvalidAnnotation("ReCTS 'lines' is not a list")
    return SceneText(_marked_regions(lines, "ignore", "line", adapter))


def _marked_regions(
    entries: list[Any], unreadable: str, what: str, adapter: Adapter
) -> tuple[Region, ...]:
    """``{points, transcription}`` entries whose ``unreadable`` flag (or ``###``) marks a region
    not to be read; ArT's ``language`` kept as the script."""
    regions = []
    for number, entry in enumerate(entries):
        points = _polygon(_required(entry, "points", adapter), f"{what} {number}")
        text = str(_required(entry, "transcription", adapter))
        legible = not entry.get(unreadable) and text != ILLEGIBLE
        regions.append(Region(text, points, legible, entry.get("language")))
    return tuple(regions)


def parse_coco_text(record: Any, adapter: Adapter) -> SceneText:
    """One COCO-Text image joined with its annotations (``records_coco``)."""
    regions = []
    for entry in record["annotations"]:
        x, y, w, h = _numbers(_required(entry, "bbox", adapter), 4, "bbox")
        points = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
        text = entry.get("utf8_string")
        legible = entry.get("legibility") == "legible" and isinstance(text, str) and bool(text)
        regions.append(Region(str(text or ""), points, legible, entry.get("language")))
    return SceneText(tuple(regions), record["image"])


def parse_textocr(record: Any, adapter: Adapter) -> SceneText:
    """One TextOCR image joined with its annotations; ``.`` is an illegible word."""
    regions = []
    for entry in record["annotations"]:
        text = str(_required(entry, "utf8_string", adapter))
        points = _polygon(_required(entry, "points", adapter), f"annotation {entry.get('id')}")
        regions.append(Region(text, points, text not in (".", "")))
    return SceneText(tuple(regions), record["image"])


def parse_hiertext(record: Any, adapter: Adapter) -> SceneText:
    """One HierText image: its lines, each with the paragraph it belongs to."""
    regions = []
    for number, paragraph in enumerate(_required(record, "paragraphs", adapter)):
        for line in _required(paragraph, "lines", adapter):
            points = _polygon(_required(line, "vertices", adapter), f"paragraph {number}")
            text = str(_required(line, "text", adapter))
            legible = bool(line.get("legible", True)) and bool(text.strip())
            regions.append(Region(text, points, legible, paragraph=number))
    image = {k: record.get(k) for k in ("image_id", "image_width", "image_height")}
    return SceneText(tuple(regions), image, ordered_paragraphs=True)


def records_coco(data: Any, adapter: Adapter) -> Iterator[tuple[str, dict[str, Any]]]:
    """COCO-Text or TextOCR: each image with its annotations, in the file's image order."""
    for key in ("imgs", "anns", "imgToAnns"):
        if not isinstance(data, dict) or not isinstance(data.get(key), dict):
            raise MissingColumn(f"adapter {adapter.name!r}: the file has no {key!r} object")
    anns = data["anns"]
    for image_id, image in data["imgs"].items():
        ids = data["imgToAnns"].get(str(image_id), [])
        found = [anns[str(a)] for a in ids if str(a) in anns]
        yield str(image_id), {"image": image, "annotations": found}


def _required(entry: Any, key: str, adapter: Adapter) -> Any:
    if not isinstance(entry, dict) or key not in entry:
        has = ", ".join(sorted(entry)) if isinstance(entry, dict) else type(entry).__name__
        raise MissingColumn(
            f"adapter {adapter.name!r} ({adapter.title}): an annotation has no {key!r}; it has "
            f"{has}. A later release may have renamed it"
        )
    return entry[key]


def _unquoted(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _numbers(values: Any, count: int | None, what: str) -> list[float]:
    if not isinstance(values, list | tuple) or (count is not None and len(values) != count):
        raise InvalidAnnotation(f"{what}: not {count or 'a list of'} numbers")
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise InvalidAnnotation(f"{what}: not numbers") from None
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidAnnotation(f"{what}: not finite")
    return numbers


def _pairs(cells: Sequence[Any], what: str) -> tuple[Point, ...]:
    numbers = _numbers(list(cells), None, what)
    return tuple(zip(numbers[0::2], numbers[1::2], strict=True))


def _polygon(value: Any, what: str) -> tuple[Point, ...]:
    """``[[x, y], …]`` or a flat ``[x1, y1, …]``, at least three points."""
    if isinstance(value, list) and value and isinstance(value[0], list | tuple):
        flat = [c for point in value for c in (point if len(point) == 2 else [None])]
    else:
        flat = value
    if not isinstance(flat, list) or len(flat) < 6 or len(flat) % 2:
        raise InvalidAnnotation(f"{what}: a polygon needs at least 3 x, y pairs")
    return _pairs(flat, what)


# -- reading order -----------------------------------------------------------------------------


def text_angle(regions: Sequence[Region]) -> float:
    """The dominant direction of the text (radians): the median of the elongated regions' long
    axes (a near-square region, a single letter or ideograph, has no direction to give; none:
    horizontal), taken around their mean so that axes either side of vertical agree. Text that
    runs vertically reads downwards (+pi/2: columns right to left, as vertical CJK is read)."""
    axes = [_axis(r.points) for r in regions if len(r.points) >= 3]
    angles = [angle for angle, elongation in axes if elongation >= MIN_ELONGATION]
    if not angles:
        return 0.0
    # axes are directions modulo pi: average them as doubled angles, then unwrap around that
    mean = 0.5 * math.atan2(
        sum(math.sin(2 * a) for a in angles), sum(math.cos(2 * a) for a in angles)
    )
    unwrapped = [mean + (a - mean + math.pi / 2) % math.pi - math.pi / 2 for a in angles]
    angle = median(unwrapped)
    if angle <= -math.pi / 2 + VERTICAL:
        angle += math.pi
    elif angle > math.pi / 2 + VERTICAL:
        angle -= math.pi
    return angle


def _axis(points: Sequence[Point]) -> tuple[float, float]:
    """A polygon's principal axis (radians, in (-pi/2, pi/2]) and how elongated it is (the
    ratio of its spreads along and across that axis)."""
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)
    sxx = sum((p[0] - cx) ** 2 for p in points)
    syy = sum((p[1] - cy) ** 2 for p in points)
    sxy = sum((p[0] - cx) * (p[1] - cy) for p in points)
    angle = 0.5 * math.atan2(2 * sxy, sxx - syy)
    spread = math.hypot(sxx - syy, 2 * sxy)
    along, across = (sxx + syy + spread) / 2, (sxx + syy - spread) / 2
    # a segment points its way (infinitely elongated); a single point does not
    flat = math.inf if along > 1e-9 else 0.0
    elongation = math.sqrt(along / across) if across > 1e-9 else flat
    return (angle if angle > -math.pi / 2 else angle + math.pi), elongation


def text_lines(regions: Sequence[Region]) -> list[list[int]]:
    """Indices of ``regions`` grouped into lines of text in reading order: lines top to bottom,
    left to right within one."""
    if not regions:
        return []
    angle = text_angle(regions)
    cos, sin = math.cos(-angle), math.sin(-angle)
    boxes = []
    for index, region in enumerate(regions):
        turned = [(x * cos - y * sin, x * sin + y * cos) for x, y in region.points]
        ys = [p[1] for p in turned]
        boxes.append((min(ys), max(ys), sum(p[0] for p in turned) / len(turned), index))
    boxes.sort(key=lambda b: ((b[0] + b[1]) / 2, b[2]))
    lines: list[list[tuple[float, float, float, int]]] = []
    for box in boxes:
        if lines and _same_line(lines[-1], box):
            lines[-1].append(box)
        else:
            lines.append([box])
    return [[box[3] for box in sorted(line, key=lambda b: b[2])] for line in lines]


def _same_line(line: list[tuple[float, float, float, int]], box: tuple[float, ...]) -> bool:
    top = median(b[0] for b in line)
    bottom = median(b[1] for b in line)
    overlap = min(bottom, box[1]) - max(top, box[0])
    return overlap >= 0.5 * min(bottom - top, box[1] - box[0])


def ordered_text(scene: SceneText) -> tuple[str, list[Region]]:
    """The legible text in reading order, a line of text per line (HierText: paragraphs apart
    by a blank line), and the legible regions in that order."""
    legible = [r for r in scene.regions if r.legible]
    groups: dict[int, list[Region]] = {}
    for region in legible:
        groups.setdefault(region.paragraph if scene.ordered_paragraphs else 0, []).append(region)
    ordered, blocks = [], []
    for members in groups.values():
        lines = [[members[i] for i in line] for line in text_lines(members)]
        ordered.extend(region for line in lines for region in line)
        blocks.append("\n".join(_joined(r.text for r in line) for line in lines))
    return "\n\n".join(blocks), ordered


def _joined(texts: Iterator[str]) -> str:
    """Words of one line joined by spaces, except between two CJK characters."""
    joined = ""
    for text in texts:
        if joined and not (_cjk(joined[-1]) and text and _cjk(text[0])):
            joined += " "
        joined += text
    return joined


def _cjk(char: str) -> bool:
    return any(low <= char <= high for low, high in CJK_RANGES)
