"""Jupyter notebooks → (plot image, the code that drew it) candidates, as DeepSeek-VL built its
web-code data from The Stack's notebooks.

Everything here is a plain function over plain data; ``step`` judges and packs the candidates.

Policy (also in the README):
- A *producing cell* is a code cell with at least one image among its ``display_data`` /
  ``execute_result`` outputs. One output bundle is one image, whatever the number of its image
  MIME types (PNG preferred, then JPEG, then SVG). Markdown attachments, images inlined in HTML
  outputs and outputs of non-code cells never count.
- The code of a candidate is the producing cell's source preceded by the notebook's earlier code
  cells (``context_cells``: ``all`` or a count), oldest dropped first beyond ``max_code_chars``.
- ``strip_magics``: line magics (``%matplotlib inline``), shell escapes (``!pip …``,
  ``x = !ls``) and help lines (``df?``) are removed; cells run by a non-Python cell magic
  (``%%bash``, ``%%html``, ``%%sql`` …) are not Python and never used, as context or as producer;
  ``%%time``-like magics only lose their first line. Cells left empty are skipped as context.
- SVG-only images count for the single-image rule but are dropped by the image check
  (``svg_not_rasterised``): a rasteriser is a renderer's job and would change the image.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from vlpipe.errors import DocumentError
from vlpipe.filters.code_image import source_lines

IMAGE_MIME_PREFERENCE = ("image/png", "image/jpeg", "image/svg+xml")
TRANSPARENT_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "memit", "debug"})

_ASSIGNED_ESCAPE = re.compile(r"^\s*[\w.,\s\[\]]+=\s*[!%]")
_HELP_LINE = re.compile(r"^\s*\?{0,2}[\w.]+\?{1,2}\s*$")
# Any line that could be IPython syntax (a magic, a shell escape, a help request), searched in the
# whole cell at once: a cell without one is plain Python and is kept as it is.
_MAYBE_IPYTHON = re.compile(
    rf"^\s*[%!]|{_ASSIGNED_ESCAPE.pattern}|{_HELP_LINE.pattern}", re.MULTILINE
)


class InvalidJSON(DocumentError):
    """The document is not JSON (truncated, non-UTF-8, garbage)."""


class InvalidNotebook(DocumentError):
    """The document is JSON but not a notebook nbformat 3 or 4 can describe."""


@dataclass(frozen=True)
class ImageOutput:
    mime: str
    data: str  # base64 text for PNG/JPEG, XML for SVG


@dataclass(frozen=True)
class CodeCell:
    index: int  # position among all the notebook's cells
    source: str | None  # None: not Python (a non-Python cell magic)
    images: tuple[ImageOutput, ...]


@dataclass(frozen=True)
class Notebook:
    nbformat: int
    language: str
    code_cells: tuple[CodeCell, ...]


@dataclass(frozen=True)
class Candidate:
    """One producing cell: its images and the code a model needs to re-draw them."""

    cell_index: int
    images: tuple[ImageOutput, ...]
    code: str
    cell_code: str
    context_cells: int


def parse_notebook(raw: bytes | str, strip_magics: bool = True) -> Notebook:
    """Parse notebook JSON (nbformat 3 or 4) into its code cells and their image outputs."""
    if isinstance(raw, bytes) and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidNotebook(f"top level is a JSON {type(data).__name__}, not an object")
    version = data.get("nbformat")
    if version == 3:
        data = _upgrade_v3(data)
    elif version != 4:
        raise InvalidNotebook(f"unsupported nbformat {version!r} (3 and 4 are supported)")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise InvalidNotebook("'cells' is missing or not a list")
    code_cells = tuple(
        _code_cell(index, cell, strip_magics)
        for index, cell in enumerate(cells)
        if _is_code_cell(index, cell)
    )
    return Notebook(nbformat=version, language=_language(data), code_cells=code_cells)


def _upgrade_v3(data: dict[str, Any]) -> dict[str, Any]:
    """nbformat's own v3 → v4 cell conversion (``input``, ``png`` output keys), the worksheets
    flattened as ``nbformat.v4.convert.upgrade`` does. Not ``upgrade`` itself: it validates the
    notebook against the schema before and after, only to log what it finds, which took 90% of
    its time (0.6 s for 48 real notebooks)."""
    import nbformat
    from nbformat.v4.convert import upgrade_cell

    worksheets = data.get("worksheets")
    if not isinstance(worksheets, list) or not all(isinstance(w, dict) for w in worksheets):
        raise InvalidNotebook("nbformat 3 notebook without a 'worksheets' list")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cells = [
                dict(upgrade_cell(nbformat.from_dict(cell)))
                for worksheet in worksheets
                for cell in worksheet["cells"]
            ]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidNotebook(f"nbformat 3 notebook could not be upgraded: {exc!r}") from None
    return {**data, "nbformat": 4, "cells": cells}


def _language(data: dict[str, Any]) -> str:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return "python"
    for holder, key in (("kernelspec", "language"), ("language_info", "name")):
        section = metadata.get(holder)
        if isinstance(section, dict) and isinstance(section.get(key), str):
            return section[key].lower()
    return "python"


def is_python(language: str) -> bool:
    return language.startswith(("python", "ipython")) or language in {"py", "pyspark"}


def _is_code_cell(index: int, cell: Any) -> bool:
    if not isinstance(cell, dict):
        raise InvalidNotebook(f"cell {index} is a JSON {type(cell).__name__}, not an object")
    return cell.get("cell_type") == "code"


def _text(value: Any, where: str) -> str:
    """nbformat multiline strings: a string or a list of strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        with contextlib.suppress(TypeError):  # a part that is not a string
            return "".join(value)
    raise InvalidNotebook(f"{where} is neither a string nor a list of strings")


