"""The ``vlpipe`` command line."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from vlpipe.errors import BuildStopped, ConfigError, TransientError
from vlpipe.manifests.store import Store
from vlpipe.recipe import Recipe
from vlpipe.sources.registry import source_names

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(stderr=True, soft_wrap=True)  # messages are never cut into lines


SourceName = StrEnum("SourceName", {name: name for name in source_names()})


class ExecutorName(StrEnum):
    auto = "auto"
    ray = "ray"
    inline = "inline"


RESUME_HINT = "committed chunks are kept: re-run the same command to resume"


def _fail(message: str) -> typer.Exit:
    """A usage or configuration error: one line, exit status 2."""
    console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


def _stopped(message: str) -> typer.Exit:
    """A build that stopped before finishing: exit status 1."""
    console.print(f"[red]build stopped:[/red] {message}", highlight=False)
    console.print(RESUME_HINT, highlight=False)
    return typer.Exit(1)


@app.command()
def build(
    source: Annotated[SourceName, typer.Option(help="which source connector to run")],
    input: Annotated[
        list[str] | None,
        typer.Option(
            help="directory, file (.ipynb, .txt, .parquet, .jsonl) or hf:DATASET; repeatable. "
            "Default: the bundled sample documents"
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(help="output folder or object-store URL, s3://… (default: out/SOURCE)"),
    ] = None,
    recipe: Annotated[
        Path | None, typer.Option(help="YAML recipe (default: the bundled one)")
    ] = None,
    executor: Annotated[
        ExecutorName,
        typer.Option(
            help="ray (worker processes), inline (one process), or auto: Ray when the plan has "
            "units enough for more than one worker"
        ),
    ] = ExecutorName.auto,
    workers: Annotated[
        int | None, typer.Option(min=1, help="parallel workers (default: all CPUs)")
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (or set RAY_ADDRESS)")
    ] = None,
    hf_data_dir: Annotated[str | None, typer.Option(help="data_dir of a hf: dataset")] = None,
    images: Annotated[
        str | None,
        typer.Option(help="folder or tar of the images the documents name (mmc4, dataset)"),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="with --source dataset: an adapter `vlpipe datasets` lists, or a YAML"),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="discard an earlier build in OUTPUT")] = False,
    incremental: Annotated[
        bool,
        typer.Option(help="build what is new in the inputs since the last run into OUTPUT"),
    ] = False,
    reprocess_changed: Annotated[
        bool,
        typer.Option(help="with --incremental: rebuild the inputs that changed since built"),
    ] = False,
) -> None:
    """Build WebDataset shards and the ledger from a source; re-running resumes.

    Exit status: 0 when the build completed (drops and failed documents are data), 1 when it
    stopped (a bug, a transient read error, too many failures), 2 for usage and configuration
    errors, 3 when an incremental build completed but inputs that changed since they were built
    were left as they were (see --reprocess-changed)."""
    from vlpipe.manifests.stats import print_summary, summarize
    from vlpipe.manifests.store import open_store
    from vlpipe.pipelines.build import clear_output, run_build
    from vlpipe.recipe import load_recipe
    from vlpipe.sources.registry import source_spec

    try:
        out = open_store(output or f"out/{source.value}")
        loaded = load_recipe(source.value, recipe)
        if dataset is not None:
            loaded = _with_dataset(loaded, dataset)
        samples = source_spec(source.value).samples(loaded)
        if input is None and images is None and (samples / "images").is_dir():
            images = str(samples / "images")  # bundled sample documents bring their images
        given = {"hf_data_dir": hf_data_dir, "images": images}
        if settings := {name: value for name, value in given.items() if value is not None}:
            loaded = loaded.model_copy(update={"input": loaded.input.model_copy(update=settings)})
        if overwrite:
            clear_output(out)
        inputs = input or [str(samples)]
        run = run_build(
            loaded,
            inputs,
            out,
            executor.value,
            workers,
            address,
            console,
            incremental=incremental or reprocess_changed,
            reprocess_changed=reprocess_changed,
        )
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except (BuildStopped, TransientError) as exc:
        raise _stopped(str(exc)) from None
    except Exception:  # a bug: the traceback is for us, the exit status for the scheduler
        traceback.print_exc()
        raise _stopped("an unexpected error (above) is a bug in vlpipe") from None
    summary = summarize(out)
    print_summary(summary, out, Console())
    rate = run["documents"] / run["seconds"] if run["seconds"] else 0.0
    resumed = (
        f", {run['skipped_documents']:,} already committed" if run["skipped_documents"] else ""
    )
    console.print(
        f"this run: {run['documents']:,} documents in {run['seconds']:.1f}s "
        f"({rate:,.1f}/s){resumed}",
        highlight=False,
    )
    console.print(f"shards: {out.uri('shards')}   ledger: {out.uri('ledger')}", highlight=False)
    if run["added"] and incremental:
        console.print(f"run {run['run']}: {run['added']:,} new work units", highlight=False)
    if run["vanished"]:
        console.print(
            f"{len(run['vanished']):,} input files are gone since they were built (their samples "
            f"stay), e.g. {run['vanished'][0]}",
            highlight=False,
        )
    if run["changed"]:
        console.print(
            f"[yellow]{len(run['changed']):,} work units changed since they were built and were "
            f"left as they were[/yellow] (e.g. {run['changed'][0]}); rebuild them with "
            "--reprocess-changed",
            highlight=False,
        )
        raise typer.Exit(3)


def _with_dataset(recipe: Recipe, dataset: str) -> Recipe:
    """The recipe with ``--dataset`` as its adapter (``--source dataset`` only)."""
    options = getattr(recipe, "dataset", None)
    if recipe.source != "dataset" or options is None:
        raise ConfigError("--dataset goes with --source dataset")
    return recipe.model_copy(update={"dataset": options.model_copy(update={"adapter": dataset})})


@app.command()
def datasets(
    json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The dataset adapters: each dataset's published layout, sample kind and licence."""
    from vlpipe.sources.dataset.adapters import GROUP_TITLES, bundled_adapters

    adapters = bundled_adapters()
    if json:
        listed = [a.model_dump() | {"kind": a.kind} for a in adapters.values()]
        sys.stdout.write(orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    table = Table("dataset", "group", "sample", "layout", "licence", box=None)
    for group in GROUP_TITLES:
        for adapter in (a for a in adapters.values() if a.group == group):
            sample = f"{adapter.kind}/{adapter.task}"
            table.add_row(adapter.name, group, sample, adapter.layout, adapter.license)
    Console().print(table)
    console.print(
        f"{len(adapters)} adapters; build one: vlpipe build --source dataset --dataset NAME "
        "--input PATH|hf:REPO [--images ROOT]",
        highlight=False,
    )


def _build_at(location: str) -> Store:
    """The build at a folder or URL; a usage error when there is none."""
    from vlpipe.manifests.ledger import read_build_record
    from vlpipe.manifests.store import open_store

    try:
        out = open_store(location)
        if read_build_record(out) is None:
            raise ConfigError(f"{location} holds no vlpipe ledger")
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    return out


@app.command()
def stats(
    output: Annotated[str, typer.Argument(help="a build's output folder or URL")],
    json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Summarise a build from its ledger."""
    from vlpipe.manifests.stats import print_summary, summarize

    out = _build_at(output)
    summary = summarize(out)
    if json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_summary(summary, out, Console())


@app.command()
def inspect(
    output: Annotated[str, typer.Argument(help="a build's output folder or URL")],
    limit: Annotated[int, typer.Option(min=1, help="samples and drops to show")] = 60,
) -> None:
    """Write OUTPUT/inspect.html: a contact sheet of samples, drops and the summary."""
    from vlpipe.manifests.inspect import write_contact_sheet

    console.print(f"wrote {write_contact_sheet(_build_at(output), limit)}", highlight=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(context: typer.Context) -> None:
    """Train the bundled VLM on shards: vlpipe train --recipe recipes/<stage>.yaml [options]."""
    from vlpipe.trainer import main

    raise typer.Exit(main(list(context.args)))


class MatchName(StrEnum):
    all = "all"
    any = "any"


@app.command()
def dedup(
    source: Annotated[str, typer.Argument(help="a build's output folder or URL")],
    output: Annotated[str, typer.Option(help="where the deduplicated build goes")],
    against: Annotated[
        list[str] | None,
        typer.Option(help="an earlier build: its samples win over this one's; repeatable"),
    ] = None,
    text_threshold: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="MinHash-estimated Jaccard similarity")
    ] = 0.7,
    image_distance: Annotated[int, typer.Option(min=0, max=32, help="pHash Hamming distance")] = 6,
    bands: Annotated[int, typer.Option(min=1)] = 14,
    rows: Annotated[int, typer.Option(min=1)] = 8,
    match: Annotated[
        MatchName, typer.Option(help="all: text and images must agree; any: either")
    ] = MatchName.all,
    exact: Annotated[bool, typer.Option(help="remove byte-identical samples")] = True,
    near: Annotated[bool, typer.Option(help="remove near duplicates")] = True,
    executor: Annotated[ExecutorName, typer.Option()] = ExecutorName.auto,
    workers: Annotated[int | None, typer.Option(min=1)] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address")] = None,
    overwrite: Annotated[bool, typer.Option(help="discard an earlier dedup in OUTPUT")] = False,
) -> None:
    """Remove exact and near-duplicate samples corpus-wide (and those already in --against
    builds) into a new build folder; its ledger says what each removed sample duplicates."""
    from vlpipe.manifests.stats import print_summary, summarize
    from vlpipe.manifests.store import open_store
    from vlpipe.pipelines.build import clear_output
    from vlpipe.pipelines.dedup import DedupOptions, run_dedup

    try:
        options = DedupOptions(
            exact=exact,
            near=near,
            bands=bands,
            rows=rows,
            text_threshold=text_threshold,
            image_distance=image_distance,
            match=match.value,
        )
        if overwrite:
            clear_output(open_store(output))
        result = run_dedup(source, output, options, against or [], executor.value, workers, address)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except (BuildStopped, TransientError) as exc:
        raise _stopped(str(exc)) from None
    print_summary(summarize(output), output, Console())
    console.print(
        f"dedup: {result['removed']:,} of {result['samples']:,} samples removed "
        f"({result['exact']:,} exact, {result['near']:,} near duplicates)",
        highlight=False,
    )


quality_app = typer.Typer(no_args_is_help=True, help="Quality classifiers for the filters.")
app.add_typer(quality_app, name="quality")


@quality_app.command("train")
def quality_train(
    positive: Annotated[
        list[Path],
        typer.Option(
            help="reference-quality texts: .txt files, tables with a `text` "
            "column, folders of them, or a vlpipe build's output; repeatable"
        ),
    ],
    negative: Annotated[list[Path], typer.Option(help="texts of the corpus at large; as above")],
    output: Annotated[Path, typer.Option(help="where to write the model (.bin)")],
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    dim: Annotated[int, typer.Option(min=2)] = 64,
    word_ngrams: Annotated[int, typer.Option(min=1)] = 2,
    seed: int = 0,
) -> None:
    """Train the fastText quality classifier the `quality_classifier` filter applies."""
    from vlpipe.filters.quality_classifier import train

    try:
        report = train(
            read_texts(positive),
            read_texts(negative),
            output,
            epochs=epochs,
            dim=dim,
            word_ngrams=word_ngrams,
            seed=seed,
        )
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"wrote {report.model}: {report.positives:,} positive, {report.negatives:,} negative "
        f"texts; held-out accuracy {report.accuracy:.3f} on {report.held_out:,}",
        highlight=False,
    )


def read_texts(paths: list[Path]) -> Iterator[str]:
    """The texts of inputs as the `text` source reads them, or of a build's samples."""
    from vlpipe.filters.contract import SampleView
    from vlpipe.manifests.shards import iter_samples
    from vlpipe.manifests.store import open_store
    from vlpipe.recipe import InputConfig
    from vlpipe.schema import Document, Sample
    from vlpipe.sources.inputs import iter_documents, plan_units
    from vlpipe.sources.registry import source_spec

    layout = source_spec("text").layout
    for path in paths:
        if (path / "build.json").is_file():
            for members in iter_samples(open_store(path)):
                key = members.pop("__key__").decode()
                text = SampleView(Sample(key, members)).text
                if text:
                    yield text
            continue
        for unit in plan_units([str(path)], layout, InputConfig()):
            for item in iter_documents(unit, InputConfig(), layout):
                if isinstance(item, Document) and isinstance(item.content, str | bytes):
                    content = item.content
                    yield (
                        content if isinstance(content, str) else content.decode("utf-8", "replace")
                    )


JobServer = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="the cluster's job server, http://HEAD:8265 (or RAY_API_SERVER_ADDRESS, RAY_ADDRESS)",
    ),
]


