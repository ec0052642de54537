"""A build: plan work units, process them (inline or on Ray Data), commit chunk by chunk, resume.

Determinism and resume both follow from one rule: a unit's documents are cut into chunks of
``docs_per_chunk`` in input order, and each chunk owns its shards
(``<source>-u<unit>-c<chunk>-<seq>.tar``) and ledger files. Which worker runs a unit, and when,
changes nothing in what the chunk writes; a re-run skips committed chunks and rewrites the rest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vlpipe import __version__
from vlpipe.errors import ConfigError
from vlpipe.manifests import ledger
from vlpipe.manifests.shards import ShardWriter
from vlpipe.pipelines.registry import DocumentStep, source_spec
from vlpipe.recipe import Recipe
from vlpipe.schema import Document, Outcome
from vlpipe.sources.inputs import Unit, iter_documents, plan_units

Executor = Literal["ray", "inline"]


def bundled_samples(source: str) -> str:
    from importlib import resources

    return str(resources.files("vlpipe.samples") / source)


@dataclass(frozen=True)
class ChunkReport:
    unit: int
    chunk: int
    documents: int
    kept: int
    samples: int
    skipped: bool  # committed by an earlier run
    last: bool


def run_build(
    recipe: Recipe,
    inputs: list[str],
    out: Path,
    executor: Executor = "ray",
    workers: int | None = None,
    address: str | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run (or resume) a build into ``out``; returns the counts of this run."""
    console = console or Console(stderr=True)
    units = plan_units(inputs, source_spec(recipe.source).layout, recipe.input)
    _prepare_output(out, recipe, inputs, plan_fingerprint(units))
    committed = ledger.committed_chunks(out)
    ledger.remove_uncommitted(out, committed)
    finished_units = {ledger.ChunkId.parse(name).unit for name, last in committed.items() if last}
    pending = [unit for unit in units if unit.index not in finished_units]
    started = time.perf_counter()
    if executor == "inline":
        reports: Iterable[ChunkReport] = _inline_reports(pending, recipe, out, committed)
    else:
        reports = _ray_reports(pending, recipe, out, committed, workers, address)
    totals = _follow(reports, len(units), len(units) - len(pending), console)
    totals["seconds"] = time.perf_counter() - started
    return totals


def plan_fingerprint(units: list[Unit]) -> str:
    """A hash of the work plan and the input files' sizes: a resumed build must see the same
    documents in the same units, or committed chunk names would point at other documents."""
    digest = hashlib.sha256()
    for unit in units:
        digest.update(orjson.dumps(dataclasses.asdict(unit)))
        for path in unit.paths:
            digest.update(str(Path(path).stat().st_size).encode())
    return digest.hexdigest()


def _prepare_output(out: Path, recipe: Recipe, inputs: list[str], plan: str) -> None:
    """Create the output layout, or check that it holds this same build (recipe and inputs)."""
    identity = {"recipe": recipe.model_dump(mode="json"), "inputs": inputs, "plan": plan}
    marker = out / "build.json"
    try:
        if marker.exists():
            previous = orjson.loads(marker.read_bytes())
            if {k: previous.get(k) for k in identity} != identity:
                raise ConfigError(
                    f"{out} holds a build with another recipe or other input files; "
                    "choose another --output or pass --overwrite"
                )
        for folder in (ledger.shards_dir(out), ledger.documents_dir(out), ledger.samples_dir(out)):
            folder.mkdir(parents=True, exist_ok=True)
        if not marker.exists():
            record = {**identity, "vlpipe": __version__}
            marker.write_bytes(
                orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
            )
    except OSError as exc:
        raise ConfigError(f"cannot write to {out}: {exc.strerror}") from None


def clear_output(out: Path) -> None:
    """Remove a previous build's files (``--overwrite``), never anything else in the folder."""
    for name in ("shards", "ledger"):
        shutil.rmtree(out / name, ignore_errors=True)
    (out / "build.json").unlink(missing_ok=True)


def _inline_reports(
    units: list[Unit], recipe: Recipe, out: Path, committed: dict[str, bool]
) -> Iterator[ChunkReport]:
    with source_spec(recipe.source).open_step(recipe) as step:
        for unit in units:
            yield from process_unit(unit, step, recipe, out, committed)


def process_unit(
    unit: Unit, step: DocumentStep, recipe: Recipe, out: Path, committed: dict[str, bool]
) -> Iterator[ChunkReport]:
    """Read one unit and commit its chunks; chunks already committed are read past, not redone."""
    size = recipe.output.docs_per_chunk
    items = _guarded(iter_documents(unit, recipe.input, source_spec(recipe.source).layout), unit)
    batch: list[Document | Outcome] = []
    number = 0
    upcoming = next(items, None)
    while upcoming is not None or number == 0:
        if upcoming is not None:
            batch.append(upcoming)
            upcoming = next(items, None)
        if len(batch) == size or upcoming is None:
            chunk = ledger.ChunkId(unit.index, number)
            yield _run_chunk(chunk, batch, step, recipe, out, committed, last=upcoming is None)
            batch, number = [], number + 1


