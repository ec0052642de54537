"""Sources are found, not registered: every package under ``vlpipe.sources`` is one, and its
``__init__`` exports ``SPEC``. Adding a source is that package (its options, its step, its bundled
``samples/``) plus ``recipes/<name>.yaml``; nothing else names it.

A package's ``__init__`` stays light (options and input layout only); the step, with whatever it
imports (PyMuPDF, Playwright …), is imported by name when a worker opens it, so a Jupyter worker
never pays for a browser.

``open_step`` returns a context manager so that a source holding a heavy resource (a browser pool)
creates it once per work unit — in a Ray actor, or once for a whole ``inline`` run — and closes it
after; stateless sources wrap their plain function with ``stateless``.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import import_module, resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vlpipe.errors import ConfigError
from vlpipe.manifests.store import Store
from vlpipe.recipe import Recipe
from vlpipe.schema import Document, Outcome
from vlpipe.sources.inputs import InputLayout

DocumentStep = Callable[[Document, Any], Outcome]


@dataclass(frozen=True)
class StepContext:
    """What a step may need beyond its recipe: where the build's output goes (a local folder or
    an object-store prefix; a source that fetches keeps its download cache there)."""

    out: Store


StepOpener = Callable[[Any, StepContext], AbstractContextManager[DocumentStep]]


@runtime_checkable
class PrefetchingStep(Protocol):
    """A step that gets things for its documents (MMC4's images from the web) may also take a
    chunk's documents ahead of their turn: the build hands each chunk to ``prefetch`` before it
    processes the previous one, so the step's I/O overlaps the work. Outcomes must not depend on
    it (the step alone decides each document)."""

    def __call__(self, document: Document, recipe: Any) -> Outcome: ...

    def prefetch(self, documents: Sequence[Document]) -> None: ...


@dataclass(frozen=True)
class SourceSpec:
    """What a build needs to know about a source.

    ``recipe`` is the source's recipe model: ``vlpipe.recipe.Recipe`` plus a field named after the
    source holding its options (``source`` narrowed to the name), so a build records only its own
    source's options. ``step`` names the opener of the per-document step, ``"module:function"``.
    """

    name: str
    recipe: type[Recipe]
    layout: InputLayout
    step: str
    # a source whose input layout depends on its options (the dataset adapters' formats)
    layout_for: Callable[[Any], InputLayout] | None = None
    # a source with several sets of bundled samples (one per dataset adapter): which one
    samples_for: Callable[[Any], str] | None = None

    def input_layout(self, recipe: Recipe) -> InputLayout:
        return self.layout if self.layout_for is None else self.layout_for(recipe)

    def opener(self) -> StepOpener:
        """The step's opener, its module imported (what a Ray worker warms up with)."""
        module, function = self.step.split(":")
        opener: StepOpener = getattr(import_module(module), function)
        return opener

    def open_step(
        self, recipe: Recipe, context: StepContext
    ) -> AbstractContextManager[DocumentStep]:
        return self.opener()(recipe, context)

    def samples(self, recipe: Recipe | None = None) -> Path:
        """The bundled sample documents (``samples/`` in the source's package; for a source with
        several sets, the recipe's set)."""
        folder = Path(str(resources.files(f"vlpipe.sources.{self.name}") / "samples"))
        if self.samples_for is None or recipe is None:
            return folder
        return folder / self.samples_for(recipe)


def stateless(step: DocumentStep) -> StepOpener:
    """The opener of a step that holds no resource."""

    @contextmanager
    def opened(_: Recipe, __: StepContext) -> Iterator[DocumentStep]:
        yield step

    return opened


@cache
def source_names() -> tuple[str, ...]:
    """The sources this installation has: the packages under ``vlpipe.sources``."""
    package = import_module("vlpipe.sources")
    return tuple(sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg))


def source_spec(name: str) -> SourceSpec:
    """The source's spec, importing only its own package."""
    if name not in source_names():
        raise ConfigError(f"unknown source {name!r}; sources: {', '.join(source_names())}")
    spec = import_module(f"vlpipe.sources.{name}").SPEC
    if not isinstance(spec, SourceSpec) or spec.name != name:
        raise ConfigError(f"vlpipe.sources.{name} does not export a SPEC for {name!r}")
    return spec
