"""Train-step throughput of the `tiny` model on CPU: median tokens/s over timed steps.

Batches are packed from generated interleaved + text shards and held in memory beforehand, so
only the step (forward, backward, clip, AdamW) is timed.

    python bench/bench_train.py [--steps 20] [--warmup 5] [--batch 4] [--seq 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "trainer"))
from shardkit import make_shards

from vlpipe.trainer.config import DataConfig, resolve_model
from vlpipe.trainer.data import Slot, StreamState, packed_batches
from vlpipe.trainer.model import VLM, count_params, set_trainable
from vlpipe.trainer.tokenizer import ByteTokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg, tok = resolve_model("tiny"), ByteTokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        streams = []
        for kind, weight in (("interleaved", 0.7), ("text", 0.3)):
            make_shards(Path(tmp) / kind, kind, shards=2, per_shard=32)
            streams.append({"name": kind, "shards": [str(Path(tmp) / kind)], "weight": weight})
        data = DataConfig.model_validate(
            {"seq_len": args.seq, "batch_size": args.batch, "num_workers": 0, "streams": streams}
        )
        batches = [
            {k: v for k, v in b.items() if k != "meta"}
            for b in itertools.islice(
                packed_batches(data, cfg, tok, Slot(0, 1, 0, 1), StreamState()),
                args.warmup + args.steps,
            )
        ]
    model = VLM(cfg, tok.vocab_size, tok.image_id)
    set_trainable(model, ["vision_lo", "vision_hi", "aligner", "lm"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rates, times = [], []
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        loss, _ = model(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - start
        if i >= args.warmup:
            rates.append(int((batch["input_ids"] != tok.pad_id).sum()) / elapsed)
            times.append(elapsed)
    print(
        f"train step, tiny ({count_params(model) / 1e6:.2f} M params), CPU, "
        f"{args.threads} threads, batch {args.batch} x {args.seq} tokens (packed)"
    )
    print(
        f"  median {statistics.median(rates):,.0f} tokens/s, "
        f"{statistics.median(times) * 1000:.1f} ms/step over {args.steps} steps "
        f"after {args.warmup} warmup; last loss {loss.item():.3f}"
    )


if __name__ == "__main__":
    main()
