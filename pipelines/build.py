"""A build: plan work units, process them (inline or on Ray actors), commit chunk by chunk, resume.

Work units run inline (one process) or on a pool of Ray actors (embedded, or an existing cluster;
while an embedded Ray starts, the driver builds units too).
Determinism and resume both follow from one rule: a unit's documents are cut into chunks of
``docs_per_chunk`` in input order, and each chunk owns its shards
(``<source>-u<unit>-c<chunk>-<seq>.tar``) and ledger files. Which worker runs a unit, and when,
changes nothing in what the chunk writes; a re-run skips committed chunks and rewrites the rest.

Whether a chunk is committed is always asked of the output folder, never of a snapshot taken when
the build started: Ray retries the task of a worker that died, and the retry must skip the chunks
the dead worker committed. The commit itself is exclusive (``ledger.commit_chunk``).

What stops a build (exit status 1, nothing of the chunk in flight committed, a re-run resumes):
an exception that is not a document's fault (a bug), a transient read error, or more failed
documents in a row than ``max_failure_rate`` allows.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vlpipe.errors import (
    BAD_INPUT_ERRORS,
    BuildStopped,
    ConfigError,
    DocumentError,
    TransientError,
)
from vlpipe.filters.contract import SampleView
from vlpipe.filters.signatures import sign
from vlpipe.filters.stage import apply_filters
from vlpipe.manifests import ledger
from vlpipe.manifests.shards import ShardWriter
from vlpipe.manifests.store import Store, open_store
from vlpipe.pipelines.plan import plan_build
from vlpipe.recipe import Recipe
from vlpipe.runtime import Executor, choose_executor
from vlpipe.schema import Document, Outcome
from vlpipe.sources.inputs import Unit, iter_documents, local_bytes, plan_units
from vlpipe.sources.registry import DocumentStep, PrefetchingStep, StepContext, source_spec

WORKER_TASK_RETRIES = 3  # a unit whose worker process died this often stops the build


@dataclass(frozen=True)
class ChunkReport:
    unit: int
    chunk: int
    documents: int
    kept: int
    samples: int
    skipped: bool  # committed by an earlier attempt
    last: bool


def run_build(
    recipe: Recipe,
    inputs: list[str],
    output: Store | Path | str,
    executor: Executor = "ray",
    workers: int | None = None,
    address: str | None = None,
    console: Console | None = None,
    incremental: bool = False,
    reprocess_changed: bool = False,
) -> dict[str, Any]:
    """Run (or resume, or with ``incremental`` grow) a build into ``output`` (a folder or an
    object-store URL); returns the counts of this run and what its plan found."""
    console = console or Console(stderr=True)
    out = open_store(output)
    fresh = plan_units(inputs, source_spec(recipe.source).input_layout(recipe), recipe.input)
    plan = plan_build(out, recipe, inputs, fresh, incremental, reprocess_changed)
    committed = ledger.committed_chunks(out)
    ledger.remove_uncommitted(out, committed)
    finished = {ledger.ChunkId.parse(name).unit for name, last in committed.items() if last}
    changed = set(plan.changed)
    pending = [u for u in plan.units if u.index not in finished and u.label not in changed]
    started = time.perf_counter()
    if executor == "auto":
        size = local_bytes(pending)
        executor, why = choose_executor(
            len(pending), workers, address, size, recipe.input.ray_min_bytes
        )
        console.print(f"executor: {executor} ({why}; --executor ray|inline to choose)")
    if executor == "inline":
        reports: Iterable[ChunkReport] = _inline_reports(pending, recipe, out, plan.run)
    else:
        reports = _ray_reports(pending, recipe, out, plan.run, workers, address)
    totals = _follow(reports, len(plan.units), len(plan.units) - len(pending), console)
    remove_superseded(out)
    check_unique_keys(out)
    totals["seconds"] = time.perf_counter() - started
    totals |= {"run": plan.run, "added": len(plan.added), "changed": plan.changed}
    totals |= {"reprocessed": len(plan.reprocessed), "vanished": plan.vanished}
    return totals


def remove_superseded(out: Store) -> None:
    """Remove the chunks of units whose new version (``--reprocess-changed``) has committed its
    last chunk: document rows first, so that an interruption leaves only uncommitted leftovers,
    which the next run removes."""
    record = ledger.read_build_record(out) or {"units": []}
    committed = ledger.committed_chunks(out)
    finished = {ledger.ChunkId.parse(name).unit for name, last in committed.items() if last}
    for unit in record["units"]:
        if unit.get("superseded_by") in finished:
            prefix = f"u{unit['index']:05d}-"
            for folder in (ledger.DOCUMENTS, ledger.SAMPLES, ledger.ASSETS, ledger.SHARDS):
                for name in out.list(folder):
                    if name.startswith(prefix) or f"-{prefix}" in name:
                        out.remove(f"{folder}/{name}")


def clear_output(out: Store) -> None:
    """Remove a previous build's files (``--overwrite``), never anything else in the folder."""
    for folder in ledger.FOLDERS:
        for name in out.list(folder):
            out.remove(f"{folder}/{name}")
    out.remove(ledger.BUILD_FILE)


