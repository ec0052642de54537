"""Helpers shared by the renderer tests."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "renderers"


def image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def processes_under(path: Path) -> list[int]:
    """Pids whose working directory lies under ``path`` (TeX runs leaking out of a test)."""
    found = []
    prefix = str(path)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:
            continue
        if cwd.startswith(prefix):
            found.append(int(entry.name))
    return found
