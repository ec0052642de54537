"""Model: packed documents are isolated, image splicing, local pretrained weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.trainer.shardkit import interleaved, text
from vlpipe.errors import ConfigError
from vlpipe.trainer.checkpoint import load_pretrained
from vlpipe.trainer.config import InitConfig, resolve_model
from vlpipe.trainer.data import collate
from vlpipe.trainer.model import VLM
from vlpipe.trainer.samples import encode_sample
from vlpipe.trainer.tokenizer import ByteTokenizer

CFG = resolve_model("tiny")
TOK = ByteTokenizer()


def tiny_model(seed: int = 0) -> VLM:
    torch.manual_seed(seed)
    return VLM(CFG, TOK.vocab_size, TOK.image_id).eval()


def test_packed_documents_do_not_see_each_other() -> None:
    model = tiny_model()
    first = encode_sample(text(1), TOK, CFG, 200)
    second = encode_sample(interleaved(2), TOK, CFG, 200)
    packed = collate([[first, second]], 256, TOK.pad_id)
    alone = collate([[second]], 256, TOK.pad_id)
    with torch.no_grad():
        both = model.hidden(
            *(packed[k] for k in ("input_ids", "positions", "doc_ids", "images_lo", "images_hi"))
        )
        solo = model.hidden(
            *(alone[k] for k in ("input_ids", "positions", "doc_ids", "images_lo", "images_hi"))
        )
    n1, n2 = len(first.input_ids), len(second.input_ids)
    torch.testing.assert_close(both[0, n1 : n1 + n2], solo[0, :n2], atol=1e-5, rtol=1e-4)


def test_image_features_reach_the_language_model() -> None:
    model = tiny_model()
    batch = collate([[encode_sample(interleaved(3), TOK, CFG, 200)]], 200, TOK.pad_id)
    with torch.no_grad():
        loss, count = model(batch)
        batch["images_hi"] = batch["images_hi"].flip(-1)
        flipped, _ = model(batch)
    assert int(count) > 0 and torch.isfinite(loss)
    assert not torch.allclose(loss, flipped)  # the high-res branch changes the prediction
    batch["images_lo"] = batch["images_lo"][:1]
    batch["images_hi"] = batch["images_hi"][:1]
    with pytest.raises(ValueError, match="image tokens"):
        model(batch)


def test_hf_llama_and_native_checkpoints_load(tmp_path: Path) -> None:
    source = tiny_model(seed=1)
    hf = {
        ("lm_head.weight" if k == "lm_head.weight" else f"model.{k}"): v
        for k, v in source.lm.state_dict().items()
    }
    hf["model.embed_tokens.weight"] = hf["model.embed_tokens.weight"][:256]  # smaller vocab
    hf["lm_head.weight"] = hf["lm_head.weight"][:256]
    hf["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(4)
    (tmp_path / "llama").mkdir()
    torch.save(hf, tmp_path / "llama" / "pytorch_model.bin")
    torch.save(source.vision_lo.state_dict(), tmp_path / "siglip.pt")
    target = tiny_model(seed=2)
    init = InitConfig.model_validate(
        {
            "lm": {"path": str(tmp_path / "llama"), "format": "hf_llama"},
            "vision_lo": {"path": str(tmp_path / "siglip.pt")},
        }
    )
    assert load_pretrained(target, init) == ["lm", "vision_lo"]
    for name in ("vision_lo", "lm"):
        for (key, a), b in zip(
            getattr(source, name).state_dict().items(),
            getattr(target, name).state_dict().values(),
            strict=True,
        ):
            if key in ("embed_tokens.weight", "lm_head.weight"):
                torch.testing.assert_close(a[:256], b[:256])  # specials keep their own rows
                assert not torch.equal(a[256:], b[256:])
            else:
                torch.testing.assert_close(a, b)
    assert not torch.equal(source.vision_hi.pos_embed, target.vision_hi.pos_embed)


def test_pretrained_shape_mismatch_is_a_config_error(tmp_path: Path) -> None:
    torch.save(tiny_model().vision_lo.state_dict(), tmp_path / "lo.pt")
    init = InitConfig.model_validate({"vision_hi": {"path": str(tmp_path / "lo.pt")}})
    with pytest.raises(ConfigError, match=r"init\.vision_hi"):
        load_pretrained(tiny_model(), init)


def test_safetensors_directory_loads(tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    source = tiny_model(seed=3)
    safetensors.save_file(source.vision_hi.state_dict(), str(tmp_path / "model.safetensors"))
    target = tiny_model(seed=4)
    load_pretrained(target, InitConfig.model_validate({"vision_hi": {"path": str(tmp_path)}}))
    torch.testing.assert_close(source.vision_hi.pos_embed, target.vision_hi.pos_embed)
