"""Recipe schema for the trainer: model presets, tokenizer, data mixture, optimisation.

A recipe is YAML validated by pydantic with ``extra="forbid"`` so that a typo is an error, not a
silently ignored field. Any field can be overridden from the command line (``--set a.b=value``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vlpipe.errors import ConfigError

Component = Literal["vision_lo", "vision_hi", "aligner", "lm"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ViTConfig(_Strict):
    """What both vision branches share: a patch-embedding ViT and its input normalisation."""

    image_size: int = 384
    patch_size: int = 16
    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)


class VisionLoConfig(ViTConfig):
    """The low-resolution semantic branch (SigLIP-like ViT, no class token)."""


class VisionHiConfig(ViTConfig):
    """The high-resolution branch (SAM-B-like ViT with windowed + global attention and a neck)."""

    image_size: int = 1024
    window_size: int = 16
    global_layers: list[int] = Field(default_factory=lambda: [2, 5, 8, 11])
    neck_dim: int = 256
    down_dims: tuple[int, int] = (512, 1024)
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)


class LMConfig(_Strict):
    """A Llama-style decoder (the DeepSeek LLM architecture)."""

    width: int = 2048
    layers: int = 24
    heads: int = 16
    kv_heads: int = 16
    ffn_dim: int = 5632
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    tie_embeddings: bool = False


class ModelConfig(_Strict):
    vision_lo: VisionLoConfig = Field(default_factory=VisionLoConfig)
    vision_hi: VisionHiConfig = Field(default_factory=VisionHiConfig)
    lm: LMConfig = Field(default_factory=LMConfig)
    aligner_depth: int = 2

    @property
    def grid(self) -> int:
        """Side of the image token grid: both branches are brought to the low-res patch grid."""
        return self.vision_lo.image_size // self.vision_lo.patch_size

    @property
    def image_tokens(self) -> int:
        return self.grid * self.grid

    @model_validator(mode="after")
    def _check_geometry(self) -> ModelConfig:
        lo, hi, lm = self.vision_lo, self.vision_hi, self.lm
        if lo.image_size % lo.patch_size or hi.image_size % hi.patch_size:
            raise ValueError("image_size must be a multiple of patch_size in both vision branches")
        hi_grid = hi.image_size // hi.patch_size
        if hi_grid % hi.window_size:
            raise ValueError(f"vision_hi grid {hi_grid} is not a multiple of window_size")
        if any(i < 0 or i >= hi.layers for i in hi.global_layers):
            raise ValueError("vision_hi.global_layers must index existing layers")
        for name, width, heads in (
            ("vision_lo", lo.width, lo.heads),
            ("vision_hi", hi.width, hi.heads),
            ("lm", lm.width, lm.heads),
        ):
            if width % heads:
                raise ValueError(f"{name}.width must be a multiple of {name}.heads")
        if lm.heads % lm.kv_heads:
            raise ValueError("lm.heads must be a multiple of lm.kv_heads")
        if lm.width % 2 or (lm.width // lm.heads) % 2:
            raise ValueError("lm.width and the lm head size must be even (RoPE, split aligner)")
        if self.aligner_depth < 1:
            raise ValueError("aligner_depth must be at least 1")
        return self


PRESETS: dict[str, dict[str, Any]] = {
    # CPU tests: 16 image tokens, well under a second per step at small batch.
    "tiny": {
        "vision_lo": {"image_size": 64, "patch_size": 16, "width": 64, "layers": 2, "heads": 2},
        "vision_hi": {
            "image_size": 128,
            "patch_size": 16,
            "width": 64,
            "layers": 2,
            "heads": 2,
            "window_size": 4,
            "global_layers": [1],
            "neck_dim": 32,
            "down_dims": [64, 128],
        },
        "lm": {"width": 128, "layers": 2, "heads": 4, "kv_heads": 2, "ffn_dim": 352},
    },
    # One consumer GPU: 196 image tokens.
    "small": {
        "vision_lo": {"image_size": 224, "patch_size": 16, "width": 384, "layers": 6, "heads": 6},
        "vision_hi": {
            "image_size": 448,
            "patch_size": 16,
            "width": 384,
            "layers": 6,
            "heads": 6,
            "window_size": 7,
            "global_layers": [2, 5],
            "neck_dim": 128,
            "down_dims": [256, 512],
        },
        "lm": {"width": 768, "layers": 12, "heads": 12, "kv_heads": 4, "ffn_dim": 2048},
    },
    # DeepSeek-VL-1.3B geometry: 384 px SigLIP-B-like + 1024 px SAM-B-like, 576 image tokens,
    # DeepSeek-LLM-1.3B-shaped decoder (2048 wide, 24 layers, 5632 FFN).
    "default": {},
}


class TokenizerConfig(_Strict):
    """``byte``: 256 byte ids + specials, needs nothing. ``bpe``: a byte-level BPE trained on the
    recipe's shards on first use and saved to ``path``. ``file``: a local ``tokenizer.json``
    directory (e.g. a downloaded HF model); missing special tokens are added."""

    kind: Literal["byte", "bpe", "file"] = "byte"
    path: str | None = None
    vocab_size: int = 8192
    train_samples: int = 2000

    @model_validator(mode="after")
    def _needs_path(self) -> TokenizerConfig:
        if self.kind != "byte" and not self.path:
            raise ValueError(f"tokenizer.kind={self.kind} needs tokenizer.path")
        return self


class StreamConfig(_Strict):
    """One shard set of the mixture. ``shards``: tar files, globs, or build output directories
    (their ``shards/*.tar``); relative paths are resolved against the working directory."""

    name: str
    shards: list[str]
    weight: float = Field(gt=0)
    resample: bool = True


class DataConfig(_Strict):
    streams: list[StreamConfig] = Field(min_length=1)
    seq_len: int = Field(default=512, ge=8)
    batch_size: int = Field(default=8, ge=1)
    num_workers: int = Field(default=2, ge=0)
    shuffle_buffer: int = Field(default=1000, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _unique_names(self) -> DataConfig:
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise ValueError(f"data.streams names must be unique: {names}")
        return self


class PretrainedConfig(_Strict):
    """A local checkpoint for one component. ``hf_llama``: HF Llama-style keys (``model.layers.N.
    self_attn.q_proj.weight`` ...), LM only. ``native``: this trainer's own keys for that component.
    Files: ``model.safetensors`` (needs the safetensors package), ``*.pt``/``*.bin`` torch state
    dicts, in ``path`` (a directory) or ``path`` itself (a file)."""

    path: str
    format: Literal["native", "hf_llama"] = "native"


class TrainConfig(_Strict):
    trainable: list[Component] = Field(default_factory=lambda: ["aligner", "lm"])
    steps: int = Field(default=1000, ge=1)
    stop_at: int | None = Field(default=None, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1)
    warmup_steps: int = Field(default=100, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    clip_grad: float = Field(default=1.0, ge=0)
    precision: Literal["fp32", "bf16"] = "bf16"
    compile: bool = False
    activation_checkpointing: bool = False
    device: str = "auto"
    seed: int = 0
    checkpoint_every: int = Field(default=500, ge=1)
    keep_checkpoints: int = Field(default=2, ge=1)
    log_every: int = Field(default=10, ge=1)
    peak_flops: float | Literal["auto"] = "auto"


class InitConfig(_Strict):
    lm: PretrainedConfig | None = None
    vision_lo: PretrainedConfig | None = None
    vision_hi: PretrainedConfig | None = None


class Recipe(_Strict):
    stage: str = "train"
    out: str = "out/train"
    model: str | dict[str, Any] = "default"
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    data: DataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    init_from: str | None = None
    init: InitConfig = Field(default_factory=InitConfig)

    def model_config_resolved(self) -> ModelConfig:
        return resolve_model(self.model)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_model(spec: str | dict[str, Any]) -> ModelConfig:
    """A preset name, or ``{preset: name, <overrides>}`` deep-merged over that preset."""
    if isinstance(spec, str):
        spec = {"preset": spec}
    spec = dict(spec)
    preset = spec.pop("preset", "default")
    if preset not in PRESETS:
        raise ConfigError(f"unknown model preset {preset!r}; known: {', '.join(PRESETS)}")
    try:
        return ModelConfig.model_validate(_deep_merge(PRESETS[preset], spec))
    except ValidationError as exc:
        raise ConfigError(f"model: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.0.c`` in nested dicts/lists, creating dicts on the way."""
    parts = dotted.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {dotted}: {part!r} is not an index of that list")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if not isinstance(node.get(part), dict | list):
                    node[part] = {}
                node = node[part]
        else:
            raise ConfigError(f"--set {dotted}: cannot descend into a {type(node).__name__}")


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` with the value parsed as YAML (``3e-4``, ``[a, b]``, ``true``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    return key.strip(), yaml.safe_load(raw)


def _stage_of(tree: dict[str, Any], path: Path, stage: str | None) -> dict[str, Any]:
    stages = tree.get("stages")
    if stages is None:
        if stage is not None:
            raise ConfigError(f"recipe {path} has no stages; --stage goes with a mixture file")
        return tree
    if not isinstance(stages, dict) or stage not in stages:
        names = ", ".join(stages) if isinstance(stages, dict) else "none"
        raise ConfigError(f"recipe {path} is a mixture: pick --stage (one of: {names})")
    if not isinstance(stages[stage], dict):
        raise ConfigError(f"recipe {path}: stage {stage!r} must be a mapping")
    return dict(stages[stage])


def recipe_from_dict(tree: dict[str, Any]) -> Recipe:
    try:
        recipe = Recipe.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(f"recipe: {_first_error(exc)}") from None
    recipe.model_config_resolved()  # a bad model section fails now, not at step 0
    return recipe


def load_recipe(
    path: str | Path, overrides: dict[str, Any] | None = None, stage: str | None = None
) -> Recipe:
    """Read a YAML recipe, apply dotted overrides and validate; any problem is a ConfigError.

    A mixture file (``recipes/deepseek_vl_mixture.yaml``) holds several stages under ``stages``
    (and the builds they read under ``builds``, which training ignores): ``stage`` picks one."""
    path = Path(path)
    try:
        tree = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read recipe {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"recipe {path} must be a mapping")
    tree = _stage_of(tree, path, stage)
    for key, value in (overrides or {}).items():
        set_dotted(tree, key, value)
    return recipe_from_dict(tree)
