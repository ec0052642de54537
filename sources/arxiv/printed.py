"""LaTeX commands replaced by what the page prints for them, taken from the compile itself
(:mod:`compiled`) so that markdown and page image agree: citations as their labels print
(``[1, 4, 38]``, ``[Chr91]``, or natbib's author-year), ``\\ref`` and friends as their numbers,
numbered headings with the numbers of the table of contents, and glossary/acronym commands as
their first-use expansion (``convolutional neural networks (CNNs)``) and short form after."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vlpipe.renderers.tex import VERBATIM
from vlpipe.sources.arxiv.biblatex import biblatex_style, is_biblatex, read_entries
from vlpipe.sources.arxiv.biblatex import citations as biblatex_citations
from vlpipe.sources.arxiv.compiled import Citation, Compiled
from vlpipe.sources.arxiv.macros import balanced_group, replace_commands
from vlpipe.sources.arxiv.tables import LABEL

_CITE = re.compile(
    r"\\(cite|citep|citet|citealp|citealt|citeauthor|citeyear|citeyearpar|citenum|Citet|Citep"
    r"|parencite|textcite|autocite|Autocite|Textcite|nocite)\*?"
    r"\s*((?:\[[^\]]*\]\s*){0,2})\{([^}]*)\}"
)
_NATBIB = re.compile(r"\\(?:usepackage|RequirePackage)\s*(?:\[([^\]]*)\])?\s*\{[^}]*\bnatbib\b")
_CITE_PACKAGE = re.compile(r"\\(?:usepackage|RequirePackage)\s*(?:\[[^\]]*\])?\s*\{[^}]*\bcite\b")
# natbib's options set later (``\\biboptions``: elsarticle's way to pass them)
# (``\\@citestyle``: natbib's own, which AASTeX calls)
_CITESTYLE = re.compile(r"\\(setcitestyle|@?citestyle|biboptions)\s*(?=\{)")
_BIBSTYLE_DEF = re.compile(
    r"\\(?:newcommand|renewcommand|def)\s*\{?\s*\\bibstyle@([A-Za-z]+)\s*\}?\s*"
)
_COMMENT = re.compile(r"(?<!\\)%[^\n]*")
_SETTING = re.compile(r"(\w+)\s*=\s*\{([^{}]*)\}")  # natbib's open={[}, aysep={} …
_NUMERIC_CLASS = re.compile(r"\\documentclass\s*(?:\[([^\]]*)\])?\s*\{(?:elsarticle|acmart)\}")
# natbib's \\bibpunct{open}{close}{separator}{mode}{author-year separator}{…}
_BIBPUNCT = re.compile(
    r"\\bibpunct\s*(?:\[[^\]]*\])?\s*\{([^}]*)\}\s*\{([^}]*)\}"
    r"(?:\s*\{([^}]*)\}\s*\{([^}]*)\}(?:\s*\{([^}]*)\})?)?"
)
BIBLIOGRAPHY_STYLE = re.compile(r"\\bibliographystyle\s*\{([^}]*)\}")
# natbib's own \bibstyle@NAME punctuation (open, close, separator between citations, mode: n and
# s numeric, a author-year), applied by ``\bibliographystyle{NAME}`` unless an option that sets
# punctuation was given (natbib.sty 8.31)
_NATBIB_BIBSTYLES = {
    **dict.fromkeys(("plainnat", "abbrvnat", "unsrtnat"), ("[", "]", ",", "a")),
    **dict.fromkeys(("plain", "alpha", "abbrv", "unsrt"), ("[", "]", ",", "n")),
    **dict.fromkeys(("chicago", "copernicus", "egu", "egs", "dcu", "aa"), ("(", ")", ";", "a")),
    **dict.fromkeys(("pass", "anngeo", "nlinproc"), ("(", ")", ";", "a")),
    **dict.fromkeys(("named", "agu"), ("[", "]", ";", "a")),
    **dict.fromkeys(("agsm", "kluwer"), ("(", ")", ",", "a")),
}
_NOBIBSTYLE = {"round", "square", "angle", "curly", "comma", "semicolon", "colon", "numbers"}
_NOBIBSTYLE |= {"super", "nobibstyle"}
# the options a paper passes where it loads its class and packages (``\\usepackage[authoryear]
# {thesis}``): its own choice among the branches (``\\ifthesis@numbers\\citestyle{numbers}…``)
# a style's text holds
_LOAD_OPTIONS = re.compile(r"\\(?:usepackage|documentclass)\s*\[([^\]]*)\]")
_NUMERIC = {"numbers", "super", "acmnumeric"}
_REF = re.compile(
    r"\\(ref|eqref|autoref|Autoref|cref|Cref|vref|pageref|nameref|subref)\*?\s*\{([^}]+)\}"
    r"|\\(crefrange|Crefrange)\*?\s*\{([^}]+)\}\s*\{([^}]+)\}"
)
_HEADING = re.compile(r"\\(part|chapter|section|subsection|subsubsection)(\*?)\s*(?=[\[{])")
_GROUP = r"\{((?:[^{}]|\{[^{}]*\})*)\}"  # a braced argument, braces one deep inside
_NEWACRONYM = re.compile(rf"\\newacronym\s*(?:\[[^\]]*\])?\s*\{{([^}}]+)\}}\s*{_GROUP}\s*{_GROUP}")
_ACRO = re.compile(rf"\\(?:acro|acrodef|newacro)\s*\{{([^}}]+)\}}\s*(?:\[([^\]]*)\])?\s*{_GROUP}")
_GLOSSARY_ENTRY = re.compile(rf"\\newglossaryentry\s*\{{([^}}]+)\}}\s*{_GROUP}")
_GLS = re.compile(
    r"\\(gls|Gls|GLS|glspl|Glspl|glsentryshort|acrshort|acrlong|acrfull|glsentrylong|glsfirst"
    r"|ac|Ac|acp|Acp|acs|acsp|acl|Acl|aclp|acf|Acf|acfp)\*?\s*\{([^}]+)\}"
)
_NAMES = {  # what \autoref / \cref print before a number, by the label's counter
    "figure": ("Figure", "fig.", "Fig.", "figure"),
    "table": ("Table", "table", "Table", "table"),
    "section": ("Section", "section", "Section", "section"),
    "subsection": ("Section", "section", "Section", "section"),
    "subsubsection": ("Section", "section", "Section", "section"),
    "chapter": ("Chapter", "chapter", "Chapter", "chapter"),
    "appendix": ("Appendix", "appendix", "Appendix", "appendix"),
    "equation": ("Equation", "eq.", "Eq.", "equation"),
    "algorithm": ("Algorithm", "algorithm", "Algorithm", "algorithm"),
    "theorem": ("Theorem", "theorem", "Theorem", "theorem"),
    "lemma": ("Lemma", "lemma", "Lemma", "lemma"),
    "definition": ("Definition", "definition", "Definition", "definition"),
}


@dataclass(frozen=True)
class CiteStyle:
    """How citations print: natbib author-year, or labels in brackets."""

    author_year: bool
    open: str
    close: str
    compress: bool
    superscript: bool = False  # natbib's ``super``: numbers raised, no brackets
    aysep: str = ","  # between authors and year (acmart's author-year: none)
    sep: str = ";"  # between author-year citations
    label_sep: str = ", "  # between labels (biblatex's alphabetic: "; ")
    biblatex: bool = False  # its commands: \\cite without brackets in authoryear, postnote pages


def cite_style(sources: str, citations: dict[str, Citation]) -> CiteStyle:
    """The citation style the paper's sources (its ``.tex``, ``.sty`` and ``.cls`` text) set."""
    natbib = _NATBIB.search(sources)
    options, settings = natbib_options(sources)
    options = ((natbib[1] or "") if natbib else "") + "," + options
    words = {w.strip() for w in options.split(",")} - {""}
    cls = _NUMERIC_CLASS.search(sources)
    if cls and "authoryear" not in {*(cls[1] or "").split(","), *words}:
        words.add("numbers")  # classes that load natbib for numbers unless told otherwise
    chosen = {w.strip() for m in _LOAD_OPTIONS.finditer(sources) for w in m[1].split(",")}
    if "authoryear" in chosen and not _NUMERIC & chosen:
        words -= _NUMERIC  # ``\\citestyle{numbers}`` in a branch the option does not take
    elif "numbers" in chosen and "super" not in chosen:
        words -= {"super", "authoryear"}
    has_years = any(c.year for c in citations.values())
    numeric = _NUMERIC & words
    author_year = bool(natbib or cls) and has_years and not numeric
    square = "square" in words or bool(numeric) or not author_year
    opening, closing = ("[", "]") if square and "round" not in words else ("(", ")")
    # natbib's ``\\bibpunct``'s fourth argument is its mode (n, s: numbers; else author-year):
    # of several (one per branch), the last of the mode chosen; natbib's own ``\\bibstyle@NAME``
    # definitions hold one per bibliography style, in force only for that style
    definitions, text = _bibstyle_definitions(sources)
    bibstyle = BIBLIOGRAPHY_STYLE.findall(sources)
    own = definitions.get(bibstyle[-1].strip(), "") if bibstyle else ""
    # a named style's punctuation (AASTeX's ``\\@citestyle{aas}``: round brackets) comes after
    # the sources' own
    named = "\n".join(definitions.get(name, "") for name in _named_citestyles(text, sources))
    punct = [*_BIBPUNCT.finditer(text), *_BIBPUNCT.finditer(named)] or list(_BIBPUNCT.finditer(own))
    punct = [
        m for m in punct if m[4] is None or (m[4].strip() in ("n", "s")) != author_year
    ] or punct
    separator = ";" if "semicolon" in words or "colon" in words or "comma" not in words else ","
    if punct:
        opening, closing = punct[-1][1], punct[-1][2]
        separator = punct[-1][3] if punct[-1][3] is not None else separator
    elif (
        natbib
        and bibstyle
        and bibstyle[-1].strip() in _NATBIB_BIBSTYLES
        and not (_NOBIBSTYLE & words or settings)
    ):
        opening, closing, separator, _ = _NATBIB_BIBSTYLES[bibstyle[-1].strip()]
    opening, closing = settings.get("open", opening), settings.get("close", closing)
    compress = (
        "compress" in options or "sort&compress" in options or bool(_CITE_PACKAGE.search(sources))
    )
    superscript = "super" in words and not author_year
    aysep = punct[-1][5] if punct and punct[-1][5] is not None else ","
    aysep = settings.get("aysep", aysep)
    separator = settings.get("citesep", separator).strip() or separator
    return CiteStyle(author_year, opening, closing, compress, superscript, aysep, separator)


