"""DeepSeek-VL's rule for (plot, code) pairs: keep a pair only if the producing cell output exactly
one image and has at least ``min_code_lines`` lines of code. The paper kept 1.1M of 2M pairs;
lines are counted in the producing cell by default (``count_lines_in: cell``; the sample's json
says where the cell starts in its code, ``cell_code_start``): counted over the cell and all the
code before it (``context``), the rule would keep almost every plot. Records ``code_lines``, the
count it judged."""

from __future__ import annotations

import io
import re
import tokenize
from typing import Literal

from pydantic import Field

from vlpipe.filters.contract import DigestMemo, SampleView, Verdict
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop

NAME = "code_image"
READS = ("code", "images")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# What can make Python's reading of lines differ from the plain rule: a string or a backslash
# continued over lines, or a character outside printable ASCII (whitespace ``str.strip`` drops
# but the tokenizer does not, an identifier it rejects). Code without any is counted plainly.
_NOT_PLAIN = re.compile(r"\'\'\'|\"\"\"|\\[\r\n]|[^\x20-\x7e\t\n\r\x0c]")
TOKENIZED: DigestMemo[int | None] = DigestMemo(1 << 14)  # forks repeat their cells
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


class Options(StrictModel):
    images_per_cell: int = Field(1, ge=0, description="images the producing cell must output")
    min_code_lines: int = Field(5, ge=0)
    count_lines_in: Literal["cell", "context"] = Field(
        "cell",
        description="count the lines of the producing cell, or of the sample's whole code "
        "(the cell and the context before it)",
    )


def source_lines(code: str) -> list[str]:
    """Physical lines as Python reads them: ``\\n``, ``\\r\\n`` or ``\\r`` end a line (a form
    feed or ``\\x1c`` inside a line does not, unlike ``str.splitlines``)."""
    return _LINE_BREAK.split(code)


def code_lines(code: str) -> int:
    """Lines of code: lines that hold any token other than a comment, i.e. code, a continuation,
    or a part of a (multi-line) string — a ``#`` line inside a docstring counts. Blank and
    comment-only lines do not. Code that Python cannot tokenize (an unclosed string, notebook
    code from another language) is counted by the plain rule: not blank, not starting with ``#``
    — and so is code where the two cannot differ, without running the tokenizer.
    """
    if _NOT_PLAIN.search(code):
        cell = code.encode("utf-8", "surrogatepass")
        tokenized = TOKENIZED.get(cell, None, lambda _: tokenized_code_lines(code))
        if tokenized is not None:
            return tokenized
    return sum(1 for line in source_lines(code) if (s := line.strip()) and s[0] != "#")


def tokenized_code_lines(code: str) -> int | None:
    """Lines holding a token other than a comment, None when Python cannot tokenize the code."""
    lines: set[int] = set()
    try:
        text = "\n".join(source_lines(code))
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type not in _NOT_CODE:
                lines.update(range(token.start[0], token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return None
    return len(lines)


def check(sample: SampleView, options: Options) -> Verdict:
    images = len(sample.images)
    if images != options.images_per_cell:
        return Drop(NAME, "images_per_cell", f"{images} images, {options.images_per_cell} wanted")
    code = sample.code or ""
    start = sample.meta.get("cell_code_start")
    if options.count_lines_in == "cell" and isinstance(start, int):
        counted, where = code[start:], "the producing cell"
    else:
        counted, where = code, "the code"
    lines = code_lines(counted)
    if lines < options.min_code_lines:
        detail = f"{lines} code lines in {where} < {options.min_code_lines}"
        return Drop(NAME, "too_few_code_lines", detail)
    return {"code_lines": lines}