def _code_cell(index: int, cell: dict[str, Any], strip_magics: bool) -> CodeCell:
    source = _text(cell.get("source", ""), f"cell {index} source")
    outputs = cell.get("outputs", [])
    if not isinstance(outputs, list):
        raise InvalidNotebook(f"cell {index} outputs is not a list")
    images = tuple(
        image
        for position, output in enumerate(outputs)
        if (image := _image_of(output, f"cell {index} output {position}")) is not None
    )
    code = python_source(source) if strip_magics else source
    return CodeCell(index=index, source=code, images=images)


def _image_of(output: Any, where: str) -> ImageOutput | None:
    if not isinstance(output, dict):
        raise InvalidNotebook(f"{where} is not an object")
    if output.get("output_type") not in ("display_data", "execute_result"):
        return None
    data = output.get("data")
    if not isinstance(data, dict):
        return None
    for mime in IMAGE_MIME_PREFERENCE:
        if mime in data:
            return ImageOutput(mime=mime, data=_text(data[mime], f"{where} {mime}"))
    return None


def python_source(source: str) -> str | None:
    """The cell's source without IPython syntax, or None when a cell magic makes it non-Python."""
    # every IPython syntax has a "%", "!" or "?": most cells have none, and skip the regex
    plain = not ("%" in source or "!" in source or "?" in source)
    if "\r" not in source and (plain or not _MAYBE_IPYTHON.search(source)):
        return source.strip("\n")  # no line is IPython syntax
    return without_ipython(source)


def without_ipython(source: str) -> str | None:
    """``python_source`` line by line."""
    lines = source_lines(source)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in TRANSPARENT_CELL_MAGICS:
            return None
        lines = lines[first + 1 :]
    kept = [line for line in lines if not _is_ipython_line(line)]
    return "\n".join(kept).strip("\n")


def _is_ipython_line(line: str) -> bool:
    stripped = line.lstrip()
    return (
        stripped.startswith(("%", "!"))
        or bool(_ASSIGNED_ESCAPE.match(line))
        or bool(_HELP_LINE.match(line))
    )


def candidates(
    notebook: Notebook, context_cells: int | str, max_code_chars: int
) -> Iterator[Candidate]:
    """One candidate per Python code cell with an image output, with its preceding code."""
    previous: list[str] = []
    for cell in notebook.code_cells:
        if cell.source is None:
            continue
        if cell.images:
            kept_context = _fit_context(
                _last(previous, context_cells), len(cell.source), max_code_chars
            )
            yield Candidate(
                cell_index=cell.index,
                images=cell.images,
                code="\n\n".join([*kept_context, cell.source]) + "\n",
                cell_code=cell.source,
                context_cells=len(kept_context),
            )
        if cell.source.strip():
            previous.append(cell.source)


def _last(previous: list[str], count: int | str) -> list[str]:
    if count == "all":
        return previous
    return previous[max(len(previous) - int(count), 0) :]


def _fit_context(context: list[str], own_chars: int, max_chars: int) -> list[str]:
    """The newest context cells that fit beside the producing cell within ``max_chars``: the code
    is the cells joined by blank lines, plus a final newline."""
    budget = max_chars - own_chars - 1
    kept: list[str] = []
    for source in reversed(context):
        budget -= len(source) + 2
        if budget < 0:
            break
        kept.append(source)
    return kept[::-1]
