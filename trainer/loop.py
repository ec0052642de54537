"""The training loop: one code path for a CPU test and a multi-GPU ``torchrun`` job.

GPU features (bf16 autocast, fused AdamW, ``torch.compile``, activation checkpointing) are recipe
switches; autocast and DDP (gloo) also run on CPU, which is how the tests exercise them.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from vlpipe.errors import ConfigError
from vlpipe.trainer.checkpoint import (
    load_checkpoint,
    load_pretrained,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from vlpipe.trainer.config import ModelConfig, Recipe
from vlpipe.trainer.data import DataPosition, iter_texts, make_loader
from vlpipe.trainer.model import VLM, count_params, set_trainable
from vlpipe.trainer.tokenizer import (
    BaseTokenizer,
    ByteTokenizer,
    load_tokenizer_dir,
    tokenizer_from_spec,
    train_bpe,
)

# Dense bf16 peak FLOP/s per device, for the MFU estimate. The CPU figure is a placeholder
# (order of magnitude of a many-core server), so CPU MFU is only comparable with itself.
PEAK_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "A10": 125e12,
    "cpu": 1e12,
}


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to ``min_ratio`` at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def peak_flops(spec: float | str, device: torch.device) -> float:
    if not isinstance(spec, str):
        return float(spec)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in PEAK_FLOPS.items():
            if key in name:
                return value
    return PEAK_FLOPS["cpu"]


def mfu(params: int, tokens_per_s: float, peak: float) -> float:
    """Model FLOPs utilisation with the 6·N FLOPs-per-token rule (forward + backward)."""
    return 6 * params * tokens_per_s / peak


def distributed() -> tuple[int, int, int]:
    """(rank, world, local_rank) from torchrun's environment; starts the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world)
    return rank, world, local


def pick_device(spec: str, local_rank: int) -> torch.device:
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def prepare_tokenizer(recipe: Recipe, rank: int, world: int) -> BaseTokenizer:
    cfg = recipe.tokenizer
    if cfg.kind == "byte":
        return ByteTokenizer()
    assert cfg.path is not None  # validated by TokenizerConfig
    if cfg.kind == "bpe" and not (Path(cfg.path) / "tokenizer.json").is_file():
        if rank == 0:
            tok = train_bpe(iter_texts(recipe.data, cfg.train_samples), cfg.vocab_size)
            tok.save(Path(cfg.path))
        if world > 1:
            dist.barrier()
    return load_tokenizer_dir(cfg.path)


def build_model(model_cfg: ModelConfig, tok: BaseTokenizer) -> VLM:
    return VLM(model_cfg, tok.vocab_size, tok.image_id)


def _optimizer(model: nn.Module, recipe: Recipe, device: torch.device) -> torch.optim.AdamW:
    """AdamW on trainable parameters only; no weight decay on norms, biases and embeddings'
    1-d peers (the usual Llama recipe). Fused kernels on CUDA."""
    t = recipe.train
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("train.trainable leaves nothing to train")
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": t.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=t.lr, betas=t.betas, fused=device.type == "cuda")


def _gather(obj: Any, world: int) -> list[Any]:
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def _mean_across(value: float, world: int, device: torch.device) -> float:
    if world == 1:
        return value
    t = torch.tensor([value], device=device, dtype=torch.float64)
    dist.all_reduce(t)
    return t.item() / world