def natbib_options(sources: str) -> tuple[str, dict[str, str]]:
    """The natbib options the sources set (comma-separated words) and their ``key={value}``
    settings (``open``, ``close``, ``aysep`` …): every ``\\setcitestyle``/``\\biboptions``
    outside a ``\\bibstyle@NAME`` definition, and the ``\\citestyle{NAME}``s, each with the
    options of NAME's definition where a style defines it (acmart's ``acmauthoryear``). Where
    the paper's load options do not choose among several ``\\citestyle``s, the first is in
    force: the paper's own (its text comes before its styles'), else a style's default."""
    definitions, text = _bibstyle_definitions(sources)
    bodies = []
    for match in _CITESTYLE.finditer(text):
        group = balanced_group(text, match.end())
        if group is not None and not match[1].endswith("citestyle"):
            bodies.append(group[0].strip())
    for style in _named_citestyles(text, sources):
        inner = definitions.get(style, "")
        found = [balanced_group(inner, m.end()) for m in _CITESTYLE.finditer(inner)]
        bodies += [group[0] for group in found if group is not None] or [style]
    bodies = [_COMMENT.sub("", body) for body in bodies]
    settings = {key: value for body in bodies for key, value in _SETTING.findall(body)}
    words = ",".join(_SETTING.sub("", body) for body in bodies)
    return words.replace("acmauthoryear", "authoryear"), settings


