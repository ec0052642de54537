"""The network policy of rendered documents, as plain functions over plain data (no browser).

A document is served from a reserved, never-resolvable origin (:data:`ORIGIN`). For each request
the page makes, :func:`decide_request` answers one of:

* :class:`Serve` — the document itself, or a regular file inside its own folder;
* :class:`CancelNavigation` — a navigation the document may not make (a link, ``location=``, a
  meta refresh, a form, an iframe elsewhere): an empty ``204`` cancels it and keeps the document;
* :class:`Block` — anything else: other origins and schemes, other methods, missing files.

The browser side (:mod:`vlpipe.renderers.chromium`) only gathers the request's facts and applies
the answer.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

ORIGIN = "http://vlpipe.invalid"


@dataclass(frozen=True, slots=True)
class HtmlDocument:
    """One HTML document. ``entry`` is its path inside ``base_dir``, the folder it may load files
    from (``None``: nothing but ``data:`` URLs)."""

    html: str
    base_dir: Path | None = None
    entry: str = "index.html"

    @classmethod
    def from_file(cls, path: Path, base_dir: Path | None = None) -> HtmlDocument:
        """Read an HTML file; by default it may load files from its own folder."""
        base = (base_dir or path.parent).resolve()
        entry = path.resolve().relative_to(base).as_posix()
        return cls(path.read_bytes().decode("utf-8", errors="replace"), base, entry)


@dataclass(frozen=True, slots=True)
class Serve:
    """Answer ``200`` with this body."""

    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class CancelNavigation:
    """Answer an empty ``204``: Chromium drops the navigation and keeps the current document,
    where aborting would commit its "blocked" error page in the document's place."""


@dataclass(frozen=True, slots=True)
class Block:
    """Abort the request; the page sees a network error."""


Decision = Serve | CancelNavigation | Block


def entry_url(doc: HtmlDocument, prefix: str = "") -> str:
    """The URL the document is loaded from: its entry under the origin, or under ``prefix``, a
    folder of the origin that gives each document without scripts URLs of its own, so that one
    written in place of another never meets the other's (see :mod:`vlpipe.renderers.chromium`)."""
    root = f"{ORIGIN}/{prefix}" if prefix else ORIGIN
    return f"{root}/{quote(doc.entry)}"


def served_as_html(doc: HtmlDocument) -> bool:
    """Whether the document is served as HTML (not as XHTML or another XML type)."""
    return _content_type(doc.entry, "text/html").startswith("text/html")


def _content_type(name: str, default: str = "application/octet-stream") -> str:
    guessed = mimetypes.guess_type(name)[0] or default
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def resolve_request(doc: HtmlDocument, url: str, prefix: str = "") -> Serve | None:
    """What the sandboxed origin serves for ``url``: the document itself, or a regular file inside
    its folder (symlinks resolved, ``..`` refused), under ``prefix`` and nowhere else; ``None``
    means there is nothing to serve."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    lead = f"/{prefix}/" if prefix else "/"
    if f"{parts.scheme}://{parts.netloc}" != ORIGIN or not path.startswith(lead):
        return None
    rel = path[len(lead) :].lstrip("/")
    if rel == doc.entry:
        return Serve(doc.html.encode("utf-8"), _content_type(doc.entry, "text/html"))
    if doc.base_dir is None or not rel:
        return None
    try:
        base = doc.base_dir.resolve()
        target = (base / rel).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            return None
        body = target.read_bytes()
    except (ValueError, RuntimeError, OSError):
        # A NUL byte in the path, a symlink loop (RuntimeError before Python 3.13), an unreadable
        # or vanished file: nothing to serve, and nothing may raise inside the route handler.
        return None
    return Serve(body, _content_type(target.name))


def decide_request(
    doc: HtmlDocument | None,
    url: str,
    *,
    method: str,
    navigation: bool,
    top_frame: bool,
    prefix: str = "",
) -> Decision:
    """How to answer one request of the page rendering ``doc`` (``None``: no document is being
    rendered, so nothing is served) from under ``prefix`` (see :func:`entry_url`).

    ``navigation`` says whether the request loads a frame's document, ``top_frame`` whether it
    belongs to the top-level frame (callers count a frame they cannot identify as top-level).
    Only ``GET`` is served. The top-level frame may load the document's entry URL and nothing
    else, so nothing replaces the document; sub-frames may load files from its folder. A
    navigation that is not served is cancelled, any other request blocked.
    """
    if doc is not None and method == "GET":
        replaces_document = navigation and top_frame and url != entry_url(doc, prefix)
        served = None if replaces_document else resolve_request(doc, url, prefix)
        if served is not None:
            return served
    return CancelNavigation() if navigation else Block()
