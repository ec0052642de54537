"""arXiv source on real papers: compile yield, kept pages, page fidelity and time, vs TeX Live.

    python -m bench.arxiv.fetch_papers            # once: the papers of bench/arxiv/papers.json
    python bench/bench_arxiv.py [--split regression|heldout|unseen|fresh|all] [--repeat 3]
                                [--out FILE] [--only NAME …] [--dump DIR]

For each paper (a folder under ``bench/out/arxiv/papers``):

- **TeX Live nonstop** (the baseline): the paper's engine with ``-interaction=nonstopmode`` and
  TeX Live's own settings (restricted shell escape with its allow-list), bibtex/biber when no
  ``.bbl`` is shipped, reruns while the log asks or the ``.aux`` changes (at most 5 runs), then
  the PDF rasterised by vlpipe's PDF renderer (longest side 1024). Yield: a PDF was written.
- **vlpipe**: the arXiv step on the same folder with the bundled recipe, then its filters.
  Yield: the paper's outcome is not ``failed``. Pages: produced (the PDF's pages) and kept.
- **Fidelity**, per kept page, against that page's PDF text layer (the reference the markdown
  did not come from): the word-multiset F1 and the sequence similarity (2·LCS / total length,
  over the same word sequences), words normalised (NFKC, lower case, letters and digits; each
  CJK character a word; the page's hyphenated line ends joined; the markdown's math written as
  the characters it prints (pylatexenc: ``\\tau`` → τ) with the gaps TeX sets between them (no
  space typed in math; relations, binary operators and punctuation set apart outside scripts;
  operator names, a large operator's limits and a fraction's parts words of their own: see
  ``_set_as_tex_sets``); markdown markup, other LaTeX
  commands and environment names dropped, emphasis and sub/superscript marks joining what they
  touch, as the page prints it). The citation check: the numbers in bracketed numeric citations
  (``[1, 4–6]``) on the page and in the markdown (its math left out), a group counting only when
  its numbers all are numeric labels of the compile's ``\\bibcite``s (not an interval
  ``[1, 123]``, a table cell, a macro's option); a page mismatches when only one side has them
  or they share less than half, or when its author-year citations open with a square bracket
  on one side and a round one on the other (``[Magnus, 1985]`` against ``(Magnus, 1985)``).
  Both measures are also given against the page text *outside included graphics*: the text
  layer with the page's form XObjects emptied (pdfTeX and dvipdfmx place each
  ``\\includegraphics``'d PDF as one), since the markdown, like Nougat's, carries a figure's
  caption and not the axis labels inside its picture; and against the page's *body*: that text
  without its running heads and feet and its page number (lines at a page's top or foot that
  recur on three pages or more, numbers aside, or a number alone), which the markdown, like
  Nougat's, leaves out.
- **Time**: vlpipe's step per paper over the baseline's passes plus rasterising (medians of
  ``--repeat`` runs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymupdf
from pylatexenc.latex2text import (
    EnvironmentTextSpec,
    LatexNodes2Text,
    MacroTextSpec,
    SpecialsTextSpec,
    get_default_latex_context_db,
)
from pylatexenc.latexwalker import LatexNode, LatexWalker
from pylatexenc.latexwalker import get_default_latex_context_db as walker_context_db
from pylatexenc.macrospec import MacroSpec
from rapidfuzz.distance import Indel

from vlpipe.filters.stage import apply_filters
from vlpipe.recipe import load_recipe
from vlpipe.renderers import PdfConfig, TexResult, render_pdf
from vlpipe.renderers.tex import detect_engine, read_by
from vlpipe.schema import Document
from vlpipe.sources.arxiv import ArxivRecipe
from vlpipe.sources.arxiv import step as arxiv_step
from vlpipe.sources.arxiv.align import CJK, MATH
from vlpipe.sources.arxiv.compiled import read_compiled

ROOT = Path(__file__).resolve().parent
PAPERS = ROOT / "out" / "arxiv" / "papers"
MANIFEST = ROOT / "arxiv" / "papers.json"
# environment names (``\\begin{aligned}``) are never printed; other commands go, their text stays;
# emphasis, sub/superscript and code marks join what they touch (``*i*.*e*.`` prints "i.e.")
_MD_MARKUP = re.compile(r"\\(?:begin|end)\s*\{[^}]*\}|\\[A-Za-z]+|\\.|[#|>]|\$+")
_MD_MARKS = re.compile(r"[*_`^~]")
_CITE = re.compile(r"\[(\d{1,3}(?:\s*[,;–-]\s*\d{1,3})*)\]")
_SPACE = re.compile(r"\s+")
_AUTHOR_YEAR = re.compile(
    r"([\[(])[A-Z][\w'’-]+(?:\s+(?:et\s+al\.|and|&)(?:\s+[A-Z][\w'’-]+)?)?,?\s+(?:1[89]|20)\d\d[a-z]?\b"
)
_RERUN = re.compile(r"Rerun to get|Label\(s\) may have changed|Please rerun|rerunfilecheck Warning")


# pdfTeX's OT1 fonts draw an accent as a glyph of its own, which the text layer gives as a
# spacing accent before the letter (``M¨uhlbauer``, ``Fran¸cois``): the page shows the accented
# letter
_COMBINING = dict(
    zip(
        "¨ˇ´`ˆ˜¯˘˙˚¸˛",
        "\u0308\u030c\u0301\u0300\u0302\u0303\u0304\u0306\u0307\u030a\u0327\u0328",
        strict=True,
    )
)
_SPACING_ACCENT = re.compile(r"([¨ˇ´`ˆ˜¯˘˙˚¸˛])([^\W\d_])")
_LONE_ACCENT = re.compile(f"[{''.join(_COMBINING)}]")
_TOKEN = re.compile(r"[\u0370-\u03ff]|[^\W\d_\u0370-\u03ff]+|\d+")


def words(text: str) -> list[str]:
    """Normalised words: spacing accents joined to their letters (others dropped), NFKC, lower
    case, letters and digits only; each CJK character a word."""
    tokens = ("".join(c for c in raw if c.isalnum()) for raw in _normalised(text).split())
    return [t for t in tokens if t]


def tokens(text: str) -> list[str]:
    """The normalised text as runs of letters and runs of digits, each Greek letter and CJK
    character a token of its own: what math prints, however the text layer spaces it (``M 3``
    for ``M^3``, ``dσ`` for ``\\mathrm{d}\\sigma``)."""
    return _TOKEN.findall(_normalised(text))


def _normalised(text: str) -> str:
    # an accent the text layer sets apart from any letter (a font's integral sign that it
    # spells ``ˆ``) is no word
    text = _LONE_ACCENT.sub(" ", _SPACING_ACCENT.sub(lambda m: m[2] + _COMBINING[m[1]], text))
    text = unicodedata.normalize("NFKC", text).lower()
    return CJK.sub(lambda m: f" {m[0]} ", text)


def markdown_words(markdown: str) -> list[str]:
    return words(_markdown_text(markdown))


def markdown_tokens(markdown: str) -> list[str]:
    return tokens(_markdown_text(markdown))


def _markdown_text(markdown: str) -> str:
    """The markdown as the page prints it: math as its characters, markup dropped."""
    return _MD_MARKS.sub("", _MD_MARKUP.sub(" ", MATH.sub(_printed_math, markdown)))


# a kern or a skip and its length (``+\\mkern-7mu+``), which print nothing
_KERN = re.compile(
    r"\\(?:m?kern|m?skip|hskip)\s*-?[\d.]*\s*(?:mu|pt|em|ex|mm|cm|in|bp|sp|\\[A-Za-z]+)"
)


def _printed_math(match: re.Match[str]) -> str:
    """Math as the page prints its characters (``\\tau_{i}`` → ``τ_i``, symbols written as
    commands count) and sets them apart (:func:`_set_as_tex_sets`); what pylatexenc cannot read
    keeps its LaTeX."""
    try:
        math = _OPERATOR_GROUP.sub(r"\1\\, ", _KERN.sub("", match[0].strip("$")))
        source = _scripts_marked(math, display=match[0].startswith("$$"))
        nodes = LatexWalker(source, latex_context=_MATH_SOURCE).get_latex_nodes()[0]
        return _set_as_tex_sets(_MATH_TEXT.nodelist_to_text(nodes))
    except Exception:  # malformed math in the markdown is measured as written
        return match[0]


# How TeX spaces math (The TeXbook, ch. 18): spaces typed in math print nothing; a relation, a
# binary operator and the punctuation after a formula's item are set apart, but not inside a
# sub- or superscript; an operator name (\log, \det) is a word of its own, joined only to an
# opening bracket or its scripts; a large operator's limits and a fraction's two parts are set
# above and below (lines of their own in the text layer); text in math keeps its spaces. The
# text layer shows a space where TeX leaves a gap, so the words are those TeX's spacing makes.
_OPERATOR, _OPERATOR_END, _GAP, _SCRIPT, _SCRIPT_END = "\x01", "\x02", "\x03", "\x04", "\x05"
_RELATIONS = "=<>≤≥≠≈≡∼≃≅∝⊂⊃⊆⊇∈∉∋→←↔⇒⇐⇔↦⟶⟹⟵⟼↪↠≪≫≺≻⪯⪰⊢⊨∣∥⊥:≔≜≐⊊⊋↑↓≲≳≍⊏⊑⊒∤"
_BINARY_OPERATORS = "+-−±∓×÷·∗⋆∘•∩∪∧∨⊕⊗⊖⊙⊎⊓⊔∖⋅†‡⋄◦⊘⋉⋊⊞⊠"
_SET_APART = frozenset(_RELATIONS + _BINARY_OPERATORS + ",;")
_OPERATOR_NAMES = frozenset(
    re.findall(
        r"\w+",
        "arccos arcsin arctan arg cos cosh cot coth csc deg det dim exp gcd hom inf ker lg lim "
        "liminf limsup ln log max min Pr sec sin sinh sup tan tanh",
    )
)
# large operators: set apart as operator names are
_LARGE_OPERATORS = {
    "sum": "∑",
    "prod": "∏",
    "coprod": "∐",
    "int": "∫",
    "iint": "∬",
    "iiint": "∭",
    "oint": "∮",
    "bigcup": "⋃",
    "bigcap": "⋂",
    "bigoplus": "⨁",
    "bigotimes": "⨂",
    "bigodot": "⨀",
    "biguplus": "⨄",
    "bigsqcup": "⨆",
    "bigvee": "⋁",
    "bigwedge": "⋀",
}
# (in a display; inline, only where ``\\limits`` asks)
_WITH_LIMITS = re.compile(
    rf"\\(?:{'|'.join(_LARGE_OPERATORS)}|lim|liminf|limsup|max|min|sup|inf|det|gcd|Pr)"
    r"(?![A-Za-z])\s*$"
)
_LIMITS = re.compile(r"\\limits\s*$")
# a script's command that takes its arguments with it (``_\\mathbb{Z}``)
_SCRIPT_COMMAND_ARGUMENTS = {
    **dict.fromkeys(
        re.findall(
            r"\w+",
            "mathbb mathrm mathcal mathbf mathit mathsf mathtt mathfrak mathscr boldsymbol bm "
            "text textrm textit textbf textsf operatorname hat tilde bar vec dot widehat "
            "widetilde overline underline",
        ),
        1,
    ),
    **dict.fromkeys(("frac", "tfrac", "dfrac", "binom"), 2),
}
# an operator name before a braced group (``\\log{(\\ell n)}``): the group is an ordinary atom,
# a thin space after the operator (no opening bracket joins it)
_OPERATOR_GROUP = re.compile(rf"(\\(?:{'|'.join(_OPERATOR_NAMES)}))\s*(?=\{{)")
_MATRICES = (
    "matrix",
    "pmatrix",
    "bmatrix",
    "Bmatrix",
    "vmatrix",
    "Vmatrix",
    "smallmatrix",
    "array",
    "cases",
)
_TWO_PARTS = ("frac", "tfrac", "dfrac", "cfrac", "binom", "tbinom", "dbinom")
_STACKED = ("underset", "overset", "stackrel")  # one part set above the other
_TEXT_IN_MATH = ("text", "mbox", "hbox", "textrm", "textit", "textbf", "textsf", "texttt")
_TEXT_LINES = ("intertext", "shortintertext")  # a line of text between an alignment's rows
_SET_APART_AS = ("mathbin", "mathrel")  # made a binary operator or a relation
_PHANTOMS = ("phantom", "vphantom", "hphantom")  # space only
_SPACING = ("quad", "qquad", ",", ";", ":", " ", "enspace", "\\", "newline", "cr")


def _argument_text(node: LatexNode, l2tobj: LatexNodes2Text) -> str:
    arguments = node.nodeargd.argnlist if node.nodeargd else []
    return l2tobj.nodelist_to_text([arguments[-1]]) if arguments and arguments[-1] else ""


def _script_text(node: LatexNode, l2tobj: LatexNodes2Text) -> str:
    script = _argument_text(node, l2tobj)
    return "".join(_SCRIPT + c if c in _SET_APART else c for c in script) + _SCRIPT_END


def _text_in_math(node: LatexNode, l2tobj: LatexNodes2Text) -> str:
    """Text in math as text: its spaces print, its hyphen is no minus sign."""
    text = _argument_text(node, l2tobj).replace(" ", _GAP)
    return "".join(_SCRIPT + c if c in _SET_APART else c for c in text)


def _operator_name(name: str) -> str:
    return _OPERATOR + (f"{name[:3]}{_GAP}{name[3:]}" if name in ("liminf", "limsup") else name)


def _math_contexts() -> tuple[LatexNodes2Text, Any]:
    """pylatexenc's printer and parser, with the markers :func:`_set_as_tex_sets` reads."""
    printed = [
        *(MacroTextSpec(name, _operator_name(name) + _OPERATOR_END) for name in _OPERATOR_NAMES),
        *(
            MacroTextSpec(name, _OPERATOR + symbol + _OPERATOR_END)
            for name, symbol in _LARGE_OPERATORS.items()
        ),
        *(MacroTextSpec(name, f"%s{_GAP}%s") for name in _TWO_PARTS),
        *(MacroTextSpec(name, f"{_GAP}%s{_GAP}%s{_GAP}") for name in _STACKED),
        *(MacroTextSpec(name, _GAP) for name in _SPACING),
        # modular arithmetic: ``a \\bmod n``, ``a \\pmod{n}`` is ``a (mod n)``
        MacroTextSpec("bmod", f"{_GAP}mod{_GAP}"),
        MacroTextSpec("pmod", f"{_GAP}(mod{_GAP}%s)"),
        MacroTextSpec("mod", f"{_GAP}mod{_GAP}%s"),
        *(MacroTextSpec(name, "") for name in ("!", *_PHANTOMS)),
        *(
            MacroTextSpec(name, simplify_repl=lambda n, l2tobj: _text_in_math(n, l2tobj))
            for name in _TEXT_IN_MATH
        ),
        *(
            MacroTextSpec(
                name,
                simplify_repl=lambda n, l2tobj: (
                    _GAP + _argument_text(n, l2tobj).replace(" ", _GAP) + _GAP
                ),
            )
            for name in (*_TEXT_LINES, *_SET_APART_AS)
        ),
        *(
            MacroTextSpec(
                name,
                simplify_repl=lambda n, l2tobj: (
                    _OPERATOR + _argument_text(n, l2tobj) + _OPERATOR_END
                ),
            )
            for name in ("operatorname", "mathop")
        ),
        MacroTextSpec("vlpscript", simplify_repl=_script_text),
        MacroTextSpec(
            "vlplimit", simplify_repl=lambda n, l2tobj: _GAP + _script_text(n, l2tobj) + _GAP
        ),
    ]
    text = get_default_latex_context_db()
    # a matrix's or an alignment's columns, and a tie (``0.857~[0.819,~0.885]``): gaps
    cells = [SpecialsTextSpec("&", _GAP), SpecialsTextSpec("~", _GAP)]
    # a matrix as its cells (pylatexenc writes ``[ 1 0; 0 1 ]``, its spaces typed)
    matrices = [EnvironmentTextSpec(name) for name in _MATRICES]
    text.add_context_category(
        "printed-math", prepend=True, macros=printed, environments=matrices, specials=cells
    )
    parsed = walker_context_db()
    arguments = [
        *(MacroSpec(name, "{{") for name in _TWO_PARTS + _STACKED if name != "frac"),
        *(MacroSpec(name, "{") for name in (*_TEXT_LINES, *_SET_APART_AS, *_PHANTOMS, "mathop")),
        MacroSpec("operatorname", "*{"),
        MacroSpec("pmod", "{"),
        MacroSpec("mod", "{"),
        MacroSpec("vlpscript", "{"),
        MacroSpec("vlplimit", "{"),
    ]
    parsed.add_context_category("printed-math", prepend=True, macros=arguments)
    return LatexNodes2Text(math_mode="text", strict_latex_spaces=True, latex_context=text), parsed


