"""Cross-entropy over the LM head without the ``batch × seq × vocab`` logits.

The naive loss projects every position to the vocabulary at once: at the default recipes' batch
16 × 2048 tokens × 32000 ids that is 4 GiB of fp32 logits, plus as much again for their gradient.
Here the head is applied to the target positions only (prompts, image tokens and padding carry no
loss), ``chunk_rows`` of them at a time; forward keeps one log-sum-exp per row and backward
recomputes each chunk's logits, so neither pass holds more than one chunk of ``rows × vocab``.
The price is one extra ``rows × width × vocab`` matmul (the recompute).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

# Logits per chunk, in bytes of the fp32 softmax: large enough to keep matmuls efficient on a
# GPU, small next to the activations (512 rows at a 32000-id vocabulary).
CHUNK_BYTES = 64 * 2**20


def default_chunk_rows(vocab: int) -> int:
    return max(1, CHUNK_BYTES // (4 * vocab))


def compute_dtypes(hidden: Tensor) -> tuple[torch.dtype, torch.dtype]:
    """(matmul dtype, softmax dtype). Under autocast the head runs in the autocast dtype, as
    ``lm_head(x)`` would; the softmax is at least fp32, as ``logits.float()`` would make it.
    Decided once in forward and reused in backward, which may run outside the autocast block."""
    device = hidden.device.type
    matmul = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
    return matmul, torch.promote_types(matmul, torch.float32)


class _ChunkedHeadCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of ``hidden @ weight.T``; saves inputs and per-row log-sum-exp."""

    @staticmethod
    def forward(
        ctx: Any, hidden: Tensor, weight: Tensor, targets: Tensor, chunk_rows: int
    ) -> Tensor:
        matmul, acc = compute_dtypes(hidden)
        w = weight.to(matmul)
        total = torch.zeros((), dtype=acc, device=hidden.device)
        lse = torch.empty(hidden.shape[0], dtype=acc, device=hidden.device)
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, hidden.shape[0], chunk_rows):
                rows = slice(start, start + chunk_rows)
                logits = F.linear(hidden[rows].to(matmul), w).to(acc)
                lse[rows] = logits.logsumexp(-1)
                picked = logits.gather(1, targets[rows, None]).squeeze(1)
                total += (lse[rows] - picked).sum()
        ctx.save_for_backward(hidden, weight, targets, lse)
        ctx.chunk_rows, ctx.matmul = chunk_rows, matmul
        return total

    @staticmethod
    def backward(ctx: Any, grad_total: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        hidden, weight, targets, lse = ctx.saved_tensors
        want_hidden, want_weight = ctx.needs_input_grad[:2]
        w = weight.to(ctx.matmul)
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=lse.dtype) if want_weight else None
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, hidden.shape[0], ctx.chunk_rows):
                rows = slice(start, start + ctx.chunk_rows)
                h = hidden[rows].to(ctx.matmul)
                # d(lse - logit[target]) / d logits = softmax - one_hot(target), built in place
                grad = F.linear(h, w).to(lse.dtype).sub_(lse[rows, None]).exp_()
                grad.scatter_add_(1, targets[rows, None], grad.new_full((len(h), 1), -1.0))
                grad = grad.mul_(grad_total).to(ctx.matmul)
                if grad_hidden is not None:
                    grad_hidden[rows] = grad @ w
                if grad_weight is not None:
                    grad_weight += (grad.T @ h).to(grad_weight.dtype)
        return (
            grad_hidden,
            None if grad_weight is None else grad_weight.to(weight.dtype),
            None,
            None,
        )


def head_cross_entropy(
    hidden: Tensor, weight: Tensor, targets: Tensor, chunk_rows: int | None = None
) -> Tensor:
    """Summed cross-entropy of ``F.linear(hidden, weight)`` against ``targets``: hidden (N, width)
    at target positions only, weight (vocab, width), targets (N,). Equals
    ``F.cross_entropy(F.linear(hidden, weight).float(), targets, reduction="sum")``, autocast
    included, without ever holding more than ``chunk_rows × vocab`` logits."""
    rows = chunk_rows or default_chunk_rows(weight.shape[0])
    return _ChunkedHeadCrossEntropy.apply(hidden, weight, targets, rows)