def check_unique_keys(out: Store) -> None:
    """Document ids and sample keys are unique by construction; a build that breaks that is a bug
    and must not pass silently (WebDataset readers would merge two samples)."""
    for name, table, column in (
        ("document ids", ledger.read_documents(out), "doc_id"),
        ("sample keys", ledger.read_samples(out), "key"),
    ):
        counts = Counter(table.column(column).to_pylist())
        repeated = [value for value, count in counts.items() if count > 1]
        if repeated:
            raise AssertionError(f"{len(repeated)} {name} repeat in {out.url}: {repeated[:3]}")


def _inline_reports(
    units: list[Unit], recipe: Recipe, out: Store, run: str
) -> Iterator[ChunkReport]:
    with source_spec(recipe.source).open_step(recipe, StepContext(out)) as step:
        failures = FailureWindow(recipe.max_failure_rate, recipe.failure_window)
        for unit in units:
            yield from process_unit(unit, step, recipe, out, run, failures)


class FailureWindow:
    """The last ``size`` documents a worker processed: when more than ``max_rate`` of them failed,
    the environment is broken (a missing font, a dead browser), not the input, and failing the
    rest of the corpus one document at a time would hide it."""

    def __init__(self, max_rate: float | None, size: int) -> None:
        self.max_rate = max_rate
        self.recent: deque[Outcome | None] = deque(maxlen=size)

    def record(self, outcome: Outcome) -> None:
        self.recent.append(outcome if outcome.status == "failed" else None)
        if self.max_rate is None or len(self.recent) < (self.recent.maxlen or 0):
            return
        failed = [o for o in self.recent if o is not None]
        if len(failed) > self.max_rate * len(self.recent):
            reasons = Counter(str(o.error_class) for o in failed)
            reason, count = reasons.most_common(1)[0]
            example = next(o for o in failed if o.error_class == reason)
            raise BuildStopped(
                f"{len(failed)} of the last {len(self.recent)} documents failed "
                f"(max_failure_rate {self.max_rate}); mostly {reason} ({count}), e.g. "
                f"{example.doc_id}: {example.error}"
            )


def process_unit(
    unit: Unit,
    step: DocumentStep,
    recipe: Recipe,
    out: Store,
    run: str,
    failures: FailureWindow,
) -> Iterator[ChunkReport]:
    """Read one unit and commit its chunks; chunks already committed are read past, not redone."""
    chunks = _chunks(read_unit(unit, recipe), recipe.output.docs_per_chunk)
    if isinstance(step, PrefetchingStep):
        chunks = _prefetched(chunks, step, unit, out)
    for number, (batch, last) in enumerate(chunks):
        chunk = ledger.ChunkId(unit.index, number)
        yield _run_chunk(chunk, batch, step, recipe, out, run, failures, last)


Chunk = tuple[list[Document | Outcome], bool]


def _chunks(items: Iterator[Document | Outcome], size: int) -> Iterator[Chunk]:
    """The items in chunks of ``size``, each with whether it is the unit's last (a unit without
    items is one empty chunk)."""
    batch: list[Document | Outcome] = []
    upcoming = next(items, None)
    while True:
        if upcoming is not None:
            batch.append(upcoming)
            upcoming = next(items, None)
        if len(batch) == size or upcoming is None:
            yield batch, upcoming is None
            if upcoming is None:
                return
            batch = []


def _prefetched(
    chunks: Iterator[Chunk], step: PrefetchingStep, unit: Unit, out: Store
) -> Iterator[Chunk]:
    """The chunks, each handed to the step's ``prefetch`` one chunk ahead of its processing (what
    the step fetches for the next chunk overlaps the work on this one; committed chunks are not
    prefetched). A read that breaks while looking ahead is raised after the chunk in hand."""
    held: Chunk | None = None
    try:
        for number, (batch, last) in enumerate(chunks):
            if not ledger.is_committed(out, ledger.ChunkId(unit.index, number)):
                step.prefetch([item for item in batch if isinstance(item, Document)])
            if held is not None:
                yield held
            held = batch, last
    except Exception:
        if held is not None:
            yield held
        raise
    if held is not None:
        yield held


