"""What `vlpipe submit` checks before it reaches a cluster, and how a job's end becomes an exit
status (the jobs themselves run in test_submit.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ray.job_submission import JobInfo, JobStatus
from typer.testing import CliRunner

from vlpipe import jobs
from vlpipe.cli import app
from vlpipe.errors import ConfigError, TransientError
from vlpipe.jobs import (
    EXIT_STOPPED,
    check_submission,
    describe,
    exit_status,
    job_env,
    runtime_env,
    wait,
)


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (["stats", "s3://b/out"], "a job runs vlpipe build|dedup|train"),
        (["build", "--source", "nope", "--output", "s3://b/out"], "Invalid value for '--source'"),
        (["build", "--source", "jupyter", "--wrokers", "2"], "No such option: --wrokers"),
        (["build", "--source", "jupyter"], "--output must be an object-store URL"),
        (["build", "--source", "jupyter", "--output", "out/nb"], "--output must be"),
        (["dedup", "/shared/nb", "--output", "dedup"], "--output must be"),
    ],
)
def test_a_command_a_cluster_cannot_run_is_refused_before_submission(
    command: list[str], why: str
) -> None:
    with pytest.raises(ConfigError, match=why.replace("|", r"\|")):
        check_submission(command)


def test_outputs_every_node_reaches_and_trainer_commands_pass() -> None:
    check_submission(["build", "--source", "jupyter", "--output", "s3://bucket/nb"])
    check_submission(["build", "--source", "jupyter", "--output", "/shared/nb", "--workers", "8"])
    check_submission(["dedup", "s3://bucket/nb", "--output", "s3://bucket/nb-dedup"])
    check_submission(["train", "--recipe", "recipes/stage1.yaml"])


def test_the_job_s_environment_is_what_env_names() -> None:
    here = {"HF_TOKEN": "secret", "AWS_SECRET_ACCESS_KEY": "not passed"}
    assert job_env(["HF_TOKEN", "VLPIPE_X=1"], here) == {"HF_TOKEN": "secret", "VLPIPE_X": "1"}
    with pytest.raises(ConfigError, match="not set here"):
        job_env(["MISSING"], here)
    with pytest.raises(ConfigError, match="the cluster's own"):
        job_env(["RAY_ADDRESS=127.0.0.1:6379"], here)


def test_the_cluster_gets_vlpipe_from_its_image_or_from_pip(tmp_path: Path) -> None:
    assert runtime_env(True, [], None, {}) == {}
    wheel = "https://example.org/vlpipe-0.1.0-py3-none-any.whl"
    assert runtime_env(False, [wheel], tmp_path, {"A": "1"}) == {
        "pip": [wheel],
        "working_dir": str(tmp_path),
        "env_vars": {"A": "1"},
    }
    for image, pip in ((False, []), (True, [wheel])):
        with pytest.raises(ConfigError, match="how the cluster gets vlpipe"):
            runtime_env(image, pip, None, {})
    with pytest.raises(ConfigError, match="not a folder"):
        runtime_env(True, [], tmp_path / "missing", {})


def job(status: JobStatus, code: int | None = None, message: str = "") -> JobInfo:
    return JobInfo(status=status, entrypoint="vlpipe build", driver_exit_code=code, message=message)


def test_a_job_s_exit_status_is_its_command_s() -> None:
    assert exit_status(job(JobStatus.SUCCEEDED, 0)) == 0
    assert exit_status(job(JobStatus.RUNNING)) == 0
    assert exit_status(job(JobStatus.FAILED, 3)) == 3  # changed inputs left as they were
    assert exit_status(job(JobStatus.FAILED, 2)) == 2
    assert exit_status(job(JobStatus.FAILED, None)) == 1  # e.g. its runtime env failed
    assert exit_status(job(JobStatus.FAILED, -9)) == 1  # its driver was killed
    assert exit_status(job(JobStatus.STOPPED, -15)) == EXIT_STOPPED
    line = describe("raysubmit_1", job(JobStatus.FAILED, 2, "Job entrypoint failed\nlogs …"))
    assert line == "raysubmit_1 FAILED (exit status 2): Job entrypoint failed"


def test_submit_without_a_job_server_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    args = ["submit", "--image-has-vlpipe", "--", "build", "--source", "jupyter"]
    result = CliRunner().invoke(app, [*args, "--output", "s3://bucket/nb"])
    assert result.exit_code == 2 and "--address" in result.output


class SilentServer:
    """A job server that does not answer ``silences`` times, then reports the job ended."""

    def __init__(self, silences: int) -> None:
        self.silences = silences

    def get_job_info(self, job_id: str) -> JobInfo:
        if self.silences:
            self.silences -= 1
            raise ConnectionError("connection refused")
        return job(JobStatus.SUCCEEDED, 0)


def test_waiting_for_a_job_bears_a_job_server_that_restarts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs, "POLL_S", 0.0)
    assert wait(SilentServer(3), "raysubmit_1").status == JobStatus.SUCCEEDED  # type: ignore[arg-type]
    monkeypatch.setattr(jobs, "SILENCE_S", 0.0)
    with pytest.raises(TransientError, match="did not answer"):
        wait(SilentServer(10**6), "raysubmit_1")  # type: ignore[arg-type]


class Refusing(BaseHTTPRequestHandler):
    """A job server with Ray's token authentication, asked without the token (401) or with
    another one (403)."""

    def do_GET(self) -> None:
        token = self.headers.get("Authorization")
        status, body = (401, "Missing authentication token") if not token else (403, "Bad token")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(f"Unauthorized: {body}".encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("mode", "refusal"),
    [("disabled", "Authentication required"), ("token", "Authentication failed")],
)
def test_a_job_server_that_wants_a_token_is_a_one_line_configuration_error(
    refusing_server: str, mode: str, refusal: str
) -> None:
    """Without RAY_AUTH_MODE=token Ray's client sends no token; with it, this one is wrong. (A
    process of its own: Ray reads the mode once.)"""
    env = {**os.environ, "RAY_AUTH_MODE": mode, "RAY_AUTH_TOKEN": "0" * 32}
    status = ["jobs", "status", "raysubmit_1", "--address", refusing_server]
    result = subprocess.run(
        [sys.executable, "-m", "vlpipe", *status], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert refusal in line and "RAY_AUTH_MODE=token" in line
