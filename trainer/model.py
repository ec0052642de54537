"""A DeepSeek-VL-style vision-language model (arXiv 2403.05525, section 2.1), at any size.

    image ──▶ low-res ViT (SigLIP-like, 384 px) ───────────────────────────▶ 24×24 tokens ─┐
          └─▶ high-res ViT (SAM-B-like, 1024 px) ─▶ neck ─▶ 2 strided convs ─▶ 24×24 tokens ─┤
                                                        hybrid MLP aligner ◀─────────────┘
    text with <image> runs ─▶ token embeddings, image positions replaced by aligner outputs
                          ─▶ Llama-style decoder (RMSNorm, RoPE, SwiGLU, GQA) ─▶ next token

Why two branches: DeepSeek-VL found a 384 px semantic encoder blind to small text and fine plot
detail, while SAM-B at 1024 px sees them but lacks semantics; concatenating both per token keeps
the LM's image-token budget fixed (576) at either resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from vlpipe.trainer.config import LMConfig, ModelConfig, VisionHiConfig, VisionLoConfig
from vlpipe.trainer.loss import head_cross_entropy
from vlpipe.trainer.samples import IGNORE

# ----------------------------------------------------------------------------- vision


class ViTBlock(nn.Module):
    """Pre-norm transformer block (bidirectional attention), optionally within windows."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, window: int = 0) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def attend(self, x: Tensor) -> Tensor:
        """x: (B, N, C) -> (B, N, C), full attention over the N tokens."""
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))

    def forward(self, x: Tensor, grid: int) -> Tensor:
        h = self.norm1(x)
        x = x + (
            window_attention(h, grid, self.window, self.attend) if self.window else self.attend(h)
        )
        return x + self.mlp(self.norm2(x))


def window_attention(x: Tensor, grid: int, window: int, attend) -> Tensor:
    """SAM's local attention: split the grid×grid tokens into window×window tiles, attend within
    each tile, stitch back. Cost grows with the tile, not the 64×64 grid at 1024 px."""
    b, _, c = x.shape
    t = grid // window
    tiles = x.view(b, t, window, t, window, c).permute(0, 1, 3, 2, 4, 5)
    out = attend(tiles.reshape(b * t * t, window * window, c))
    out = out.view(b, t, t, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return out.reshape(b, grid * grid, c)


class SemanticViT(nn.Module):
    """Low-resolution branch: a SigLIP-like ViT (patch conv, learned positions, no class token).
    Returns one feature per patch: (B, grid², width)."""

    def __init__(self, cfg: VisionLoConfig) -> None:
        super().__init__()
        self.grid = cfg.image_size // cfg.patch_size
        self.patch_embed = nn.Conv2d(3, cfg.width, cfg.patch_size, stride=cfg.patch_size)
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid**2, cfg.width) * 0.02)
        self.blocks = nn.ModuleList(
            ViTBlock(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.layers)
        )
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)

    def forward(self, images: Tensor) -> Tensor:
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos_embed
        for block in self.blocks:
            x = block(x, self.grid)
        return self.norm(x)