def _named_citestyles(text: str, sources: str) -> list[str]:
    """The ``\\citestyle{NAME}``s in force (``text``: the sources without natbib's style
    definitions): all where the paper's load options choose among them, else the first."""
    named = [
        group[0].strip()
        for match in _CITESTYLE.finditer(text)
        if match[1].endswith("citestyle") and (group := balanced_group(text, match.end()))
    ]
    chosen = {w.strip() for m in _LOAD_OPTIONS.finditer(sources) for w in m[1].split(",")}
    return named if chosen & {"authoryear", *_NUMERIC} else named[:1]


def _bibstyle_definitions(sources: str) -> tuple[dict[str, str], str]:
    """natbib's ``\\bibstyle@NAME`` definitions (the settings ``\\bibliographystyle{NAME}``
    brings) by NAME, and the sources without them."""
    definitions: dict[str, str] = {}

    def take_definition(match: re.Match[str], body: str) -> str:
        definitions[match[1]] = body
        return ""

    return definitions, replace_commands(sources, _BIBSTYLE_DEF, take_definition)


def _compressed(labels: list[str], run: str = "{}–{}") -> list[str]:
    """Numeric labels sorted with runs of three or more as ``a–b`` (``run``), as ``cite``/natbib
    (and cleveref: ``1 to 3``) do."""
    if not all(label.isdigit() for label in labels):
        return labels
    numbers = sorted({int(label) for label in labels})
    out, start = [], 0
    for index in range(1, len(numbers) + 1):
        if index == len(numbers) or numbers[index] != numbers[index - 1] + 1:
            found = numbers[start:index]
            out += [run.format(found[0], found[-1])] if len(found) >= 3 else map(str, found)
            start = index
    return out


def format_citation(
    command: str, keys: list[str], cites: dict[str, Citation], style: CiteStyle
) -> str | None:
    """How ``\\<command>{keys}`` prints. A key the compile did not define prints as a bold
    ``?`` (LaTeX's and natbib's way); biblatex prints the key itself, which is what None (the
    command left for pandoc) gives."""
    found = [cites.get(key) for key in keys]
    if not found or (style.biblatex and None in found):
        return None
    base = command.lower()
    if style.author_year:
        return _author_year(base, found, style)
    if base in ("citeauthor", "citeyear"):  # names or years, not numbers: "proposed by Jia et al."
        parts = [(c.year if base == "citeyear" else c.authors) if c else "" for c in found]
        if all(parts):
            return ", ".join(parts)
    labels = [c.label if c else UNDEFINED for c in found]
    labels = _compressed(labels) if style.compress else labels
    joined = style.label_sep.join(labels)
    if base == "citet" and all(c and c.authors for c in found):
        return "; ".join(f"{c.authors} {style.open}{c.label}{style.close}" for c in found if c)
    if base in ("citenum", "citealp"):
        return joined
    if style.superscript:
        return ",".join(labels)
    return f"{style.open}{joined}{style.close}"


UNDEFINED = "?"  # what LaTeX prints for a citation it has no label for


def _author_year(base: str, found: list[Citation | None], style: CiteStyle) -> str:
    """natbib's author-year forms of ``\\<base>`` (``\\citet``: *Smith (2020)*)."""
    sep = f"{style.sep} "
    if base == "citeyearpar":
        return style.open + ", ".join(c.year if c else UNDEFINED for c in found) + style.close
    formats = {
        "citeauthor": "{authors}",
        "citeyear": "{year}",
        "citealp": "{authors}{aysep} {year}",
        "parencite": "{authors}{aysep} {year}",
        "autocite": "{authors}{aysep} {year}",
        "citealt": "{authors} {year}",
        "citet": "{authors} {open}{year}{close}",
        "cite": "{authors} {open}{year}{close}",
        "textcite": "{authors} {open}{year}{close}",
    }
    form = formats.get(base, "{authors}{aysep} {year}")
    joined = (", " if base in ("citeauthor", "citeyear") else sep).join(
        form.format(
            authors=c.authors, year=c.year, aysep=style.aysep, open=style.open, close=style.close
        )
        if c
        else UNDEFINED
        for c in found
    )
    return joined if base in formats else style.open + joined + style.close


