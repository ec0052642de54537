"""The filter contract: what a filter sees of a sample, what it may answer, and how filters are
found.

A filter is a module of ``vlpipe.filters`` with:

- ``NAME``: the name recipes list it under and the ``filter`` of its drops in the ledger;
- ``READS``: what of a sample it needs — ``text`` (natural-language text: page markdown or text,
  a text document, chat turns, interleaved text), ``code``, ``images``, or ``meta:<field>`` (a
  value the source measured, e.g. ``meta:alignment_score``). A sample without one of them is not
  the filter's business: it passes untouched;
- ``Options``: a pydantic model, the filter's settings in a recipe;
- ``check(sample, options)``: returns ``None`` (keep), a ``Drop`` (with the filter's name, a
  reason and a detail), or a ``dict`` of values it measured (keep, and record them in the
  sample's json).

Filters are plain functions over plain data: no side files, no state but what ``Options`` and
module-level caches (a loaded model) hold.
"""

from __future__ import annotations

import pkgutil
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import import_module
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from vlpipe.errors import ConfigError
from vlpipe.schema import Drop, Sample, sha256

IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "webp", "gif", "svg"})
PLACEHOLDER = "<image>"
Verdict = Drop | dict[str, Any] | None
_TAGS = re.compile(r"<[^>]*>")
T = TypeVar("T")


@dataclass
class SampleView:
    """A sample as filters see it: its members, and its json as a dict they may add to."""

    sample: Sample
    meta: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.meta = orjson.loads(self.sample.files["json"])

    @property
    def key(self) -> str:
        return self.sample.key

    @cached_property
    def text(self) -> str | None:
        """The sample's natural-language text, or None when it has none (code, HTML)."""
        kind, target, files = self.meta.get("kind"), self.meta.get("target"), self.sample.files
        if kind == "text" or (kind == "image_text" and target in ("md", "txt")):
            return _decoded(files.get("txt" if kind == "text" else target))
        if kind == "interleaved":
            text = _decoded(files.get("txt"))
            return None if text is None else text.replace(PLACEHOLDER, " ")
        if kind == "chat" and "chat.json" in files:
            turns = orjson.loads(files["chat.json"])
            return "\n\n".join(str(t.get("content", "")).replace(PLACEHOLDER, "") for t in turns)
        return None

    @cached_property
    def code(self) -> str | None:
        if self.meta.get("kind") == "image_text" and self.meta.get("target") == "py":
            return _decoded(self.sample.files.get("py"))
        return None

    @cached_property
    def images(self) -> list[tuple[str, bytes]]:
        """``(member extension, bytes)`` of each image, in member order."""
        return [
            (ext, data)
            for ext, data in self.sample.files.items()
            if ext.rsplit(".", 1)[-1] in IMAGE_EXTENSIONS
        ]

    def has(self, need: str) -> bool:
        if need.startswith("meta:"):
            return self.meta.get(need.removeprefix("meta:")) is not None
        return bool({"text": self.text, "code": self.code, "images": self.images}[need])

    def packed(self) -> Sample:
        """The sample with its json rewritten from ``meta``."""
        files = dict(self.sample.files)
        files["json"] = orjson.dumps(self.meta, default=str)
        return Sample(self.sample.key, files)


def _decoded(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "surrogatepass")


def visible_text(html: str) -> str:
    """Markup stripped to its text (a rough measure, for filters that only need to count)."""
    return _TAGS.sub(" ", html)


class DigestMemo(Generic[T]):
    """What a pure function made of some bytes, kept by their sha256 for the last ``size``
    distinct inputs. A corpus repeats its images (forked notebooks, the same plot re-run, a logo on
    every page): each is judged once per process, and the bytes themselves are not held."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._known: OrderedDict[tuple[bytes, Hashable], T] = OrderedDict()

    def get(self, data: bytes, settings: Hashable, make: Callable[[bytes], T]) -> T:
        key = (sha256(data), settings)
        if key in self._known:
            self._known.move_to_end(key)
            return self._known[key]
        made = self._known[key] = make(data)
        if len(self._known) > self.size:
            self._known.popitem(last=False)
        return made


@dataclass(frozen=True)
class FilterSpec:
    name: str
    reads: tuple[str, ...]
    options: type[BaseModel]
    check: Callable[[SampleView, Any], Verdict]


NOT_FILTERS = frozenset({"contract", "stage", "signatures", "words"})  # machinery, not filters


@cache
def filter_names() -> tuple[str, ...]:
    """The filters this installation has: the modules of ``vlpipe.filters`` (found without
    importing them, so listing filters loads no model)."""
    package = import_module("vlpipe.filters")
    found = pkgutil.iter_modules(package.__path__)
    return tuple(sorted(m.name for m in found if not m.ispkg and m.name not in NOT_FILTERS))


@cache
def filter_spec(name: str) -> FilterSpec:
    if name not in filter_names():
        raise ConfigError(f"unknown filter {name!r}; filters: {', '.join(filter_names())}")
    module = import_module(f"vlpipe.filters.{name}")
    if getattr(module, "NAME", None) != name:
        raise ConfigError(f"vlpipe.filters.{name} does not define the filter {name!r}")
    return FilterSpec(name, tuple(module.READS), module.Options, module.check)