@contextmanager
def _job_errors() -> Iterator[None]:
    """Exit 2 for a usage or configuration error, 1 when the job server does not answer (the
    same command, run again, finds the job or resumes the build)."""
    try:
        yield
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except TransientError as exc:
        console.print(f"[red]no answer:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


@app.command(context_settings={"allow_interspersed_args": False})
def submit(
    command: Annotated[
        list[str], typer.Argument(help="the vlpipe command the job runs: build …, dedup …, train …")
    ],
    address: JobServer = None,
    image_has_vlpipe: Annotated[
        bool,
        typer.Option("--image-has-vlpipe", help="the cluster's Python has vlpipe (vlpipe's image)"),
    ] = False,
    pip: Annotated[
        list[str] | None,
        typer.Option(help="a pip requirement the job installs (vlpipe itself: a wheel URL …)"),
    ] = None,
    working_dir: Annotated[
        Path | None,
        typer.Option(help="a local folder uploaded as the job's working directory (recipes …)"),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE for the job, or NAME to pass its value here; repeatable"),
    ] = None,
    follow: Annotated[
        bool, typer.Option(help="stream the job's logs and exit with its exit status")
    ] = False,
) -> None:
    """Run a build (or dedup, train) as a Ray job on a running cluster; prints the job's id:
    vlpipe submit --address http://HEAD:8265 --image-has-vlpipe -- build --source … --output s3://…

    Submitting the same command again resumes the build (while it runs, follows it instead).
    Exit status with --follow: the job's, as `vlpipe jobs status` gives it."""
    from vlpipe import jobs

    with _job_errors():
        jobs.check_submission(command)
        runtime = jobs.runtime_env(
            image_has_vlpipe, pip or [], working_dir, jobs.job_env(env or [], os.environ)
        )
        client = jobs.connect(address)
        submitted = jobs.submit(client, command, runtime)
    sys.stdout.write(submitted.job_id + "\n")
    sys.stdout.flush()
    note = "already running as this job" if submitted.already_running else "submitted"
    console.print(f"{note}: vlpipe jobs status|logs|stop {submitted.job_id}", highlight=False)
    if follow:
        _follow_job(client, submitted.job_id)


def _follow_job(client: JobSubmissionClient, job_id: str) -> None:
    """Stream the job's logs to stdout until it ends, then exit with its exit status; Ctrl-C
    leaves the job running."""
    from vlpipe import jobs

    try:
        with _job_errors():
            ended = jobs.follow(client, job_id, sys.stdout)
    except KeyboardInterrupt:
        console.print(f"the job goes on: vlpipe jobs logs --follow {job_id}", highlight=False)
        raise typer.Exit(130) from None
    console.print(jobs.describe(job_id, ended), highlight=False)
    raise typer.Exit(jobs.exit_status(ended))


jobs_app = typer.Typer(no_args_is_help=True, help="Ray jobs started by vlpipe submit.")
app.add_typer(jobs_app, name="jobs")
JobId = Annotated[str, typer.Argument(help="the id vlpipe submit printed")]


@jobs_app.command("status")
def jobs_status(job_id: JobId, address: JobServer = None) -> None:
    """Print the job's status and exit with its exit status (0 while it runs): 0 succeeded, the
    command's own when it failed (a build: 1 stopped, 2 configuration, 3 changed inputs), 1
    when it failed otherwise, 4 when it was stopped."""
    from vlpipe import jobs

    with _job_errors():
        job = jobs.info(jobs.connect(address), job_id)
    sys.stdout.write(jobs.describe(job_id, job) + "\n")
    raise typer.Exit(jobs.exit_status(job))


@jobs_app.command("logs")
def jobs_logs(
    job_id: JobId,
    address: JobServer = None,
    follow: Annotated[
        bool, typer.Option(help="stream until the job ends, then exit with its exit status")
    ] = False,
) -> None:
    """Print the job's logs so far."""
    from vlpipe import jobs

    with _job_errors():
        client = jobs.connect(address)
        if not follow:
            sys.stdout.write(jobs.logs(client, job_id))
    if follow:
        _follow_job(client, job_id)


@jobs_app.command("stop")
def jobs_stop(job_id: JobId, address: JobServer = None) -> None:
    """Stop the job and wait until it has ended. Committed chunks stay: submitting the same
    command again resumes the build."""
    from vlpipe import jobs

    with _job_errors():
        job = jobs.stop(jobs.connect(address), job_id)
    console.print(jobs.describe(job_id, job), highlight=False)
    if not job.status.is_terminal():
        raise _fail(f"job {job_id} has not ended after {jobs.STOP_WAIT_S:.0f}s")