_MATH_TEXT, _MATH_SOURCE = _math_contexts()


def _script_argument(tex: str, start: int) -> tuple[str, int]:
    """A sub- or superscript's argument after ``start`` (a braced group, a command with the
    arguments it takes, or a character) and the index after it."""
    index = _after_spaces(tex, start)
    if index < len(tex) and tex[index] == "{":
        end = _group_end(tex, index)
        return tex[index + 1 : end - 1], end
    command = re.match(r"\\(?:[A-Za-z]+|.)|.", tex[index:], re.DOTALL)
    end = index + (len(command[0]) if command else 0)
    for _ in range(_SCRIPT_COMMAND_ARGUMENTS.get(command[0][1:] if command else "", 0)):
        group = _after_spaces(tex, end)
        end = _group_end(tex, group) if group < len(tex) and tex[group] == "{" else end
    return tex[index:end], end


def _after_spaces(tex: str, index: int) -> int:
    while index < len(tex) and tex[index].isspace():
        index += 1
    return index


def _group_end(tex: str, index: int) -> int:
    """The index after the braced group that opens at ``index`` (the text's end if unclosed)."""
    depth = 0
    for end in range(index, len(tex)):
        if end > index and tex[end - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(tex[end], 0)
        if depth == 0:
            return end + 1
    return len(tex)


def _scripts_marked(tex: str, display: bool) -> str:
    """Each script's argument wrapped for the printer: ``\\vlplimit`` after a large operator in
    a display (or one given ``\\limits``), else ``\\vlpscript``."""
    out: list[str] = []
    index, limits = 0, False
    while index < len(tex):
        char = tex[index]
        if char in "_^" and (index == 0 or tex[index - 1] != "\\"):
            before = tex[max(0, index - 40) : index]
            limits = limits or bool(
                _LIMITS.search(before) or (display and _WITH_LIMITS.search(before))
            )
            argument, index = _script_argument(tex, index + 1)
            wrapper = "vlplimit" if limits else "vlpscript"
            out.append(f"{char}\\{wrapper}{{{_scripts_marked(argument, display)}}}")
            continue
        limits = limits and char.isspace()
        out.append(char)
        index += 1
    return "".join(out)


def _set_as_tex_sets(printed: str) -> str:
    chars = _SPACE.sub("", printed)
    out, in_script, previous = [], False, ""
    for index, char in enumerate(chars):
        if char == _SCRIPT:
            in_script = True
            continue
        if char in _SET_APART and not in_script:
            out.append(char if _ordinary(char, previous, _next_atom(chars, index)) else f" {char} ")
        else:
            out.append(char)
        # (what a script holds is part of an ordinary atom: ``h^+ \\cdot e``)
        previous = previous if char in _MARKS else "x" if in_script else char
        in_script = False
    # an operator's scripts are its own (``\\cos^2 t``: the gap comes after the ``2``), and it
    # joins an opening bracket
    scripts = f"{_OPERATOR_END}((?:[\\^_][^{_SCRIPT_END}]*{_SCRIPT_END})+)"
    text = re.sub(scripts, rf"\1{_OPERATOR_END}", "".join(out))
    text = re.sub(_OPERATOR_END + r"(?=[(\[{|‖⟨])", "", text).replace(_SCRIPT_END, "")
    text = text.replace(_OPERATOR, " ").replace(_OPERATOR_END, " ").replace(_GAP, " ")
    return text.replace("|", "¦")  # a bar in math is no table's cell border


_MARKS = frozenset((_GAP, _SCRIPT, _SCRIPT_END, _OPERATOR))  # (an operator's end is an atom)
_OPENINGS = "([{⟨"
_CLOSINGS = ")]}⟩"


def _ordinary(char: str, previous: str, following: str) -> bool:
    """A binary operator TeX sets as an ordinary symbol, with no gaps: one that opens the
    formula or follows a relation, an operator, an opening bracket or punctuation, or one that
    ends it or comes before a relation, a closing bracket or punctuation (``0.631$\\pm$0.003``,
    ``$a = -b$``)."""
    return char in _BINARY_OPERATORS and (
        previous in ("", _OPERATOR_END, *_SET_APART, *_OPENINGS)
        or following in ("", *_RELATIONS, *_CLOSINGS, ",", ";")
    )


def _next_atom(chars: str, index: int) -> str:
    return next((char for char in chars[index + 1 :] if char not in _MARKS), "")


def page_text(page: pymupdf.Page) -> str:
    """The page's text layer as the page shows it (text a cropped figure hides is left out),
    hyphenated line ends joined."""
    flags = pymupdf.TEXT_DEHYPHENATE | pymupdf.TEXT_MEDIABOX_CLIP | pymupdf.TEXT_CLIP
    return str(page.get_text("text", flags=flags))


def without_graphics(pdf: bytes) -> pymupdf.Document:
    """The PDF with the form XObjects its pages draw emptied: the text of included graphics
    (a plot's axis labels) gone, the pages' own text kept."""
    doc = pymupdf.open(stream=pdf, filetype="pdf")
    forms = {xref for page in doc for xref, _, invoker, _ in page.get_xobjects() if invoker == 0}
    for xref in forms:
        doc.update_stream(xref, b"")
    return doc


_EDGE_LINES = 3  # a page's first and last lines, where running heads, feet and numbers print
_RUNNING_PAGES = 3  # a line on this many pages' edges (numbers aside) runs with the pages
_NUMBERS = re.compile(r"\d+|[ivxlcdm]+")
_PAGE_NUMBER = re.compile(r"\s*[-–—]?\s*(?:\d+|[ivxlcdm]+|[IVXLCDM]+)\s*[-–—]?\s*")


def _unnumbered(line: str) -> str:
    return " ".join(w for w in words(line) if not _NUMBERS.fullmatch(w))


def running_lines(page_texts: list[str]) -> set[str]:
    """The lines (numbers aside) at the top or foot of ``_RUNNING_PAGES`` pages or more: running
    heads and feet, which Nougat-style markdown leaves out, as vlpipe's does."""
    counts: Counter[str] = Counter()
    for text in page_texts:
        lines = text.splitlines()
        edges = lines[:_EDGE_LINES] + lines[-_EDGE_LINES:]
        counts.update({_unnumbered(line) for line in edges} - {""})
    return {line for line, count in counts.items() if count >= _RUNNING_PAGES}


def page_body(text: str, running: set[str]) -> str:
    """The page's text without its running heads and feet (``running``) and its page number:
    lines among its first and last ``_EDGE_LINES`` that are one of those, or a number alone (not
    an equation's ``(3.19)``)."""
    lines = text.splitlines()
    edge = set(range(_EDGE_LINES)) | set(range(len(lines) - _EDGE_LINES, len(lines)))

    def running_line(line: str) -> bool:
        return _unnumbered(line) in running or bool(_PAGE_NUMBER.fullmatch(line))

    return "\n".join(
        line for n, line in enumerate(lines) if n not in edge or not running_line(line)
    )


def word_f1(a: list[str], b: list[str]) -> float:
    if not a and not b:
        return 1.0
    common = sum((Counter(a) & Counter(b)).values())
    return 2 * common / (len(a) + len(b))


def sequence_similarity(a: list[str], b: list[str]) -> float:
    return float(Indel.normalized_similarity(a, b)) if a or b else 1.0


def cited_numbers(text: str, labels: set[int] | None = None) -> set[int]:
    """The numbers of the bracketed numeric citations in ``text``; with ``labels`` (the paper's
    numeric citation labels), only groups whose numbers all are labels: ``[1, 123]`` (an
    interval), ``[4]`` (a picture macro's option) are not citations of a paper without them."""
    found: set[int] = set()
    for group in _CITE.findall(text):
        numbers: set[int] = set()
        for part in re.split(r"\s*[,;]\s*", group):
            ends = [int(n) for n in re.split(r"\s*[–-]\s*", part) if n]
            numbers.update(range(ends[0], ends[-1] + 1) if len(ends) == 2 else ends)
        if labels is None or numbers <= labels:
            found |= numbers
    return found


def citation_labels(compiled: TexResult, main: str) -> set[int] | None:
    """The numeric citation labels the compile printed (its ``.aux`` ``\\bibcite``s); empty for
    a paper whose labels are alphabetic (``[BC11]``); None when it wrote none (all count)."""
    citations = read_compiled(compiled.outputs, main).citations.values()
    if not citations:
        return None
    return {int(c.label) for c in citations if c.label.isdigit()}


def author_year_brackets(text: str) -> set[str]:
    """The brackets opening the text's author-year citations (``[Magnus, 1985]``,
    ``(Doe, 2019; Smith et al., 2020)``)."""
    return {match[1] for match in _AUTHOR_YEAR.finditer(text)}


def citation_mismatch(markdown: str, page_text: str, labels: set[int] | None = None) -> bool:
    """Whether the markdown's citations differ from the page's: only one side has some, or they
    share less than half. The markdown's math (``$[1^\\emptyset, p]$``) holds none."""
    ours = cited_numbers(MATH.sub(" ", markdown), labels)
    # the page's text layer has no math marks: a bracket group the markdown has in math
    # (``$x \in [1, 2]$``) is that math on the page too
    page = _SPACE.sub("", page_text)
    for group in _CITE.findall(" ".join(MATH.findall(markdown))):
        page = page.replace("[" + _SPACE.sub("", group) + "]", " ", 1)
    theirs = cited_numbers(page, labels)
    if author_year_brackets(markdown) ^ author_year_brackets(page_text) == {"[", "("}:
        return True  # author-year citations in square brackets on one side, round on the other
    if not ours and not theirs:
        return False
    if not ours or not theirs:
        return True
    return len(ours & theirs) / len(ours | theirs) < 0.5


# --- TeX Live nonstop, the baseline ---------------------------------------------------------


def texlive_nonstop(folder: Path, main: str) -> tuple[bytes | None, float, int]:
    """The PDF TeX Live writes in nonstop mode (None: none), the seconds its passes took, and
    the passes."""
    texts = {
        p.relative_to(folder).as_posix(): p.read_text(errors="replace")
        for p in folder.rglob("*.tex")
        if p.stat().st_size < 2**22
    }
    engine = detect_engine(read_by(main, texts))
    stem = Path(main).stem
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp, "paper")
        shutil.copytree(folder, work)
        had_bbl = (work / f"{stem}.bbl").is_file()
        seconds, runs, digest = 0.0, 0, ""

        def run(argv: list[str]) -> None:
            nonlocal seconds
            started = time.perf_counter()
            subprocess.run(argv, cwd=work, capture_output=True, timeout=600, check=False)
            seconds += time.perf_counter() - started

        while runs < 5:
            run([engine, "-interaction=nonstopmode", main])
            runs += 1
            log = (
                (work / f"{stem}.log").read_text(errors="replace")
                if (work / f"{stem}.log").exists()
                else ""
            )
            if runs == 1 and not had_bbl:
                if (work / f"{stem}.bcf").is_file():
                    run(["biber", stem])
                elif "\\bibdata" in _read(work / f"{stem}.aux"):
                    run(["bibtex", stem])
            new_digest = "".join(_read(p) for p in sorted(work.rglob("*.aux")))
            if runs > 1 and new_digest == digest and not _RERUN.search(log):
                break
            digest = new_digest
        pdf = work / f"{stem}.pdf"
        return (pdf.read_bytes() if pdf.is_file() else None), seconds, runs


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


