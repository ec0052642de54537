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
            # Ray turns token authentication on for a new local cluster, and warns that it did.
            notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
            level = notice.level
            notice.setLevel(logging.ERROR)
            try:
                ray.init(num_cpus=workers or os.cpu_count() or 1, **options)
            finally:
                notice.setLevel(level)
    available = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(workers or available, available))
