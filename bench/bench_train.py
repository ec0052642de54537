"""Train-step throughput of the `tiny` model on CPU, and the LM-head cross-entropy: full logits
against the chunked loss the model uses.

Train step: batches are packed from generated interleaved + text shards and held in memory
beforehand, so only the step (forward, backward, clip, AdamW) is timed; median tokens/s.

Cross-entropy: forward + backward of the head and loss alone, on batch × seq hidden states of
which ``--ce-targets`` carry a target, at ``--ce-vocab`` ids (the recipes' BPE size). Naive:
``F.cross_entropy(lm_head(hidden).float())`` over every position (the full logits). Chunked:
``head_cross_entropy`` on the target positions, as ``VLM.forward`` computes its loss. Median
time over ``--repeats``; peak memory is the highest sum of live allocations during one step, from
the profiler's allocation events (CPU has no allocator statistics).

    python bench/bench_train.py [--steps 20] [--warmup 5] [--batch 4] [--seq 256] [--threads 2]
        [--ce-vocab 32000] [--ce-width 128] [--ce-targets 0.5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "trainer"))
from shardkit import make_shards

from vlpipe.trainer.config import DataConfig, resolve_model
from vlpipe.trainer.data import Slot, StreamState, packed_batches
from vlpipe.trainer.loss import head_cross_entropy
from vlpipe.trainer.model import VLM, count_params, set_trainable
from vlpipe.trainer.samples import IGNORE
from vlpipe.trainer.tokenizer import ByteTokenizer


def train_step(args: argparse.Namespace) -> None:
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


def naive_ce(hidden: Tensor, weight: Tensor, labels: Tensor) -> Tensor:
    logits = F.linear(hidden, weight).float()
    return F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="sum")


def chunked_ce(hidden: Tensor, weight: Tensor, labels: Tensor) -> Tensor:
    keep = labels != IGNORE
    return head_cross_entropy(hidden[keep], weight, labels[keep])


CeLoss = Callable[[Tensor, Tensor, Tensor], Tensor]


def ce_step(loss_fn: CeLoss, hidden: Tensor, weight: Tensor, labels: Tensor) -> float:
    """Seconds for one forward + backward; gradients are dropped, not accumulated."""
    start = time.perf_counter()
    torch.autograd.grad(loss_fn(hidden, weight, labels), (hidden, weight))
    return time.perf_counter() - start


def peak_bytes(loss_fn: CeLoss, hidden: Tensor, weight: Tensor, labels: Tensor) -> int:
    """Highest sum of live CPU allocations during one step (above what was live before)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        ce_step(loss_fn, hidden, weight, labels)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    deltas = (e.nbytes() for e in sorted(events, key=lambda e: e.start_ns()))
    return max(itertools.accumulate(deltas, initial=0))


def cross_entropy(args: argparse.Namespace) -> None:
    rows = args.batch * args.seq
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(rows, args.ce_width, generator=gen, requires_grad=True)
    weight = (0.02 * torch.randn(args.ce_vocab, args.ce_width, generator=gen)).requires_grad_()
    labels = torch.randint(0, args.ce_vocab, (rows,), generator=gen)
    labels[torch.rand(rows, generator=gen) >= args.ce_targets] = IGNORE
    contenders = {"naive (full logits)": naive_ce, "chunked": chunked_ce}
    for fn in contenders.values():  # warm-up
        ce_step(fn, hidden, weight, labels)
    with torch.no_grad():
        losses = [float(fn(hidden, weight, labels)) for fn in contenders.values()]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
        for name, fn in contenders.items():
            times[name].append(ce_step(fn, hidden, weight, labels))
    print(
        f"LM-head cross-entropy, forward + backward, {args.batch} x {args.seq} positions "
        f"({int((labels != IGNORE).sum())} with targets), width {args.ce_width}, "
        f"vocab {args.ce_vocab}, fp32, {args.threads} threads, median of {args.repeats}; "
        f"losses (must agree) {losses[0]:.4f} / {losses[1]:.4f}"
    )
    median = {name: statistics.median(t) for name, t in times.items()}
    peak = {name: peak_bytes(fn, hidden, weight, labels) for name, fn in contenders.items()}
    naive = next(iter(contenders))
    print(f"  {'contender':<20} {'ms/step':>9} {'speed-up':>9} {'peak MiB':>9} {'less memory':>12}")
    for name in contenders:
        print(
            f"  {name:<20} {median[name] * 1000:9.1f} {median[naive] / median[name]:8.2f}x "
            f"{peak[name] / 2**20:9.1f} {peak[naive] / peak[name]:11.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ce-vocab", type=int, default=32000)
    parser.add_argument("--ce-width", type=int, default=128)
    parser.add_argument("--ce-targets", type=float, default=0.5, help="share of target positions")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train_step(args)
    cross_entropy(args)


if __name__ == "__main__":
    main()
