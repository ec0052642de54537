"""Writes every adapter's bundled sample (``sources/dataset/samples/<name>``): ``python -m
tests.datasets.make_samples``. The groups' writers live beside it, one module per group."""

from __future__ import annotations

import shutil

from tests.datasets import samples_caption, samples_chart, samples_scene, samples_sft
from tests.datasets.drawing import SAMPLES


def main() -> None:
    shutil.rmtree(SAMPLES, ignore_errors=True)
    for module in (samples_caption, samples_chart, samples_scene, samples_sft):
        for name, writer in module.WRITERS.items():
            writer(SAMPLES / name)


if __name__ == "__main__":
    main()
