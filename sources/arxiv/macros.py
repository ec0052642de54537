"""Expanding a paper's simple user macros (``\\newcommand``/``\\renewcommand``/
``\\providecommand``, simple ``\\def``, ``\\DeclareMathOperator``) and removing their
definitions, so that converters (pandoc, LaTeXML) see only standard LaTeX. Text only; bounded
against macro bombs."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_NEWCOMMAND = re.compile(r"\\(?:re)?newcommand\*?|\\providecommand\*?")
# ``\\def\\name`` or an active character's ``\\def"#1"{…}``
_DEF = re.compile(r"\\[egx]?def(?![A-Za-z@])\s*(\\[A-Za-z@]+|[^\\\sA-Za-z0-9@{}%#])")
_MATHOP = re.compile(r"\\DeclareMathOperator(\*?)\s*")
# a command's name: letters, or one digit (fudan's ``\\newcommand{\\1}{\\mathbb{1}}``)
_MACRO_USE = re.compile(r"\\([A-Za-z@]+|[0-9])")
_ENDS_IN_COMMAND = re.compile(r"\\[A-Za-z@]+\s*$")
# ``\\let\\c\\texttt``: a copy of a text command (parabs-pldi's ``\\c{yield}``, which pandoc
# read as a cedilla) or of a macro defined before it
_LET = re.compile(r"\\let\s*(\\[A-Za-z@]+)\s*=?\s*(\\[A-Za-z@]+)")
# LaTeX's heading machinery (``\\renewcommand\\paragraph{\\@startsection{paragraph}{4}…}``)
_SECTIONING_INTERNALS = re.compile(r"\\@(?:startsection|secntformat|sect|ssect)\b")
# LaTeX's headings: the class defines them before a style's ``\\providecommand`` could
_HEADINGS = frozenset(
    f"\\{name}"
    for name in ("part", "chapter", "section", "subsection", "subsubsection", "paragraph")
)
# ``\\let\\saved\\paragraph``: a macro named after ``\\let`` is not used there, it is copied
_LET_BEFORE = re.compile(r"\\let\s*(?:\\[A-Za-z@]+\s*=?\s*)?$")
ONEDOT = "\\@let@token."  # ``\ifx\@let@token.\else.\null\fi``: print "." unless "." follows


@dataclass(frozen=True)
class Macro:
    params: int
    default: str | None  # the optional first argument's default (``\newcommand\x[2][d]{…}``)
    body: str


def _with_argument(body: str, number: int, value: str, macros: dict[str, Macro]) -> str:
    """``body`` with its parameter ``#number`` replaced by ``value``. A control word before the
    parameter stays one (``\\partial#1`` with ``E``: ``\\partial E``; TeX read the body's tokens
    before the argument came), unless the two make a macro's name (the bibliography helper
    ``\\bibitem#1`` stands for revtex's ``\\csname bibitem#1\\endcsname``: ``\\bibitemNoStop``)."""

    def joined(match: re.Match[str]) -> str:
        name = match[1] + _NAME_START.findall(value)[0]
        return match[1] + ("" if name in macros else " ") + value

    return re.sub(rf"(\\[A-Za-z@]+)#{number}(?!\d)", joined, body).replace(f"#{number}", value)


_NAME_START = re.compile(r"^[A-Za-z@]*")  # (matches every text, if only with nothing)


def balanced_group(
    tex: str, start: int, opener: str = "{", closer: str = "}"
) -> tuple[str, int] | None:
    """The balanced ``{…}`` (or ``opener…closer``) group at ``start`` (after spaces): its inside
    and the index after it; escaped braces do not count."""
    index = start
    while index < len(tex) and tex[index] in " \t\n":
        index += 1
    if index >= len(tex) or tex[index] != opener:
        return None
    depth = 0
    for position in range(index, len(tex)):
        char = tex[position]
        if position > 0 and tex[position - 1] == "\\":
            continue
        if char == opener:
            depth += 1
        elif char == closer:
            depth -= 1
            if depth == 0:
                return tex[index + 1 : position], position + 1
    return None


