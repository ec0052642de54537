"""The build path under failure: bugs stop it uncommitted, documents fail as rows, transient reads
are retried, a broken environment is noticed, commits are exclusive and durable, ids unique,
changed inputs refused, and a source is one package."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from tests.jupyter.helpers import build, documents, dumps, plot_notebook, recipe
from tests.jupyter.test_build import shard_members, write_notebooks
from vlpipe.errors import BuildStopped, ConfigError, TransientError
from vlpipe.manifests import ledger, store
from vlpipe.manifests.stats import summarize
from vlpipe.manifests.store import open_store, temporary_name
from vlpipe.pipelines.build import FailureWindow, check_unique_keys, run_build
from vlpipe.schema import Outcome
from vlpipe.sources import inputs
from vlpipe.sources.inputs import InputLayout, plan_units
from vlpipe.sources.registry import source_names, source_spec

VLPIPE = [sys.executable, "-m", "vlpipe"]


def bug_injector(folder: Path, step: str = "notebook_outcome") -> dict[str, str]:
    """An environment whose Python processes (the CLI and Ray's workers alike) run a Jupyter step
    with a bug in it: a ``sitecustomize`` on PYTHONPATH patches the step when Python starts."""
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        textwrap.dedent(
            f"""
            import vlpipe.sources.jupyter.step as step
            from vlpipe.sources.registry import stateless

            def broken(document, recipe):
                if document.doc_id.endswith("nb_003.ipynb"):
                    return None + 1  # TypeError: a bug, not bad input
                return step.{step}(document, recipe)

            step.open_step = stateless(broken)
            """
        )
    )
    path = os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VLPIPE, *args], capture_output=True, text=True, env=env)


def small_chunks(tmp_path: Path, **extra: object) -> Path:
    recipe_file = tmp_path / "recipe.yaml"
    settings = {"input": {"files_per_unit": 4}, "output": {"docs_per_chunk": 2}, **extra}
    recipe_file.write_text(orjson.dumps({"source": "jupyter", **settings}).decode())
    return recipe_file


# -- 1. a bug stops the build uncommitted; documents' own errors are rows ----------------------


@pytest.mark.parametrize("executor", ["inline", pytest.param("ray", marks=pytest.mark.slow)])
def test_a_bug_in_a_step_stops_the_build_uncommitted_and_a_rerun_resumes(
    tmp_path: Path, executor: str
) -> None:
    write_notebooks(tmp_path / "in", 8)
    out = tmp_path / "out"
    args = ["build", "--source", "jupyter", "--input", str(tmp_path / "in"), "--output", str(out)]
    args += ["--recipe", str(small_chunks(tmp_path)), "--executor", executor, "--workers", "1"]
    broken = run_cli(*args, env=bug_injector(tmp_path / "inject"))
    assert broken.returncode == 1, broken.stderr
    assert "TypeError" in broken.stderr and "bug in vlpipe" in broken.stderr
    assert "re-run the same command to resume" in broken.stderr
    committed = {row["doc_id"].rsplit("/", 1)[1] for row in documents(out).values()}
    # nb_003 is in the second chunk of the first unit: that chunk is not committed, and no
    # document of it became a failed row
    assert "nb_002.ipynb" not in committed and "nb_003.ipynb" not in committed
    assert all(row["status"] == "kept" for row in documents(out).values())
    stats = run_cli("stats", str(out), "--json")
    assert orjson.loads(stats.stdout)["complete"] is False
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    summary = summarize(out)
    assert (summary["read"], summary["samples"], summary["complete"]) == (8, 8, True)


def test_document_errors_are_rows_and_the_build_exits_zero(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "in", 3)
    (tmp_path / "in" / "broken.ipynb").write_bytes(b'{"cells": [')
    (tmp_path / "in" / "zip.ipynb").write_bytes(b"PK\x03\x04 not json either")
    result = run_cli(
        "build", "--source", "jupyter", "--executor", "inline", "--input", str(tmp_path / "in"),
        "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert summarize(tmp_path / "out")["failed"] == {"InvalidJSON": 2}


# -- max_failure_rate --------------------------------------------------------------------------


def failed(doc_id: str, error_class: str = "RenderTimeout") -> Outcome:
    return Outcome(doc_id, error_class=error_class, error="page load exceeded 15s")


def test_failure_window_stops_on_a_run_of_failures_and_names_the_reason() -> None:
    window = FailureWindow(max_rate=0.5, size=4)
    window.record(Outcome("a", samples=()))
    window.record(failed("b"))
    window.record(failed("c", "TexError"))
    window.record(Outcome("d"))  # 2 of 4: at the limit, not over
    with pytest.raises(BuildStopped, match=r"3 of the last 4 .* mostly RenderTimeout \(2\)"):
        window.record(failed("e"))


def test_failure_window_needs_a_full_window_and_can_be_off() -> None:
    window = FailureWindow(max_rate=0.1, size=10)
    for number in range(9):
        window.record(failed(str(number)))  # nine failures, but not yet ten documents
    off = FailureWindow(max_rate=None, size=2)
    for number in range(20):
        off.record(failed(str(number)))


def test_a_broken_environment_stops_the_build_with_exit_status_one(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_notebooks(folder, 2)
    for number in range(10):
        (folder / f"z_{number}.ipynb").write_bytes(b"\x00garbage")
    recipe_file = small_chunks(tmp_path, max_failure_rate=0.5, failure_window=6)
    result = run_cli(
        "build", "--source", "jupyter", "--executor", "inline", "--input", str(folder),
        "--recipe", str(recipe_file), "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 1
    assert "build stopped" in result.stderr and "mostly InvalidJSON" in result.stderr
    assert "Traceback" not in result.stderr


# -- 2. read errors: corrupt local files are rows, transient streams are retried --------------


class BreakingStream:
    """A Hub dataset stream whose first attempt breaks after three rows."""

    attempts = 0

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows, self.num_shards = rows, 1

    def shard(self, num_shards: int, index: int) -> Iterator[dict[str, Any]]:
        BreakingStream.attempts += 1
        for number, row in enumerate(self.rows):
            if number == 3 and BreakingStream.attempts == 1:
                raise ConnectionError("connection reset by peer")
            yield row


def test_a_broken_remote_stream_commits_nothing_after_the_break_and_a_rerun_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"content": dumps(plot_notebook()).decode(), "hexsha": str(n)} for n in range(6)]
    stream = BreakingStream(rows)
    monkeypatch.setattr(inputs, "hub_revision", lambda dataset: "0123abcd")
    monkeypatch.setattr(inputs, "_hf_stream", lambda *args: stream)
    out, config = tmp_path / "out", recipe(output={"docs_per_chunk": 2})
    with pytest.raises(TransientError, match="ConnectionError: connection reset"):
        build(["hf:someone/notebooks"], out, config)
    assert sorted(documents(out)) == [f"someone/notebooks#shard0#row{n}" for n in (0, 1)]
    build(["hf:someone/notebooks"], out, config)
    assert summarize(out)["read"] == 6 and summarize(out)["failed"] == {}
    record = orjson.loads((out / "build.json").read_bytes())
    assert record["units"][0]["hf_revision"] == "0123abcd"


def test_hub_datasets_are_pinned_to_the_revision_they_start_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str | None] = []

    def stream(dataset: str, data_dir: str | None, split: str, revision: str | None) -> Any:
        seen.append(revision)
        return BreakingStream([])

    monkeypatch.setattr(inputs, "hub_revision", lambda dataset: "feedface")
    monkeypatch.setattr(inputs, "_hf_stream", stream)
    layout = InputLayout()
    (unit,) = plan_units(["hf:org/data"], layout, recipe().input)
    (pinned,) = plan_units(["hf:org/data@v1.2"], layout, recipe().input)
    assert (unit.hf_revision, pinned.hf_revision) == ("feedface", "v1.2")
    list(inputs.iter_documents(unit, recipe().input, layout))
    assert seen == ["feedface", "v1.2", "feedface"]


# -- 4. retries never rewrite a committed chunk ------------------------------------------------


def test_a_committed_chunk_is_never_committed_again(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "in", 4)
    out, config = tmp_path / "out", recipe(output={"docs_per_chunk": 2})
    build([tmp_path / "in"], out, config)
    first = out / "ledger/documents/u00000-c00000.parquet"
    before = first.stat()
    # a retried unit (Ray retries the task of a dead worker) works from the committed state on
    # disk, whatever the driver saw when the build started
    from vlpipe.pipelines.build import process_unit
    from vlpipe.sources.jupyter.step import notebook_outcome

    layout = source_spec("jupyter").layout
    (unit,) = plan_units([str(tmp_path / "in")], layout, config.input)
    window = FailureWindow(None, 1)
    reports = list(process_unit(unit, notebook_outcome, config, open_store(out), "r", window))
    assert [r.skipped for r in reports] == [True, True]
    assert (first.stat().st_ino, first.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not list((out / "ledger/claims").iterdir())


def test_commit_puts_shards_then_samples_then_documents_and_makes_each_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_replace = os.replace

    def replace(source: Any, target: Any) -> None:
        events.append(f"rename {Path(target).parent.name}")
        real_replace(source, target)

    monkeypatch.setattr(store.os, "replace", replace)
    monkeypatch.setattr(
        store.LocalStore, "sync", lambda self, folder: events.append(f"fsync {folder}")
    )
    write_notebooks(tmp_path / "in", 1)
    build([tmp_path / "in"], tmp_path / "out")
    assert events[events.index("rename shards") :] == [  # (the plan's files come first)
        "rename shards",
        "fsync shards",
        "rename samples",
        "fsync ledger/samples",
        "rename documents",
        "fsync ledger/documents",
    ]


def test_a_chunk_claimed_by_a_live_attempt_waits_and_a_dead_attempts_claim_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = open_store(tmp_path / "out")
    for folder in ledger.FOLDERS:
        out.makedirs(folder)
    chunk = ledger.ChunkId(0, 0)
    claim = tmp_path / "out/ledger/claims" / chunk.name
    holder = os.open(claim, os.O_CREAT | os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another attempt, alive, in the middle of its commit
    monkeypatch.setattr(store, "CLAIM_WAIT_S", 0.2)
    with pytest.raises(BuildStopped, match="stays claimed by another attempt"):
        ledger.commit_chunk(out, chunk, [], [], [], [], last=True)
    assert not ledger.is_committed(out, chunk)
    os.close(holder)  # the attempt died: the kernel dropped its lock, its claim file stays
    assert claim.exists()
    assert ledger.commit_chunk(out, chunk, [], [], [], [], last=True)
    assert ledger.is_committed(out, chunk) and not claim.exists()
    assert not ledger.commit_chunk(out, chunk, [], [], [], [], last=True)  # committed: left alone


def test_temporary_names_are_unique_across_hosts_and_calls(tmp_path: Path) -> None:
    names = {temporary_name("a.tar") for _ in range(50)}
    assert len(names) == 50
    assert all(socket.gethostname() in name and str(os.getpid()) not in name for name in names)


@pytest.mark.slow
def test_killing_ray_workers_mid_build_rewrites_no_committed_chunk(tmp_path: Path) -> None:
    """Ray replaces a worker process that dies and retries its unit; the retry must skip the
    chunks the dead worker committed, and the build must end as an uninterrupted one does."""
    import psutil

    from tests.jupyter.test_resume_and_readers import noisy_notebooks

    noisy_notebooks(tmp_path / "in", 240)
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(
        "source: jupyter\ninput: {files_per_unit: 60}\noutput: {docs_per_chunk: 6}\n"
    )
    args = ["build", "--source", "jupyter", "--input", str(tmp_path / "in")]
    args += ["--recipe", str(recipe_file)]
    reference = tmp_path / "reference"
    assert run_cli(*args, "--executor", "inline", "--output", str(reference)).returncode == 0
    out = tmp_path / "out"
    # Ray started before the build: a build that starts its own builds units in the driver
    # until Ray's workers are ready, and this corpus could be done before any worker runs.
    with_ray_started = "import ray, sys; ray.init(num_cpus=2); from vlpipe.cli import app; app()"
    build_process = subprocess.Popen(
        [sys.executable, "-c", with_ray_started, *args, "--workers", "2", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    committed_dir = out / "ledger/documents"
    deadline = time.monotonic() + 180
    killed: list[int] = []
    snapshot: dict[str, tuple[int, int]] = {}
    while not killed and time.monotonic() < deadline:
        if committed_dir.is_dir() and len(list(committed_dir.glob("*.parquet"))) >= 3:
            chunks = {p.stem for p in committed_dir.glob("*.parquet")}
            files = [*committed_dir.glob("*.parquet")]
            shards = (out / "shards").glob("*.tar")
            files += [p for p in shards if "-".join(p.stem.split("-")[1:3]) in chunks]
            snapshot = {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}
            for process in psutil.process_iter(["cmdline"]):
                if "UnitWorker" in " ".join(process.info["cmdline"] or []):
                    process.kill()
                    killed.append(process.pid)
        time.sleep(0.01)
    _, stderr = build_process.communicate(timeout=300)
    assert killed, "no worker was running"
    assert build_process.returncode == 0, stderr
    for path, identity in snapshot.items():
        now = Path(path).stat()
        assert (now.st_ino, now.st_mtime_ns) == identity, f"{path} was rewritten"
    assert shard_members(out) == shard_members(reference)
    assert summarize(out)["read"] == 240 == summarize(out)["samples"]


# -- 6. unique ids and keys --------------------------------------------------------------------


def test_inputs_with_the_same_folder_name_get_distinct_ids(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "a" / "nb", 2)
    write_notebooks(tmp_path / "b" / "nb", 2)
    out = tmp_path / "out"
    build([tmp_path / "a" / "nb", tmp_path / "b" / "nb"], out)
    assert sorted(documents(out)) == [
        "a/nb/nb_000.ipynb",
        "a/nb/nb_001.ipynb",
        "b/nb/nb_000.ipynb",
        "b/nb/nb_001.ipynb",
    ]
    assert summarize(out)["samples"] == 4
    single = tmp_path / "single"
    build([tmp_path / "a" / "nb"], single)
    assert sorted(documents(single)) == ["nb/nb_000.ipynb", "nb/nb_001.ipynb"]


def test_overlapping_or_repeated_inputs_are_refused(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "in" / "sub", 1)
    for given in ([tmp_path / "in", tmp_path / "in" / "sub"], [tmp_path / "in"] * 2):
        with pytest.raises(ConfigError, match="inputs overlap"):
            build(given, tmp_path / "out")


def test_repeated_keys_in_a_ledger_are_caught(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "in", 2)
    out = tmp_path / "out"
    build([tmp_path / "in"], out)
    check_unique_keys(open_store(out))
    rows = ledger.read_samples(out)
    pq.write_table(rows, out / "ledger/samples/u00099-c00000.parquet")
    with pytest.raises(AssertionError, match="2 sample keys repeat"):
        check_unique_keys(open_store(out))


# -- 7. changed inputs are refused on resume ---------------------------------------------------


def test_a_same_size_edit_refuses_to_resume(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "in", 2)
    build([tmp_path / "in"], tmp_path / "out")
    notebook = tmp_path / "in" / "nb_001.ipynb"
    data = notebook.read_bytes()
    notebook.write_bytes(data.replace(b"value_1", b"value_9"))
    assert len(notebook.read_bytes()) == len(data)
    with pytest.raises(ConfigError, match="changed"):
        build([tmp_path / "in"], tmp_path / "out")


def test_an_edited_table_with_its_old_size_and_time_is_still_noticed(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    table = folder / "rows.parquet"
    pq.write_table(pa.table({"content": [dumps(plot_notebook()).decode()]}), table)
    build([folder], tmp_path / "out")
    info = table.stat()
    changed = bytearray(table.read_bytes())
    changed[-12] ^= 0xFF  # the footer's metadata, where a rewritten table differs
    table.write_bytes(bytes(changed))
    os.utime(table, ns=(info.st_atime_ns, info.st_mtime_ns))
    with pytest.raises(ConfigError, match="changed"):
        build([folder], tmp_path / "out")


# -- 8. a build leaves the process as it found it, and prints only its own output --------------


@pytest.mark.slow
def test_a_ray_build_prints_only_vlpipe_output_and_leaves_settings_alone(
    tmp_path: Path, own_ray: None
) -> None:
    result = subprocess.run(
        [
            *VLPIPE,
            "build",
            "--source",
            "jupyter",
            "--executor",
            "ray",
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert [line.split(":")[0] for line in lines] == ["this run", "shards"], result.stderr
    import ray.data

    before = ray.data.DataContext.get_current()
    progress, order = before.enable_progress_bars, before.execution_options.preserve_order
    level = logging.getLogger("ray.data").level
    write_notebooks(tmp_path / "in", 2)
    quiet = Console(file=io.StringIO())
    run_build(recipe(), [str(tmp_path / "in")], tmp_path / "ray", "ray", 1, console=quiet)
    after = ray.data.DataContext.get_current()
    assert (after.enable_progress_bars, after.execution_options.preserve_order) == (
        progress,
        order,
    )
    assert logging.getLogger("ray.data").level == level


# -- 9. one home per source --------------------------------------------------------------------


def test_a_build_records_only_its_own_source_options(tmp_path: Path) -> None:
    write_notebooks(tmp_path / "in", 1)
    build([tmp_path / "in"], tmp_path / "out")
    saved = orjson.loads((tmp_path / "out" / "build.json").read_bytes())["recipe"]
    assert set(saved) == {
        "source", "input", "filters", "signatures", "output", "max_failure_rate",
        "failure_window", "jupyter",
    }  # fmt: skip


def test_a_new_source_is_one_package_plus_its_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package dropped into ``vlpipe.sources`` is a source: nothing else names it."""
    import vlpipe.sources

    package = tmp_path / "sources" / "shout"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from typing import Literal
            from vlpipe.recipe import Recipe, StrictModel
            from vlpipe.sources.inputs import InputLayout
            from vlpipe.sources.registry import SourceSpec

            class ShoutOptions(StrictModel):
                suffix: str = "!"

            class ShoutRecipe(Recipe):
                source: Literal["shout"] = "shout"
                shout: ShoutOptions = ShoutOptions()

            SPEC = SourceSpec(
                "shout", ShoutRecipe, InputLayout((".txt",)), f"{__name__}.step:open_step"
            )
            """
        )
    )
    (package / "step.py").write_text(
        textwrap.dedent(
            """
            import orjson
            from vlpipe.schema import Outcome, Sample, sample_key
            from vlpipe.sources.registry import stateless

            def shout(document, recipe):
                text = document.content.decode().upper() + recipe.shout.suffix
                meta = {"kind": "text", "task": "shout", "source": "shout", "lang": "en"}
                files = {"txt": text.encode(), "json": orjson.dumps(meta)}
                return Outcome(document.doc_id, (Sample(sample_key(document.doc_id, 0), files),))

            open_step = stateless(shout)
            """
        )
    )
    monkeypatch.setattr(vlpipe.sources, "__path__", [*vlpipe.sources.__path__, str(package.parent)])
    source_names.cache_clear()
    try:
        assert "shout" in source_names()
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "a.txt").write_text("hello")
        (tmp_path / "shout.yaml").write_text("source: shout\nshout: {suffix: '!!'}\n")
        from vlpipe.recipe import load_recipe

        config = load_recipe("shout", tmp_path / "shout.yaml")
        build([tmp_path / "in"], tmp_path / "out", config)
        (key,) = documents(tmp_path / "out")["in/a.txt"]["sample_keys"]
        members = shard_members(tmp_path / "out")
        assert members[f"{key}.txt"] == b"HELLO!!" and f"{key}.json" in members
    finally:
        source_names.cache_clear()
