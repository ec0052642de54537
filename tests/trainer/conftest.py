"""Shared fixtures: fixture shards of every kind and a tiny CPU recipe builder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.trainer.shardkit import MAKERS, make_shards, tiny_recipe

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One build-like directory per sample kind, 2 shards × 8 samples each."""
    root = tmp_path_factory.mktemp("shards")
    for kind in MAKERS:
        make_shards(root / kind, kind)
    return {kind: root / kind for kind in MAKERS}


@pytest.fixture
def make_recipe():
    return tiny_recipe
