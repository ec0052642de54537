"""What the compile itself wrote, read back as the one source of truth for every number the paper
prints: ``\\newlabel`` (``\\ref`` numbers), ``\\bibcite`` (citation labels, natbib's author-year
parts included) and the table of contents lines (section numbers as printed) of its ``.aux``
files, and the ``.bbl`` bibtex or biber made (or the paper shipped)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from vlpipe.sources.arxiv.archive import decode_tex

_NEWLABEL = re.compile(r"^\\newlabel\{([^{}]+)\}\{", re.MULTILINE)
_BIBCITE = re.compile(r"^\\bibcite\{([^{}]+)\}\{", re.MULTILINE)
_WRITEFILE = re.compile(r"\\@writefile\{([a-z]+)\}\{\\contentsline\s*\{([A-Za-z]+)\}")
_HSPACE = re.compile(r"\\hspace\s*\*?\s*\{[^{}]*\}")
# TeX's own skips and kerns with their glue (``\\hskip0pt``, ``\\vskip 2em plus 1fil``)
TEX_SKIP = re.compile(
    r"\\(?:[hv]skip|kern)\s*(?:-?\s*[\d.]+\s*[a-z]{2}|\\[A-Za-z@]+)"
    r"(?:\s*(?:plus|minus)\s*-?[\d.]+\s*(?:fil+|[a-z]{2}))*"
)
_NO_TEXT = re.compile(
    r"\\(?:ignorespaces|relax|normalfont|(?:rm|sf|tt)family|(?:bf|md)series|(?:it|sl|sc|up)shape"
    r"|(?:tiny|scriptsize|footnotesize|small|normalsize|large|Large|LARGE|huge|Huge)"
    r"|[A-Za-z]+@[A-Za-z@]*)(?![A-Za-z@])\s*"
)
_NUMBERLINE = re.compile(r"(?:\\protect\s*)?\\numberline\s*")
# a heading's contents line: ``\\numberline{2.1}`` (after a class's font commands: fduthesis'
# ``\\normalfont \\sffamily \\numberline``), a part's ``\\thepart\\hspace{1em}``, or the AMS
# classes' ``\\tocsection {}{2}{Title}`` (an unnumbered heading's number is empty: not read)
_TOC = re.compile(
    r"\\@writefile\{toc\}\{\\contentsline\s*\{(?:(part)\}\{([^{}\\]*)\\hspace\s*\{1em\}"
    r"|(part|chapter|section|subsection|subsubsection)\}"
    r"\{(?:\\(?!numberline\b)[A-Za-z@]+\s*)*\\numberline\s*\{((?:[^{}]|\{[^{}]*\})*)\}"
    r"|(part|chapter|section|subsection|subsubsection)\}\{\\toc\5\s*\{[^{}]*\}\{([^{}]+)\})"
)


@dataclass(frozen=True)
class Citation:
    """A ``\\bibcite`` entry: the label as printed (``12``, ``Smi20``) and, from natbib, the
    year and the short author list (empty otherwise)."""

    label: str
    year: str = ""
    authors: str = ""


@dataclass
class Compiled:
    labels: dict[str, str] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)  # label → its page (``\\pageref``)
    titles: dict[str, str] = field(default_factory=dict)  # label → its title (``\\nameref``)
    kinds: dict[str, str] = field(default_factory=dict)  # label → its counter (figure, table …)
    citations: dict[str, Citation] = field(default_factory=dict)
    headings: list[tuple[str, str]] = field(default_factory=list)  # (level, number) in order
    # the lines \tableofcontents, \listoffigures and \listoftables print (toc, lof, lot):
    # (level, the entry's text as LaTeX, its page as printed), in order
    contents: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    bbl: str | None = None
    aux: bool = False  # the compile wrote an ``.aux``: what it does not define printed as "?"


def braced_groups(text: str, start: int) -> list[str]:
    """The balanced ``{…}`` groups one after the other from ``start`` (inside each); spaces,
    line ends and ``%`` between them are skipped."""
    found, depth, begin = [], 0, -1
    for index in range(start, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
            if depth == 1:
                begin = index + 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                found.append(text[begin:index])
            if depth < 0:
                break
        elif depth == 0 and not char.isspace() and char != "%":
            break
    return found


_MATH_SHIFT = re.compile(r"\$([^$]*)\$")


def tex_text(value: str) -> str:
    """A label or name from the ``.aux`` as printed: ties and braces gone, dashes as printed."""
    value = value.replace("~", " ").replace("\\nobreakspace {}", " ").replace("--", "–")
    # ctex's ``第1章\hspace {.3em}``: a space, not the length's text
    value = _HSPACE.sub(" ", value)
    value = re.sub(r"\\[A-Za-z@]+\s*", "", value)
    # alpha's ``CFG{$^{+}$}20`` prints CFG+20: math as its characters
    value = _MATH_SHIFT.sub(lambda m: m[1].replace("^", "").replace("_", ""), value)
    return " ".join(value.replace("{", "").replace("}", "").split())


def parse_aux(aux: str) -> Compiled:
    """Labels, citations and numbered headings of one ``.aux`` text."""
    compiled = Compiled()
    for match in _NEWLABEL.finditer(aux):
        groups = braced_groups(aux, match.end() - 1)
        inner = braced_groups(groups[0], 0) if groups else []
        if not inner:
            continue
        key = match[1]
        if key.endswith("@cref"):  # cleveref: {[counter][n][…]number}
            kind = re.match(r"\[([A-Za-z]+)\]", inner[0])
            if kind:
                compiled.kinds[key.removesuffix("@cref")] = kind[1]
            continue
        compiled.labels[key] = tex_text(inner[0])
        if len(inner) >= 3:  # {number}{page}{title}{anchor}{}: hyperref's five, LaTeX's two
            compiled.titles[key] = tex_text(inner[2])
        if len(inner) >= 2:
            compiled.pages[key] = tex_text(inner[1])
        if len(inner) >= 4 and "." in inner[3]:  # hyperref's anchor: figure.3, section.2 …
            compiled.kinds.setdefault(key, inner[3].split(".", 1)[0].lower())
    for match in _BIBCITE.finditer(aux):
        groups = braced_groups(aux, match.end() - 1)
        if not groups:
            continue
        parts = braced_groups(groups[0], 0)
        if len(parts) >= 3:  # natbib: {label}{year}{{short authors}}{{long authors}}
            citation = Citation(tex_text(parts[0]), tex_text(parts[1]), tex_text(parts[2]))
        else:
            citation = Citation(tex_text(groups[0]))
        compiled.citations[match[1]] = citation
    compiled.headings = [
        (part or level or ams_level, tex_text(part_number or number or ams_number))
        for part, part_number, level, number, ams_level, ams_number in _TOC.findall(aux)
    ]
    for match in _WRITEFILE.finditer(aux):
        entry = braced_groups(aux, match.end())
        if len(entry) >= 2:
            lines = compiled.contents.setdefault(match[1], [])
            lines.append((match[2], contents_text(entry[0]), tex_text(entry[1])))
    return compiled


def contents_text(entry: str) -> str:
    """A contents line's text as LaTeX: its ``\\numberline{1.2}`` printed as ``1.2 ``, a
    ``\\hskip`` as a space, without the commands that print nothing (font switches, a
    class's internal ``\\fdu@kai``, ``\\ignorespaces``), which pandoc would read as taking
    the next word."""
    entry = _NO_TEXT.sub("", TEX_SKIP.sub(" ", entry))
    found = _NUMBERLINE.search(entry)
    number = braced_groups(entry, found.end()) if found else []
    if found is not None and number:
        end = entry.index("{", found.end()) + len(number[0]) + 2
        entry = entry[: found.start()] + number[0] + " " + entry[end:]
    return " ".join(entry.replace("\\protect", "").split())


def read_compiled(outputs: dict[str, bytes], main: str) -> Compiled:
    """The compile's outputs for the paper whose main file is ``main``: its ``.aux`` and those of
    ``\\include``d files (in the order the main ``.aux`` reads them), and its ``.bbl``."""
    stem = PurePosixPath(main).stem
    texts = {name: decode_tex(data) for name, data in outputs.items()}
    compiled = Compiled(bbl=texts.get(f"{stem}.bbl"), aux=f"{stem}.aux" in texts)
    order = [f"{stem}.aux"]
    main_aux = texts.get(order[0], "")
    order += re.findall(r"\\@input\{([^{}]+\.aux)\}", main_aux)
    for name in order:
        part = parse_aux(texts.get(name, ""))
        compiled.labels.update(part.labels)
        compiled.pages.update(part.pages)
        compiled.titles.update(part.titles)
        compiled.kinds.update(part.kinds)
        compiled.citations.update(part.citations)
        compiled.headings += part.headings
        for kind, lines in part.contents.items():
            compiled.contents.setdefault(kind, []).extend(lines)
    return compiled
