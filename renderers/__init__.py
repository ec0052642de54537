"""Renderers: HTML → page images (pooled, network-blocked Chromium), LaTeX → PDF (sandboxed
TeX Live) and PDF → page images with their text layer (PyMuPDF).

Each is a plain library call. Per-document failures raise ``DocumentError`` subclasses (see
:mod:`vlpipe.renderers.errors`); missing tools raise ``ConfigError`` naming the Debian package.

The names below are imported on first use (PEP 562), so importing a pure module such as
:mod:`vlpipe.renderers.layout` (for :class:`PageGeometry` in a configuration model) loads neither
Playwright nor PyMuPDF.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlpipe.renderers.chromium import BrowserConfig as BrowserConfig
    from vlpipe.renderers.chromium import BrowserPool as BrowserPool
    from vlpipe.renderers.chromium import RenderedPage as RenderedPage
    from vlpipe.renderers.chromium import RenderMode as RenderMode
    from vlpipe.renderers.chromium import render_html as render_html
    from vlpipe.renderers.errors import BrowserCrashed as BrowserCrashed
    from vlpipe.renderers.errors import PdfError as PdfError
    from vlpipe.renderers.errors import RenderError as RenderError
    from vlpipe.renderers.errors import RenderTimeout as RenderTimeout
    from vlpipe.renderers.errors import TexError as TexError
    from vlpipe.renderers.install import check_renderer_tools as check_renderer_tools
    from vlpipe.renderers.install import find_chromium as find_chromium
    from vlpipe.renderers.install import find_tex_binary as find_tex_binary
    from vlpipe.renderers.layout import PageGeometry as PageGeometry
    from vlpipe.renderers.pdf import PdfConfig as PdfConfig
    from vlpipe.renderers.pdf import PdfPage as PdfPage
    from vlpipe.renderers.pdf import Word as Word
    from vlpipe.renderers.pdf import render_pdf as render_pdf
    from vlpipe.renderers.policy import HtmlDocument as HtmlDocument
    from vlpipe.renderers.tex import TexConfig as TexConfig
    from vlpipe.renderers.tex import TexResult as TexResult
    from vlpipe.renderers.tex import compile_latex as compile_latex
    from vlpipe.renderers.tex import compile_latex_dir as compile_latex_dir

# Each public name → the module that defines it (keep in step with the imports above).
_HOMES: dict[str, str] = {
    "BrowserConfig": "chromium",
    "BrowserPool": "chromium",
    "RenderedPage": "chromium",
    "RenderMode": "chromium",
    "render_html": "chromium",
    "BrowserCrashed": "errors",
    "PdfError": "errors",
    "RenderError": "errors",
    "RenderTimeout": "errors",
    "TexError": "errors",
    "check_renderer_tools": "install",
    "find_chromium": "install",
    "find_tex_binary": "install",
    "PageGeometry": "layout",
    "PdfConfig": "pdf",
    "PdfPage": "pdf",
    "Word": "pdf",
    "render_pdf": "pdf",
    "HtmlDocument": "policy",
    "TexConfig": "tex",
    "TexResult": "tex",
    "compile_latex": "tex",
    "compile_latex_dir": "tex",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