class LayerNorm2d(nn.Module):
    """LayerNorm over channels of an NCHW map (SAM's neck)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class DetailViT(nn.Module):
    """High-resolution branch: a SAM-B-like ViT (windowed attention, a few global layers, conv
    neck) followed by DeepSeek-VL's adaptor: interpolate the map to 4×grid, then two stride-2
    3×3 convs down to the low-res token grid. Returns (B, grid², down_dims[1]).

    Simplified from SAM: absolute positions only (no decomposed relative positions) and no
    window padding (the config requires the patch grid to be a multiple of the window)."""

    def __init__(self, cfg: VisionHiConfig, out_grid: int) -> None:
        super().__init__()
        self.grid = cfg.image_size // cfg.patch_size
        self.out_grid = out_grid
        self.patch_embed = nn.Conv2d(3, cfg.width, cfg.patch_size, stride=cfg.patch_size)
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid**2, cfg.width) * 0.02)
        self.blocks = nn.ModuleList(
            ViTBlock(
                cfg.width,
                cfg.heads,
                cfg.mlp_ratio,
                window=0 if i in cfg.global_layers else cfg.window_size,
            )
            for i in range(cfg.layers)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(cfg.width, cfg.neck_dim, 1, bias=False),
            LayerNorm2d(cfg.neck_dim),
            nn.Conv2d(cfg.neck_dim, cfg.neck_dim, 3, padding=1, bias=False),
            LayerNorm2d(cfg.neck_dim),
        )
        d1, d2 = cfg.down_dims
        self.downsample = nn.Sequential(
            nn.Conv2d(cfg.neck_dim, d1, 3, stride=2, padding=1, bias=False),
            nn.Conv2d(d1, d2, 3, stride=2, padding=1, bias=False),
        )

    def forward(self, images: Tensor) -> Tensor:
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos_embed
        for block in self.blocks:
            x = block(x, self.grid)
        b, _, c = x.shape
        x = self.neck(x.transpose(1, 2).reshape(b, c, self.grid, self.grid))
        x = F.interpolate(x, size=(4 * self.out_grid,) * 2, mode="bilinear", align_corners=False)
        return self.downsample(x).flatten(2).transpose(1, 2)


class HybridAligner(nn.Module):
    """DeepSeek-VL's two-layer hybrid MLP: each branch is lifted to half the LM width by its own
    linear layer, the halves are concatenated per token, then GELU + linear into the LM space."""

    def __init__(self, lo_dim: int, hi_dim: int, lm_dim: int, depth: int) -> None:
        super().__init__()
        self.lo_up = nn.Linear(lo_dim, lm_dim // 2)
        self.hi_up = nn.Linear(hi_dim, lm_dim // 2)
        layers: list[nn.Module] = []
        for _ in range(depth - 1):
            layers += [nn.GELU(), nn.Linear(lm_dim, lm_dim)]
        self.mlp = nn.Sequential(*layers)

    def forward(self, lo: Tensor, hi: Tensor) -> Tensor:
        return self.mlp(torch.cat([self.lo_up(lo), self.hi_up(hi)], dim=-1))


# ----------------------------------------------------------------------------- language model
# Parameter names follow HF Llama so a Llama-style checkpoint maps by stripping ``model.``.


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.type_as(x)


def rope_tables(positions: Tensor, head_dim: int, theta: float) -> tuple[Tensor, Tensor]:
    """cos/sin of shape (B, 1, L, head_dim) for explicit per-token positions, so each packed
    document starts again at position 0."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=positions.device) / head_dim)
    angles = positions[..., None].float() * inv_freq
    emb = torch.cat([angles, angles], dim=-1)[:, None]
    return emb.cos(), emb.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate-half RoPE (the HF Llama convention, so imported weights stay valid)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x * cos + rotated * sin).type_as(x)


class SelfAttention(nn.Module):
    """Causal attention through SDPA; grouped-query when kv_heads < heads."""

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.heads, self.kv_heads = cfg.heads, cfg.kv_heads
        self.head_dim = cfg.width // cfg.heads
        self.q_proj = nn.Linear(cfg.width, cfg.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.width, cfg.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.width, cfg.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.heads * self.head_dim, cfg.width, bias=False)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | None) -> Tensor:
        b, n, _ = x.shape
        q = self.q_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(out.transpose(1, 2).reshape(b, n, -1))