# --- vlpipe -----------------------------------------------------------------------------------


@dataclass
class PaperResult:
    name: str
    split: str
    texlive_pdf: bool = False
    texlive_pages: int = 0
    vlpipe_status: str = ""
    vlpipe_error: str = ""
    produced: int = 0
    kept: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    f1: list[float] = field(default_factory=list)
    seq: list[float] = field(default_factory=list)
    f1_text: list[float] = field(default_factory=list)  # against the text outside graphics
    seq_text: list[float] = field(default_factory=list)
    token_f1: list[float] = field(default_factory=list)  # over letter and digit runs
    token_f1_text: list[float] = field(default_factory=list)
    # against the page's body: outside graphics, without running heads, feet and page numbers
    f1_body: list[float] = field(default_factory=list)
    seq_body: list[float] = field(default_factory=list)
    mismatches: int = 0
    tex_errors: int = 0
    conversion_fallbacks: int = 0  # pandoc failed on the paper: fallbacks taken (paper's json)
    vlpipe_s: list[float] = field(default_factory=list)
    baseline_s: list[float] = field(default_factory=list)
    lang: str = ""


def vlpipe_paper(folder: Path, recipe: ArxivRecipe) -> tuple[Any, TexResult | None, float]:
    """The step's outcome after the recipe's filters, the compile it made, and its seconds."""
    captured: list[TexResult] = []
    compile_paper = arxiv_step._compile

    def capture(*args: Any, **kwargs: Any) -> TexResult:
        result = compile_paper(*args, **kwargs)
        captured.append(result)
        return result

    arxiv_step._compile = capture
    try:
        document = Document(doc_id=folder.name, content=folder, origin={"path": str(folder)})
        started = time.perf_counter()
        try:
            outcome = arxiv_step.paper_outcome(document, recipe)
        except Exception as exc:  # the build's runner records these as failed documents
            outcome = exc
        seconds = time.perf_counter() - started
    finally:
        arxiv_step._compile = compile_paper
    if not isinstance(outcome, Exception):
        outcome = apply_filters(outcome, recipe.filters)
    return outcome, (captured[0] if captured else None), seconds