def _sum_across(values: list[float], world: int, device: torch.device) -> list[float]:
    if world == 1:
        return values
    t = torch.tensor(values, device=device, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


class RunLog:
    """JSON lines to ``out/log.jsonl`` and a readable line to stdout (rank 0 only)."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.path = out / "log.jsonl"

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        if record.get("event") == "step":
            print(
                f"step {record['step']:>6} | loss {record['loss']:.4f} | lr {record['lr']:.2e}"
                f" | {record['tokens_per_s']:,.0f} tok/s | {record['images_per_s']:,.1f} img/s"
                f" | mfu {record['mfu']:.2%} | skipped {record['skipped']}",
                flush=True,
            )
        else:
            print(" | ".join(f"{k} {v}" for k, v in record.items()), flush=True)


def train(recipe: Recipe, resume: str | bool = False) -> dict[str, Any]:
    """Run (or continue, with ``resume``) the recipe. Returns a summary: final ``step``, per-step
    ``losses``, last ``checkpoint``, ``skipped`` bad data by reason, ``samples`` per stream and
    the trained (unwrapped) ``model``."""
    rank, world, local_rank = distributed()
    t = recipe.train
    device = pick_device(t.device, local_rank)
    out = Path(recipe.out)
    torch.manual_seed(t.seed + rank)

    state: dict[str, Any] | None = None
    if resume:
        source = out if resume is True else Path(str(resume))
        state = load_checkpoint(source)
        if state["world"] != world:
            raise ConfigError(f"checkpoint was written by {state['world']} ranks, not {world}")
    init = load_checkpoint(recipe.init_from) if recipe.init_from and state is None else None

    model_cfg = recipe.model_config_resolved()
    if state is not None or init is not None:
        tok = tokenizer_from_spec((state or init)["tokenizer"])  # type: ignore[index]
    else:
        tok = prepare_tokenizer(recipe, rank, world)
    model = build_model(model_cfg, tok)
    if init is not None:
        try:
            model.load_state_dict(init["model"])
        except RuntimeError as exc:
            raise ConfigError(
                f"init_from {recipe.init_from}: model shapes differ ({str(exc).splitlines()[0]})"
            ) from None
    else:
        load_pretrained(model, recipe.init)
    set_trainable(model, t.trainable)
    model.set_activation_checkpointing(t.activation_checkpointing)
    model.to(device)
    optimizer = _optimizer(model, recipe, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, t.warmup_steps, t.steps, t.min_lr_ratio)
    )

    step = 0
    position = DataPosition()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = state["step"]
        mine = state["ranks"][rank]
        set_rng_state(mine["rng"])
        if mine["data"]["num_workers"] != recipe.data.num_workers:
            raise ConfigError("resume needs the same data.num_workers as the checkpointed run")
        position = DataPosition(mine["data"])

    runner: nn.Module = torch.compile(model) if t.compile else model
    if world > 1:
        runner = DDP(
            runner,
            device_ids=[local_rank] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )  # text-only batches leave vision unused

    log = RunLog(out, enabled=rank == 0)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "recipe.yaml").write_text(yaml.safe_dump(recipe.model_dump(mode="json")))
    n_params = count_params(model)
    peak = peak_flops(t.peak_flops, device)
    log.write(
        {
            "event": "start",
            "stage": recipe.stage,
            "params": n_params,
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "device": str(device),
            "world": world,
            "step": step,
        }
    )

    batches = make_loader(recipe.data, model_cfg, tok, rank, world, position)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=t.precision == "bf16")
    stop = min(t.stop_at or t.steps, t.steps)
    history: list[float] = []
    last_ckpt: Path | None = None
    samples: dict[str, int] = {}
    model.train()
    while step < stop:
        started = time.perf_counter()
        loss_sum, tokens, images = 0.0, 0, 0
        for micro in range(t.grad_accum):
            batch = next(batches)
            meta = batch.pop("meta")
            position.update(meta)
            for name, n in meta["samples"].items():
                samples[name] = samples.get(name, 0) + n
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            sync = world == 1 or micro == t.grad_accum - 1
            with nullcontext() if sync else runner.no_sync():
                with autocast:
                    loss, _ = runner(batch)
                (loss / t.grad_accum).backward()
            loss_sum += loss.item()
            tokens += int((batch["input_ids"] != tok.pad_id).sum())
            images += batch["images_lo"].shape[0]
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for p in model.parameters() if p.requires_grad], t.clip_grad or float("inf")
        )
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - started
        loss_value = _mean_across(loss_sum / t.grad_accum, world, device)
        history.append(loss_value)
        if step % t.log_every == 0 or step == stop:
            tokens_all, images_all = _sum_across([tokens, images], world, device)
            tps = tokens_all / elapsed
            log.write(
                {
                    "event": "step",
                    "step": step,
                    "loss": loss_value,
                    "lr": lr,
                    "grad_norm": float(grad_norm),
                    "tokens_per_s": tps,
                    "images_per_s": images_all / elapsed,
                    "mfu": mfu(n_params, tps, peak),
                    "samples": samples,
                    "skipped": sum(position.errors().values()),
                    "skipped_by_reason": position.errors(),
                }
            )
        if step % t.checkpoint_every == 0 or step == stop:
            last_ckpt = _checkpoint(
                out, step, model, optimizer, scheduler, position, tok, recipe, world, rank
            )
    log.write({"event": "end", "step": step, "checkpoint": str(last_ckpt)})
    return {
        "step": step,
        "losses": history,
        "checkpoint": last_ckpt,
        "out": out,
        "skipped": position.errors(),
        "samples": samples,
        "model": model,
    }


def _checkpoint(
    out: Path,
    step: int,
    model: VLM,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    position: DataPosition,
    tok: BaseTokenizer,
    recipe: Recipe,
    world: int,
    rank: int,
) -> Path | None:
    """Every rank contributes its RNG and data position; rank 0 writes the file."""
    mine = {
        "rng": rng_state(),
        "data": {**position.to_dict(), "num_workers": recipe.data.num_workers},
    }
    ranks = _gather(mine, world)
    if rank != 0:
        return None
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "world": world,
        "ranks": ranks,
        "tokenizer": tok.to_spec(),
        "model_config": model.cfg.model_dump(mode="json"),
        "recipe": recipe.model_dump(mode="json"),
    }
    return save_checkpoint(out, step, state, recipe.train.keep_checkpoints)
