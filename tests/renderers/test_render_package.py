"""The package's lazy re-exports: pure modules load without Playwright or PyMuPDF."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import vlpipe.renderers as renderers


@pytest.mark.parametrize("module", ["layout", "policy", "errors", "install"])
def test_pure_modules_import_neither_playwright_nor_pymupdf(module: str) -> None:
    code = (
        "import sys\n"
        f"import vlpipe.renderers.{module}\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'playwright', 'pymupdf'})\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == ""


def test_every_public_name_resolves_to_its_defining_module() -> None:
    for name in renderers.__all__:
        value = getattr(renderers, name)
        home = importlib.import_module(f"vlpipe.renderers.{renderers._HOMES[name]}")
        assert value is getattr(home, name), name
        assert name in dir(renderers)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = renderers.no_such_name  # type: ignore[attr-defined]