def measure(
    paper: dict[str, Any], folder: Path, recipe: ArxivRecipe, repeat: int, dump: Path | None
) -> PaperResult:
    result = PaperResult(paper["name"], paper["split"])
    for attempt in range(repeat):
        pdf, passes_s, _ = texlive_nonstop(folder, paper["main"])
        raster_s = 0.0
        if pdf is not None:
            started = time.perf_counter()
            with contextlib.suppress(Exception):  # a PDF it refuses still counts as yield
                render_pdf(pdf, PdfConfig(longest_side=1024, max_pages=1000))
            raster_s = time.perf_counter() - started
        result.baseline_s.append(passes_s + raster_s)
        outcome, compiled, seconds = vlpipe_paper(folder, recipe)
        result.vlpipe_s.append(seconds)
        if attempt:
            continue
        if pdf is not None:
            result.texlive_pdf = True
            with pymupdf.open(stream=pdf, filetype="pdf") as doc:
                result.texlive_pages = doc.page_count
        if isinstance(outcome, Exception):
            result.vlpipe_status = "failed"
            result.vlpipe_error = f"{type(outcome).__name__}: {outcome}"[:160]
            continue
        result.vlpipe_status = outcome.status
        fidelity(result, outcome, compiled, dump, paper["main"])
    return result


