"""Ray jobs: ``vlpipe submit`` runs a vlpipe command (build, dedup, train) on a running Ray
cluster through Ray's Job Submission API; ``vlpipe jobs`` reports, follows and stops it.

A job's entrypoint is the command itself (``vlpipe build …``), run on the head node. Ray points
its driver at the cluster (``RAY_ADDRESS``), so the build's workers spread over the cluster's
nodes. The job takes none of the submitter's environment except what ``--env`` names: object-store
credentials come from the cluster's own environment. The output, not the job, holds a build's
progress: submitting the same command again after a stop or a failure resumes the build.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from ray.job_submission import JobInfo, JobStatus, JobSubmissionClient

from vlpipe.errors import ConfigError, TransientError

try:
    from ray.exceptions import AuthenticationError
except ImportError:  # a Ray from before token authentication never raises it

    class AuthenticationError(Exception):  # type: ignore[no-redef]
        pass


SUBMITTABLE = ("build", "dedup", "train")
WRITERS = ("build", "dedup")  # commands whose --output every node writes to
EXIT_STOPPED = 4  # the exit status of a job that was stopped
POLL_S = 0.5
STOP_WAIT_S = 60.0  # Ray sends SIGTERM, then SIGKILL a few seconds later
SILENCE_S = 120.0  # how long a wait for a job's end bears a job server that does not answer


def check_command(args: Sequence[str]) -> dict[str, Any]:
    """Parse ``vlpipe ARGS`` with vlpipe's own command line, without running it; returns the
    command's parameters. A command that does not parse is a ``ConfigError`` saying why."""
    import typer

    from vlpipe.cli import app

    group = typer.main.get_command(app)
    parent = typer.Context(group, info_name="vlpipe")
    name, *rest = args or [""]
    command = group.get_command(parent, name) if name else None
    if command is None:
        raise ConfigError(f"not a vlpipe command: {shlex.join(args) or '(nothing)'}")
    try:
        with command.make_context(name, rest, parent=parent) as context:
            return dict(context.params)
    except typer.TyperException as exc:  # typer's usage errors
        raise ConfigError(f"vlpipe {name}: {exc.format_message()}") from None


def check_submission(args: Sequence[str]) -> None:
    """A job runs one of ``SUBMITTABLE``, its arguments parse, and a build writes where every node
    can: an object-store URL or an absolute path (on a volume all nodes mount)."""
    if not args or args[0] not in SUBMITTABLE:
        raise ConfigError(f"a job runs vlpipe {'|'.join(SUBMITTABLE)}, not: {shlex.join(args)}")
    output = check_command(args).get("output")
    if args[0] in WRITERS and not (output and ("://" in output or Path(output).is_absolute())):
        raise ConfigError(
            "on a cluster --output must be an object-store URL (s3://…) or an absolute path "
            "on a volume every node mounts"
        )


def job_env(assignments: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``--env`` values: ``NAME=VALUE`` as given, ``NAME`` alone with its value here."""
    env = {}
    for assignment in assignments:
        name, given, value = assignment.partition("=")
        if name == "RAY_ADDRESS":
            raise ConfigError("RAY_ADDRESS is the cluster's own: Ray sets it for the job")
        if not given:
            if name not in environ:
                raise ConfigError(f"--env {name}: {name} is not set here")
            value = environ[name]
        env[name] = value
    return env


def runtime_env(
    image_has_vlpipe: bool,
    pip: Sequence[str],
    working_dir: Path | None,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """The job's Ray runtime environment; the cluster gets vlpipe from its image or from pip."""
    if image_has_vlpipe == bool(pip):
        raise ConfigError(
            "say how the cluster gets vlpipe: --image-has-vlpipe (its Python has it, as "
            "vlpipe's image does) or --pip REQUIREMENT"
        )
    runtime: dict[str, Any] = {}
    if pip:
        runtime["pip"] = list(pip)
    if working_dir is not None:
        if not working_dir.is_dir():
            raise ConfigError(f"--working-dir {working_dir} is not a folder")
        runtime["working_dir"] = str(working_dir)
    if env:
        runtime["env_vars"] = dict(env)
    return runtime


@contextmanager
def _answer(what: str) -> Iterator[None]:
    """Ray's client errors as vlpipe's: a refusal (no such job, a bad request, no or the wrong
    token) is a ``ConfigError``; no answer (a head restarting, the network) a ``TransientError``."""
    try:
        yield
    except AuthenticationError as exc:  # Ray's own message runs over many lines
        refusal = str(exc).strip().splitlines()[0]
        raise ConfigError(
            f"{what}: {refusal}. A cluster with Ray's token authentication needs "
            "RAY_AUTH_MODE=token here and the cluster's token (RAY_AUTH_TOKEN, or the file "
            "~/.ray/auth_token)"
        ) from None
    except (OSError, aiohttp.ClientError) as exc:  # requests' errors are OSErrors
        raise TransientError(f"{what}: the Ray job server did not answer ({exc})") from None
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"{what}: {exc}") from None