def printed_citations(
    compiled: Compiled, sources: str
) -> tuple[dict[str, Citation] | None, CiteStyle]:
    """The compile's citations and how they print: from the ``.aux``'s ``\\bibcite``s and the
    natbib settings of the sources, or biblatex's, from biber's ``.bbl`` and the package's
    options. None: no compile outputs to say (the citations are left to pandoc)."""
    if not is_biblatex(compiled.bbl):
        known = compiled.citations if compiled.aux or compiled.citations else None
        return known, cite_style(sources, compiled.citations)
    style = biblatex_style(sources)
    cites = biblatex_citations(read_entries(compiled.bbl or ""), style)
    author_year = style.family == "authoryear"
    brackets = ("(", ")") if author_year else ("[", "]")
    label_sep = "; " if style.family == "alphabetic" else ", "
    printed = CiteStyle(
        author_year, *brackets, style.compress, aysep="", label_sep=label_sep, biblatex=True
    )
    return cites, printed


def replace_citations(tex: str, compiled: Compiled, sources: str) -> str:
    """Citation commands replaced by their printed form, pre- and postnotes in their brackets
    (those the compile did not resolve stay for the fallback: the ``.bbl`` order)."""
    return cite_as_printed(tex, *printed_citations(compiled, sources))


def cite_as_printed(tex: str, cites: dict[str, Citation] | None, style: CiteStyle) -> str:
    """``replace_citations`` with the citations and their style at hand."""
    if cites is None:
        return tex

    def replace(match: re.Match[str]) -> str:
        if match[1] == "nocite":
            return ""
        keys = [key.strip() for key in match[3].split(",") if key.strip()]
        command = match[1]
        if style.biblatex and command.lower() == "cite" and style.author_year:
            command = "citealt"  # authoryear's \\cite: names and year, no brackets
        elif style.biblatex:
            command = _BIBLATEX_AS_NATBIB.get(command.lower(), command)
        printed = format_citation(command, keys, cites, style)
        if printed is None:
            return match[0]
        if style.superscript and command.lower() in ("cite", "citep"):
            return f"\\textsuperscript{{{escape(printed)}}}"
        cited = _with_notes(printed, _NOTE.findall(match[2]), style)
        # right after a command (a table row's ``\\\\``, ``\\toprule``), ``[4]`` would be read as
        # its option
        after_command = (
            _ENDS_WITH_COMMAND.search(tex, max(0, match.start() - 40), match.start()) is not None
        )
        return "{}" + cited if cited.startswith("[") and after_command else cited

    return _CITE.sub(replace, tex)


# biblatex's commands as the natbib ones that print the same (standard styles)
_BIBLATEX_AS_NATBIB = {"parencite": "citep", "autocite": "citep", "textcite": "citet"}
_NOTE = re.compile(r"\[([^\]]*)\]")
_ENDS_WITH_COMMAND = re.compile(r"\\(?:[A-Za-z@]+\*?|\\)\s*\Z")
_PAGES = re.compile(r"\d+")
_PAGE_RANGE = re.compile(r"\d+\s*(?:-+|–)\s*\d+")


def _with_notes(printed: str, notes: list[str], style: CiteStyle) -> str:
    """A printed citation as LaTeX, its notes inside its brackets: ``[see 4, p. 5]`` (one note
    is the postnote; biblatex writes a bare page number with its *p.*/*pp.*). The notes are the
    paper's LaTeX and stay so."""
    notes = [note.strip() for note in notes]
    pre, post = (notes[0], notes[1]) if len(notes) >= 2 else ("", notes[0] if notes else "")
    bracketed = printed.startswith(style.open) and printed.endswith(style.close)
    if not (pre or post) or not bracketed:
        return escape(printed)
    if style.biblatex and _PAGE_RANGE.fullmatch(post):
        post = f"pp.~{post}"
    elif style.biblatex and _PAGES.fullmatch(post):
        post = f"p.~{post}"
    inner = escape(printed[len(style.open) : len(printed) - len(style.close)])
    return (
        escape(style.open) + (f"{pre} " if pre else "") + inner + (f", {post}" if post else "")
        + escape(style.close)
    )  # fmt: skip


def _label_kind(compiled: Compiled, key: str) -> str:
    kind = compiled.kinds.get(key) or key.split(":", 1)[0].lower()
    return {
        "fig": "figure",
        "tab": "table",
        "sec": "section",
        "eq": "equation",
        "alg": "algorithm",
        "thm": "theorem",
        "lem": "lemma",
        "def": "definition",
        "app": "appendix",
    }.get(kind, kind)


def replace_refs(
    tex: str, compiled: Compiled, cleveref_options: str = "", renamed: CrefNames | None = None
) -> str:
    """``\\ref``-like commands replaced by what the compile's ``\\newlabel``s make them print:
    the number (with the names ``\\autoref``/``\\cref`` put before it, the paper's own where it
    ``renamed`` a counter: see :func:`cleveref_names`), the page (``\\pageref``) or the title
    (``\\nameref``); ``??`` for a label the compile did not resolve, as on the page."""
    capitalize = "capitalize" in cleveref_options or "capitalise" in cleveref_options
    noabbrev = "noabbrev" in cleveref_options
    renamed = renamed or {}

    def replace(match: re.Match[str]) -> str:
        if match[3] is not None:  # \crefrange{first}{last}
            ends = [compiled.labels.get(match[4].strip()), compiled.labels.get(match[5].strip())]
            if None in ends:
                return "??"
            kind = _label_kind(compiled, match[4].strip())
            name = _cref_name(kind, match[3], capitalize, noabbrev, True, renamed)
            shown = [f"({n})" if kind == "equation" else str(n) for n in ends]
            return escape(f"{name} {shown[0]} to {shown[1]}".strip())
        command, keys = match[1], [k.strip() for k in match[2].split(",")]
        table = {"pageref": compiled.pages, "nameref": compiled.titles}.get(command)
        found = [(table or compiled.labels).get(key) for key in keys]
        numbers = [n for n in found if n is not None]
        if len(numbers) < len(found):
            return "??"
        if table is not None:
            return escape(", ".join(numbers))
        if command in ("cref", "Cref", "vref"):
            labels = [(_label_kind(compiled, key), n) for key, n in zip(keys, numbers, strict=True)]
            return escape(_cleveref_list(labels, command, capitalize, noabbrev, renamed))
        kind = _label_kind(compiled, keys[0])
        shown = [f"({n})" if command == "eqref" else n for n in numbers]
        text = ", ".join(shown)
        names = _NAMES.get(kind)
        if command in ("autoref", "Autoref") and names:
            return escape(f"{names[0]} {text}")
        return escape(text)

    return _REF.sub(replace, tex)


