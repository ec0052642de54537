"""Ray start-up: the embedded local cluster by default, an existing cluster when asked."""

from __future__ import annotations

import logging
import os

from vlpipe.errors import ConfigError


def init_ray(address: str | None, workers: int | None) -> int:
    """Connect to (or start) Ray; returns how many worker slots a build may use.

    ``address`` (or ``RAY_ADDRESS``) joins an existing cluster, whose nodes must have vlpipe
    installed and see the output folder; otherwise a local Ray sized by ``workers`` starts here.
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    if not ray.is_initialized():
        options = {
            "include_dashboard": False,
            "logging_level": logging.WARNING,
            "log_to_driver": True,
        }
        if address:
            try:
                ray.init(address=address, **options)
            except (ConnectionError, RuntimeError) as exc:
                raise ConfigError(f"cannot join the Ray cluster at {address}: {exc}") from None
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, **options)
    available = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(workers or available, available))
