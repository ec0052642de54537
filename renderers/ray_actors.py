"""Callable classes for Ray Data actor pools, e.g.::

    ds.map_batches(HtmlRenderActor, fn_constructor_kwargs={"config": {...}},
                   concurrency=4, batch_size=16, batch_format="pyarrow")

Ray constructs each class once per actor, so the heavy resource (a browser pool) lives as long as
the actor. Batches are plain data: a ``pyarrow.Table`` (or a dict of columns) in, a
``pyarrow.Table`` out with one row per input row, every input column passed through, and
``error`` / ``error_class`` set instead of the outputs when that document failed. A row that
arrives already failed (from an earlier step) passes through untouched, so steps chain.
Nothing here imports Ray. Use ``batch_format="pyarrow"``: Ray's numpy format turns ``bytes``
into fixed-width ``numpy.bytes_``, which strips trailing NUL bytes from PDFs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from vlpipe.errors import DocumentError
from vlpipe.renderers.chromium import BrowserConfig, BrowserPool, HtmlDocument, RenderedPage
from vlpipe.renderers.pdf import PdfConfig, render_pdf
from vlpipe.renderers.tex import TexConfig, compile_latex, compile_latex_dir

Row = dict[str, Any]
Batch = pa.Table | Mapping[str, Sequence[Any]]


def batch_rows(batch: Batch) -> list[Row]:
    """A batch as a list of row dicts."""
    if isinstance(batch, pa.Table):
        return batch.to_pylist()
    columns = {name: list(values) for name, values in batch.items()}
    count = len(next(iter(columns.values()), []))
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]


def _upstream_failed(row: Row, blank: Row) -> Row | None:
    """The row, with blank outputs, if an earlier step already failed it."""
    return {**blank, **row} if row.get("error") else None


def _failed(row: Row, error: DocumentError, blank: Row) -> Row:
    return {**row, **blank, "error": str(error), "error_class": type(error).__name__}


def _ok(row: Row, outputs: Row) -> Row:
    return {**row, **outputs, "error": None, "error_class": None}


def _map_rows(batch: Batch, blank: Row, render: Callable[[Row], Row]) -> pa.Table:
    """Apply ``render`` to each row not failed upstream; its ``DocumentError`` fails the row."""
    out = []
    for row in batch_rows(batch):
        if (passed := _upstream_failed(row, blank)) is not None:
            out.append(passed)
            continue
        try:
            out.append(_ok(row, render(row)))
        except DocumentError as exc:
            out.append(_failed(row, exc, blank))
    return pa.Table.from_pylist(out)


def _pages_row(pages: Sequence[RenderedPage]) -> Row:
    return {"pages_png": [p.png for p in pages], "pages_text": [p.text for p in pages]}


_NO_PAGES: Row = {"pages_png": [], "pages_text": []}


class HtmlRenderActor:
    """HTML rows (``html``; optional ``base_dir``, ``entry``) → ``pages_png`` and ``pages_text``."""

    def __init__(self, config: BrowserConfig | Mapping[str, Any] | None = None) -> None:
        cfg = (
            config
            if isinstance(config, BrowserConfig)
            else BrowserConfig.model_validate(config or {})
        )
        self._pool = BrowserPool(cfg).start()

    def __call__(self, batch: Batch) -> pa.Table:
        rows = batch_rows(batch)
        todo = [i for i, row in enumerate(rows) if not row.get("error")]
        docs = [
            HtmlDocument(
                rows[i]["html"],
                Path(rows[i]["base_dir"]) if rows[i].get("base_dir") else None,
                rows[i].get("entry") or "index.html",
            )
            for i in todo
        ]
        rendered = dict(zip(todo, self._pool.render_many(docs), strict=True))
        out = []
        for i, row in enumerate(rows):
            result = rendered.get(i)
            if result is None:
                out.append({**_NO_PAGES, **row})
            elif isinstance(result, DocumentError):
                out.append(_failed(row, result, _NO_PAGES))
            else:
                out.append(_ok(row, _pages_row(result)))
        return pa.Table.from_pylist(out)

    def close(self) -> None:
        """Shut the browsers down (Ray also reaps them when the actor exits)."""
        self._pool.close()


class TexCompileActor:
    """LaTeX rows (``tex`` source text, or ``source_dir`` + optional ``main``) → ``pdf`` bytes,
    ``engine`` and ``tex_runs``."""

    _BLANK: ClassVar[Row] = {"pdf": None, "engine": None, "tex_runs": 0}

    def __init__(self, config: TexConfig | Mapping[str, Any] | None = None) -> None:
        self._config = (
            config if isinstance(config, TexConfig) else TexConfig.model_validate(config or {})
        )

    def __call__(self, batch: Batch) -> pa.Table:
        return _map_rows(batch, self._BLANK, self._compile)

    def _compile(self, row: Row) -> Row:
        if row.get("source_dir"):
            folder = Path(row["source_dir"])
            result = compile_latex_dir(folder, row.get("main") or "main.tex", self._config)
        else:
            result = compile_latex(row["tex"], config=self._config)
        return {"pdf": result.pdf, "engine": result.engine, "tex_runs": result.runs}


class PdfRenderActor:
    """PDF rows (``pdf`` bytes) → ``pages_png``, ``pages_text`` and ``pages_words`` (per page a
    list of ``{x0, y0, x1, y1, text, block, line}`` in pixels)."""

    _BLANK: ClassVar[Row] = {**_NO_PAGES, "pages_words": []}

    def __init__(self, config: PdfConfig | Mapping[str, Any] | None = None) -> None:
        self._config = (
            config if isinstance(config, PdfConfig) else PdfConfig.model_validate(config or {})
        )

    def __call__(self, batch: Batch) -> pa.Table:
        return _map_rows(batch, self._BLANK, self._render)

    def _render(self, row: Row) -> Row:
        pages = render_pdf(row["pdf"] or b"", self._config)
        words = [[w._asdict() for w in p.words] for p in pages]
        return {
            "pages_png": [p.png for p in pages],
            "pages_text": [p.text for p in pages],
            "pages_words": words,
        }
