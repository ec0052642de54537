"""Greedy decoding from a checkpoint: a sanity check that the model looks at the image."""

from __future__ import annotations

from pathlib import Path

import torch

from vlpipe.trainer.checkpoint import load_checkpoint
from vlpipe.trainer.config import ModelConfig
from vlpipe.trainer.model import VLM
from vlpipe.trainer.samples import prompt_tokens, task_prompt
from vlpipe.trainer.tokenizer import BaseTokenizer, tokenizer_from_spec


def load_for_inference(path: str | Path, device: str = "cpu") -> tuple[VLM, BaseTokenizer]:
    """Model and tokenizer from a checkpoint file or a run directory (its latest checkpoint)."""
    state = load_checkpoint(path)
    tok = tokenizer_from_spec(state["tokenizer"])
    model = VLM(ModelConfig.model_validate(state["model_config"]), tok.vocab_size, tok.image_id)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), tok


@torch.no_grad()
def generate(
    model: VLM,
    tok: BaseTokenizer,
    image: bytes | str | Path | None,
    prompt: str | None = None,
    task: str = "caption",
    max_new_tokens: int = 64,
) -> str:
    """Greedy continuation of ``<image> prompt`` (the image_text training layout; the prompt
    defaults to the task's training instruction). No KV cache: the prefix embeddings, image
    features included, are computed once and the decoder reruns on the growing sequence —
    plenty for a sanity check."""
    if isinstance(image, str | Path):
        image = Path(image).read_bytes()
    ids, lo, hi = prompt_tokens(image, prompt or task_prompt(task), tok, model.cfg)
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    size = model.cfg.vision_lo.image_size, model.cfg.vision_hi.image_size
    images_lo = torch.stack(lo).to(device) if lo else torch.zeros(0, 3, size[0], size[0])
    images_hi = torch.stack(hi).to(device) if hi else torch.zeros(0, 3, size[1], size[1])
    embeds = model.embed(input_ids, images_lo, images_hi)
    out: list[int] = []
    for _ in range(max_new_tokens):
        positions = torch.arange(embeds.shape[1], device=device)[None]
        last = model.lm(embeds, positions, None)[0, -1]
        next_id = int(model.lm.lm_head(last).argmax())
        if next_id == tok.eos_id:
            break
        out.append(next_id)
        step = model.lm.embed_tokens(torch.tensor([[next_id]], device=device))
        embeds = torch.cat([embeds, step], dim=1)
    return tok.decode(out)
