"""The bundled DeepSeek-VL-style trainer: model, shard loader, 3-stage training loop.

Names resolve lazily so that importing ``vlpipe.trainer`` (e.g. for ``main``) does not pay for
torch until training or generation actually starts.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOME = {
    "train": "loop",
    "generate": "inference",
    "load_for_inference": "inference",
    "load_recipe": "config",
    "Recipe": "config",
    "VLM": "model",
}

__all__ = ["main", *_HOME]


def main(argv: list[str] | None = None) -> int:
    """The ``vlpipe train`` command; returns the exit status."""
    from vlpipe.trainer.cli import main as cli_main

    return cli_main(argv)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'vlpipe.trainer' has no attribute {name!r}")
    return getattr(import_module(f"vlpipe.trainer.{_HOME[name]}"), name)