def replace_commands(
    tex: str, command: re.Pattern[str], replace: Callable[[re.Match[str], str], str]
) -> str:
    """``tex`` with each ``command`` match and the braced group right after it replaced by
    ``replace(match, inside of the group)``; a match without a group, or inside a replaced
    one, stays as it is."""
    out, position = [], 0
    for match in command.finditer(tex):
        group = balanced_group(tex, match.end()) if match.start() >= position else None
        if group is not None:
            out += [tex[position : match.start()], replace(match, group[0])]
            position = group[1]
    return "".join(out) + tex[position:]


def _bracket(tex: str, start: int) -> tuple[str, int] | None:
    index = start
    while index < len(tex) and tex[index] in " \t":
        index += 1
    if index >= len(tex) or tex[index] != "[":
        return None
    end = tex.find("]", index)
    return (tex[index + 1 : end], end + 1) if end > 0 else None


def _argument(tex: str, start: int) -> tuple[str, int] | None:
    """One macro argument: a braced group, else a single token (``\\foo`` or one character)."""
    group = balanced_group(tex, start)
    if group is not None:
        return group
    index = start
    while index < len(tex) and tex[index] in " \t\n":
        index += 1
    if index >= len(tex) or tex[index] in "}":
        return None
    if tex[index] == "\\":
        match = _MACRO_USE.match(tex, index)
        end = match.end() if match else index + 2
        return tex[index:end], end
    return tex[index], index + 1


def collect_macros(tex: str) -> tuple[dict[str, Macro], str]:
    """The simple user macros of a paper and the text without their definitions.

    ``\\newcommand``/``\\renewcommand``/``\\providecommand`` (with arguments and an optional
    default), parameterless or ``#1…#9`` ``\\def``, and ``\\DeclareMathOperator`` (as
    ``\\operatorname``), and ``\\let`` copies of those or of text commands. A heading's layout
    redefined with LaTeX's heading machinery (``\\@startsection``) is removed and not kept.
    A ``\\def`` with delimited parameters or of an active character (``\\def"#1"{…}``) is
    removed and not kept: pandoc fails on it. Definitions that are not simple in other ways
    (unbalanced bodies) stay in the text untouched.
    """
    macros: dict[str, Macro] = {}
    out: list[str] = []
    position = 0
    pattern = re.compile(f"{_NEWCOMMAND.pattern}|{_DEF.pattern}|{_MATHOP.pattern}|{_LET.pattern}")
    for match in pattern.finditer(tex):
        if match.start() < position:
            continue
        parsed = _definition(tex, match) if match[3] is None else _let(match, macros)
        if parsed is None:
            continue
        name, macro, end = parsed
        # ``\\providecommand`` defines only what is not defined yet
        provided = match[0].startswith("\\providecommand") and (name in macros or name in _HEADINGS)
        # a heading's layout (removed: the heading stays the standard one pandoc reads), or a
        # definition that cannot be expanded here
        if macro is None or _SECTIONING_INTERNALS.search(macro.body):
            macros.pop(name, None)
        elif not provided:
            macros[name] = macro
        out.append(tex[position : match.start()])
        position = end
    out.append(tex[position:])
    return macros, "".join(out)


def _let(match: re.Match[str], macros: dict[str, Macro]) -> tuple[str, Macro, int] | None:
    """A ``\\let`` copying a macro already defined or a text command; any other stays."""
    target = match[4]
    if target in macros:
        return match[3], macros[target], match.end()
    if target[1:] in TEXT_COMMANDS:
        return match[3], Macro(0, None, target), match.end()
    return None