class SwiGLU(nn.Module):
    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.width, cfg.ffn_dim, bias=False)
        self.up_proj = nn.Linear(cfg.width, cfg.ffn_dim, bias=False)
        self.down_proj = nn.Linear(cfg.ffn_dim, cfg.width, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.width, cfg.norm_eps)
        self.self_attn = SelfAttention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.width, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | None) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class LanguageModel(nn.Module):
    def __init__(self, cfg: LMConfig, vocab_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(vocab_size, cfg.width)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.width, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.width, vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.activation_checkpointing = False

    def forward(self, embeds: Tensor, positions: Tensor, mask: Tensor | None) -> Tensor:
        """Final (normed) hidden states (B, L, width). No logits: the caller applies ``lm_head``
        to the positions it needs (the loss's targets, generation's last position)."""
        cos, sin = rope_tables(positions, self.cfg.width // self.cfg.heads, self.cfg.rope_theta)
        x = embeds
        for layer in self.layers:
            if self.activation_checkpointing and self.training:
                x = checkpoint(layer, x, cos, sin, mask, use_reentrant=False)
            else:
                x = layer(x, cos, sin, mask)
        return self.norm(x)


def document_mask(doc_ids: Tensor) -> Tensor:
    """Block-diagonal causal mask (B, 1, L, L): a packed token sees earlier tokens of its own
    document only, so packing never leaks context across documents."""
    n = doc_ids.shape[1]
    causal = torch.ones(n, n, dtype=torch.bool, device=doc_ids.device).tril()
    same = doc_ids[:, :, None] == doc_ids[:, None, :]
    return (same & causal)[:, None]


# ----------------------------------------------------------------------------- the VLM


class VLM(nn.Module):
    """Hybrid vision encoder + hybrid MLP aligner + decoder LM."""

    components = ("vision_lo", "vision_hi", "aligner", "lm")

    def __init__(self, cfg: ModelConfig, vocab_size: int, image_token_id: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.image_token_id = image_token_id
        self.vision_lo = SemanticViT(cfg.vision_lo)
        self.vision_hi = DetailViT(cfg.vision_hi, cfg.grid)
        self.aligner = HybridAligner(
            cfg.vision_lo.width, cfg.vision_hi.down_dims[1], cfg.lm.width, cfg.aligner_depth
        )
        self.lm = LanguageModel(cfg.lm, vocab_size)

    def set_activation_checkpointing(self, enabled: bool) -> None:
        self.lm.activation_checkpointing = enabled

    def encode_images(self, images_lo: Tensor, images_hi: Tensor) -> Tensor:
        """(n, 3, lo, lo) and (n, 3, hi, hi) -> (n, image_tokens, lm width). A frozen encoder
        runs without autograd: nothing to learn there, and no activations to keep."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self._trains("vision_lo")):
            lo = self.vision_lo(images_lo)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self._trains("vision_hi")):
            hi = self.vision_hi(images_hi)
        return self.aligner(lo, hi)

    def _trains(self, component: str) -> bool:
        return any(p.requires_grad for p in getattr(self, component).parameters())

    def embed(self, input_ids: Tensor, images_lo: Tensor, images_hi: Tensor) -> Tensor:
        """Token embeddings with every ``<image>`` position replaced, in reading order, by the
        next image's aligned features (several images per sequence for interleaved data)."""
        embeds = self.lm.embed_tokens(input_ids)
        slots = input_ids == self.image_token_id
        if images_lo.shape[0] == 0:
            if slots.any():
                raise ValueError("image tokens in the batch but no images")
            return embeds
        feats = self.encode_images(images_lo, images_hi)
        if feats.shape[0] * feats.shape[1] != int(slots.sum()):
            raise ValueError(f"{int(slots.sum())} image tokens for {feats.shape[0]} images")
        return embeds.masked_scatter(slots[..., None], feats.to(embeds.dtype))

    def hidden(
        self,
        input_ids: Tensor,
        positions: Tensor,
        doc_ids: Tensor | None,
        images_lo: Tensor,
        images_hi: Tensor,
    ) -> Tensor:
        """Final hidden states (B, L, width); ``lm.lm_head`` of them are the logits. ``doc_ids``
        None means one document per row (plain causal)."""
        mask = None if doc_ids is None else document_mask(doc_ids)
        return self.lm(self.embed(input_ids, images_lo, images_hi), positions, mask)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Mean cross-entropy over target positions (labels != -100) and their count. The loss
        is the forward pass so that DDP and torch.compile see the whole step; the head only sees
        target positions, a chunk at a time (``head_cross_entropy``)."""
        hidden = self.hidden(
            batch["input_ids"],
            batch["positions"],
            batch["doc_ids"],
            batch["images_lo"],
            batch["images_hi"],
        )
        labels = batch["labels"]
        keep = labels != IGNORE
        total = head_cross_entropy(hidden[keep], self.lm.lm_head.weight, labels[keep])
        count = keep.sum()
        return total / count.clamp(min=1), count


def set_trainable(model: VLM, trainable: list[str]) -> None:
    """Freeze every component not listed (DeepSeek-VL stage 1 trains only the aligner)."""
    for name in VLM.components:
        getattr(model, name).requires_grad_(name in trainable)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
