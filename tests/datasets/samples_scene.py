"""Samples of the scene-text adapters, each in its dataset's published annotation format."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.datasets.drawing import encoded, scene, write


def _coords(quad: list[float]) -> str:
    return ",".join(str(round(c)) for c in quad)


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


WRITERS: dict[str, Callable[[Path], None]] = {"icdar2015": icdar2015}
