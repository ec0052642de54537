"""The sources a build can run: how each finds documents and turns one into an ``Outcome``.
Each source module defines its ``SPEC``; this registry only names the modules.

``open_step`` is a context manager so that a source holding a heavy resource (a browser pool,
a TeX sandbox) creates it once for a whole work unit — in a Ray actor, or once for the whole run
with ``inline`` — and closes it after; stateless sources yield their plain function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import import_module

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


SOURCE_MODULES = {
    "jupyter": "vlpipe.pipelines.jupyter",
    "text": "vlpipe.pipelines.text",
    "chat": "vlpipe.pipelines.chat",
    "arxiv": "vlpipe.pipelines.arxiv",
    "ebooks": "vlpipe.pipelines.ebooks",
    "websight": "vlpipe.pipelines.websight",
}


def source_spec(name: str) -> SourceSpec:
    """The source's spec, importing only its own module: a Jupyter worker never pays for
    PyMuPDF or Playwright."""
    return import_module(SOURCE_MODULES[name]).SPEC
