"""``vlpipe train`` / ``python -m vlpipe.trainer``: train from a recipe, or caption an image."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from vlpipe.errors import ConfigError
from vlpipe.trainer.config import load_recipe, parse_assignment


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vlpipe train",
        description="Train the bundled DeepSeek-VL-style model on vlpipe shards, or caption an "
        "image with a checkpoint (--generate).",
    )
    p.add_argument(
        "--recipe",
        help="recipe YAML path, or a bundled recipe name "
        "(stage1_aligner, stage2_pretrain, stage3_sft)",
    )
    p.add_argument("--stage", help="the stage to train, of a mixture recipe holding several")
    p.add_argument("--max-steps", type=int, help="total steps (the schedule's length)")
    p.add_argument("--stop-at", type=int, help="halt after this step with a checkpoint")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--out", help="run directory (checkpoints, log.jsonl)")
    p.add_argument("--init-from", help="checkpoint or run directory of the previous stage")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CKPT",
        help="continue the run in --out (or from CKPT)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any recipe field, e.g. --set train.lr=3e-4 (repeatable)",
    )
    g = p.add_argument_group("generation")
    g.add_argument("--generate", metavar="IMAGE", help="caption IMAGE greedily and exit")
    g.add_argument("--checkpoint", help="checkpoint file or run directory for --generate")
    g.add_argument("--prompt", help="instruction (default: the task's training prompt)")
    g.add_argument("--task", default="caption", help="task whose prompt to use")
    g.add_argument("--max-new-tokens", type=int, default=64)
    return p


def recipe_path(spec: str) -> Path:
    """A file path, else a recipe bundled in ``vlpipe.recipes``."""
    path = Path(spec)
    if path.is_file():
        return path
    bundled = resources.files("vlpipe.recipes") / f"{spec.removesuffix('.yaml')}.yaml"
    if bundled.is_file():
        return Path(str(bundled))
    raise ConfigError(f"recipe not found: {spec}")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    found: dict[str, Any] = dict(parse_assignment(item) for item in args.set)
    for flag, key in (
        ("max_steps", "train.steps"),
        ("stop_at", "train.stop_at"),
        ("device", "train.device"),
        ("out", "out"),
        ("init_from", "init_from"),
    ):
        value = getattr(args, flag)
        if value is not None:
            found[key] = value
    return found


def _generate(args: argparse.Namespace) -> int:
    from vlpipe.trainer.inference import generate, load_for_inference

    if not args.checkpoint:
        raise ConfigError("--generate needs --checkpoint")
    if not Path(args.generate).is_file():
        raise ConfigError(f"image not found: {args.generate}")
    model, tok = load_for_inference(args.checkpoint, args.device or "cpu")
    print(generate(model, tok, args.generate, args.prompt, args.task, args.max_new_tokens))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.generate:
            return _generate(args)
        if not args.recipe:
            raise ConfigError("--recipe is required (or --generate IMAGE --checkpoint CKPT)")
        recipe = load_recipe(recipe_path(args.recipe), overrides(args), args.stage)
        from vlpipe.trainer.loop import train

        train(recipe, resume=args.resume)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