def read_unit(unit: Unit, recipe: Recipe) -> Iterator[Document | Outcome]:
    """The unit's items. A corrupt input (``DocumentError``) ends the unit with one failed row
    saying how many documents were read before the break; anything else (a transient read error,
    a bug) propagates, so nothing of the chunk is committed and a re-run reads it again."""
    count = 0
    try:
        layout = source_spec(recipe.source).input_layout(recipe)
        for item in iter_documents(unit, recipe.input, layout):
            count += 1
            yield item
    except DocumentError as exc:
        where = unit.label if count == 0 else f"{unit.label}#after{count}"
        message = f"{exc or type(exc).__name__} ({count} documents read before the break)"
        yield Outcome(where, error_class=type(exc).__name__, error=message)


def _run_chunk(
    chunk: ledger.ChunkId,
    items: list[Document | Outcome],
    step: DocumentStep,
    recipe: Recipe,
    out: Store,
    run: str,
    failures: FailureWindow,
    last: bool,
) -> ChunkReport:
    skipped = ChunkReport(chunk.unit, chunk.chunk, len(items), 0, 0, skipped=True, last=last)
    if ledger.is_committed(out, chunk):
        return skipped
    outcomes, signatures = [], []
    for item in items:
        outcome = item if isinstance(item, Outcome) else document_outcome(step, item, recipe)
        outcome = apply_filters(outcome, recipe.filters)
        failures.record(outcome)
        outcomes.append(outcome)
        # signed right after the filters, while the images' decoded copies are still at hand
        signatures.append([sign(SampleView(s), recipe.signatures) for s in outcome.samples])
    documents, samples, assets = [], [], []
    with out.spool(ledger.SHARDS) as spool:
        writer = ShardWriter(
            spool,
            f"{recipe.source}-{chunk.name}",
            recipe.output.max_samples_per_shard,
            recipe.output.max_shard_bytes,
        )
        with writer:
            for outcome, signed in zip(outcomes, signatures, strict=True):
                shards: list[str] = []
                for sample, signature in zip(outcome.samples, signed, strict=True):
                    placement = writer.write(sample)
                    samples.append(
                        ledger.kept_sample_row(
                            recipe.source, outcome.doc_id, sample, placement, signature
                        )
                    )
                    if placement.shard not in shards:
                        shards.append(placement.shard)
                samples.extend(ledger.dropped_sample_rows(recipe.source, outcome))
                assets.extend(ledger.asset_rows(recipe.source, outcome))
                row = ledger.document_row(recipe.source, chunk, outcome, shards, run)
                documents.append(row)
        keys = [row["key"] for row in samples]
        try:
            if len(set(keys)) < len(keys):
                raise AssertionError(f"chunk {chunk.name} repeats sample keys: {sorted(keys)}")
            committed = ledger.commit_chunk(
                out, chunk, writer.written, documents, samples, assets, last
            )
        finally:
            writer.discard()  # what the commit did not put in place
    if not committed:
        return skipped
    kept = sum(1 for outcome in outcomes if outcome.status == "kept")
    written = sum(len(outcome.samples) for outcome in outcomes)
    return ChunkReport(chunk.unit, chunk.chunk, len(items), kept, written, skipped=False, last=last)


def document_outcome(step: DocumentStep, document: Document, recipe: Recipe) -> Outcome:
    """The step's outcome; errors that describe the document (``BAD_INPUT_ERRORS``) fail just
    this document. Any other exception is a bug and propagates."""
    try:
        return step(document, recipe)
    except BAD_INPUT_ERRORS as exc:
        message = str(exc) or repr(exc)
        return Outcome(
            document.doc_id,
            error_class=type(exc).__name__,
            error=message[:2000],
            doc_bytes=len(document.content) if isinstance(document.content, str | bytes) else 0,
        )


class UnitWorker:
    """A Ray actor that processes the units it is handed and returns a report per chunk. The
    source's step (its browser pool …) is opened for each unit — hundreds of documents — and
    closed when the unit is done, so a browser never outlives its work. Its failure window spans
    the units it processes."""

    def __init__(self) -> None:
        self.failures: FailureWindow | None = None

    def warm(self, source: str) -> None:
        """Import what the source's step needs, so that a ready worker is one that can work."""
        source_spec(source).opener()

    def run(self, task: bytes) -> list[bytes]:
        work = orjson.loads(task)
        recipe = source_spec(work["source"]).recipe.model_validate(work["recipe"])
        out, unit, run = open_store(work["out"]), Unit(**work["unit"]), work["run"]
        if self.failures is None:
            self.failures = FailureWindow(recipe.max_failure_rate, recipe.failure_window)
        with source_spec(recipe.source).open_step(recipe, StepContext(out)) as step:
            return [
                orjson.dumps(dataclasses.asdict(report))
                for report in process_unit(unit, step, recipe, out, run, self.failures)
            ]