def _definition(tex: str, match: re.Match[str]) -> tuple[str, Macro | None, int] | None:
    end = match.end()
    if match[0].startswith("\\DeclareMathOperator"):
        name = _argument(tex, end)
        body = balanced_group(tex, name[1]) if name else None
        if name is None or body is None:
            return None
        star = match[2] or ""
        return name[0].strip(), Macro(0, None, f"\\operatorname{star}{{{body[0]}}}"), body[1]
    if match[1] is not None:  # \def\name{…}
        name = match[1]
        params = re.match(r"\s*((?:#\d)*)\s*(?=\{)", tex[end:])  # ``\def \x #1{…}`` too
        delimited = re.match(r"[^{}]*?(?=\{)", tex[end:]) if params is None else None
        parameters = params or delimited
        body = balanced_group(tex, end + parameters.end()) if parameters else None
        if body is None:
            return None
        if params is None or not name.startswith("\\"):
            return name, None, body[1]  # not expandable here: removed, pandoc fails on it
        count = len(params[1]) // 2
        if ONEDOT in body[0]:  # CVPR/ECCV's \onedot: a full stop unless one follows
            return name, Macro(0, None, "."), body[1]
        return name, Macro(count, None, body[0]), body[1]
    name = _argument(tex, end)
    if name is None or not name[0].strip().startswith("\\"):
        return None
    cursor = name[1]
    count_arg = _bracket(tex, cursor)
    count = 0
    if count_arg is not None:
        if not count_arg[0].strip().isdigit():
            return None
        count, cursor = int(count_arg[0]), count_arg[1]
    default_arg = _bracket(tex, cursor)
    default = None
    if default_arg is not None:
        default, cursor = default_arg
    body = balanced_group(tex, cursor)
    if body is None:
        return None
    return name[0].strip(), Macro(count, default, body[0]), body[1]


# commands that only format or print text: a style macro made of these is text the page shows
TEXT_COMMANDS = frozenset(
    [
        "textcolor",
        "color",
        "emph",
        "textbf",
        "textit",
        "texttt",
        "textsc",
        "textsf",
        "textrm",
        "textup",
        "underline",
        "mbox",
        "ref",
        "eqref",
        "cite",
        "citep",
        "citet",
        "S",
        "ldots",
        "dots",
        "xspace",
        "upshape",
        "ensuremath",
        "mathit",
        "mathsf",
        "mathrm",
        "TextOrMath",
    ]
)


# Standard math notation (letters, alphabets, operators, relations, arrows, delimiters): a
# paper's own package of notation (namedtensor's ``\\name``, ``\\nsum``; Iris' ``\\iGname``)
# is made of these, and the markdown's math keeps them as written
MATH_NOTATION = frozenset(
    re.findall(
        r"\w+",
        """alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu
    nu xi
    pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta Theta
    Lambda Xi Pi Sigma Upsilon Phi Psi Omega
    mathcal mathbb mathbf mathfrak mathscr mathtt boldsymbol bm operatorname text
    frac sqrt sum prod int oint bigcup bigcap bigoplus bigotimes bigwedge bigvee limits nolimits
    substack underset overset mathop mathbin mathrel mathord vphantom hphantom phantom
    left right overline underline hat tilde bar vec dot ddot widehat widetilde
    vdash models top bot emptyset varnothing odot oplus otimes ominus star ast cdot cdots
    times div pm mp circ bullet to rightarrow leftarrow Rightarrow Leftarrow leftrightarrow
    Rrightarrow mapsto rightsquigarrow rightarrowtail leq geq neq le ge equiv approx sim simeq
    cong propto in notin subset subseteq supset supseteq cup cap wedge vee neg forall exists
    nabla partial infty sqcup sqcap sqsubseteq sqsupseteq triangleright blacktriangleright
    triangleleft square boxempty langle rangle lfloor rfloor lceil rceil mid parallel perp""",
    )
)