@contextmanager
def _api_server_variable(address: str) -> Iterator[None]:
    """Ray's client takes ``RAY_API_SERVER_ADDRESS`` (then ``RAY_ADDRESS``) over its argument;
    the address vlpipe resolved must win."""
    saved = os.environ.get("RAY_API_SERVER_ADDRESS")
    os.environ["RAY_API_SERVER_ADDRESS"] = address
    try:
        yield
    finally:
        if saved is None:
            del os.environ["RAY_API_SERVER_ADDRESS"]
        else:
            os.environ["RAY_API_SERVER_ADDRESS"] = saved


def connect(address: str | None) -> JobSubmissionClient:
    """A client of the cluster's job server: ``address``, else ``RAY_API_SERVER_ADDRESS``, else
    ``RAY_ADDRESS`` (as Ray's own ``ray job`` reads them)."""
    address = address or os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ConfigError("give the cluster's job server: --address http://HEAD:8265")
    with _answer(f"cannot connect to {address}"), _api_server_variable(address):
        return JobSubmissionClient(address)


@dataclass(frozen=True)
class Submission:
    job_id: str
    already_running: bool  # the same command was running: this is that job


def submit(client: JobSubmissionClient, args: Sequence[str], runtime: dict[str, Any]) -> Submission:
    """Submit ``vlpipe ARGS`` as a job, unless the same command is pending or running already
    (a resubmission while it runs, e.g. by a schedule, must not start a second copy)."""
    entrypoint = shlex.join(["vlpipe", *args])
    with _answer("submit"):
        for job in client.list_jobs():
            if job.entrypoint == entrypoint and job.submission_id and not job.status.is_terminal():
                return Submission(job.submission_id, already_running=True)
        job_id = client.submit_job(entrypoint=entrypoint, runtime_env=runtime or None)
    return Submission(job_id, already_running=False)


def info(client: JobSubmissionClient, job_id: str) -> JobInfo:
    with _answer(f"job {job_id}"):
        return client.get_job_info(job_id)


def wait(client: JobSubmissionClient, job_id: str, timeout: float | None = None) -> JobInfo:
    """The job's info once it has ended (or when ``timeout`` seconds have passed). A job server
    that does not answer for ``SILENCE_S`` seconds ends the wait (``TransientError``)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    answered = time.monotonic()
    while True:
        try:
            current = info(client, job_id)
        except TransientError:
            if time.monotonic() - answered > SILENCE_S:
                raise
            time.sleep(POLL_S)
            continue
        answered = time.monotonic()
        if current.status.is_terminal() or (deadline is not None and answered > deadline):
            return current
        time.sleep(POLL_S)


def follow(client: JobSubmissionClient, job_id: str, stream: TextIO) -> JobInfo:
    """Copy the job's logs to ``stream`` as they come, from its start; its info once it ended."""

    logging.getLogger("ray.dashboard.modules.job.sdk").setLevel(logging.WARNING)  # no "closed"

    async def tail() -> None:
        async for lines in client.tail_job_logs(job_id):
            stream.write(lines)
            stream.flush()

    try:
        asyncio.run(tail())
    except (OSError, RuntimeError, aiohttp.ClientError) as exc:  # the stream broke, not the job
        print(f"log stream lost ({exc}); waiting for the job to end", file=sys.stderr)
    return wait(client, job_id)


def logs(client: JobSubmissionClient, job_id: str) -> str:
    with _answer(f"job {job_id}"):
        return client.get_job_logs(job_id)


def stop(client: JobSubmissionClient, job_id: str) -> JobInfo:
    """Stop the job (SIGTERM, then SIGKILL); its info once it has ended. Committed chunks stay:
    submitting the same command again resumes the build."""
    with _answer(f"job {job_id}"):
        client.stop_job(job_id)
    return wait(client, job_id, STOP_WAIT_S)


def exit_status(job: JobInfo) -> int:
    """What a scheduler sees: 0 succeeded (or not ended yet); a failed command's own exit status
    (a build's 1 stopped, 2 configuration, 3 changed inputs left as they were); 1 for a job that
    failed without one (its runtime environment, a lost driver); ``EXIT_STOPPED`` if stopped."""
    if job.status == JobStatus.STOPPED:
        return EXIT_STOPPED
    if job.status == JobStatus.FAILED:
        code = job.driver_exit_code
        return code if code is not None and code > 0 else 1
    return 0


def describe(job_id: str, job: JobInfo) -> str:
    """One line: the job, its status, and for an ended job its exit status and Ray's reason."""
    line = f"{job_id} {job.status.value}"
    if job.status.is_terminal():
        line += f" (exit status {exit_status(job)})"
    reason = (job.message or "").strip().splitlines()
    if job.status in (JobStatus.FAILED, JobStatus.STOPPED) and reason:
        line += f": {reason[0]}"
    return line
