"""Shared fixtures: one browser pool for the whole session (launching Chromium costs a second).

Nothing is skipped: without Chromium or TeX the fixtures raise the ``ConfigError`` that names the
Debian package to install.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vlpipe.renderers import BrowserConfig, BrowserPool, check_renderer_tools


@pytest.fixture(scope="session")
def tools() -> None:
    """Fail (not skip) with the install hint when a renderer tool is missing."""
    check_renderer_tools()


@pytest.fixture(scope="session")
def pool(tools: None) -> Iterator[BrowserPool]:
    with BrowserPool(BrowserConfig(browsers=2, load_timeout_s=10, render_timeout_s=30)) as p:
        yield p