# Text that standard packages print and pandoc drops: IEEEtran's drop-cap first word, PMLR/JMLR's
# acknowledgements
PACKAGE_TEXT: dict[str, Macro] = {
    "\\IEEEPARstart": Macro(2, None, "#1#2"),
    # IEEEtran's author blocks: a name, an affiliation, each set in a row of the title's table
    "\\IEEEauthorblockN": Macro(1, None, "#1"),
    "\\IEEEauthorblockA": Macro(1, None, "#1"),
    # the kernel's text-or-math choice, as the math form in math mode (``\\ensuremath``)
    "\\TextOrMath": Macro(2, None, "\\ensuremath{#2}"),
    "\\acks": Macro(1, None, "\\section*{Acknowledgments}\n\n#1"),
}
# textcomp's and amssymb's text symbols that pandoc drops
TEXT_SYMBOLS = {
    "textpm": "±",
    "textdegree": "°",
    "textcelsius": "℃",
    "textmu": "µ",
    "texttimes": "×",
    "textdiv": "÷",
    "textminus": "−",
    "textrightarrow": "→",
    "textleftarrow": "←",
    "textbullet": "•",
    "texteuro": "€",
    "textperthousand": "‰",
    "checkmark": "✓",
}
# pifont's ``\\ding{51}``: the marks papers put in tables (ZapfDingbats codes)
DINGBATS = {"51": "✓", "52": "✔", "55": "✗", "56": "✘", "72": "★", "108": "●", "110": "■"}
_DING = re.compile(r"\\ding\s*\{\s*(\d+)\s*\}")
_TEXT_SYMBOL = re.compile(rf"\\({'|'.join(TEXT_SYMBOLS)})(?![A-Za-z@])(?:\{{\}}|[ \t]*)")


def text_symbols(tex: str) -> str:
    """textcomp's symbols and pifont's marks as the characters they print; the spaces after a
    symbol's command are not printed (``20\\textdegree C`` is 20°C)."""
    tex = _DING.sub(lambda match: DINGBATS.get(match[1], ""), tex)
    return _TEXT_SYMBOL.sub(lambda match: TEXT_SYMBOLS[match[1]], tex)


# LaTeX kernel helpers the bibliography styles' own definitions use (apsrev's ``\bibinfo`` is
# ``\@secondoftwo``), and the commands whose definitions are TeX primitives, as they print
BIBLIOGRAPHY_TEXT: dict[str, Macro] = {
    "\\@firstoftwo": Macro(2, None, "#1"),
    "\\@secondoftwo": Macro(2, None, "#2"),
    "\\@gobble": Macro(1, None, ""),
    "\\BibitemShut": Macro(1, None, "\\bibitem#1"),  # revtex: an entry's end, ``NoStop``
    "\\bibitemNoStop": Macro(0, None, "."),  # (the entry ends without one) prints the "."
    "\\bibitemStop": Macro(0, None, ""),
    "\\EOS": Macro(0, None, ""),  # an end-of-sentence space factor
    "\\xfnm": Macro(1, "", ",#1"),  # elsarticle-harv: ``Abadi\xfnm[ M.]`` → ``Abadi, M.``
    "\\Url": Macro(1, None, "\\nolinkurl{#1}"),
    "\\urlstyle": Macro(1, None, ""),
}


_DEFINES_PARAMETER = re.compile(
    r"\\(?:newcommand|renewcommand|providecommand)\*?\s*\{\s*#1\s*\}\s*(?:\[\d\])?\s*\{.*\}",
    re.DOTALL,
)


