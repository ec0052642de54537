"""Page templates: named page geometries a page source draws from, one per document.

A recipe lists templates (:class:`TemplateOptions`; each a :class:`PageGeometry` with a name, a
weight and the languages it is for); :func:`draw_template` picks one for a key (a book, a
chapter, a question) with a seeded hash, so a re-run, or another worker, draws the same template
for the same key.
:func:`missing_fonts` names the font families templates ask for that fontconfig does not have:
Chromium would silently fall back to another font and the template would not be what it says.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Sequence
from functools import cache
from typing import Self

from pydantic import Field, model_validator

from vlpipe.errors import ConfigError
from vlpipe.recipe import StrictModel
from vlpipe.renderers.layout import PageGeometry

GENERIC_FAMILIES = frozenset(
    {"serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui", "math", "emoji"}
)
_FAMILY = re.compile(r"""\s*("[^"]*"|'[^']*'|[^,]+)\s*(?:,|$)""")


class PageTemplate(PageGeometry):
    """A page geometry under a name, drawn with ``weight`` among the templates for a document's
    language (``langs``: primary subtags such as ``en``, ``zh``; empty: any language)."""

    name: str = Field("default", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    weight: float = Field(1.0, gt=0)
    langs: tuple[str, ...] = ()

    def geometry(self) -> PageGeometry:
        """The template as the renderer takes it."""
        return PageGeometry.model_validate(self.model_dump(exclude={"name", "weight", "langs"}))

    def furnished(self, values: dict[str, str]) -> PageGeometry:
        """The geometry with ``{name}`` in its header and footer replaced by ``values[name]``
        (the document's title …); ``{page}`` is left to the renderer."""
        furniture = {}
        for role in ("header", "footer"):
            pattern = getattr(self, role)
            for name, value in values.items():
                pattern = None if pattern is None else pattern.replace(f"{{{name}}}", value)
            furniture[role] = pattern
        return self.geometry().model_copy(update=furniture)


class TemplateOptions(StrictModel):
    """Recipe options of a source that renders through page templates: the templates and the
    seed of the draw."""

    templates: tuple[PageTemplate, ...] = (PageTemplate(),)
    template_seed: int = Field(0, description="another seed draws other templates")

    @model_validator(mode="after")
    def _usable(self) -> Self:
        names = [t.name for t in self.templates]
        if not names or len(set(names)) != len(names):
            raise ValueError("templates: at least one, with unique names")
        if all(t.langs for t in self.templates):
            raise ValueError("templates: at least one must have no `langs` (any language)")
        return self

    def draw(self, key: str, lang: str | None) -> PageTemplate:
        """The template for ``key`` (see :func:`draw_template`)."""
        return draw_template(self.templates, self.template_seed, key, lang)


def primary_language(lang: str | None) -> str:
    """``zh`` for ``zh-CN``, ``en`` for ``EN_us``; empty when unknown."""
    return re.split(r"[-_]", (lang or "").strip().lower(), maxsplit=1)[0]


def draw_template(
    templates: Sequence[PageTemplate], seed: int, key: str, lang: str | None
) -> PageTemplate:
    """The template for ``key``: a weighted draw, by a hash of ``seed`` and ``key``, among the
    templates whose ``langs`` hold the language (or are empty)."""
    primary = primary_language(lang)
    eligible = [t for t in templates if not t.langs or primary in t.langs]
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(t.weight for t in eligible)
    for template in eligible:
        point -= template.weight
        if point < 0:
            return template
    return eligible[-1]


def font_families(stack: str | None) -> list[str]:
    """The named (non-generic) families of a CSS font stack, unquoted."""
    names = [m.group(1).strip().strip("\"'").strip() for m in _FAMILY.finditer(stack or "")]
    return [n for n in names if n and n.lower() not in GENERIC_FAMILIES]


@cache
def installed_families() -> frozenset[str]:
    """Every family name fontconfig knows (lower case, localised names included)."""
    try:
        listed = subprocess.run(
            ["fc-list", "--format", "%{family}\n"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ConfigError(f"cannot list fonts (Debian package fontconfig): {exc}") from None
    return frozenset(n.strip().lower() for line in listed.splitlines() for n in line.split(","))


def missing_fonts(templates: Sequence[PageTemplate]) -> list[str]:
    """``template: family`` for each named family fontconfig does not have."""
    have = installed_families()
    return [
        f"{t.name}: {family}"
        for t in templates
        for family in font_families(t.font_family)
        if family.lower() not in have
    ]


def check_fonts(templates: Sequence[PageTemplate]) -> None:
    """Refuse templates whose fonts are not installed (one ``ConfigError`` naming them)."""
    missing = missing_fonts(templates)
    if missing:
        raise ConfigError(f"fonts not installed (fc-list): {'; '.join(missing)}")
