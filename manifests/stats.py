"""Build summaries computed from the ledger alone, so ``vlpipe stats`` works on any output."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from vlpipe.manifests.ledger import (
    SHARDS,
    committed_chunks,
    planned_units,
    read_assets,
    read_build_record,
    read_documents,
    read_samples,
)
from vlpipe.manifests.store import Store, open_store


def summarize(output: Store | Path | str) -> dict[str, Any]:
    """Counts from the ledger. ``complete``: every planned work unit committed its last chunk.
    Drops are ``filter/reason``. ``candidates``: the samples a source proposed (Jupyter: one per
    producing cell), kept or dropped; ``yield`` is the kept share of them (DeepSeek-VL kept 1.1M
    of 2M notebook pairs); ``funnel``: what each stage dropped, in recipe order."""
    out = open_store(output)
    documents = read_documents(out).to_pydict()
    samples = read_samples(out).select(["status", "filter", "reason", "shard"]).to_pydict()
    statuses = Counter(documents["status"])
    dropped = Counter(
        f"{name}/{reason}"
        for status, name, reason in zip(
            documents["status"], documents["filter"], documents["reason"], strict=True
        )
        if status == "dropped"
    )
    failed = Counter(
        error
        for status, error in zip(documents["status"], documents["error_class"], strict=True)
        if status == "failed"
    )
    shards = sorted({shard for shard in samples["shard"] if shard is not None})
    planned = planned_units(out)
    finished = sum(1 for last in committed_chunks(out).values() if last)
    kept_samples = sum(1 for status in samples["status"] if status == "kept")
    candidates = len(samples["status"])
    return {
        "complete": planned is not None and finished >= planned,
        "units": planned,
        "units_finished": finished,
        "read": len(documents["doc_id"]),
        "kept": statuses["kept"],
        "dropped": dict(sorted(dropped.items())),
        "failed": dict(sorted(failed.items())),
        "samples": kept_samples,
        "candidates": candidates,
        "yield": round(kept_samples / candidates, 4) if candidates else None,
        "funnel": funnel(samples, candidates, recipe_filters(out)),
        "assets": asset_counts(read_assets(out).select(["status", "reason"]).to_pydict()),
        "shards": len(shards),
        "bytes": sum(out.size(f"{SHARDS}/{shard}") for shard in shards),
        "sources": dict(sorted(Counter(documents["source"]).items())),
    }


def asset_counts(assets: dict[str, list[Any]]) -> dict[str, Any] | None:
    """The files documents referred to (image URLs), as img2dataset reports them: how many,
    by status, the success rate and why the rest were not had."""
    if not assets["status"]:
        return None
    statuses = Counter(assets["status"])
    reasons = Counter(r for s, r in zip(assets["status"], assets["reason"], strict=True) if r)
    total = len(assets["status"])
    return {
        "total": total,
        "by_status": dict(sorted(statuses.items())),
        "success_rate": round((total - statuses["dropped"]) / total, 4),
        "dropped": dict(sorted(reasons.items())),
    }


def recipe_filters(out: Store) -> list[str]:
    record = read_build_record(out)
    return [] if record is None else [next(iter(entry)) for entry in record["recipe"]["filters"]]


def funnel(
    samples: dict[str, list[Any]], candidates: int, order: list[str]
) -> list[dict[str, Any]]:
    """Candidate samples through the stages that dropped some: first the source's own checks
    (any stage not in the recipe's filter list), then each filter in recipe order; ``left`` is
    what passed the stage."""
    by_stage: dict[str, Counter[str]] = {}
    for status, name, reason in zip(
        samples["status"], samples["filter"], samples["reason"], strict=True
    ):
        if status == "dropped":
            by_stage.setdefault(name, Counter())[reason] += 1
    sources = sorted(name for name in by_stage if name not in order)
    left, stages = candidates, []
    for name in [*sources, *order]:
        reasons = by_stage.get(name, Counter())
        count = sum(reasons.values())
        left -= count
        stages.append({"stage": name, "dropped": count, "reasons": dict(reasons), "left": left})
    return stages


def print_summary(
    summary: dict[str, Any], out: Store | Path | str, console: Console, seconds: float | None = None
) -> None:
    title = out.url if isinstance(out, Store) else str(out)
    table = Table(title=f"vlpipe build {title}", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    if summary["complete"]:
        table.add_row("build", "complete")
    else:
        units = summary["units"] if summary["units"] is not None else "?"
        table.add_row("build", f"INCOMPLETE: {summary['units_finished']:,} of {units} units")
    table.add_row("documents read", f"{summary['read']:,}")
    table.add_row("kept", f"{summary['kept']:,}")
    dropped = summary["dropped"]
    table.add_row("dropped", f"{sum(dropped.values()):,}")
    for reason, count in dropped.items():
        table.add_row(f"  dropped: {reason}", f"{count:,}")
    failed = summary["failed"]
    table.add_row("failed", f"{sum(failed.values()):,}")
    for reason, count in failed.items():
        table.add_row(f"  failed: {reason}", f"{count:,}")
    table.add_row("candidate samples", f"{summary['candidates']:,}")
    for stage in summary["funnel"]:
        table.add_row(f"  after {stage['stage']}", f"{stage['left']:,} (−{stage['dropped']:,})")
        for reason, count in sorted(stage["reasons"].items()):
            table.add_row(f"    {stage['stage']}/{reason}", f"{count:,}")
    table.add_row("samples", f"{summary['samples']:,}")
    if summary["candidates"]:
        table.add_row("  yield (samples / candidates)", f"{summary['yield']:.1%}")
    if assets := summary["assets"]:
        table.add_row("assets (e.g. image URLs)", f"{assets['total']:,}")
        for status, count in assets["by_status"].items():
            table.add_row(f"  {status}", f"{count:,}")
        table.add_row("  success rate", f"{assets['success_rate']:.1%}")
        for reason, count in assets["dropped"].items():
            table.add_row(f"    dropped: {reason}", f"{count:,}")
    table.add_row("shards", f"{summary['shards']:,}")
    table.add_row("bytes", f"{summary['bytes']:,}")
    if seconds is not None and seconds > 0:
        table.add_row("documents/s", f"{summary['read'] / seconds:,.1f}")
    console.print(table)
