"""Turn one raw shard sample (FORMAT.md) into token ids, labels and per-branch image tensors.

Pure functions over plain data: no webdataset, no workers. The loss is on the target only —
the code for a plot, the page markdown, the caption, the assistant turns of a chat; for text and
interleaved samples every text token is a target. Image tokens are never targets.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vlpipe.trainer.config import ModelConfig
from vlpipe.trainer.tokenizer import ROLES, BaseTokenizer

IGNORE = -100
PLACEHOLDER = "<image>"
MAX_PIXELS = 64_000_000  # refuse decompression bombs before decoding
IMAGE_EXTS = ("png", "jpg", "jpeg")
_NUMBERED_IMAGE = re.compile(r"^(\d+)\.(png|jpe?g)$")

# Instructions that frame image_text samples; the model learns to answer them, and `generate`
# uses the same ones, so a caption request at inference matches training.
TASK_PROMPTS = {
    "code_from_plot": "Write the Python code that draws this plot.",
    "ocr_page": "Transcribe this page to markdown.",
    "caption": "Describe this image.",
    "html_from_screenshot": "Write the HTML of this page.",
    "detailed_caption": "Describe this image in detail.",
    "figure_caption": "Write the caption of this figure.",
    "screen_summary": "Summarise this screen.",
    "scene_text": "Read all the text in this image.",
    "scene_text_line": "Read the text in this image.",
}


class SampleError(ValueError):
    """A sample that cannot be used (missing member, corrupt image); skipped and counted."""


@dataclass
class Example:
    """One document ready for packing: inputs and next-token labels of equal length."""

    input_ids: list[int]
    labels: list[int]
    images_lo: list[Tensor] = field(default_factory=list)
    images_hi: list[Tensor] = field(default_factory=list)


def task_prompt(task: str) -> str:
    return TASK_PROMPTS.get(task, task.replace("_", " ") + ":")


def decode_image(data: bytes) -> Image.Image:
    """Decode fully (so a truncated PNG fails here) after checking the declared size."""
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            raise SampleError(f"image of {img.width}x{img.height} px exceeds {MAX_PIXELS}")
        img.load()
    except SampleError:
        raise
    except Exception as exc:  # PIL raises many types for corrupt data
        raise SampleError(f"corrupt image: {type(exc).__name__}") from exc
    return img.convert("RGB")


def pad_to_square(img: Image.Image) -> Image.Image:
    """DeepSeek-VL pads to a square (not crops) so plot axes and page margins survive;
    the fill is mid-gray, i.e. zero after SigLIP's 0.5/0.5 normalisation."""
    side = max(img.size)
    canvas = Image.new("RGB", (side, side), (127, 127, 127))
    canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
    return canvas


def to_tensor(
    img: Image.Image, size: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> Tensor:
    arr = np.asarray(img.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) / 255
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())


def image_views(data: bytes, cfg: ModelConfig) -> tuple[Tensor, Tensor]:
    """One image, two views: low-res (SigLIP mean/std) and high-res (SAM/CLIP mean/std)."""
    square = pad_to_square(decode_image(data))
    lo, hi = cfg.vision_lo, cfg.vision_hi
    return to_tensor(square, lo.image_size, lo.mean, lo.std), to_tensor(
        square, hi.image_size, hi.mean, hi.std
    )


class _Builder:
    """Accumulates a token stream with per-token target flags, then shifts to (inputs, labels)."""

    def __init__(self, tok: BaseTokenizer, cfg: ModelConfig) -> None:
        self.tok, self.cfg = tok, cfg
        self.ids: list[int] = [tok.bos_id]
        self.target: list[bool] = [False]
        self.images: list[tuple[Tensor, Tensor]] = []

    def text(self, text: str, target: bool) -> None:
        ids = self.tok.encode(text)
        self.ids += ids
        self.target += [target] * len(ids)

    def special(self, token_id: int, target: bool) -> None:
        self.ids.append(token_id)
        self.target.append(target)

    def image(self, data: bytes) -> None:
        self.images.append(image_views(data, self.cfg))
        n = self.cfg.image_tokens
        self.ids += [self.tok.image_id] * n
        self.target += [False] * n

    def build(self, max_len: int) -> Example:
        ids, target = self.ids, self.target
        cut, keep = truncation_point(ids, self.tok.image_id, self.cfg.image_tokens, max_len + 1)
        ids, target = ids[:cut], target[:cut]
        if len(ids) < 2 or not any(target[1:]):
            raise SampleError("no target tokens left after truncation")
        labels = [t if flag else IGNORE for t, flag in zip(ids[1:], target[1:], strict=True)]
        images = self.images[:keep]
        return Example(ids[:-1], labels, [lo for lo, _ in images], [hi for _, hi in images])