# (counter, "cref" or "Cref") → the singular and plural names a paper set
CrefNames = dict[tuple[str, str], tuple[str, str]]
_CREFNAME = re.compile(r"\\(cref|Cref)name\s*\{([A-Za-z]+)\}\s*\{([^{}]*)\}\s*\{([^{}]*)\}")


def cleveref_names(sources: str) -> CrefNames:
    """The names a paper sets for cleveref's counters (``\\Crefname{section}{Sect.}{Sects.}``);
    one of ``\\crefname``/``\\Crefname`` set alone gives the other, its first letter's case
    changed, as cleveref does (meta-ot's page prints "sect. 2")."""
    names = {
        (counter, command): (one, many)
        for command, counter, one, many in _CREFNAME.findall(sources)
    }
    for (counter, command), (one, many) in list(names.items()):
        other, case = ("Cref", str.upper) if command == "cref" else ("cref", str.lower)
        names.setdefault((counter, other), (case(one[:1]) + one[1:], case(many[:1]) + many[1:]))
    return names


def _cref_name(
    kind: str, command: str, capitalize: bool, noabbrev: bool, plural: bool, renamed: CrefNames
) -> str:
    """cleveref's name for a label's counter: the paper's own (``renamed``), else ``\\Cref``
    prints the full capitalised one (``Figure``), ``\\cref`` ``fig.`` (``Fig.`` with the
    ``capitalise`` option, ``figure`` with ``noabbrev``); ``plural``: ``figs.``, ``Figures``,
    ``appendices``. None for an unknown counter."""
    own = renamed.get((kind, "Cref" if command.startswith("C") else "cref"))
    if own is not None:
        return own[1] if plural else own[0]
    names = _NAMES.get(kind)
    if names is None:
        return ""
    if command.startswith("C"):
        name = names[0]
    else:
        name = names[3] if noabbrev else names[2] if capitalize else names[1]
        name = name.capitalize() if noabbrev and capitalize else name
    if not plural:
        return name
    if name.endswith("."):
        return f"{name[:-1]}s."
    return f"{name[:-1]}ces" if name.endswith("ix") else f"{name}s"


def _cleveref_list(
    labels: list[tuple[str, str]],
    command: str,
    capitalize: bool,
    noabbrev: bool,
    renamed: CrefNames,
) -> str:
    """What ``\\cref{a,b,…}`` prints for its labels' (counter, number)s: grouped by counter in
    order of first appearance, each group sorted and named (plural for several), runs of three
    or more consecutive numbers compressed (``sections 1 to 3``), the groups and the numbers
    joined with commas and a final "and"."""
    groups: dict[str, list[str]] = {}
    for kind, number in labels:
        groups.setdefault(kind, []).append(number)
    parts = []
    for kind, numbers in groups.items():
        ordered = sorted(dict.fromkeys(numbers), key=_number_order)
        shown = [f"({n})" if kind == "equation" else n for n in _compressed(ordered, "{} to {}")]
        name = _cref_name(kind, command, capitalize, noabbrev, len(ordered) > 1, renamed)
        parts.append(f"{name} {_and_list(shown)}".strip())
    return _and_list(parts)


def _number_order(number: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-]", number))


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


# what TeX prints as typed: ``\\verb+\\chapter{x}+``, verbatim-like environments
_MATTER = re.compile(r"\\(frontmatter|mainmatter|backmatter)\b")


def verbatim_spans(tex: str) -> list[tuple[int, int]]:
    """Where ``tex`` holds text TeX prints as typed (commands there are not commands)."""
    return [match.span() for match in VERBATIM.finditer(tex)]


def _in_front_or_back_matter(tex: str, offset: int) -> bool:
    """After a book's ``\\frontmatter`` or ``\\backmatter`` (and no ``\\mainmatter`` since),
    where ``\\chapter`` prints no number."""
    switches = _MATTER.findall(tex, 0, offset)
    return bool(switches) and switches[-1] != "mainmatter"


