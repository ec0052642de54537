"""End to end: `vlpipe build` makes shards from the bundled notebooks, `vlpipe train` learns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlpipe.trainer.checkpoint import load_checkpoint

VLPIPE = str(Path(sys.executable).with_name("vlpipe"))
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_train_a_few_cpu_steps_on_shards_built_by_the_pipeline(tmp_path: Path) -> None:
    built = tmp_path / "jupyter"
    subprocess.run(
        [VLPIPE, "build", "--source", "jupyter", "--executor", "inline", "--output", str(built)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert list((built / "shards").glob("*.tar"))
    run = tmp_path / "run"
    proc = subprocess.run(
        [
            VLPIPE,
            "train",
            "--recipe",
            str(REPO / "recipes" / "stage1_aligner.yaml"),
            "--out",
            str(run),
            "--max-steps",
            "3",
            "--device",
            "cpu",
            "--set",
            "model=tiny",
            "--set",
            "tokenizer.kind=byte",
            "--set",
            "data.seq_len=256",
            "--set",
            "data.batch_size=2",
            "--set",
            "data.num_workers=1",
            "--set",
            "train.precision=fp32",
            "--set",
            "train.log_every=1",
            "--set",
            f"data.streams.0.shards=[{built}]",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "step      3 | loss" in proc.stdout
    records = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["event"] == "step"]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all(r["images_per_s"] > 0 and r["skipped"] == 0 for r in steps)
    assert steps[-1]["samples"]["image_text"] >= 6
    assert load_checkpoint(run)["step"] == 3
