"""Samples of the caption adapters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

WRITERS: dict[str, Callable[[Path], None]] = {}
