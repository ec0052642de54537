"""One notebook → its outcome: candidates from ``notebook``, packed as ``image_text`` samples with
task ``code_from_plot`` for the recipe's filters (DeepSeek-VL's single-image + 5-lines rule is the
``code_image`` filter)."""

from __future__ import annotations

from typing import Any

import orjson

from vlpipe.filters.image import decode_base64, image_format
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
    """Parse, extract and pack one notebook (raises ``DocumentError`` on bad input)."""
    options = recipe.jupyter
    notebook = parse_notebook(document.content, strip_magics=options.strip_magics)
    size = len(document.content)
    if options.python_only and not is_python(notebook.language):
        drop = Drop(SOURCE, "non_python_kernel", notebook.language)
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
        return Drop(SOURCE, "no_plot_output", "no code cell output an image")
    return commonest_drop(dropped, "candidates")


def _candidate_sample(
    key: str, candidate: Candidate, document: Document, recipe: JupyterRecipe
) -> Sample | Drop:
    """The candidate as a sample (its code and every image of its cell) for the filters to judge;
    only what the notebook itself got wrong is dropped here."""
    limit = recipe.jupyter.max_code_chars
    if len(candidate.cell_code) + 1 > limit:
        return Drop(SOURCE, "code_too_long", f"cell has {len(candidate.cell_code)} chars > {limit}")
    images: list[tuple[str, bytes]] = []
    for output in candidate.images:
        image = _image_bytes(output)
        if image is None:
            return Drop(SOURCE, "corrupt_base64", f"cell {candidate.cell_index}: {output.mime}")
        images.append(image)
    files = (
        {ext: data for ext, data in images}
        if len(images) == 1
        else {f"{number}.{ext}": data for number, (ext, data) in enumerate(images)}
    )
    files["py"] = candidate.code.encode("utf-8", "surrogatepass")
    files["json"] = orjson.dumps(_metadata(candidate, document), default=str)
    return Sample(key, files)


def _image_bytes(output: ImageOutput) -> tuple[str, bytes] | None:
    """The output's image and its extension (from its bytes where they tell, else its MIME type;
    the image filter judges them). An SVG stays SVG text."""
    if output.mime == "image/svg+xml":
        return "svg", output.data.encode("utf-8", "surrogatepass")
    data = decode_base64(output.data)
    if data is None:
        return None
    return image_format(data) or ("jpg" if output.mime == "image/jpeg" else "png"), data


def _metadata(candidate: Candidate, document: Document) -> dict[str, Any]:
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
        "cell_code_start": len(candidate.code) - len(candidate.cell_code) - 1,
        "mimes": [output.mime for output in candidate.images],
        "origin": origin,
    }


open_step = stateless(notebook_outcome)
