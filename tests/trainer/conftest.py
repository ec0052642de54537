"""Shared fixtures: fixture shards of every kind and a tiny CPU recipe builder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from shardkit import MAKERS, make_shards

from vlpipe.trainer.config import Recipe, recipe_from_dict

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One build-like directory per sample kind, 2 shards × 8 samples each."""
    root = tmp_path_factory.mktemp("shards")
    for kind in MAKERS:
        make_shards(root / kind, kind)
    return {kind: root / kind for kind in MAKERS}


def tiny_recipe(out: Path, streams: list[dict[str, Any]], **train: Any) -> Recipe:
    """A recipe on the tiny model, CPU, fp32, short sequences; ``train`` overrides train.*."""
    return recipe_from_dict(
        {
            "model": "tiny",
            "out": str(out),
            "data": {
                "seq_len": 96,
                "batch_size": 2,
                "num_workers": 0,
                "shuffle_buffer": 8,
                "streams": streams,
            },
            "train": {
                "steps": 4,
                "warmup_steps": 1,
                "lr": 3e-3,
                "precision": "fp32",
                "device": "cpu",
                "log_every": 1,
                "checkpoint_every": 100,
                **train,
            },
        }
    )


@pytest.fixture
def make_recipe():
    return tiny_recipe