def fidelity(
    result: PaperResult,
    outcome: Any,
    compiled: TexResult | None,
    dump: Path | None,
    main: str = "",
) -> None:
    result.drops.update(d.drop.reason for d in outcome.dropped)
    if outcome.drop is not None and not outcome.dropped:
        result.drops[outcome.drop.reason] += 1
    if compiled is None:
        return
    labels = citation_labels(compiled, main)
    with (
        pymupdf.open(stream=compiled.pdf, filetype="pdf") as doc,
        without_graphics(compiled.pdf) as text_doc,
    ):
        result.produced = doc.page_count
        result.tex_errors = len(compiled.errors)
        outside_texts = [page_text(page) for page in text_doc]
        running = running_lines(outside_texts)
        for sample in outcome.samples:
            meta = json.loads(sample.files["json"])
            result.lang = meta.get("lang", "")
            result.conversion_fallbacks = len(meta.get("conversion_fallbacks", []))
            page = doc[meta["page"] - 1]
            markdown = sample.files["md"].decode()
            text = page_text(page)
            reference, ours = words(text), markdown_words(markdown)
            result.kept += 1
            result.f1.append(word_f1(ours, reference))
            result.seq.append(sequence_similarity(ours, reference))
            outside_text = outside_texts[meta["page"] - 1]
            outside = words(outside_text)
            result.f1_text.append(word_f1(ours, outside))
            result.seq_text.append(sequence_similarity(ours, outside))
            body = words(page_body(outside_text, running))
            result.f1_body.append(word_f1(ours, body))
            result.seq_body.append(sequence_similarity(ours, body))
            our_tokens = markdown_tokens(markdown)
            result.token_f1.append(word_f1(our_tokens, tokens(text)))
            result.token_f1_text.append(word_f1(our_tokens, tokens(outside_text)))
            result.mismatches += citation_mismatch(markdown, text, labels)
            if dump is not None:
                stem = dump / result.name / f"{meta['page']:03d}"
                stem.parent.mkdir(parents=True, exist_ok=True)
                stem.with_suffix(".md").write_text(markdown)
                stem.with_suffix(".txt").write_text(text)


