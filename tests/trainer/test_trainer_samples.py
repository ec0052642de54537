"""Tokenizers and sample encoding: targets, image tokens, truncation, bad samples."""

from __future__ import annotations

import json

import pytest

from tests.trainer.shardkit import chat, image_text, interleaved, png_bytes, text
from vlpipe.trainer.config import resolve_model
from vlpipe.trainer.samples import (
    IGNORE,
    SampleError,
    encode_sample,
    task_prompt,
    truncation_point,
)
from vlpipe.trainer.tokenizer import ByteTokenizer, load_tokenizer_dir, train_bpe

CFG = resolve_model("tiny")
N_IMG = CFG.image_tokens


def targets(tok, ex) -> str:
    return tok.decode(t for t in ex.labels if t != IGNORE)


def test_byte_tokenizer_round_trips_any_language_and_keeps_specials_apart() -> None:
    tok = ByteTokenizer()
    for s in ("plot(x)", "Здравствуй мир", "数据可视化", "emoji 📈"):
        assert tok.decode(tok.encode(s)) == s
    assert len({tok.pad_id, tok.bos_id, tok.eos_id, tok.image_id, tok.role_id("user")}) == 5
    assert all(i < 256 for i in tok.encode("<image><|user|>"))


def test_bpe_trains_saves_loads_and_does_not_parse_special_text(tmp_path) -> None:
    corpus = ["import matplotlib.pyplot as plt", "plt.plot(x, y)", "Привет, 世界"] * 50
    tok = train_bpe(corpus, vocab_size=300)
    tok.save(tmp_path)
    again = load_tokenizer_dir(tmp_path)
    ids = again.encode("plt.plot(x, y) Привет")
    assert again.decode(ids) == "plt.plot(x, y) Привет"
    assert again.special == tok.special and again.vocab_size == tok.vocab_size
    assert again.image_id not in again.encode("see <image> and <|user|>")


def test_image_text_loss_is_on_the_code_only() -> None:
    tok = ByteTokenizer()
    ex = encode_sample(image_text(3), tok, CFG, max_len=512)
    code = image_text(3)["py"].decode()
    assert targets(tok, ex) == code  # eos is a target too but decodes to nothing
    assert ex.labels[-1] == tok.eos_id
    assert ex.input_ids.count(tok.image_id) == N_IMG and len(ex.images_lo) == 1
    assert ex.images_lo[0].shape == (3, 64, 64) and ex.images_hi[0].shape == (3, 128, 128)
    prompt = task_prompt("code_from_plot")
    assert prompt in tok.decode(ex.input_ids) and prompt not in targets(tok, ex)


def test_interleaved_places_each_image_and_trains_on_all_text() -> None:
    tok = ByteTokenizer()
    raw = interleaved(5)
    ex = encode_sample(raw, tok, CFG, max_len=512)
    assert ex.input_ids.count(tok.image_id) == 2 * N_IMG and len(ex.images_hi) == 2
    assert targets(tok, ex) == raw["txt"].decode().replace("<image>", "")
    assert all(lab == IGNORE or lab != tok.image_id for lab in ex.labels)


def test_chat_loss_is_on_assistant_turns_only() -> None:
    tok = ByteTokenizer()
    raw = chat(2)
    ex = encode_sample(raw, tok, CFG, max_len=512)
    answers = [t["content"] for t in json.loads(raw["chat.json"]) if t["role"] == "assistant"]
    assert targets(tok, ex) == "".join(answers)
    assert ex.input_ids.count(tok.image_id) == N_IMG


def test_text_sample_all_tokens_are_targets() -> None:
    tok = ByteTokenizer()
    ex = encode_sample(text(1), tok, CFG, max_len=512)
    assert targets(tok, ex) == text(1)["txt"].decode()
    assert len(ex.input_ids) == len(ex.labels)


def test_truncation_never_splits_an_image_block() -> None:
    ids = [1] * 3 + [9] * 4 + [1] * 2 + [9] * 4 + [1]
    assert truncation_point(ids, 9, 4, 100) == (len(ids), 2)
    assert truncation_point(ids, 9, 4, 11) == (9, 1)  # cut inside the 2nd block -> before it
    assert truncation_point(ids, 9, 4, 13) == (13, 2)
    tok = ByteTokenizer()
    ex = encode_sample(interleaved(5), tok, CFG, max_len=N_IMG + 30)
    assert len(ex.input_ids) <= N_IMG + 30
    assert ex.input_ids.count(tok.image_id) == N_IMG * len(ex.images_lo)


@pytest.mark.parametrize(
    "breakage", ["no_image", "corrupt_png", "placeholder_mismatch", "bad_kind"]
)
def test_broken_samples_raise_sample_error(breakage: str) -> None:
    raw = image_text(1) if breakage in ("no_image", "corrupt_png") else interleaved(1)
    if breakage == "no_image":
        del raw["png"]
    elif breakage == "corrupt_png":
        raw["png"] = png_bytes(1)[:60]
    elif breakage == "placeholder_mismatch":
        del raw["1.png"]
    else:
        raw["json"] = json.dumps({"kind": "video"}).encode()
    with pytest.raises(SampleError):
        encode_sample(raw, ByteTokenizer(), CFG, max_len=512)