def _numbered_headings(tex: str, compiled: Compiled) -> list[tuple[re.Match[str], str]]:
    """The source's numbered headings with the numbers the table of contents has for them (a
    chapter of a book's front or back matter with none, a chapter after ``\\appendix`` with
    "Appendix" before its letter as report and book print it); none unless the two agree level
    by level. Headings deeper than the contents list (a report's subsubsections under its
    ``tocdepth``) are counted under their parent, and numbered where the Lua filter's levels
    would number them (an article's subsubsections, not a report's)."""
    verbatim = verbatim_spans(tex)
    found = [
        match
        for match in _HEADING.finditer(tex)
        if not match[2] and not any(start <= match.start() < end for start, end in verbatim)
    ]
    unnumbered = {
        match.start()
        for match in found
        if match[1] == "chapter" and _in_front_or_back_matter(tex, match.start())
    }
    numbered = [match for match in found if match.start() not in unnumbered]
    if not compiled.headings:
        return []
    depth = max(SECTIONING_LEVELS[level] for level, _ in compiled.headings)
    if [m[1] for m in numbered if SECTIONING_LEVELS[m[1]] <= depth] != [
        level for level, _ in compiled.headings
    ]:
        return []
    numbers = iter(number for _, number in compiled.headings)
    chapters = any(level == "chapter" for level, _ in compiled.headings)
    appendix = _APPENDIX.search(tex)
    latest: dict[str, str] = {}  # the number of the latest heading of each level
    counts: dict[str, int] = {}  # headings deeper than the contents, counted under their parent
    out = []
    for match in found:
        level = SECTIONING_LEVELS[match[1]]
        if match.start() in unnumbered:
            out.append((match, ""))
            continue
        if level <= depth:
            number = next(numbers)
        else:
            counts[match[1]] = counts.get(match[1], 0) + 1
            parent = counter_value(latest.get(_LEVEL_NAMES[level - 1], ""))
            lua_level = level + 1 if chapters else level  # pandoc's: chapter 1, or section 1
            number = f"{parent}.{counts[match[1]]}" if parent and lua_level <= 3 else ""
        latest = {name: n for name, n in latest.items() if SECTIONING_LEVELS[name] < level}
        latest[match[1]] = number
        counts = {name: n for name, n in counts.items() if SECTIONING_LEVELS[name] <= level}
        if match[1] == "chapter" and appendix and match.start() > appendix.start():
            number = f"Appendix {number}" if re.fullmatch(r"[A-Z]", number) else number
        out.append((match, number))
    return out


# LaTeX's sectioning levels: the contents print the entries at or above ``tocdepth``
SECTIONING_LEVELS = {
    "part": -1,
    "chapter": 0,
    "section": 1,
    "subsection": 2,
    "subsubsection": 3,
    "paragraph": 4,
    "subparagraph": 5,
}
_LEVEL_NAMES = {level: name for name, level in SECTIONING_LEVELS.items()}
_APPENDIX = re.compile(r"\\appendix\b")


_COUNTER_VALUE = re.compile(r"[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*")
_CHINESE_DIGITS = {c: n for n, c in enumerate("零一二三四五六七八九")}
_CHINESE_NUMBER = re.compile(r"([一二三四五六七八九]?)(十?)([一二三四五六七八九]?)")


def counter_value(number: str) -> str:
    """A heading's counter as the numbers below it print it: ctex's chapter ``第1章`` → ``1``,
    ``第十二章`` → ``12``, ``附录 A`` → ``A`` (the contents line holds the heading's label,
    name included)."""
    values = _COUNTER_VALUE.findall(number)
    if values:
        return values[-1]
    for tens, ten, ones in _CHINESE_NUMBER.findall(number):
        if ten:  # 十 (10), 十二 (12), 二十三 (23)
            return str(10 * _CHINESE_DIGITS.get(tens, 1) + _CHINESE_DIGITS.get(ones, 0))
        if tens:  # one digit: 九
            return str(_CHINESE_DIGITS[tens])
    return number


def number_headings(tex: str, compiled: Compiled) -> str:
    """Numbered ``\\section``-like commands made unnumbered with the number the table of
    contents has for them prefixed (``\\section*{A.1 Proofs}``): appendices and chapters come
    out as printed. Used only when the source's numbered headings and the table of contents
    agree level by level."""
    headings = _numbered_headings(tex, compiled)
    if not headings:
        return tex
    out, position = [], 0
    for match, number in headings:
        end = match.end()
        if tex[end] == "[":  # \section[short]{long}: the optional title goes
            close = tex.find("]", end)
            end = close + 1 if close > 0 else end
        brace = tex.find("{", end)
        out.append(tex[position : match.start()])
        out.append(f"\\{match[1]}*{{{escape(number)} " if number else f"\\{match[1]}*{{")
        position = brace + 1
    out.append(tex[position:])
    return "".join(out)


# ``\\newtheorem``, and Springer's llncs.cls ``\\spnewtheorem`` and ``\\spn@wtheorem``
_NEWTHEOREM = re.compile(
    r"\\(?:newtheorem|spnewtheorem|spn@wtheorem)(\*?)\s*\{([^}]+)\}\s*(?:\[([^\]]+)\])?"
    r"\s*\{([^}]*)\}(?:\s*\[([^\]]+)\])?"
)
_THEOREM_EVENT = re.compile(
    r"\\(part|chapter|section|subsection|subsubsection)\b|\\(begin|end)\s*\{([^}]+)\}"
)


@dataclass(frozen=True)
class _Theorem:
    title: str
    counter: str  # the environment whose counter it steps (``\\newtheorem{lem}[thm]{Lemma}``)
    within: str | None  # the heading level that resets it and prefixes its number
    numbered: bool


