"""DeepSeek-VL's notebook rule: keep a (plot, code) pair only if the producing cell output exactly
one image and has at least ``min_code_lines`` lines of code. The paper kept 1.1M of 2M pairs;
lines are counted in the producing cell by default (``count_lines_in: cell``): counted over the
cell and all the code before it (``context``), the rule would keep almost every plot."""

from __future__ import annotations

import io
import tokenize

from vlpipe.recipe import CodeImageFilter
from vlpipe.schema import Drop
from vlpipe.sources.jupyter.notebook import Candidate, source_lines

NAME = "code_image"
_NOT_CODE = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
    }
)


def code_lines(code: str) -> int:
    """Lines of code: lines that hold any token other than a comment, i.e. code, a continuation,
    or a part of a (multi-line) string — a ``#`` line inside a docstring counts. Blank and
    comment-only lines do not. Code that Python cannot tokenize (an unclosed string, notebook
    code from another language) is counted by the plain rule: not blank, not starting with ``#``.
    """
    lines: set[int] = set()
    try:
        text = "\n".join(source_lines(code))
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type not in _NOT_CODE:
                lines.update(range(token.start[0], token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return sum(1 for line in source_lines(code) if (s := line.strip()) and s[0] != "#")
    return len(lines)


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
    counted = candidate.cell_code if config.count_lines_in == "cell" else candidate.code
    lines = code_lines(counted)
    if lines < config.min_code_lines:
        where = "the producing cell" if config.count_lines_in == "cell" else "cell + context"
        detail = f"{lines} code lines in {where} < {config.min_code_lines}"
        return Drop(NAME, "too_few_code_lines", detail)
    return None
