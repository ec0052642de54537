"""DeepSeek-VL's notebook rule: keep a (plot, code) pair only if the producing cell output exactly
one image and the code has at least ``min_code_lines`` lines (as ``notebook.code_lines`` counts
them: non-blank, not comment-only). The paper kept 1.1M of 2M pairs with 1 image and 5 lines."""

from __future__ import annotations

from vlpipe.recipe import CodeImageFilter
from vlpipe.schema import Drop
from vlpipe.sources.jupyter.notebook import Candidate, code_lines

NAME = "code_image"


def check_code_image(
    candidate: Candidate, config: CodeImageFilter, max_code_chars: int
) -> Drop | None:
    images = len(candidate.images)
    if images != config.images_per_cell:
        return Drop(NAME, "images_per_cell", f"{images} images, {config.images_per_cell} wanted")
    if len(candidate.cell_code) + 1 > max_code_chars:
        return Drop(
            NAME, "code_too_long", f"cell has {len(candidate.cell_code)} chars > {max_code_chars}"
        )
    lines = code_lines(candidate.code)
    if lines < config.min_code_lines:
        return Drop(NAME, "too_few_code_lines", f"{lines} code lines < {config.min_code_lines}")
    return None