class _WorkerReports:
    """What the thread feeding the Ray workers hands the driver: chunk reports, the exception
    that stopped it, and ``None`` once it has finished."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[ChunkReport | BaseException | None] = queue.SimpleQueue()
        self.finished = False

    def take(self, wait: bool) -> Iterator[ChunkReport]:
        """The reports at hand (``wait``: all of them, until the feeder has finished)."""
        while not self.finished:
            try:
                item = self.queue.get(block=wait)
            except queue.Empty:
                return
            if item is None:
                self.finished = True
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item


def _ray_reports(
    units: list[Unit],
    recipe: Recipe,
    out: Store,
    run: str,
    workers: int | None,
    address: str | None,
) -> Iterator[ChunkReport]:
    """Units spread over a pool of Ray actors, one CPU each, fed by a thread of the driver.

    An embedded Ray takes seconds to start (its own processes, then each worker's imports: 9 on
    a 2-core machine); meanwhile the driver builds units itself, as the inline executor does,
    and takes no new one once the workers are ready, so the first chunks commit as soon as an
    inline build's would. A worker process that dies is replaced and its unit retried
    (``WORKER_TASK_RETRIES`` times; a document that kills its worker every time must stop the
    build, not loop); the retry skips what was committed."""
    if not units:
        return
    import ray

    todo = deque(units)
    reports, ready, stop = _WorkerReports(), threading.Event(), threading.Event()
    embedded = not ray.is_initialized() and not (address or os.environ.get("RAY_ADDRESS"))
    common = {"source": recipe.source, "recipe": recipe.model_dump(mode="json"), "out": out.url}
    common["run"] = run
    feeder = threading.Thread(
        target=_feed_workers,
        args=(todo, common, workers, address, ready, stop, reports),
        name="vlpipe-ray-feeder",
        daemon=True,
    )
    feeder.start()
    try:
        if embedded:
            with source_spec(recipe.source).open_step(recipe, StepContext(out)) as step:
                failures = FailureWindow(recipe.max_failure_rate, recipe.failure_window)
                while not ready.is_set() and (unit := _next_unit(todo)) is not None:
                    for report in process_unit(unit, step, recipe, out, run, failures):
                        yield report
                        yield from reports.take(wait=False)
        yield from reports.take(wait=True)
    finally:
        stop.set()


def _next_unit(todo: deque[Unit]) -> Unit | None:
    try:
        return todo.popleft()  # atomic: the driver and the feeder take from the same queue
    except IndexError:
        return None


def _feed_workers(
    todo: deque[Unit],
    common: dict[str, Any],
    workers: int | None,
    address: str | None,
    ready: threading.Event,
    stop: threading.Event,
    reports: _WorkerReports,
) -> None:
    """Start (or join) Ray and its workers, then hand each idle worker the next unit until none
    is left or the driver stops. A thread that started Ray lives as long as the process: Ray's
    processes are set to die with the thread that started them (``PR_SET_PDEATHSIG``)."""
    import ray

    from vlpipe.runtime import init_ray

    starts_ray = not ray.is_initialized()
    actors: list[Any] = []
    try:
        slots = init_ray(address, workers)
        actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=WORKER_TASK_RETRIES)
        actors = [actor(UnitWorker).remote() for _ in range(min(slots, len(todo)))]
        ray.get([worker.warm.remote(common["source"]) for worker in actors])
        ready.set()
        idle, running = list(actors), {}
        while not stop.is_set():
            while idle and (unit := _next_unit(todo)) is not None:
                task = orjson.dumps({**common, "unit": dataclasses.asdict(unit)})
                worker = idle.pop()
                running[worker.run.remote(task)] = worker
            if not running:
                break
            done, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            for ref in done:
                idle.append(running.pop(ref))
                for report in ray.get(ref):
                    reports.queue.put(ChunkReport(**orjson.loads(report)))
    except ray.exceptions.RayTaskError as exc:
        known = isinstance(exc.cause, BuildStopped | TransientError | ConfigError)
        reports.queue.put(exc.cause if known else exc)
    except BaseException as exc:  # handed to the driver, which raises it
        reports.queue.put(exc)
    finally:
        for running_actor in actors:
            ray.kill(running_actor)
        reports.queue.put(None)
    if starts_ray:
        threading.Event().wait()


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
