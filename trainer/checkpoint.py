"""Checkpoints (full training state, written atomically) and local pretrained weights.

A run directory holds ``recipe.yaml``, ``tokenizer/``, ``log.jsonl`` and
``checkpoints/step_NNNNNNN.pt``; each checkpoint has the model, optimizer, scheduler, step,
RNG states and the data position, so ``--resume`` continues the very same run.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vlpipe.errors import ConfigError
from vlpipe.trainer.config import InitConfig, PretrainedConfig

_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_dir(out: str | Path) -> Path:
    return Path(out) / "checkpoints"


def list_checkpoints(out: str | Path) -> list[Path]:
    """Checkpoints of a run directory, oldest first."""
    found = []
    folder = checkpoint_dir(out)
    if folder.is_dir():
        for path in folder.iterdir():
            match = _STEP_FILE.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
    return [p for _, p in sorted(found)]


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the latest checkpoint of a run directory."""
    path = Path(path)
    if path.is_file():
        return path
    found = list_checkpoints(path)
    if not found:
        raise ConfigError(f"no checkpoint in {path}")
    return found[-1]


def save_checkpoint(out: str | Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write to a temporary name, then rename: a crash never leaves a half checkpoint."""
    folder = checkpoint_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step_{step:07d}.pt"
    tmp = folder / f".{final.name}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, final)
    for old in list_checkpoints(out)[:-keep]:
        old.unlink()
    return final


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    return torch.load(resolve_checkpoint(path), map_location="cpu", weights_only=False)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- pretrained


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """``model.safetensors`` / ``*.safetensors`` (safetensors package), else ``*.pt``/``*.bin``
    (a torch state dict, or a vlpipe checkpoint whose ``model`` entry is used)."""
    path = Path(path)
    if path.is_dir():
        candidates = (
            sorted(path.glob("*.safetensors"))
            + sorted(path.glob("*.bin"))
            + sorted(path.glob("*.pt"))
        )
        if not candidates:
            raise ConfigError(f"no .safetensors/.bin/.pt weights in {path}")
        files = [c for c in candidates if c.suffix == candidates[0].suffix]
    elif path.is_file():
        files = [path]
    else:
        raise ConfigError(f"pretrained weights not found: {path}")
    state: dict[str, torch.Tensor] = {}
    for file in files:  # sharded checkpoints: the union of all shards
        if file.suffix == ".safetensors":
            try:
                from safetensors.torch import load_file
            except ImportError:
                raise ConfigError("reading .safetensors needs the safetensors package") from None
            state.update(load_file(str(file)))
        else:
            loaded = torch.load(file, map_location="cpu", weights_only=True)
            state.update(loaded.get("model", loaded) if isinstance(loaded, dict) else loaded)
    return state


def hf_llama_to_native(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF Llama keys to ours: ``model.X`` -> ``X`` (our LM uses HF's module names), ``lm_head``
    unchanged; rotary caches (``rotary_emb.inv_freq``) are dropped, we recompute them."""
    mapped = {}
    for key, value in state.items():
        if key.endswith("rotary_emb.inv_freq"):
            continue
        mapped[key.removeprefix("model.")] = value
    return mapped


def load_component(module: nn.Module, name: str, spec: PretrainedConfig) -> None:
    """Load one component strictly; token embeddings and the LM head may differ in vocabulary
    size (our special tokens are appended): the shared rows are copied, the rest stay as
    initialised."""
    state = read_state_dict(spec.path)
    if spec.format == "hf_llama":
        if name != "lm":
            raise ConfigError(f"init.{name}: format hf_llama is for the lm only")
        state = hf_llama_to_native(state)
    own = module.state_dict()
    for key in ("embed_tokens.weight", "lm_head.weight"):
        if key in state and key in own and state[key].shape != own[key].shape:
            rows = min(state[key].shape[0], own[key].shape[0])
            merged = own[key].clone()
            merged[:rows] = state[key][:rows]
            state[key] = merged
    if "lm_head.weight" not in state and "lm_head.weight" in own and "embed_tokens.weight" in state:
        state["lm_head.weight"] = state["embed_tokens.weight"]  # tied-embedding checkpoints
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise ConfigError(f"init.{name} from {spec.path}: {first}") from None


def load_pretrained(model: nn.Module, init: InitConfig) -> list[str]:
    """Initialise the components named in ``init``; returns their names."""
    loaded = []
    for name in ("lm", "vision_lo", "vision_hi"):
        spec = getattr(init, name)
        if spec is not None:
            load_component(getattr(model, name), name, spec)
            loaded.append(name)
    return loaded
