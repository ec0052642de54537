"""Chunked cross-entropy over the LM head: same loss and gradients as the full logits, without
ever holding ``batch × seq × vocab`` of them."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from tests.trainer.shardkit import chat, image_text, text
from vlpipe.trainer import loss as loss_module
from vlpipe.trainer.config import resolve_model
from vlpipe.trainer.data import collate
from vlpipe.trainer.loss import head_cross_entropy
from vlpipe.trainer.model import VLM, set_trainable
from vlpipe.trainer.samples import IGNORE, encode_sample
from vlpipe.trainer.tokenizer import ByteTokenizer

TOK = ByteTokenizer()
SEQ = 200


def naive(hidden: Tensor, weight: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(F.linear(hidden, weight).float(), targets, reduction="sum")


def head_inputs(n: int, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(n)
    hidden = torch.randn(n, 6, generator=gen, dtype=dtype, requires_grad=True)
    weight = torch.randn(11, 6, generator=gen, dtype=dtype, requires_grad=True)
    return hidden, weight, torch.randint(0, 11, (n,), generator=gen)


@pytest.mark.parametrize("chunk_rows", [1, 4, 7, 100])
def test_head_loss_and_grads_equal_full_logits(chunk_rows: int) -> None:
    hidden, weight, targets = head_inputs(7)
    got = head_cross_entropy(hidden, weight, targets, chunk_rows)
    got_grads = torch.autograd.grad(3 * got, (hidden, weight))
    want = naive(hidden, weight, targets)
    want_grads = torch.autograd.grad(3 * want, (hidden, weight))
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-6)


def test_head_gradcheck_in_float64() -> None:
    hidden, weight, targets = head_inputs(5, torch.float64)
    assert torch.autograd.gradcheck(
        lambda h, w: head_cross_entropy(h, w, targets, chunk_rows=2), (hidden, weight)
    )


def test_no_target_positions_give_zero_loss_and_grads() -> None:
    hidden, weight, targets = head_inputs(0)
    total = head_cross_entropy(hidden, weight, targets)
    total.backward()
    assert total.item() == 0.0 and weight.grad is not None and not weight.grad.any()


def model_and_batch(tie: bool) -> tuple[VLM, dict[str, Tensor]]:
    """All components trainable; rows mix masked prompts (image_text, chat), a text document and
    padding, so many positions carry no target."""
    cfg = resolve_model({"preset": "tiny", "lm": {"tie_embeddings": tie}})
    torch.manual_seed(0)
    model = VLM(cfg, TOK.vocab_size, TOK.image_id)
    set_trainable(model, list(VLM.components))
    rows = [
        [encode_sample(image_text(1), TOK, cfg, SEQ), encode_sample(text(2), TOK, cfg, SEQ)],
        [encode_sample(chat(3), TOK, cfg, SEQ)],
    ]
    return model, collate(rows, SEQ, TOK.pad_id)


def naive_loss(model: VLM, batch: dict[str, Tensor]) -> Tensor:
    keys = ("input_ids", "positions", "doc_ids", "images_lo", "images_hi")
    logits = model.lm.lm_head(model.hidden(*(batch[k] for k in keys)))
    labels = batch["labels"]
    total = F.cross_entropy(
        logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE, reduction="sum"
    )
    return total / (labels != IGNORE).sum()


def loss_and_grads(model: VLM, loss: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


@pytest.mark.parametrize("tie", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_model_loss_and_grads_equal_full_logits(
    tie: bool, bf16: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, batch = model_and_batch(tie)
    assert (model.lm.lm_head.weight is model.lm.embed_tokens.weight) == tie
    monkeypatch.setattr(loss_module, "CHUNK_BYTES", 4 * TOK.vocab_size * 16)  # several chunks
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    with autocast:
        got, count = model(batch)
    assert 0 < int(count) < batch["labels"].numel() / 2  # most positions carry no target
    got, got_grads = loss_and_grads(model, got)
    with autocast:
        want = naive_loss(model, batch)
    want, want_grads = loss_and_grads(model, want)
    assert got_grads.keys() == want_grads.keys()
    assert {"lm.embed_tokens.weight", "aligner.lo_up.weight"} <= got_grads.keys()
    assert ("lm.lm_head.weight" in got_grads) != tie  # a tied head is the embedding
    if not bf16:
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
        for name, grad in got_grads.items():
            torch.testing.assert_close(grad, want_grads[name], atol=1e-6, rtol=1e-5, msg=name)
        return
    torch.testing.assert_close(got, want, atol=1e-2, rtol=1e-3)
    for name, grad in got_grads.items():
        error = (grad - want_grads[name]).norm() / want_grads[name].norm().clamp(min=1e-12)
        assert error < 3e-2, name


class LogitShapes(TorchDispatchMode):
    """Records the shape of every newly allocated op output whose last dimension is the
    vocabulary (views and in-place results share an input's storage and are skipped)."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.shapes: list[tuple[int, ...]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        inputs = {
            t.untyped_storage().data_ptr()
            for t in pytree.tree_leaves((args, kwargs))
            if isinstance(t, Tensor)
        }
        out = func(*args, **kwargs)
        for t in pytree.tree_leaves(out):
            if (
                isinstance(t, Tensor)
                and t.ndim
                and t.shape[-1] == self.vocab
                and t.untyped_storage().data_ptr() not in inputs
            ):
                self.shapes.append(tuple(t.shape))
        return out

    def largest(self) -> int:
        return max(torch.Size(s).numel() for s in self.shapes)


def test_loss_never_holds_full_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    model, batch = model_and_batch(tie=False)
    chunk = 16
    monkeypatch.setattr(loss_module, "CHUNK_BYTES", 4 * TOK.vocab_size * chunk)
    full = batch["input_ids"].numel() * TOK.vocab_size
    forward, backward = LogitShapes(TOK.vocab_size), LogitShapes(TOK.vocab_size)
    with forward:
        loss, _ = model(batch)
    with backward:
        loss.backward()
    assert forward.shapes and backward.shapes  # the head did run in both passes
    assert forward.largest() <= chunk * TOK.vocab_size
    assert backward.largest() <= chunk * TOK.vocab_size
    naive_forward = LogitShapes(TOK.vocab_size)
    with naive_forward:
        naive_loss(model, batch)
    assert naive_forward.largest() == full  # what the recorder catches on the naive path