def style_abbreviations(style: str) -> dict[str, Macro]:
    """The text macros a paper's own ``.sty``/``.cls`` defines: CVPR's ``\\eg``, ``\\etal``,
    ``\\wrt`` (parameterless, lower-case names, short bodies without ``@`` internals), and
    short macros whose bodies only print text (NeurIPS's checklist ``\\answerYes[1][]{…}``:
    every command in them formats text, or is such a macro of the style: parabs-pldi's
    ``\\l{x}`` is ``\\ensureMath{\\textsf{x}}``), or standard math notation (namedtensor's
    ``\\nsum{#1}`` is ``\\sum\\limits_{\\substack{#1}}``). A style's other macros
    (``\\maketitle`` …) are its business, not text. A macro that only defines the macro it is
    given is kept too.
    """
    macros, _ = collect_macros(style)
    found = {
        name: macro
        for name, macro in macros.items()
        if "@" not in macro.body
        and macro.params == 0
        and re.fullmatch(r"\\[a-z]{1,8}", name)
        and len(macro.body) <= 40
    }
    candidates = {
        name: (macro, set(re.findall(r"\\([A-Za-z]+)", macro.body)))
        for name, macro in macros.items()
        if "@" not in macro.body
        and macro.params <= 2
        and re.fullmatch(r"\\[A-Za-z]{1,20}", name)
        and len(macro.body) <= 80
    }
    # a macro that only defines a macro (namedtensor's ``\\ndef{\\height}{height}``): where the
    # paper uses it, it defines what the paper then uses
    found |= {
        name: macro
        for name, (macro, _) in candidates.items()
        if _DEFINES_PARAMETER.fullmatch(macro.body.strip())
    }
    while True:  # a macro made of text commands and text macros is one
        text = TEXT_COMMANDS | MATH_NOTATION | {name[1:] for name in found}
        more = {n: m for n, (m, used) in candidates.items() if n not in found and used <= text}
        if not more:
            return found
        found.update(more)


def versioned_redefinitions(tex: str) -> str:
    """A macro the paper defines again (omeganet's ``\\renewcommand{\\captiontitle}{…}`` before
    each float) renamed from its second definition on, in that definition and in the uses up
    to its next one: each use then expands as TeX expands it there, with the definition in
    force, not the last one."""
    pattern = re.compile(f"{_NEWCOMMAND.pattern}|{_DEF.pattern}")
    definitions: dict[str, list[int]] = {}  # name → where each definition names it
    for match in pattern.finditer(tex):
        parsed = None if match[0].startswith("\\providecommand") else _definition(tex, match)
        if parsed is not None and parsed[0] not in _HEADINGS:
            name, macro, _ = parsed
            if macro is None or _SECTIONING_INTERNALS.search(macro.body):  # not expanded
                continue
            definitions.setdefault(name, []).append(tex.find(name, match.start()))
    redefined = {name: starts for name, starts in definitions.items() if len(starts) > 1}
    if not redefined:
        return tex
    uses = re.compile("|".join(re.escape(name) for name in redefined) + r"(?![A-Za-z@])")

    def versioned(use: re.Match[str]) -> str:
        version = sum(1 for start in redefined[use[0]] if start <= use.start()) - 1
        return use[0] if version <= 0 else f"{use[0]}Vlpipe{_letters(version)}"

    return uses.sub(versioned, tex)


def _letters(number: int) -> str:
    return "".join(chr(ord("a") + int(digit)) for digit in str(number))


def expand_macros(
    tex: str, max_passes: int = 8, max_growth: int = 4, known: dict[str, Macro] | None = None
) -> str:
    """``tex`` with its simple user macros (and the ``known`` ones, which it may redefine)
    expanded and their definitions removed: converters (pandoc, LaTeXML) then see only standard
    LaTeX. Passes stop when nothing changes, and expansion stops growing the text beyond
    ``max_growth`` times (a macro bomb)."""
    defined, text = collect_macros(versioned_redefinitions(tex))
    macros = {**(known or {}), **defined}
    if not macros:
        return text
    limit = max_growth * max(len(text), 1)
    for _ in range(max_passes):
        expanded = _expand_once(text, macros)
        if expanded == text or len(expanded) > limit:
            break
        # a macro that defines macros (namedtensor's ``\\ndef{\\height}{height}``): what its uses
        # define is defined from there on
        defined, text = collect_macros(expanded)
        macros.update(defined)
    return text