def _theorems(sources: str) -> dict[str, _Theorem]:
    """The paper's (and its styles') ``\\newtheorem`` declarations, with the level a later
    ``\\numberwithin`` numbers a counter within."""
    declared: dict[str, _Theorem] = {}
    for star, name, shared, title, within in _NEWTHEOREM.findall(sources):
        owner = declared.get(shared.strip()) if shared else None
        counter = owner.counter if owner else name.strip()
        reset = owner.within if owner else (within.strip() or None)
        if shared.strip() in _PARENT_LEVEL:  # ``[subsection]``: numbered as the headings are
            counter, reset = shared.strip(), _PARENT_LEVEL[shared.strip()]
        declared[name.strip()] = _Theorem(title.strip(), counter, reset, not star)
    for counter, level in _NUMBER_WITHIN.findall(sources):  # ``\\numberwithin{thm}{section}``
        for name, theorem in declared.items():
            if theorem.counter == counter:
                declared[name] = _Theorem(theorem.title, counter, level, theorem.numbered)
    return declared


def number_theorems(tex: str, compiled: Compiled, sources: str) -> str:
    """Theorem-like environments as the page prints their heads: ``\\textbf{Definition 3.8}
    (note).``, counted as LaTeX counts them (a shared counter steps for every environment that
    uses it; one declared ``[section]`` restarts at each section and prints its number first;
    one sharing a heading's counter, ``[subsection]``, steps with those headings and prints as
    they do, ``1.2``).
    pandoc numbers each environment on its own from 1. Left to pandoc unless the headings'
    numbers are known (see :func:`number_headings`)."""
    theorems = _theorems(sources)
    headings = {match.start(): number for match, number in _numbered_headings(tex, compiled)}
    if not theorems or not headings:
        return tex
    counts: dict[str, int] = {}
    current: dict[str, str] = {}  # the latest number of each heading level
    out, position = [], 0
    for event in _THEOREM_EVENT.finditer(tex):
        if event[1] is not None:
            number = headings.get(event.start())
            if number is not None:
                current[event[1]] = counter_value(number)
                counts = {c: n for c, n in counts.items() if _reset_by(theorems, c) != event[1]}
                counts = {c: n for c, n in counts.items() if _PARENT_LEVEL.get(c) != event[1]}
                last = current[event[1]].rpartition(".")[2]  # a heading steps its own counter
                counts[event[1]] = int(last) if last.isdigit() else counts.get(event[1], 0) + 1
            continue
        theorem = theorems.get(event[3].strip())
        if theorem is None:
            continue
        out.append(tex[position : event.start()])
        position = event.end()
        if event[2] == "end":
            out.append("\n\n")
            continue
        head = theorem.title
        if theorem.numbered:
            counts[theorem.counter] = counts.get(theorem.counter, 0) + 1
            prefix = f"{current.get(theorem.within, '0')}." if theorem.within else ""
            if theorem.counter in _PARENT_LEVEL:  # ``\thesubsection``: no chapter in an article
                parent = current.get(theorem.within or "")
                prefix = f"{parent}." if parent else ""
            head += f" {prefix}{counts[theorem.counter]}"
        note = balanced_group(tex, position, "[", "]")
        if note is not None:
            position = note[1]
        out.append(f"\n\n\\textbf{{{head}}}{f' ({note[0]})' if note else ''}. ")
    out.append(tex[position:])
    return "".join(out)


# a sectioning counter a theorem may share (``\\newtheorem{thm}[subsection]{Theorem}``), and the
# level whose heading resets it and prints before it
_PARENT_LEVEL = {"section": "chapter", "subsection": "section", "subsubsection": "subsection"}


def _reset_by(theorems: dict[str, _Theorem], counter: str) -> str | None:
    owner = theorems.get(counter)
    return owner.within if owner else None


# the paper's class, or the class its own class is built on (``\\LoadClass{ctexbook}``)
DOCUMENTCLASS = r"\\(?:documentclass|LoadClass)\s*(?:\[[^\]]*\])?\s*\{"
BOOK_CLASS = re.compile(
    DOCUMENTCLASS + r"(?:book|report|ctexbook|ctexrep|scrbook|scrreprt|memoir)\}"
)
# amsmath's and LaTeX's numbered displays: one number, or one per row
_ONE_NUMBER = frozenset(["equation", "multline"])
_ROW_NUMBERS = frozenset(["align", "gather", "flalign", "alignat", "eqnarray"])
_DISPLAY = re.compile(
    r"\\(part|chapter|section|subsection|subsubsection)\b"
    rf"|\\begin\s*\{{({'|'.join(sorted(_ONE_NUMBER | _ROW_NUMBERS))}|subequations)\}}"
)
# amsmath's ``\\numberwithin{equation}{section}``, LaTeX's ``\\counterwithin``: (counter, level)
_NUMBER_WITHIN = re.compile(r"\\(?:numberwithin|counterwithin)\*?\s*\{(\w+)\}\s*\{(\w+)\}")
# a display's first label (in its body, before its end)
_LABELLED_DISPLAY = re.compile(
    rf"\\begin\s*\{{({'|'.join(sorted(_ONE_NUMBER | _ROW_NUMBERS))})\}}"
    r"(?:(?!\\end\s*\{\1\}).)*?\\label\s*\{([^}]+)\}",
    re.DOTALL,
)
_NO_NUMBER = re.compile(r"\\(?:nonumber|notag)\b|\\tag\*?\s*\{")
_ROW_TOKEN = re.compile(r"\\begin\b|\\end\b|\\\\(?:\*|\[[^\]]*\])?|(?<!\\)[{}]")


