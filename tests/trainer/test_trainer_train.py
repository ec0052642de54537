"""Training loop: overfitting, freezing, resume, bf16 autocast, DDP, stages, generation, CLI."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from tests.trainer.shardkit import image_text, make_shards, tiny_recipe, write_shard
from vlpipe.errors import ConfigError
from vlpipe.trainer import main
from vlpipe.trainer.checkpoint import load_checkpoint
from vlpipe.trainer.config import load_recipe, resolve_model
from vlpipe.trainer.inference import generate, load_for_inference
from vlpipe.trainer.loop import lr_factor, mfu, peak_flops, train
from vlpipe.trainer.model import VLM
from vlpipe.trainer.tokenizer import ByteTokenizer

REPO = Path(__file__).resolve().parents[2]


def stream(name: str, path: Path, weight: float = 1.0) -> dict:
    return {"name": name, "shards": [str(path)], "weight": weight}


def test_schedule_and_mfu_are_what_they_claim() -> None:
    assert lr_factor(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, 0.1) == pytest.approx(0.55)
    assert lr_factor(100, 10, 100, 0.1) == pytest.approx(0.1)
    assert mfu(1_000_000, 1000.0, 6e9) == pytest.approx(1.0)
    assert peak_flops(123.0, torch.device("cpu")) == 123.0
    assert peak_flops("auto", torch.device("cpu")) == 1e12


def test_loss_falls_when_overfitting_and_generate_reproduces_the_target(tmp_path: Path) -> None:
    sample = image_text(4)
    write_shard(tmp_path / "one" / "shards" / "one-0000.tar", [("only_one", sample)])
    recipe = tiny_recipe(
        tmp_path / "run",
        [stream("mm", tmp_path / "one")],
        steps=50,
        warmup_steps=5,
        lr=1e-2,
        trainable=["vision_lo", "vision_hi", "aligner", "lm"],
    )
    recipe.data.batch_size = 1
    result = train(recipe)
    losses = result["losses"]
    assert sum(losses[-5:]) / 5 < 0.2 * sum(losses[:5]) / 5
    model, tok = load_for_inference(tmp_path / "run")
    (tmp_path / "plot.png").write_bytes(sample["png"])
    out = generate(model, tok, tmp_path / "plot.png", task="code_from_plot", max_new_tokens=20)
    assert out == sample["py"].decode()[:20]


def test_frozen_parameters_stay_and_trained_ones_move(tmp_path: Path, shards: dict) -> None:
    torch.manual_seed(5)
    tok = ByteTokenizer()
    start = VLM(resolve_model("tiny"), tok.vocab_size, tok.image_id)
    init = tmp_path / "init.pt"
    torch.save({"model": start.state_dict(), "tokenizer": tok.to_spec()}, init)
    recipe = tiny_recipe(
        tmp_path / "run", [stream("mm", shards["image_text"])], steps=2, trainable=["aligner"]
    )
    recipe.init_from = str(init)
    after = load_checkpoint(train(recipe)["checkpoint"])["model"]
    for key, before in start.state_dict().items():
        if key.startswith("aligner."):
            assert not torch.equal(before, after[key]), key
        else:
            assert torch.equal(before, after[key]), key


def test_interrupted_and_resumed_run_matches_the_uninterrupted_one(
    tmp_path: Path, shards: dict
) -> None:
    streams = [stream("mm", shards["interleaved"], 0.7), stream("text", shards["text"], 0.3)]
    kw = {"steps": 4, "grad_accum": 3}  # stop after 3 batches: the worker order rotates
    uninterrupted = tiny_recipe(tmp_path / "a", streams, **kw)
    uninterrupted.data.num_workers = 2
    straight = train(uninterrupted)["losses"]
    first = tiny_recipe(tmp_path / "b", streams, stop_at=1, **kw)
    first.data.num_workers = 2
    head = train(first)
    assert head["step"] == 1 and head["checkpoint"].name == "step_0000001.pt"
    second = tiny_recipe(tmp_path / "b", streams, **kw)
    second.data.num_workers = 2
    tail = train(second, resume=True)
    assert tail["step"] == 4
    torch.testing.assert_close(head["losses"] + tail["losses"], straight, rtol=1e-5, atol=1e-6)


def test_bf16_autocast_runs_on_cpu(tmp_path: Path, shards: dict) -> None:
    recipe = tiny_recipe(
        tmp_path / "run",
        [stream("chat", shards["chat"])],
        steps=2,
        precision="bf16",
        activation_checkpointing=True,
    )
    losses = train(recipe)["losses"]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["event"] == "step"]
    assert steps[-1]["tokens_per_s"] > 0 and steps[-1]["images_per_s"] > 0
    assert 0 < steps[-1]["mfu"] < 1


def _ddp_worker(rank: int, port: int, out: str, shard_dir: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    recipe = tiny_recipe(
        Path(out), [stream("mm", Path(shard_dir))], steps=2, trainable=["aligner", "lm"]
    )
    result = train(recipe)
    torch.save(
        {"state": result["model"].state_dict(), "samples": result["samples"]},
        Path(out) / f"rank{rank}.pt",
    )
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_gloo_two_processes_stay_in_sync(tmp_path: Path) -> None:
    make_shards(tmp_path / "mm", "image_text", shards=4, per_shard=4)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(port, str(tmp_path / "run"), str(tmp_path / "mm")), nprocs=2)
    r0, r1 = (torch.load(tmp_path / "run" / f"rank{r}.pt") for r in (0, 1))
    for key, value in r0["state"].items():
        assert torch.equal(value, r1["state"][key]), key
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt["world"] == 2 and [r["data"]["batches"] for r in ckpt["ranks"]] == [2, 2]
    torch.testing.assert_close(ckpt["model"]["lm.norm.weight"], r0["state"]["lm.norm.weight"])


@pytest.mark.slow
def test_three_bundled_stages_chain_through_the_cli(tmp_path: Path, shards: dict) -> None:
    common = [
        "--set",
        "model=tiny",
        "--set",
        "data.seq_len=96",
        "--set",
        "data.batch_size=2",
        "--set",
        "data.num_workers=0",
        "--set",
        "train.precision=fp32",
        "--max-steps",
        "2",
        "--device",
        "cpu",
    ]
    mm = f"[{shards['image_text']}, {shards['interleaved']}]"
    stages = {
        "stage1_aligner": [
            "--set",
            f"data.streams.0.shards=[{shards['image_text']}]",
            "--set",
            f"tokenizer.path={tmp_path / 'tok'}",
            "--set",
            "tokenizer.vocab_size=400",
        ],
        "stage2_pretrain": [
            "--set",
            f"data.streams.0.shards={mm}",
            "--set",
            f"data.streams.1.shards=[{shards['text']}]",
            "--init-from",
            str(tmp_path / "stage1_aligner"),
        ],
        "stage3_sft": [
            "--set",
            f"data.streams.0.shards=[{shards['chat']}]",
            "--set",
            f"data.streams.1.shards=[{shards['text']}]",
            "--init-from",
            str(tmp_path / "stage2_pretrain"),
        ],
    }
    for name, extra in stages.items():
        recipe = REPO / "recipes" / f"{name}.yaml"
        assert main(["--recipe", str(recipe), "--out", str(tmp_path / name), *common, *extra]) == 0
    s1, s2, s3 = (load_checkpoint(tmp_path / n)["model"] for n in stages)
    assert (tmp_path / "tok" / "tokenizer.json").is_file()
    assert torch.equal(s1["vision_hi.pos_embed"], s3["vision_hi.pos_embed"])  # never trained
    assert not torch.equal(s1["lm.norm.weight"], s2["lm.norm.weight"])  # unfrozen in stage 2
    assert not torch.equal(s2["vision_lo.pos_embed"], s3["vision_lo.pos_embed"])  # SFT


def test_generate_cli_and_config_errors(tmp_path: Path, shards: dict, capsys) -> None:
    recipe = tiny_recipe(tmp_path / "run", [stream("mm", shards["image_text"])], steps=1)
    train(recipe)
    (tmp_path / "img.png").write_bytes(image_text(1)["png"])
    assert (
        main(
            [
                "--generate",
                str(tmp_path / "img.png"),
                "--checkpoint",
                str(tmp_path / "run"),
                "--max-new-tokens",
                "3",
            ]
        )
        == 0
    )
    capsys.readouterr()
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {streams: [{name: a, shards: [x.tar], weight: 1}]}\nlr: 3\n")
    assert main(["--recipe", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lr" in err and "Extra inputs" in err
    bad.write_text("data: {streams: [{name: a, shards: [x.tar], weight: 1}]}\n")
    with pytest.raises(ConfigError, match="vision_hi grid"):
        load_recipe(bad, {"model": {"preset": "tiny", "vision_hi": {"window_size": 3}}})
