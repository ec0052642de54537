"""Inference rules (mathpartir's ``mathpar`` and ``\\inferrule``) as displays pandoc reads: a
``mathpar`` sets formulas and rules side by side in math, ``\\and`` or ``\\\\`` between them;
a rule is its name, its premises over a line and its conclusion under it. pandoc knows
neither, and a programming-language paper's figures of rules lost all their text."""

from __future__ import annotations

import re

from vlpipe.sources.arxiv.macros import balanced_group

_MATHPAR = re.compile(
    r"\\begin\s*\{(mathpar|mathparpagebreakable)\}(?:\s*\[[^\]]*\])?(.*?)\\end\s*\{\1\}",
    re.DOTALL,
)
_RULE = re.compile(r"\\(?:inferrule|infer)(?![A-Za-z])\*?\s*")
_SEPARATOR = re.compile(r"\\and(?![A-Za-z])|\\\\(?:\[[^\]]*\])?")


def top_level_parts(tex: str) -> list[str]:
    """``tex`` cut at its ``\\and``s and ``\\\\``s outside braces."""
    parts, depth, start = [], 0, 0
    index = 0
    while index < len(tex):
        char = tex[index]
        if char == "\\":
            separator = _SEPARATOR.match(tex, index) if depth == 0 else None
            if separator:
                parts.append(tex[start:index])
                index = start = separator.end()
            else:
                index += 2  # an escaped character (``\\{``), or a command's first letter
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        index += 1
    return [part.strip() for part in [*parts, tex[start:]] if part.strip()]


def rule_as_math(item: str) -> str:
    """One item of a ``mathpar``: a rule (``\\inferrule[name]{premises}{conclusion}``) as its
    name and a fraction of its premises (side by side) over its conclusion, other math as it
    is."""
    out, position = [], 0
    for rule in _RULE.finditer(item):
        if rule.start() < position:
            continue
        cursor, name = rule.end(), ""
        if item.startswith("[", cursor):
            name_group = balanced_group(item, cursor, "[", "]")
            if name_group is not None:
                name, cursor = name_group[0].strip(), name_group[1]
        premises = balanced_group(item, cursor)
        conclusion = balanced_group(item, premises[1]) if premises else None
        if premises is None or conclusion is None:
            continue
        above = " \\qquad ".join(top_level_parts(premises[0]))
        below = " \\qquad ".join(top_level_parts(conclusion[0]))
        left, right = _names(name)
        fraction = f"{left}\\frac{{{above}}}{{{below}}}{right}"
        out += [item[position : rule.start()], fraction]
        position = conclusion[1]
    return "".join(out) + item[position:]


_NAME_KEYS = re.compile(r"(?:^|,)\s*(lab|Lab|left|Left|right|Right)\s*=\s*([^,]*)")


def _names(option: str) -> tuple[str, str]:
    """A rule's name as set before and after its fraction: ``[name]`` (above it, first), or
    ``\\inferrule*``'s keys ``lab``/``left`` (before) and ``right`` (after)."""
    keys = {key.lower(): value.strip() for key, value in _NAME_KEYS.findall(option)}
    if "=" not in option:
        keys = {"lab": option.strip()} if option.strip() else {}

    def name(key: str) -> str:
        return f"\\text{{\\textsc{{{keys[key]}}}}}" if keys.get(key) else ""

    before = " \\quad ".join(filter(None, (name("lab"), name("left"))))
    return (
        f"{before} \\quad " if before else "",
        f" \\quad {name('right')}" if keys.get("right") else "",
    )


def mathpar_as_displays(tex: str) -> str:
    """Each ``mathpar`` as one display per formula or rule."""

    def displays(match: re.Match[str]) -> str:
        items = [rule_as_math(item) for item in top_level_parts(match[2])]
        return "".join(f"\n\\[{item}\\]\n" for item in items)

    return _MATHPAR.sub(displays, tex)
