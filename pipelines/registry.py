"""The sources a build can run: how each finds documents and turns one into an ``Outcome``.

``open_step`` is a context manager so that a source holding a heavy resource (a browser pool,
a TeX sandbox) creates it once per worker — a Ray actor, or the process for ``inline`` — and
closes it at the end; stateless sources yield their plain function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from vlpipe.pipelines import arxiv, chat, ebooks, jupyter, text, websight
from vlpipe.recipe import Recipe
from vlpipe.schema import Document, Outcome
from vlpipe.sources.inputs import InputLayout

DocumentStep = Callable[[Document, Recipe], Outcome]


@dataclass(frozen=True)
class SourceSpec:
    name: str
    layout: InputLayout
    open_step: Callable[[Recipe], AbstractContextManager[DocumentStep]]


def stateless(step: DocumentStep) -> Callable[[Recipe], AbstractContextManager[DocumentStep]]:
    @contextmanager
    def opened(_: Recipe) -> Iterator[DocumentStep]:
        yield step

    return opened


SOURCES = {
    spec.name: spec
    for spec in (
        SourceSpec(
            jupyter.SOURCE,
            InputLayout(file_suffixes=(jupyter.FILE_SUFFIX,), columns=("content",)),
            stateless(jupyter.notebook_outcome),
        ),
        SourceSpec(
            text.SOURCE,
            InputLayout(file_suffixes=text.FILE_SUFFIXES, columns=text.COLUMNS),
            stateless(text.text_outcome),
        ),
        SourceSpec(chat.SOURCE, InputLayout(columns=chat.COLUMNS), stateless(chat.chat_outcome)),
        SourceSpec(ebooks.SOURCE, ebooks.LAYOUT, ebooks.open_step),
        SourceSpec(websight.SOURCE, websight.LAYOUT, websight.open_step),
        SourceSpec(arxiv.SOURCE, arxiv.LAYOUT, stateless(arxiv.paper_outcome)),
    )
}
