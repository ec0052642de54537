"""Renderers: HTML → page images (pooled, network-blocked Chromium), LaTeX → PDF (sandboxed
TeX Live) and PDF → page images with their text layer (PyMuPDF).

Each is a plain library call; :mod:`vlpipe.renderers.ray_actors` wraps them as callable classes
for Ray Data actor pools. Per-document failures raise ``DocumentError`` subclasses (see
:mod:`vlpipe.renderers.errors`); missing tools raise ``ConfigError`` naming the Debian package.
"""

from vlpipe.renderers.chromium import (
    BrowserConfig,
    BrowserPool,
    HtmlDocument,
    PageGeometry,
    RenderedPage,
    RenderMode,
    render_html,
)
from vlpipe.renderers.errors import BrowserCrashed, PdfError, RenderError, RenderTimeout, TexError
from vlpipe.renderers.install import check_renderer_tools, find_chromium, find_tex_binary
from vlpipe.renderers.pdf import PdfConfig, PdfPage, Word, render_pdf
from vlpipe.renderers.tex import TexConfig, TexResult, compile_latex, compile_latex_dir

__all__ = [
    "BrowserConfig",
    "BrowserCrashed",
    "BrowserPool",
    "HtmlDocument",
    "PageGeometry",
    "PdfConfig",
    "PdfError",
    "PdfPage",
    "RenderError",
    "RenderMode",
    "RenderTimeout",
    "RenderedPage",
    "TexConfig",
    "TexError",
    "TexResult",
    "Word",
    "check_renderer_tools",
    "compile_latex",
    "compile_latex_dir",
    "find_chromium",
    "find_tex_binary",
    "render_html",
    "render_pdf",
]
