"""Renderer failures: each fails one document (a ``failed`` ledger row), never the build.

The class name lands in the ledger next to the message, so failures can be counted by kind.
"""

from vlpipe.errors import DocumentError


class RenderError(DocumentError):
    """The browser could not render this document (load error, too tall, empty, bad content)."""


class RenderTimeout(RenderError):
    """The document exceeded its load or render time limit (e.g. a script that never returns)."""


class BrowserCrashed(RenderError):
    """The browser or the page's renderer process died while rendering this document."""


class TexError(DocumentError):
    """The LaTeX sources did not compile or broke a sandbox limit; where TeX reported an error,
    the message is its first error line."""


class PdfError(DocumentError):
    """The PDF cannot be read or rendered (corrupt, encrypted, empty, oversized)."""