def report(results: list[PaperResult], label: str) -> list[str]:
    texlive = sum(r.texlive_pdf for r in results)
    vlpipe = sum(r.vlpipe_status in ("kept", "dropped") for r in results)
    produced = sum(r.produced for r in results)
    kept = sum(r.kept for r in results)
    blank = sum(r.drops["blank_page"] for r in results)
    boxes = sum(r.drops["missing_glyphs"] for r in results)
    usable = produced - blank - boxes
    f1 = [v for r in results for v in r.f1]
    seq = [v for r in results for v in r.seq]
    f1_text = [v for r in results for v in r.f1_text]
    seq_text = [v for r in results for v in r.seq_text]
    token_f1 = [v for r in results for v in r.token_f1]
    token_f1_text = [v for r in results for v in r.token_f1_text]
    f1_body = [v for r in results for v in r.f1_body]
    seq_body = [v for r in results for v in r.seq_body]
    ratios = [
        statistics.median(r.vlpipe_s) / statistics.median(r.baseline_s)
        for r in results
        if r.texlive_pdf and r.vlpipe_status in ("kept", "dropped")
    ]
    lines = [
        f"## {label}: {len(results)} papers",
        "",
        "| paper | TeX Live | vlpipe | TeX errors | pandoc fallbacks | pages kept/produced "
        "| word-F1 | seq sim | F1, seq outside graphics | token-F1 (outside graphics) "
        "| cite mismatches | drops | vlpipe s | baseline s | ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        vs, bs = statistics.median(r.vlpipe_s), statistics.median(r.baseline_s)
        status = r.vlpipe_status if r.vlpipe_status != "failed" else f"failed: {r.vlpipe_error}"
        lines.append(
            f"| {r.name} | {'PDF' if r.texlive_pdf else 'no PDF'} ({r.texlive_pages} p) | {status} "
            f"| {r.tex_errors} | {r.conversion_fallbacks} | {r.kept}/{r.produced} "
            f"| {_mean(r.f1)} | {_mean(r.seq)} | {_mean(r.f1_text)}, {_mean(r.seq_text)} "
            f"| {_mean(r.token_f1)} ({_mean(r.token_f1_text)}) | {r.mismatches} "
            f"| {', '.join(f'{k} {v}' for k, v in r.drops.most_common())} "
            f"| {vs:.1f} | {bs:.1f} | {vs / bs:.2f} |"
        )
    lines += [
        "",
        f"- compile yield: vlpipe {vlpipe}/{len(results)}, "
        f"TeX Live nonstop {texlive}/{len(results)}",
        f"- pages kept / produced: {kept}/{produced} = {kept / max(produced, 1):.1%}; of the "
        f"pages that are not blank (running heads and page numbers only: {blank}) and draw no "
        f"missing-glyph boxes (fonts not installed: {boxes}): "
        f"{kept}/{usable} = {kept / max(usable, 1):.1%}",
        f"- page word-F1: mean {_mean(f1, 4)}, p10 {_p10(f1)}; sequence similarity: mean "
        f"{_mean(seq)}, p10 {_p10(seq)} (over {len(f1)} kept pages); against the text "
        f"outside included graphics: word-F1 mean {_mean(f1_text, 4)}, p10 {_p10(f1_text)}; "
        f"sequence similarity mean {_mean(seq_text)}, p10 {_p10(seq_text)}; against the "
        f"page's body (outside included graphics, without running heads, feet and page "
        f"numbers): word-F1 mean {_mean(f1_body, 4)}, sequence similarity mean "
        f"{_mean(seq_body)}",
        f"- page token-F1 (letter and digit runs): mean {_mean(token_f1, 4)}, p10 "
        f"{_p10(token_f1)}; against the text outside included graphics: mean "
        f"{_mean(token_f1_text, 4)}, p10 {_p10(token_f1_text)}",
        f"- kept pages whose citations differ from the page: {sum(r.mismatches for r in results)}",
        f"- papers pandoc failed on as a whole (converted with fallbacks): "
        f"{sum(r.conversion_fallbacks > 0 for r in results)}",
        f"- time per paper, vlpipe / (TeX Live passes + rasterising): median "
        f"{statistics.median(ratios) if ratios else float('nan'):.2f}, max "
        f"{max(ratios) if ratios else float('nan'):.2f}",
        "",
    ]
    return lines


def _mean(values: list[float], decimals: int = 3) -> str:
    return f"{statistics.mean(values):.{decimals}f}" if values else "-"


def _p10(values: list[float]) -> str:
    if len(values) < 2:
        return _mean(values)
    return f"{statistics.quantiles(values, n=10)[0]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--split", choices=["regression", "heldout", "unseen", "fresh", "all"], default="all"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (medians)")
    parser.add_argument("--papers", type=Path, default=PAPERS)
    parser.add_argument("--only", nargs="*", help="paper names")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    parser.add_argument("--dump", type=Path, help="write each kept page's .md and text layer here")
    args = parser.parse_args()
    manifest = json.loads(MANIFEST.read_text())["papers"]
    recipe = load_recipe("arxiv")
    assert isinstance(recipe, ArxivRecipe)
    results: dict[str, list[PaperResult]] = {}
    for paper in manifest:
        if args.split not in ("all", paper["split"]) or (
            args.only and paper["name"] not in args.only
        ):
            continue
        folder = args.papers / paper["name"]
        if not folder.is_dir():
            raise SystemExit(f"{folder} is missing: run make bench-data first")
        result = measure(paper, folder, recipe, args.repeat, args.dump)
        print(
            f"{result.name:20s} texlive={result.texlive_pdf} vlpipe={result.vlpipe_status} "
            f"{result.kept}/{result.produced} f1={_mean(result.f1)} seq={_mean(result.seq)} "
            f"outside graphics f1={_mean(result.f1_text)} seq={_mean(result.seq_text)} "
            f"token-f1={_mean(result.token_f1)} ({_mean(result.token_f1_text)}) "
            f"cite={result.mismatches} {dict(result.drops)} {result.vlpipe_error} "
            f"vlpipe={statistics.median(result.vlpipe_s):.1f}s "
            f"baseline={statistics.median(result.baseline_s):.1f}s",
            flush=True,
        )
        results.setdefault(paper["split"], []).append(result)
    lines = [line for split, found in results.items() for line in report(found, split)]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
