"""One notebook → its outcome: candidates from ``notebook``, judged by the filters, packed
as ``image_text`` samples with task ``code_from_plot``."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from vlpipe.filters.code_image import check_code_image, code_lines
from vlpipe.filters.image import CheckedImage, check_image, decode_base64
from vlpipe.schema import (
    Document,
    Drop,
    DroppedCandidate,
    Outcome,
    Sample,
    commonest_drop,
    sample_key,
)
from vlpipe.sources.jupyter import JupyterRecipe
from vlpipe.sources.jupyter.notebook import (
    Candidate,
    ImageOutput,
    candidates,
    is_python,
    parse_notebook,
)
from vlpipe.sources.registry import stateless

SOURCE = "jupyter"


def notebook_outcome(document: Document, recipe: JupyterRecipe) -> Outcome:
    """Parse, extract, filter and pack one notebook (raises ``DocumentError`` on bad input)."""
    options = recipe.jupyter
    notebook = parse_notebook(document.content, strip_magics=options.strip_magics)
    size = len(document.content)
    if options.python_only and not is_python(notebook.language):
        drop = Drop("jupyter", "non_python_kernel", notebook.language)
        return Outcome(document.doc_id, drop=drop, doc_bytes=size)
    samples: list[Sample] = []
    dropped: list[DroppedCandidate] = []
    for candidate in candidates(notebook, options.context_cells, options.max_code_chars):
        key = sample_key(document.doc_id, candidate.cell_index)
        result = _candidate_sample(key, candidate, document, recipe)
        if isinstance(result, Drop):
            dropped.append(DroppedCandidate(key, result))
        else:
            samples.append(result)
    drop = None if samples else _document_drop(dropped)
    return Outcome(document.doc_id, tuple(samples), tuple(dropped), drop, doc_bytes=size)


def _document_drop(dropped: list[DroppedCandidate]) -> Drop:
    if not dropped:
        return Drop("jupyter", "no_plot_output", "no code cell output an image")
    return commonest_drop(dropped, "candidates")


def _candidate_sample(
    key: str, candidate: Candidate, document: Document, recipe: JupyterRecipe
) -> Sample | Drop:
    verdict = check_code_image(candidate, recipe.filters.code_image, recipe.jupyter.max_code_chars)
    if verdict is not None:
        return verdict
    image = _checked_image(candidate.images[0], recipe)
    if isinstance(image, Drop):
        return image
    metadata = _metadata(candidate, document, image)
    code = candidate.code.encode("utf-8", "surrogatepass")
    return Sample(
        key, {image.ext: image.data, "py": code, "json": orjson.dumps(metadata, default=str)}
    )


def _checked_image(output: ImageOutput, recipe: JupyterRecipe) -> CheckedImage | Drop:
    if output.mime == "image/svg+xml":
        return Drop("image", "svg_not_rasterised", "the cell's only image is SVG")
    data = decode_base64(output.data)
    return data if isinstance(data, Drop) else check_image(data, recipe.filters.image)


def _metadata(candidate: Candidate, document: Document, image: CheckedImage) -> dict[str, Any]:
    origin = document.origin
    licenses = origin.get("max_stars_repo_licenses")
    return {
        "kind": "image_text",
        "task": "code_from_plot",
        "source": SOURCE,
        "doc_id": document.doc_id,
        "lang": "python",
        "license": list(licenses) if isinstance(licenses, list | tuple) else licenses,
        "target": "py",
        "repo": origin.get("max_stars_repo_name"),
        "path": origin.get("max_stars_repo_path", origin.get("path")),
        "cell_index": candidate.cell_index,
        "context_cells": candidate.context_cells,
        "code_lines": code_lines(candidate.code),
        "cell_code_lines": code_lines(candidate.cell_code),
        "image": {
            "format": image.ext,
            "width": image.width,
            "height": image.height,
            "mime": candidate.images[0].mime,
            "sha256": hashlib.sha256(image.data).hexdigest(),
        },
        "origin": origin,
    }


open_step = stateless(notebook_outcome)
