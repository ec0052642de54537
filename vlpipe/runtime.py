"""Ray start-up: the embedded local cluster by default, an existing cluster when asked; and
whether a build needs Ray at all."""

from __future__ import annotations

import logging
import os
from typing import Any, Literal

from vlpipe.errors import BuildStopped, ConfigError

Executor = Literal["auto", "ray", "inline"]
_START_NOTICES = ("ray._private.authentication.authentication_token_setup", "ray._private.worker")


def choose_executor(
    units: int, workers: int | None, address: str | None, size: int | None = None, min_size: int = 0
) -> tuple[Executor, str]:
    """Ray for a plan that a second worker can speed up, inline otherwise, and why: starting Ray
    and its workers costs seconds (8 to 9 on a 2-core machine), and a unit is one worker's task,
    so a plan of one unit, a machine of one CPU, or local inputs of ``size`` bytes under the
    source's ``min_size`` (``input.ray_min_bytes``: cheap sources finish in about Ray's start-up)
    gain nothing from it. A named cluster always gets Ray."""
    if address or os.environ.get("RAY_ADDRESS"):
        return "ray", "a Ray cluster was named"
    cpus = workers or len(os.sched_getaffinity(0))
    if units < 2:
        return "inline", "nothing left to build" if units == 0 else "1 work unit: one worker's task"
    if cpus < 2:
        return "inline", "one worker" if workers else "one CPU"
    if size is not None and size < min_size:
        mib = 2**20
        why = f"{size / mib:,.0f} MiB of input < input.ray_min_bytes, {min_size / mib:,.0f} MiB"
        return "inline", why
    return "ray", f"{units} work units over {min(cpus, units)} workers"


def init_ray(address: str | None, workers: int | None) -> int:
    """Connect to (or start) Ray; returns how many worker slots a build may use.

    ``address`` (or ``RAY_ADDRESS``) joins an existing cluster, whose nodes must have vlpipe
    installed and see the output folder; otherwise a local Ray sized by ``workers`` starts here.
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    if not ray.is_initialized():
        # Ray turns token authentication on for a new local cluster, and warns that it did;
        # started from a thread (the build's feeder), it warns that it set no SIGTERM handler.
        notices = [logging.getLogger(name) for name in _START_NOTICES]
        levels = [notice.level for notice in notices]
        for notice in notices:
            notice.setLevel(logging.ERROR)
        try:
            _start_or_join(ray, address, workers)
        finally:
            for notice, level in zip(notices, levels, strict=True):
                notice.setLevel(level)
    available = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(workers or available, available))


def _start_or_join(ray: Any, address: str | None, workers: int | None) -> None:
    options = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": True}
    if address:
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError) as exc:
            raise ConfigError(f"cannot join the Ray cluster at {address}: {exc}") from None
        return
    try:
        # "local": a new Ray even where `ray start` left a cluster's address in Ray's temp
        # folder (ray.init() alone would join that cluster).
        ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, **options)
    except Exception as exc:  # Ray raises a bare Exception when its processes time out
        message = f"the embedded Ray did not start: {exc}"
        raise BuildStopped(f"{message} (--executor inline builds without it)") from None
