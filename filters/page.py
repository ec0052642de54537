"""Rendered page images: how much of a page is ink (anything but its background).

Shared by the renderer-backed sources to drop blank pages and screenshots. The background is the
most common grey level, so dark themes and tinted pages count as blank when empty too; the page
is measured on a reduced copy because a blank test needs no detail.
"""

from __future__ import annotations

import io

from PIL import Image

SAMPLE_SIDE = 256  # pixels of the reduced copy's longer side
INK_DELTA = 24  # grey levels away from the background that count as ink


def ink_fraction(png: bytes) -> float:
    """The share of pixels that differ visibly from the page's background colour."""
    with Image.open(io.BytesIO(png)) as image:
        image.draft("L", (SAMPLE_SIDE, SAMPLE_SIDE))
        grey = image.convert("L")
        grey.thumbnail((SAMPLE_SIDE, SAMPLE_SIDE), Image.Resampling.BOX)
    histogram = grey.histogram()
    background = max(range(256), key=histogram.__getitem__)
    near = sum(histogram[max(0, background - INK_DELTA) : background + INK_DELTA + 1])
    return 1 - near / max(1, sum(histogram))