def _expand_once(text: str, macros: dict[str, Macro]) -> str:
    out: list[str] = []
    position = 0
    for match in _MACRO_USE.finditer(text):
        if match.start() < position:
            continue
        if match.start() > 0 and text[match.start() - 1] == "\\":
            continue  # ``\\name``: a line break followed by letters
        macro = macros.get(match[0])
        if macro is None or _LET_BEFORE.search(text, max(0, match.start() - 64), match.start()):
            continue
        cursor = match.end()
        args: list[str] = []
        if macro.default is not None:
            optional = _bracket(text, cursor)
            if optional is not None:
                args.append(optional[0])
                cursor = optional[1]
            else:
                args.append(macro.default)
        while len(args) < macro.params:
            argument = _argument(text, cursor)
            if argument is None:
                break
            args.append(argument[0])
            cursor = argument[1]
        if len(args) < macro.params:
            continue
        body = macro.body
        for number, value in enumerate(args, start=1):
            body = _with_argument(body, number, value, macros)
        if (
            macro.params == 0
            and text[cursor : cursor + 2] == "{}"
            and not _ENDS_IN_COMMAND.search(body)
        ):  # ``\model{}``: the empty group only ended the control word; after a command
            cursor += 2  # (``\Appendices`` → ``\True``), it is that command's argument
        if body == "." and text[cursor : cursor + 1] == ".":
            body = ""  # \onedot before a full stop
        separator = " " if body[-1:].isalpha() and text[cursor : cursor + 1].isalpha() else ""
        out.append(text[position : match.start()])
        out.append(body + separator)
        position = cursor
    out.append(text[position:])
    return "".join(out)


# TeX's own conditionals (each is closed by a ``\fi``); a paper's ``\newif``s add theirs
_PRIMITIVE_CONDITIONALS = frozenset(
    {
        "if",
        "ifcat",
        "ifnum",
        "ifdim",
        "ifodd",
        "ifvmode",
        "ifhmode",
        "ifmmode",
        "ifinner",
        "ifvoid",
        "ifhbox",
        "ifvbox",
        "ifx",
        "ifeof",
        "iftrue",
        "iffalse",
        "ifcase",
        "ifdefined",
        "ifcsname",
        "iffontchar",
        "ifincsname",
    }
)
_NEWIF = re.compile(r"\\newif\s*\\(if[A-Za-z@]+)")
# ``\iffalse``, and ``\if 0`` ⏎ (``\if`` compares the ``0`` with the space the line end makes:
# never equal): the idioms for leaving text out
# ``\\ifdefined\\forArxiv``: false where nothing defines the name (see ``_undefined``)
_FALSE_TEST = re.compile(
    r"\\iffalse(?![A-Za-z@])|\\if(?![A-Za-z@])\s*[^\s\\{}%]\s"
    r"|\\ifdefined\s*\\(?P<name>[A-Za-z@]+)(?![A-Za-z@])"
)
# names the engines define, which a paper tests to know which engine runs it
_ENGINE_NAME = re.compile(r"pdf|XeTeX|xetex|luatex|directlua|Umath|eTeX|Xe|Lua|lua")


def _undefined(name: str, sources: str) -> bool:
    """Whether ``\\name`` is a flag nothing defines: the paper and its styles only test it
    (bundler's ``\\ifdefined\\forArxiv`` around a citation notice the page does not print). A
    name used otherwise may come from a package of TeX Live, and an engine's own names
    (``\\XeTeXversion``) are the engine's to define: both are left alone."""
    if _ENGINE_NAME.match(name):
        return False
    uses = len(re.findall(rf"\\{re.escape(name)}(?![A-Za-z@])", sources))
    tests = len(re.findall(rf"\\ifdefined\s*\\{re.escape(name)}(?![A-Za-z@])", sources))
    return uses == tests