def _guarded(items: Iterator[Document | Outcome], unit: Unit) -> Iterator[Document | Outcome]:
    """The unit's items; if reading breaks off, one failed row stands for the unread rest."""
    count = 0
    try:
        for item in items:
            count += 1
            yield item
    except Exception as exc:  # any reader failure is data: the build goes on
        where = unit.label if count == 0 else f"{unit.label}#after{count}"
        yield Outcome(where, error_class=type(exc).__name__, error=str(exc) or repr(exc))


def _run_chunk(
    chunk: ledger.ChunkId,
    items: list[Document | Outcome],
    step: DocumentStep,
    recipe: Recipe,
    out: Path,
    committed: dict[str, bool],
    last: bool,
) -> ChunkReport:
    if chunk.name in committed:
        return ChunkReport(chunk.unit, chunk.chunk, len(items), 0, 0, skipped=True, last=last)
    outcomes = [
        item if isinstance(item, Outcome) else _safe_step(step, item, recipe) for item in items
    ]
    documents, samples = [], []
    prefix = f"{recipe.source}-{chunk.name}"
    writer = ShardWriter(
        ledger.shards_dir(out),
        prefix,
        recipe.output.max_samples_per_shard,
        recipe.output.max_shard_bytes,
    )
    with writer:
        for outcome in outcomes:
            shards: list[str] = []
            for sample in outcome.samples:
                placement = writer.write(sample)
                samples.append(
                    ledger.kept_sample_row(recipe.source, outcome.doc_id, sample, placement)
                )
                if placement.shard not in shards:
                    shards.append(placement.shard)
            samples.extend(ledger.dropped_sample_rows(recipe.source, outcome))
            documents.append(ledger.document_row(recipe.source, chunk, outcome, shards))
    ledger.commit_chunk(out, chunk, documents, samples, last)
    kept = sum(1 for outcome in outcomes if outcome.status == "kept")
    written = sum(len(outcome.samples) for outcome in outcomes)
    return ChunkReport(chunk.unit, chunk.chunk, len(items), kept, written, skipped=False, last=last)


def _safe_step(step: DocumentStep, document: Document, recipe: Recipe) -> Outcome:
    """Bad input never crashes a build: any exception fails just this document."""
    try:
        return step(document, recipe)
    except Exception as exc:
        message = str(exc) or repr(exc)
        return Outcome(
            document.doc_id,
            error_class=type(exc).__name__,
            error=message[:2000],
            doc_bytes=len(document.content) if isinstance(document.content, str | bytes) else 0,
        )


class UnitWorker:
    """A Ray Data actor that processes the units it is handed, yielding a report per chunk as
    it commits. The source's step (its browser pool …) is opened for each unit — hundreds of
    documents — and closed when the unit is done: Ray may end an idle actor without running its
    finalisers, which would leave a browser to die mid-conversation."""

    def __init__(self, recipe: Recipe, out: Path, committed: dict[str, bool]) -> None:
        self.recipe, self.out, self.committed = recipe, out, committed
        self.spec = source_spec(recipe.source)

    def __call__(self, batch: dict[str, Any]) -> Iterator[dict[str, list[Any]]]:
        for payload in batch["unit"]:
            unit = Unit(**orjson.loads(payload))
            with self.spec.open_step(self.recipe) as step:
                for report in process_unit(unit, step, self.recipe, self.out, self.committed):
                    yield {"report": [orjson.dumps(dataclasses.asdict(report))]}


def _ray_reports(
    units: list[Unit],
    recipe: Recipe,
    out: Path,
    committed: dict[str, bool],
    workers: int | None,
    address: str | None,
) -> Iterator[ChunkReport]:
    if not units:
        return
    import ray.data

    from vlpipe.runtime import init_ray

    slots = init_ray(address, workers)
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # our progress bar and table suffice
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = False

    rows = [{"unit": orjson.dumps(dataclasses.asdict(unit))} for unit in units]
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
        UnitWorker,
        fn_constructor_args=(recipe, out, committed),
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(slots, len(rows))),
        num_cpus=1,
    )
    for row in dataset.iter_rows():
        yield ChunkReport(**orjson.loads(row["report"]))


def _follow(
    reports: Iterable[ChunkReport], units: int, done_before: int, console: Console
) -> dict[str, Any]:
    """Drive the reports with a progress bar; the counts of work done (and skipped) this run."""
    totals = {"documents": 0, "kept": 0, "samples": 0, "skipped_documents": 0, "units": units}
    columns = (
        TextColumn("[bold]units"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[docs]}"),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as progress:
        task = progress.add_task("build", total=units, completed=done_before, docs="")
        for report in reports:
            if report.skipped:
                totals["skipped_documents"] += report.documents
            else:
                totals["documents"] += report.documents
                totals["kept"] += report.kept
                totals["samples"] += report.samples
            progress.update(
                task,
                advance=1 if report.last else 0,
                docs=f"{totals['documents']:,} documents, {totals['samples']:,} samples",
            )
    return totals