def truncation_point(ids: list[int], image_id: int, block: int, limit: int) -> tuple[int, int]:
    """Where to cut ``ids`` to at most ``limit`` tokens without splitting an image block, and
    how many images survive the cut."""
    if len(ids) <= limit:
        return len(ids), sum(1 for t in ids if t == image_id) // block
    cut = limit
    start = cut
    while start > 0 and ids[start - 1] == image_id:
        start -= 1
    run = cut - start
    if run % block:  # the cut lands inside an image block: drop that image
        cut = start + (run // block) * block
    return cut, sum(1 for t in ids[:cut] if t == image_id) // block


def prompt_tokens(
    image: bytes | None, prompt: str, tok: BaseTokenizer, cfg: ModelConfig
) -> tuple[list[int], list[Tensor], list[Tensor]]:
    """The prefix of an image_text sample (bos, image tokens, instruction) for generation."""
    b = _Builder(tok, cfg)
    if image is not None:
        b.image(image)
    b.text(prompt + "\n", target=False)
    return b.ids, [lo for lo, _ in b.images], [hi for _, hi in b.images]


def _numbered_images(raw: dict) -> list[bytes]:
    found = []
    for ext, data in raw.items():
        match = _NUMBERED_IMAGE.match(ext)
        if match:
            found.append((int(match.group(1)), data))
    return [data for _, data in sorted(found, key=lambda item: item[0])]


def _text(raw: dict, ext: str) -> str:
    if ext not in raw:
        raise SampleError(f"missing .{ext} member")
    return raw[ext].decode("utf-8")


def _interleave(b: _Builder, text: str, images: list[bytes], target: bool) -> None:
    parts = text.split(PLACEHOLDER)
    for i, part in enumerate(parts):
        if part:
            b.text(part, target)
        if i < len(parts) - 1:
            b.image(images.pop(0))


def encode_sample(raw: dict, tok: BaseTokenizer, cfg: ModelConfig, max_len: int) -> Example:
    """A raw webdataset sample (extension -> bytes) to an Example of at most ``max_len``."""
    if "json" not in raw:
        raise SampleError("missing .json member")
    meta = json.loads(raw["json"])
    kind = meta.get("kind")
    b = _Builder(tok, cfg)
    if kind == "image_text":
        images = [raw[ext] for ext in IMAGE_EXTS if ext in raw]
        if len(images) != 1:
            raise SampleError(f"image_text sample with {len(images)} images")
        b.image(images[0])
        b.text(task_prompt(meta.get("task", "caption")) + "\n", target=False)
        b.text(_text(raw, meta.get("target", "txt")), target=True)
        b.special(tok.eos_id, target=True)
    elif kind in ("interleaved", "text"):
        text = _text(raw, "txt")
        images = _numbered_images(raw) if kind == "interleaved" else []
        if text.count(PLACEHOLDER) != len(images) and kind == "interleaved":
            raise SampleError(f"{text.count(PLACEHOLDER)} placeholders for {len(images)} images")
        if images:
            _interleave(b, text, images, target=True)
        else:
            b.text(text, target=True)
        b.special(tok.eos_id, target=True)
    elif kind == "chat":
        turns = json.loads(_text(raw, "chat.json"))
        images = _numbered_images(raw)
        wanted = sum(t.get("content", "").count(PLACEHOLDER) for t in turns)
        if wanted != len(images):
            raise SampleError(f"{wanted} placeholders for {len(images)} images")
        for turn in turns:
            role = turn.get("role")
            if role not in ROLES:
                raise SampleError(f"unknown chat role {role!r}")
            answer = role == "assistant"
            b.special(tok.role_id(role), target=False)
            _interleave(b, turn["content"], images, target=answer)
            b.special(tok.eos_id, target=answer)
    else:
        raise SampleError(f"unknown sample kind {kind!r}")
    return b.build(max_len)


def sample_texts(raw: dict) -> list[str]:
    """The texts of a raw sample, for training a BPE tokenizer."""
    texts = [
        raw[ext].decode("utf-8", errors="replace")
        for ext in ("txt", "py", "md", "html")
        if ext in raw
    ]
    if "chat.json" in raw:
        texts += [t.get("content", "") for t in json.loads(raw["chat.json"])]
    return [t.replace(PLACEHOLDER, " ") for t in texts]