# a switch declared, tested, or set (``\\CameraReadytrue``), and braces for the nesting
_SWITCH_TOKEN = re.compile(
    r"\\newif\s*\\if(?P<declared>[A-Za-z@]+)|\\if(?P<test>[A-Za-z@]+)"
    r"|\\(?P<set>[A-Za-z@]+?)(?P<value>true|false)(?![A-Za-z@])|(?<!\\)(?P<brace>[{}])"
)
_CONDITIONAL_TOKEN = re.compile(r"\\newif\s*\\[A-Za-z@]+|\\([A-Za-z@]+)|\\.|([{}])")


def without_false_branches(tex: str, styles: str = "") -> str:
    """``tex`` without the text TeX's conditionals leave out: always-false ones (``\\iffalse …
    \\fi``, ``\\if 0 … \\fi``), their ``\\else`` branch kept, and the branch a ``\\newif`` switch of
    the paper does not take, its value set as the paper sets it at the top level (false when
    declared), in reading order (asvc: ``\\ifCameraReady\\NotCameraReadyfalse\\else
    \\NotCameraReadytrue\\fi``, then ``\\ifNotCameraReady … \\fi``). TeX prints none of it, and
    pandoc drops only a plain ``\\iffalse`` (one nested ``\\ifx`` ends it early) and fails on
    the rest. Conditionals nest as TeX nests them (its own and the ``\\newif``s of the paper and
    its ``styles``); a branch that would cross a closing brace (an unbalanced ``\\iffalse`` in a
    definition) is left alone."""
    sources = tex + styles
    conditionals = set(_PRIMITIVE_CONDITIONALS) | set(_NEWIF.findall(sources))
    tex = _switches_resolved(tex, conditionals)
    out, position = [], 0
    for test in _FALSE_TEST.finditer(tex):
        if test.start() < position or (test["name"] and not _undefined(test["name"], sources)):
            continue
        branch = _branches(tex, test.end(), conditionals)
        if branch is None:
            continue
        end, _, kept = branch
        out += [tex[position : test.start()], kept]
        position = end
    return "".join(out) + tex[position:]


def _switches_resolved(tex: str, conditionals: set[str]) -> str:
    """``tex`` with each test of a ``\\newif`` the paper declares replaced by the branch its
    value takes (a ``\\NAMEtrue`` inside braces, as in a macro's body, is not followed)."""
    values: dict[str, bool] = {}
    depth, position = 0, 0
    while (token := _SWITCH_TOKEN.search(tex, position)) is not None:
        position = token.end()
        if token["brace"]:
            depth += 1 if token["brace"] == "{" else -1
        elif token["declared"]:
            values[token["declared"]] = False
        elif token["set"] in values and depth == 0:
            values[token["set"]] = token["value"] == "true"
        elif token["test"] in values:
            branch = _branches(tex, token.end(), conditionals)
            if branch is not None:
                end, taken, other = branch
                tex = tex[: token.start()] + (taken if values[token["test"]] else other) + tex[end:]
                position = token.start()
    return tex


def _branches(tex: str, start: int, conditionals: set[str]) -> tuple[int, str, str] | None:
    """Where the conditional whose test ends at ``start`` ends (after its ``\\fi``), and the text
    of its true and of its ``\\else`` branch; None when it has no ``\\fi`` inside the braces
    around it."""
    depth, braces, other = 0, 0, None
    for token in _CONDITIONAL_TOKEN.finditer(tex, start):
        name, brace = token[1], token[2]
        if brace:
            braces += 1 if brace == "{" else -1
            if braces < 0:
                return None
        elif name in conditionals:
            depth += 1
        elif name == "else" and depth == 0 and braces == 0:
            other = token
        elif name == "fi" and depth > 0:
            depth -= 1
        elif name == "fi" and braces == 0:
            if other is None:
                return token.end(), tex[start : token.start()], ""
            return token.end(), tex[start : other.start()], tex[other.end() : token.start()]
        elif name == "fi":
            return None
    return None