def number_equations(tex: str, compiled: Compiled, sources: str) -> str:
    """Numbered displays with the number the page prints as a ``\\tag`` (``x = y \\tag{3.2}``),
    counted as LaTeX counts: one per ``equation``/``multline``, one per row of ``align``-like
    environments, none where ``\\nonumber``/``\\notag``/``\\tag`` says so; within the section
    (``\\numberwithin``) or the chapter (book classes, or a class whose compile numbered a
    labelled display ``3.2`` under chapters: fduthesis, not amsbook); a labelled display takes
    its number from the ``.aux``, which corrects the count. Left alone unless the headings'
    numbers are known (see :func:`number_headings`), and inside ``subequations``."""
    headings = {match.start(): number for match, number in _numbered_headings(tex, compiled)}
    set_within = [
        level for counter, level in _NUMBER_WITHIN.findall(sources) if counter == "equation"
    ]
    book = BOOK_CLASS.search(sources) or _numbered_in_chapters(tex, compiled)
    within = set_within[-1] if set_within else "chapter" if book else None
    if within is not None and not headings:
        return tex
    current: dict[str, str] = {}
    count = 0
    out, position = [], 0
    for event in _DISPLAY.finditer(tex):
        if event.start() < position:
            continue
        if event[1] is not None:
            number = headings.get(event.start())
            if number is not None:
                current[event[1]] = counter_value(number)
                count = 0 if event[1] == within else count
            continue
        environment = event[2]
        end = re.compile(rf"\\end\s*\{{{environment}\}}").search(tex, event.end())
        if end is None:
            continue
        if environment == "subequations":  # numbered 3a, 3b …: one step of the counter
            count += 1
            out.append(tex[position : end.end()])
            position = end.end()
            continue
        body = tex[event.end() : end.start()]
        rows = [(body, "")] if environment in _ONE_NUMBER else _top_level_rows(body)
        numbered = []
        for row, row_end in rows:
            if _NO_NUMBER.search(row) or (environment not in _ONE_NUMBER and not row.strip()):
                numbered.append(row + row_end)
                continue
            count += 1
            label = LABEL.search(row)
            printed = compiled.labels.get(label[1].strip()) if label else None
            if printed is None:
                printed = f"{current.get(within, '0')}.{count}" if within else str(count)
            elif printed.rpartition(".")[2].isdigit():
                count = int(printed.rpartition(".")[2])  # the compile's count corrects ours
            numbered.append(f"{row.rstrip()} \\tag{{{printed}}}{row_end}")
        out += [tex[position : event.end()], "".join(numbered)]
        position = end.start()
    out.append(tex[position:])
    return "".join(out)


def _numbered_in_chapters(tex: str, compiled: Compiled) -> bool:
    """Whether the compile numbered displays within chapters, as its ``.aux`` shows for a
    labelled one (``3.2``) in a paper with chapters."""
    if not any(level == "chapter" for level, _ in compiled.headings):
        return False
    for display in _LABELLED_DISPLAY.finditer(tex):
        printed = compiled.labels.get(display[2].strip())
        if printed is not None:
            return "." in printed
    return False


def _top_level_rows(body: str) -> list[tuple[str, str]]:
    """An ``align``-like body as (row, the ``\\\\`` ending it) pairs, split only outside braces
    and inner environments (a ``cases``' rows are not the display's)."""
    rows, start, depth = [], 0, 0
    for match in _ROW_TOKEN.finditer(body):
        token = match[0]
        if token in ("{", "\\begin"):
            depth += 1
        elif token in ("}", "\\end"):
            depth -= 1
        elif depth == 0:
            rows.append((body[start : match.start()], token))
            start = match.end()
    rows.append((body[start:], ""))
    return rows


def replace_acronyms(tex: str) -> str:
    """Glossary and acronym commands (``glossaries``, ``acronym``) replaced, in document order,
    by what they print: the long form with the short one in parentheses at first use, the short
    form after; ``\\acrlong``/``\\acl`` the long form, ``\\acrshort``/``\\acs`` the short one."""
    entries: dict[str, tuple[str, str]] = {}
    for label, short, long in _NEWACRONYM.findall(tex):
        entries[label.strip()] = (short, long)
    for label, short, long in _ACRO.findall(tex):
        entries[label.strip()] = (short or label.strip(), long)
    for label, body in _GLOSSARY_ENTRY.findall(tex):
        name = re.search(r"name\s*=\s*(\{[^{}]*\}|[^,]*)", body)
        if name:
            text = name[1].strip().strip("{}")
            entries.setdefault(label.strip(), (text, text))
    if not entries:
        return tex
    tex = _NEWACRONYM.sub("", _ACRO.sub("", _GLOSSARY_ENTRY.sub("", tex)))
    used: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        command, label = match[1], match[2].strip()
        if label not in entries:
            return match[0]
        short, long = entries[label]
        plural = command.lower().rstrip("*") in ("glspl", "acp", "acsp", "aclp", "acfp")
        short, long = (short + "s", long + "s") if plural else (short, long)
        lower = command.lower()
        if lower in ("acrshort", "glsentryshort", "acs", "acsp"):
            text = short
        elif lower in ("acrlong", "glsentrylong", "acl", "aclp"):
            text = long
        elif lower in ("acrfull", "glsfirst", "acf", "acfp") or label not in used:
            text = f"{long} ({short})" if long != short else short
        else:
            text = short
        if lower in ("gls", "glspl", "ac", "acp", "acf", "acfp"):
            used.add(label)
        if command[0].isupper():
            text = text[:1].upper() + text[1:]
        return text

    return _GLS.sub(replace, tex)


_SPECIAL = str.maketrans({c: f"\\{c}" for c in "&%$#_{}"})


def escape(text: str) -> str:
    """Plain text as LaTeX source that prints it."""
    return text.translate(_SPECIAL)
