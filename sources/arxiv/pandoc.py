"""A paper's LaTeX → markdown with pandoc: the flattened, macro-expanded source is prepared
(the ``.bbl`` the compile used inlined; citations, ``\\ref``s, heading numbers and acronyms
replaced by what the compile printed for them (:mod:`printed`), since pandoc knows none of it;
tables rewritten into what pandoc reads (:mod:`tables`)), then converted by a sandboxed pandoc
run with the Lua filter ``markdown.lua`` (package data) that applies vlpipe's markdown
conventions. A table pandoc still cannot read comes back as its cells in plain text."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from rapidfuzz.distance import Indel

from vlpipe.errors import ConfigError, DocumentError
from vlpipe.renderers.tex import VERBATIM, strip_comments
from vlpipe.sources.arxiv.algorithms import algorithms_as_printed
from vlpipe.sources.arxiv.align import CJK, FIGURE_TEXT, MATH, normalize
from vlpipe.sources.arxiv.archive import decode_tex
from vlpipe.sources.arxiv.biblatex import biblatex_style, bibliography, is_biblatex, read_entries
from vlpipe.sources.arxiv.compiled import TEX_SKIP, Compiled, braced_groups, read_compiled
from vlpipe.sources.arxiv.macros import (
    BIBLIOGRAPHY_TEXT,
    PACKAGE_TEXT,
    Macro,
    balanced_group,
    collect_macros,
    expand_macros,
    replace_commands,
    style_abbreviations,
    text_symbols,
    without_false_branches,
)
from vlpipe.sources.arxiv.mainfile import flatten, tex_texts
from vlpipe.sources.arxiv.printed import (
    BIBLIOGRAPHY_STYLE,
    BOOK_CLASS,
    DOCUMENTCLASS,
    SECTIONING_LEVELS,
    cite_as_printed,
    cleveref_names,
    number_equations,
    number_headings,
    number_theorems,
    printed_citations,
    replace_acronyms,
    replace_refs,
)
from vlpipe.sources.arxiv.rules import mathpar_as_displays
from vlpipe.sources.arxiv.tables import (
    CAPTION,
    FLOAT_PLACEMENT,
    LABEL,
    cells_as_text,
    normalize_tables,
    table_caption,
    tables_as_markers,
)

_BIBLIOGRAPHY = re.compile(r"\\bibliography\s*\{[^}]*\}|\\printbibliography\b(\[[^\]]*\])?")
_THEBIB = re.compile(
    r"\\begin\s*\{thebibliography\}\s*\{[^}]*\}(.*?)\\end\s*\{thebibliography\}", re.DOTALL
)
_BIBITEM = re.compile(r"\\bibitem\s*(?:\[((?:[^\[\]]|\{[^{}]*\})*)\])?\s*\{([^}]+)\}")
_NEWBLOCK = re.compile(r"\\newblock\b\s*")
# pandoc puts every heading of a document with a ``\\part`` two levels down (the part is level
# 1, a section level 3): a part becomes an unnumbered section (its number, where the compile
# printed one, is in its title by then)
_PART = re.compile(r"\\part\*?\s*(?=[\[{])")
_CLEVEREF = re.compile(r"\\usepackage\s*\[([^\]]*)\]\s*\{[^}]*\bcleveref\b")
_DOLLAR = re.compile(r"(?<!\\)\$")
_BLANK_LINES = re.compile(r"\n\s*\n")
_COMMAND_BEFORE = re.compile(r"\\([A-Za-z@]+)\*?[ \t]*\n?[ \t]*$")
_TABLE_MARKER = re.compile(r"<!--vlpipe:table:(\d+):([0-9a-f]*)-->|VLPIPETABLE([0-9a-f]*)")


_CHEM = re.compile(r"\\(?:ce|cf)\b\s*(?=\{)")
# inside \ce{…}: arrows, a charge or mass number (``^{2-}``, ``^3``), a count after an element or
# a closing bracket (``H2O``, ``(OH)2``), an explicit subscript
_CHEM_TOKEN = re.compile(
    r"(?P<arrow><=>|<->|->|<-)|\^\{(?P<sup>[^{}]*)\}|\^(?P<charge>\d*[+-]|\d+)"
    r"|(?<=[A-Za-z)\]])(?P<count>\d+)|_\{(?P<sub>[^{}]*)\}|_(?P<sub1>\w)"
)
_CHEM_ARROWS = {
    "->": "\\rightarrow",
    "<-": "\\leftarrow",
    "<=>": "\\rightleftharpoons",
    "<->": "\\leftrightarrow",
}


# a bold math command around a formula in text (coles' table cells: ``\\bm{$0.602$}``), which
# pandoc drops with its argument: the formula, bold
_BOLD_AROUND_MATH = re.compile(r"\\(?:bm|boldsymbol|mathbf|pmb)\s*\{\s*\$([^${}]*)\$\s*\}")


def bold_formulas_in_text(tex: str) -> str:
    return _BOLD_AROUND_MATH.sub(lambda m: f"$\\boldsymbol{{{m[1]}}}$", tex)


def chemical_formulas(tex: str) -> str:
    """mhchem's ``\\ce{Cu2MnAl}`` as the math it prints (``\\mathrm{Cu_{2}MnAl}``): pandoc
    does not know mhchem and drops the formula. Counts become subscripts, charges and mass
    numbers superscripts, arrows arrows; spaces and ``+`` stay."""
    return replace_commands(
        tex, _CHEM, lambda _, formula: f"\\ensuremath{{\\mathrm{{{_chemical_text(formula)}}}}}"
    )


def _chemical_text(formula: str) -> str:
    return _CHEM_TOKEN.sub(_chemical_token, formula)


def _chemical_token(match: re.Match[str]) -> str:
    if match["arrow"]:
        return f"{_CHEM_ARROWS[match['arrow']]} "
    superscript = match["sup"] if match["sup"] is not None else match["charge"]
    if superscript is not None:
        return f"^{{{superscript}}}"
    return f"_{{{match['count'] or match['sub'] or match['sub1']}}}"


_SHORT_CAPTION = re.compile(r"^\s*\[[^\]]*\]")


def listing_captions(tex: str, compiled: Compiled, sources: str) -> str:
    """An ``lstlisting``'s ``caption=`` as the line listings prints above its code (below with
    ``captionpos=b``): ``Listing 3: …``, numbered as the compile numbered it (a labelled
    listing's number from the ``.aux``, else counted). pandoc keeps it only as an attribute of
    the code block, which the markdown does not print."""
    name = printed_name(sources, "lstlistingname", "Listing", "Listing")
    count = 0

    def captioned(listing: re.Match[str]) -> str:
        nonlocal count
        options = balanced_group(listing["options"] or "", 0, "[", "]")
        caption = _option(options[0], "caption") if options else None
        if listing["env"] != "lstlisting" or options is None or caption is None:
            return listing[0]
        count += 1
        number = compiled.labels.get((_option(options[0], "label") or "").strip(), str(count))
        count = int(number) if number.isdigit() else count  # the compile's count corrects ours
        text = _SHORT_CAPTION.sub("", caption).strip()  # ``caption={[short]long}``: the long
        line = f"\n\n{name} {number}: {text}\n\n"
        below = (_option(options[0], "captionpos") or "t").strip() == "b"
        return f"{listing[0]}{line}" if below else f"{line}{listing[0]}"

    return VERBATIM.sub(captioned, tex)


_TYPED_MARK = re.compile(r"VLPIPETYPED(\d+)X")
_PARAMETER = re.compile(r"#+\d")


def verbatim_marked(tex: str) -> tuple[str, list[str]]:
    """``tex`` with the text of each verbatim span (:data:`VERBATIM`: a code environment's body,
    a ``\\verb|…|`` whole) replaced by a mark, and those texts: what TeX reads as typed is not
    LaTeX to expand or clean up (a listing's ``#define X \\`` line ending in a backslash, its
    ``\\n``, a LaTeX listing's ``\\vspace``). :func:`verbatim_restored` puts them back."""
    typed: list[str] = []

    def mark(match: re.Match[str]) -> str:
        if _PARAMETER.search(match[0]):  # in a definition (``\\lstinline{#1}``): the macro's
            return match[0]
        if match["body"] is None:
            typed.append(match[0])
            return f"VLPIPETYPED{len(typed) - 1}X"
        typed.append(match["body"])
        head, tail = match.start("body") - match.start(), match.end("body") - match.start()
        return f"{match[0][:head]}VLPIPETYPED{len(typed) - 1}X{match[0][tail:]}"

    head, begin, body = tex.partition("\\begin{document}")  # the preamble's are definitions
    if not begin:
        head, body = "", tex
    return head + begin + VERBATIM.sub(mark, body), typed


def verbatim_restored(tex: str, typed: list[str]) -> str:
    return _TYPED_MARK.sub(lambda match: typed[int(match[1])], tex)


def plain_code(tex: str) -> str:
    """Code environments as pandoc reads them. An ``lstlisting``'s options (over several lines,
    with braced values: pandoc read them as code, or failed on the whole paper) cut down to the
    language, written as pandoc names it (``C`` had become ``objectivec``, ``[ANSI]C`` stayed
    so), and the LaTeX an ``escapeinside`` lets into the code (midas' fix lines in green) as
    the text it prints; fancyvrb's ``Verbatim`` without options, its ``commandchars``
    commands (megatron's ``+color~red!~…!``) as the text they print."""

    def plain(match: re.Match[str]) -> str:
        env, body = match["env"], match["body"]
        if env not in ("lstlisting", "Verbatim", "BVerbatim", "LVerbatim"):
            return match[0]
        bracketed = balanced_group(match["options"], 0, "[", "]")
        options = bracketed[0] if bracketed else ""
        head = ""
        if env == "lstlisting":
            escape = _escape_delimiters(options)
            if escape is not None:
                opening, closing = map(re.escape, escape)
                body = re.sub(f"{opening}(.*?){closing}", lambda m: _printed_text(m[1]), body)
            language = re.sub(r"^\[[^\]]*\]", "", _option(options, "language") or "")
            head = f"[language={language.strip().lower()}]" if language.strip() else ""
        elif len(chars := re.findall(r"\\?(.)", _option(options, "commandchars") or "")) == 3:
            body = _command_chars_text(body, "".join(chars))  # ``+~!``, ``\\\{\}``
        return f"\\begin{{{env}}}{head}{body}\\end{{{env}}}"

    return VERBATIM.sub(plain, tex)


def _command_chars_text(body: str, chars: str) -> str:
    """fancyvrb code whose three ``commandchars`` (escape, group open, group close) make commands
    in it, as the text it prints: the code's own backslashes and braces stay."""
    kept = str.maketrans(
        {c: s for c, s in zip("\\{}", "\ue000\ue001\ue002", strict=True) if c not in chars}
    )
    commands = str.maketrans(dict(zip(chars, "\\{}", strict=True)))
    text = _printed_text(body.translate(kept).translate(commands))
    return text.translate({0xE000: "\\", 0xE001: "{", 0xE002: "}"})


def _escape_delimiters(options: str) -> tuple[str, str] | None:
    """``escapeinside={<@}{@>}`` or ``escapeinside=||``: the two delimiters."""
    found = re.search(r"(?:^|,)\s*escapeinside\s*=\s*", options)
    if found is None:
        return None
    groups = braced_groups(options, found.end())
    if len(groups) >= 2:
        return groups[0], groups[1]
    pair = options[found.end() : found.end() + 2]
    return (pair[0], pair[1]) if len(pair) == 2 and "," not in pair else None


def _printed_text(tex: str) -> str:
    """Short LaTeX as the plain text it prints: commands that print nothing go with their
    arguments (``\\color{green}``), a command with several arguments prints its last
    (``\\textcolor{red}{x}``, pygments' ``\\PY{k}{def}``), other commands and braces leave
    their text."""
    text = without_layout_commands(tex)
    for _ in range(_NESTING_LIMIT):
        text, found = _INNERMOST_CALL.subn(lambda m: _BRACED.findall(m[1])[-1], text)
        if not found:
            break
    text = re.sub(r"\\([_&%$#{}~^\\ ])", lambda m: " " if m[1] == " " else m[1], text)
    return re.sub(r"\\[A-Za-z@]+\*?\s*|[{}]", "", text)


# a command and its braced arguments, none of which holds a brace
_INNERMOST_CALL = re.compile(r"\\[A-Za-z@]+\*?((?:[ \t]*\{[^{}]*\})+)")
_BRACED = re.compile(r"\{([^{}]*)\}")
_NESTING_LIMIT = 20


def _option(options: str, key: str) -> str | None:
    """The value of ``key`` in a ``key=value, …`` list (a braced value whole, without braces)."""
    found = re.search(rf"(?:^|,)\s*{key}\s*=\s*", options)
    if found is None:
        return None
    group = balanced_group(options, found.end())
    return group[0] if group else options[found.end() :].split(",", 1)[0].strip()


_NEW_MINTED = re.compile(r"\\newmint(inline|ed)\s*(?:\[([A-Za-z]+)\])?\s*\{([^}]+)\}")


def minted_shortcuts(tex: str, sources: str) -> str:
    """minted's shortcuts as the commands pandoc reads: ``\\newmintinline{ocaml}{}`` makes
    ``\\ocamlinline{…}`` (``\\mintinline{ocaml}{…}``), ``\\newminted{ocaml}{}`` the
    ``ocamlcode`` environment (``minted``); pandoc knows neither and drops the code."""
    for kind, name, language in _NEW_MINTED.findall(sources):
        language = language.strip()
        if kind == "inline":
            command = re.escape(name or f"{language}inline")
            inline = f"\\mintinline{{{language}}}"
            tex = re.sub(rf"\\{command}(?![A-Za-z@])", lambda _, text=inline: text, tex)
        else:
            environment = re.escape(name or f"{language}code")
            begin = f"\\begin{{minted}}{{{language}}}"
            tex = re.sub(rf"\\begin\s*\{{{environment}\}}", lambda _, text=begin: text, tex)
            tex = re.sub(rf"\\end\s*\{{{environment}\}}", r"\\end{minted}", tex)
    return tex


# a mark that steps the footnote counter (``\\footnotemark[3]`` repeats a number: left alone),
# and the text printed for it
_FOOTNOTE_MARK = re.compile(r"\\footnotemark(?![A-Za-z@])(?!\s*\[)(?:\s*\{\})?")
_FOOTNOTE_TEXT = re.compile(r"\\footnotetext(?![A-Za-z@])\s*(?=\{)")


def footnotes_at_their_marks(tex: str) -> str:
    """Each ``\\footnotemark`` (in a table, a heading, a caption, where a ``\\footnote`` cannot
    be) and the ``\\footnotetext{…}`` after it as one ``\\footnote{…}`` at the mark: pandoc
    drops both, and the page's later footnotes are numbered one ahead of the markdown's."""
    events = sorted(
        [(mark.start(), mark.end(), None) for mark in _FOOTNOTE_MARK.finditer(tex)]
        + [
            (text.start(), group[1], group[0])
            for text in _FOOTNOTE_TEXT.finditer(tex)
            if (group := balanced_group(tex, text.end())) is not None
        ]
    )
    marks: list[tuple[int, int]] = []
    replacements: dict[int, tuple[int, str]] = {}
    for start, end, text in events:
        if text is None:
            marks.append((start, end))
        elif marks:
            mark_start, mark_end = marks.pop(0)
            replacements[mark_start] = (mark_end, f"\\footnote{{{text}}}")
            replacements[start] = (end, "")
    out, position = [], 0
    for start in sorted(replacements):
        if start >= position:
            end, replacement = replacements[start]
            out += [tex[position:start], replacement]
            position = end
    return "".join(out) + tex[position:]


_BICAPTION = re.compile(r"\\bicaption\*?")


def bilingual_captions(tex: str) -> str:
    """bicaption's ``\\bicaption[…]{主标题}[…]{Main title}`` (Chinese theses) as one ``\\caption``
    holding both texts, as the page prints both; the second line's own label (``Figure 2.1``)
    is left out. Without its two arguments it stays."""
    out, position = [], 0
    for match in _BICAPTION.finditer(tex):
        cursor = match.end()
        groups = []
        for _ in range(2):
            if (option := balanced_group(tex, cursor, "[", "]")) is not None:
                cursor = option[1]
            if (group := balanced_group(tex, cursor)) is None:
                break
            groups.append(group[0])
            cursor = group[1]
        if match.start() >= position and len(groups) == 2:
            out += [tex[position : match.start()], f"\\caption{{{groups[0]} {groups[1]}}}"]
            position = cursor
    return "".join(out) + tex[position:]


_ACMART = re.compile(r"\\documentclass\s*(?:\[([^\]]*)\])?\s*\{acmart\}")
_CCSDESC = re.compile(r"\\ccsdesc\s*(?:\[[^\]]*\])?\s*(?=\{)")
_KEYWORDS = re.compile(r"\\keywords\s*(?=\{)")
_ACM_CONFERENCE_FORMATS = {"sigconf", "sigplan", "sigchi", "sigchi-a"}
_ABSTRACT_END = re.compile(r"\\end\s*\{abstract\}")


def _taken_out(tex: str, command: re.Pattern[str]) -> tuple[str, list[str]]:
    """``tex`` without the calls of ``command``, and their arguments in order."""
    arguments: list[str] = []

    def take(_command: re.Match[str], inside: str) -> str:
        arguments.append(inside)
        return ""

    return replace_commands(tex, command, take), arguments


def acm_concepts_and_keywords(tex: str) -> str:
    """acmart's ``\\ccsdesc[500]{Networks~Data center networks}`` concepts and ``\\keywords``
    as the text it prints after the abstract, which pandoc drops: ``CCS Concepts: • Networks →
    Data center networks.`` and ``Additional Key Words and Phrases: …`` in the journal formats,
    *CCS Concepts* and *Keywords* headings in the conference ones (``sigconf``)."""
    found = _ACMART.search(tex)
    if found is None:
        return tex
    tex, concepts = _taken_out(tex, _CCSDESC)
    tex, keywords = _taken_out(tex, _KEYWORDS)
    groups: dict[str, list[str]] = {}
    for concept in concepts:
        top, *rest = (part.strip() for part in concept.split("~"))
        groups.setdefault(top, []).append(" → ".join(rest))
    printed = " ".join(
        f"• {top} → {'; '.join(filter(None, subs))};" if any(subs) else f"• {top};"
        for top, subs in groups.items()
    )
    options = {option.strip() for option in (found[1] or "").split(",")}
    if options & _ACM_CONFERENCE_FORMATS:
        parts = [f"\\section*{{CCS Concepts}}\n\n{printed}"] if printed else []
        parts += [f"\\section*{{Keywords}}\n\n{', '.join(keywords)}"] if keywords else []
    else:
        parts = [f"CCS Concepts: {printed}"] if printed else []
        parts += [f"Additional Key Words and Phrases: {', '.join(keywords)}"] if keywords else []
    end = _ABSTRACT_END.search(tex)
    if not parts or end is None:
        return tex
    return tex[: end.end()] + "\n\n" + "\n\n".join(parts) + "\n\n" + tex[end.end() :]


# acmart's author block: each \author, then its \affiliation(s) and \email(s)
_ACM_AUTHOR_PARTS = re.compile(
    r"\\(author|affiliation|additionalaffiliation|email|orcid)\s*(?:\[[^\]]*\])?\s*(?=\{)"
)
# an affiliation's parts, in the order the conference formats print them
_ACM_ADDRESS_PARTS = ("department", "institution", "city", "state", "country")
_ACM_SETTING = re.compile(
    r"\\(acmYear|acmJournal|acmVolume|acmNumber|acmArticle|acmMonth|acmDOI|acmBooktitle)"
    r"\s*\{((?:[^{}]|\{[^{}]*\})*)\}"
)
_ACM_NO_REFERENCE = re.compile(r"\\settopmatter\s*\{[^}]*printacmref\s*=\s*false")
# acmart's journal codes and the abbreviations its reference format prints for them
_ACM_JOURNALS = {
    "PACMPL": "Proc. ACM Program. Lang.",
    "PACMHCI": "Proc. ACM Hum.-Comput. Interact.",
    "PACMMOD": "Proc. ACM Manag. Data",
    "PACMNET": "Proc. ACM Netw.",
    "PACMSE": "Proc. ACM Softw. Eng.",
    "POMACS": "Proc. ACM Meas. Anal. Comput. Syst.",
    "IMWUT": "Proc. ACM Interact. Mob. Wearable Ubiquitous Technol.",
    "TOG": "ACM Trans. Graph.",
    "TOPLAS": "ACM Trans. Program. Lang. Syst.",
    "TOSEM": "ACM Trans. Softw. Eng. Methodol.",
    "TOCS": "ACM Trans. Comput. Syst.",
    "TODS": "ACM Trans. Database Syst.",
    "TOIS": "ACM Trans. Inf. Syst.",
    "TKDD": "ACM Trans. Knowl. Discov. Data",
    "TIST": "ACM Trans. Intell. Syst. Technol.",
    "CSUR": "ACM Comput. Surv.",
    "JACM": "J. ACM",
}
_MONTHS = "January February March April May June July August September October November December"


@dataclass
class _AcmAuthor:
    name: str
    affiliations: list[str]
    emails: list[str]


def acmart_front_matter(tex: str, compiled: Compiled, styles: str) -> str:
    """acmart's front matter as its first page prints it, where pandoc drops all but the names:
    each author's affiliation (journal formats: ``NAME, Institution, Country``, authors of one
    affiliation in a row together; conference formats: department, institution, ``City,
    Country`` and e-mail under the name), the *ACM Reference Format* paragraph after the
    keywords (authors, year, title, the journal's abbreviation or the proceedings, the pages the
    compile made, the DOI), and the journal formats' footnote of the authors' addresses, as
    the class in use words it (``Authors' Contact Information`` since 2023)."""
    found = _ACMART.search(tex)
    if found is None:
        return tex
    conference = bool({o.strip() for o in (found[1] or "").split(",")} & _ACM_CONFERENCE_FORMATS)
    authors: list[_AcmAuthor] = []

    def take(match: re.Match[str], inside: str) -> str:
        if match[1] == "author":
            authors.append(_AcmAuthor(inside.strip(), [], []))
            return "\0"
        if authors and match[1] in ("affiliation", "additionalaffiliation"):
            authors[-1].affiliations.append(inside)
        elif authors and match[1] == "email":
            authors[-1].emails.append(inside.strip())
        return ""

    tex = replace_commands(tex, _ACM_AUTHOR_PARTS, take)
    if not authors:
        return tex
    blocks = [_acm_conference_author(a) for a in authors] if conference else _acm_journal(authors)
    slots = iter([f"\\author{{{block}\0}}" for block in blocks] + [""] * len(authors))
    tex = re.sub("\0", lambda _: next(slots), tex)
    notes = [] if conference else [_acm_addresses(authors, "Contact Information" in styles)]
    tex = _under_last_author(tex, notes)
    end = _ABSTRACT_END.search(tex)
    if _ACM_NO_REFERENCE.search(tex) or end is None:
        return tex
    reference = _acm_reference(tex, authors, compiled, conference)
    # right after the abstract: acm_concepts_and_keywords puts the concepts and keywords before it
    return f"{tex[: end.end()]}\n\n{reference}\n\n{tex[end.end() :]}"


def _acm_address(affiliation: str, parts: tuple[str, ...]) -> list[str]:
    """An affiliation's ``parts`` (``\\institution{…}``, ``\\country{…}`` …) that it gives, or
    its text where it gives none (``\\affiliation{Huawei Technologies}``)."""
    given = []
    for part in parts:
        found = re.search(rf"\\{part}\s*(?=\{{)", affiliation)
        group = balanced_group(affiliation, found.end()) if found else None
        if group is not None and group[0].strip():
            given.append(group[0].strip())
    return given or [affiliation.strip()]


def _acm_conference_author(author: _AcmAuthor) -> str:
    lines = [author.name]
    for affiliation in author.affiliations:
        *above, city, country = ["", "", *_acm_address(affiliation, _ACM_ADDRESS_PARTS)]
        if "\\city" not in affiliation:
            above, city = [*above, city], ""
        lines += [line for line in above if line] + [", ".join(filter(None, [city, country]))]
    return "\\\\ ".join(line for line in [*lines, *author.emails] if line)


def _acm_journal(authors: list[_AcmAuthor]) -> list[str]:
    """The journal formats' title lines: ``A and B, Institution, Country``, one per run of
    authors with the same affiliations."""
    lines: list[str] = []
    names: list[str] = []
    for index, author in enumerate(authors):
        names.append(author.name)
        following = authors[index + 1] if index + 1 < len(authors) else None
        if following is not None and following.affiliations == author.affiliations:
            continue
        places = " and ".join(
            ", ".join(_acm_address(a, ("institution", "country"))) for a in author.affiliations
        )
        lines.append(", ".join(filter(None, [_and_names(names), places])))
        names = []
    return lines


def _and_names(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return f"{', '.join(names[:-1])}, and {names[-1]}"


def _acm_addresses(authors: list[_AcmAuthor], contact: bool) -> str:
    """The journal formats' footnote of the authors' addresses, e-mails last."""
    several = len(authors) > 1
    if contact:
        label = f"{'Authors' if several else 'Author'}\u2019 Contact Information:"
    else:
        label = (
            f"{'Authors' if several else 'Author'}\u2019 {'addresses' if several else 'address'}:"
        )
    entries = []
    for author in authors:
        places = " and ".join(
            ", ".join(_acm_address(a, _ACM_ADDRESS_PARTS)) for a in author.affiliations
        )
        entries.append(", ".join(filter(None, [author.name, places, *author.emails])))
    return f"{label} {'; '.join(entries)}."


def _acm_reference(
    tex: str, authors: list[_AcmAuthor], compiled: Compiled, conference: bool
) -> str:
    """The *ACM Reference Format* paragraph, from the paper's settings (``\\acmYear`` …) and
    the number of pages the compile made (acmart's ``TotPages`` label)."""
    settings = {name: value.strip() for name, value in _ACM_SETTING.findall(tex)}
    title_command = re.search(r"\\title\s*(?:\[[^\]]*\])?\s*(?=\{)", tex)
    title = balanced_group(tex, title_command.end()) if title_command else None
    pages = compiled.labels.get("TotPages", "")
    extent = f"{pages} page{'' if pages == '1' else 's'}" if pages else ""
    year = settings.get("acmYear", "")
    if conference:
        booktitle = settings.get("acmBooktitle")
        publisher = ", ".join(filter(None, ["ACM, New York, NY, USA", extent]))
        source = f"In {booktitle}. {publisher}" if booktitle else publisher
    else:
        month = settings.get("acmMonth", "")
        if month.isdigit() and 1 <= int(month) <= 12:
            month = _MONTHS.split()[int(month) - 1]
        code = settings.get("acmJournal", "")
        journal = f"{_ACM_JOURNALS.get(code, code)} {settings.get('acmVolume', '')}".strip()
        article = settings.get("acmArticle")
        dated = f"Article {article} ({month} {year})" if article else ""
        source = ", ".join(filter(None, [journal, settings.get("acmNumber"), dated, extent]))
    doi = settings.get("acmDOI")
    pieces = [_and_names([a.name for a in authors]), year, title[0] if title else "", source]
    text = ". ".join(piece.strip() for piece in pieces if piece and piece.strip())
    link = f" https://doi.org/{doi}" if doi else ""
    return f"\\textbf{{ACM Reference Format:}}\n\n{text}.{link}"


_ELSARTICLE = re.compile(DOCUMENTCLASS + r"elsarticle\b")
_ELS_ADDRESS = re.compile(r"\\(?:address|affiliation)\s*(?:\[([^\]]*)\])?\s*(?=\{)")
_ELS_AUTHOR = re.compile(r"\\author\s*(?:\[([^\]]*)\])?\s*(?=\{)")
_ELS_CORREF = re.compile(r"\\corref\s*\{[^}]*\}")
_ELS_CORTEXT = re.compile(r"\\cortext\s*(?:\[([^\]]*)\])?\s*(?=\{)")
_ELS_FNREF = re.compile(r"\\fnref\s*\{([^}]*)\}")
_ELS_FNTEXT = re.compile(r"\\fntext\s*(?:\[([^\]]*)\])?\s*(?=\{)")
_ELS_KEYWORDS = re.compile(r"\\begin\s*\{keyword\}(.*?)\\end\s*\{keyword\}", re.DOTALL)
# the new ``\affiliation{organization={…}, city={…}, country={…}}``: printed in this order
_ELS_ADDRESS_PARTS = ("organization", "addressline", "city", "postcode", "state", "country")


def elsarticle_front_matter(tex: str) -> str:
    """elsarticle's authors and addresses as it prints them, which pandoc drops: each author's
    address letters, ``∗`` for ``\\corref`` and footnote numbers for ``\\fnref`` raised after the
    name, the addresses lettered a, b … in their order (no letters for a single one), the
    corresponding author's note and the footnotes (numbered in the order of their texts), and
    ``Keywords:`` before the ``keyword`` environment's ``\\sep``-separated terms."""
    if _ELSARTICLE.search(tex) is None:
        return tex
    tex, addresses = _keyed_calls(tex, _ELS_ADDRESS)
    tex, notes = _keyed_calls(tex, _ELS_CORTEXT)
    tex, footnotes = _keyed_calls(tex, _ELS_FNTEXT)
    letters = {key: chr(ord("a") + n) for n, (key, _) in enumerate(addresses)}
    letters = letters if len(addresses) > 1 else {}
    numbers = {key: str(n) for n, (key, _) in enumerate(footnotes, start=1)}

    def author(match: re.Match[str], name: str) -> str:
        marks = [letters[k.strip()] for k in (match[1] or "").split(",") if k.strip() in letters]
        marks += ["$\\ast$"] if _ELS_CORREF.search(name) else []
        referred = (
            key.strip() for found in _ELS_FNREF.finditer(name) for key in found[1].split(",")
        )
        marks += [numbers[key] for key in referred if key in numbers]
        raised = f"\\textsuperscript{{{','.join(marks)}}}" if marks else ""
        return f"\\author{{{_ELS_FNREF.sub('', _ELS_CORREF.sub('', name)).strip()}{raised}\0}}"

    tex = replace_commands(tex, _ELS_AUTHOR, author)
    printed = [_raised(letters.get(key), _address_text(text)) for key, text in addresses]
    printed += [_raised("$\\ast$", note) for _, note in notes]
    printed += [_raised(numbers[key], text) for key, text in footnotes]
    return _ELS_KEYWORDS.sub(_elsarticle_keywords, _under_last_author(tex, printed))


_REVTEX_OPTIONS = re.compile(r"\\documentclass\s*\[([^\]]*)\]\s*\{revtex")
_REVTEX_FRONT = re.compile(r"\\(author|affiliation)\s*(?:\[[^\]]*\])?\s*(?=\{)")


def revtex_front_matter(tex: str) -> str:
    """REVTeX's affiliations, which pandoc drops, under the authors as printed: an
    ``\\affiliation`` belongs to the authors since the previous one; with ``superscriptaddress``
    each is numbered in the order it first appears and the authors carry its numbers raised."""
    if _REVTEX.search(tex) is None:
        return tex
    options = _REVTEX_OPTIONS.search(tex)
    numbered = bool(options) and "superscriptaddress" in options[1]
    numbers: dict[str, int] = {}
    groups: list[tuple[list[str], list[int]]] = []  # (authors, their affiliations' numbers)
    calls: list[tuple[str, str]] = []

    def read(match: re.Match[str], inside: str) -> str:
        calls.append((match[1], inside))
        authors = sum(kind == "author" for kind, _ in calls)
        return f"\0{authors - 1}\0" if match[1] == "author" else ""

    tex = replace_commands(tex, _REVTEX_FRONT, read)
    for kind, inside in calls:
        if kind == "author" and (not groups or groups[-1][1]):
            groups.append(([], []))
        if kind == "author":
            groups[-1][0].append(inside)
        elif groups:
            number = numbers.setdefault(" ".join(inside.split()), len(numbers) + 1)
            groups[-1][1].append(number)
    names = []
    for authors, affiliations in groups:
        marks = ",".join(str(n) for n in affiliations) if numbered else ""
        names += [f"\\author{{{name}{_raised(marks, '')}\0}}" for name in authors]
    tex = re.sub("\0(\\d+)\0", lambda m: names[int(m[1])], tex)
    notes = [_raised(str(n) if numbered else None, text) for text, n in numbers.items()]
    return _under_last_author(tex, notes)


_AUTHBLK = re.compile(r"\\usepackage\s*(?:\[[^\]]*\])?\s*\{[^}]*\bauthblk\b[^}]*\}")
_AUTHBLK_AUTHOR = re.compile(r"\\author\s*(?:\[([^\]]*)\])?\s*(?=\{)")
_AUTHBLK_AFFIL = re.compile(r"\\affil\s*(?:\[([^\]]*)\])?\s*(?=\{)")


def authblk_front_matter(tex: str) -> str:
    """authblk's ``\\author[1,2]{…}`` and ``\\affil[1]{…}``, which pandoc drops, as printed: the
    marks as written, raised after each name, and the affiliations, each led by its mark, under
    the authors."""
    if _AUTHBLK.search(tex) is None:
        return tex
    tex, affiliations = _keyed_calls(tex, _AUTHBLK_AFFIL)

    def author(match: re.Match[str], name: str) -> str:
        return f"\\author{{{name}{_raised((match[1] or '').strip(), '')}\0}}"

    tex = replace_commands(tex, _AUTHBLK_AUTHOR, author)
    return _under_last_author(tex, [_raised(key, text) for key, text in affiliations])


def _under_last_author(tex: str, notes: list[str]) -> str:
    """``tex`` whose authors end with a NUL mark, the marks removed and ``notes`` added as
    ``\\thanks`` of the last author: the markdown prints them under the authors, as the page."""
    last = tex.rfind("\0")
    if last >= 0:
        tex = tex[:last] + "".join(f"\\thanks{{{note}}}" for note in notes) + tex[last:]
    return tex.replace("\0", "")


def _keyed_calls(tex: str, command: re.Pattern[str]) -> tuple[str, list[tuple[str, str]]]:
    """``tex`` without the calls of ``command`` (``\\address[key]{text}``), and their keys and
    texts in order."""
    found: list[tuple[str, str]] = []

    def take(match: re.Match[str], inside: str) -> str:
        found.append(((match[1] or "").strip(), inside))
        return ""

    return replace_commands(tex, command, take), found


def _address_text(address: str) -> str:
    """An address as printed: the new key-value form's parts in elsarticle's order."""
    parts = [_option(address, key) for key in _ELS_ADDRESS_PARTS]
    return ", ".join(part.strip() for part in parts if part) or address


def _raised(mark: str | None, text: str) -> str:
    return f"\\textsuperscript{{{mark}}}{text}" if mark else text


def _elsarticle_keywords(keywords: re.Match[str]) -> str:
    terms = re.sub(r"\s*\\sep\b\s*", ", ", keywords[1].strip())
    return f"\n\n\\noindent\\textit{{Keywords:}} {terms}\n\n"


def _single_paragraph_captions(tex: str) -> str:
    """Blank lines inside ``\\caption{…}`` joined (LaTeX allows them in a long caption; pandoc's
    reader fails on the whole paper)."""
    return replace_commands(
        tex, CAPTION, lambda command, text: command[0] + "{" + _BLANK_LINES.sub("\n", text) + "}"
    )


_FIGURE = re.compile(r"\\begin\s*\{(figure\*?)\}(.*?)\\end\s*\{\1\}", re.DOTALL)
# a subfigure environment (its caption is the last inside), or a subcaption command:
# subcaption's ``\\subcaption{…}``/``\\subcaptionbox[…]{…}``, subfig's ``\\subfloat[…][…]``
_SUBFIGURE = re.compile(
    r"\\begin\s*\{subfigure\}(?P<body>.*?)\\end\s*\{subfigure\}"
    r"|\\(?P<command>subcaptionbox|subcaption|subfloat|subfigure)\b\*?",
    re.DOTALL,
)


def _captions(tex: str) -> list[str]:
    found = (balanced_group(tex, match.end()) for match in CAPTION.finditer(tex))
    return [group[0] for group in found if group is not None]


def _last_caption(tex: str) -> str | None:
    captions = _captions(tex)
    return captions[-1] if captions else None


# Environments pandoc does not know, as the standard ones they are: paralist's lists and
# LaTeX's list, the floats of rotating, wrapfig and sidecap (their other arguments dropped)
_ENVIRONMENT_ALIASES = {
    "compactitem": ("itemize", 0),
    "asparaitem": ("itemize", 0),
    "inparaitem": ("itemize", 0),
    "compactenum": ("enumerate", 0),
    "asparaenum": ("enumerate", 0),
    "inparaenum": ("enumerate", 0),
    "sidewaystable": ("table", 0),
    "sidewaysfigure": ("figure", 0),
    "SCtable": ("table", 0),
    "SCfigure": ("figure", 0),
    "wraptable": ("table", 2),
    "wrapfigure": ("figure", 2),
    "list": ("itemize", 2),  # its label and its spacing settings
}
# (a starred one, ``sidewaystable*``, spans both columns: the same float for the markdown)
_ALIASED_ENVIRONMENT = re.compile(rf"\\(begin|end)\s*\{{({'|'.join(_ENVIRONMENT_ALIASES)})\*?\}}")


# Commands that print nothing (spacing, alignment, colour, counters, page styles) and how many
# braced arguments they take: pandoc reads an unknown command with every braced group after it,
# so ``\\noindent{\\bf Analysis.}`` and ``\\color{red}{text}`` lost their text.
_LAYOUT_ARGUMENTS = {
    **dict.fromkeys(
        [
            "noindent",
            "centering",
            "raggedright",
            "raggedleft",
            "hfill",
            "vfill",
            "protect",
            "medskip",
            "smallskip",
            "bigskip",
            "FloatBarrier",
            "balance",
            "ignorespaces",
            "unskip",
            "null",
            # commands that print nothing, which pandoc reads as taking the group after them
            # (asvc-llncs' ``\\parhead`` is ``{\\bfseries\\boldmath\\ignorespaces{#1}}``)
            "boldmath",
            "unboldmath",
            "relax",
            "leavevmode",
            "nobreak",
            "normalfont",
            "selectfont",
            "clearpage",
            "newpage",
            "cleardoublepage",
        ],
        0,
    ),
    **dict.fromkeys(["vspace", "hspace", "addvspace", "color", "thispagestyle", "pagestyle"], 1),
    "mathcolor": 1,  # its colour; the formula stays
    **dict.fromkeys(["setlength", "addtolength", "setcounter", "addtocounter"], 2),
}
_LAYOUT = re.compile(rf"\\({'|'.join(_LAYOUT_ARGUMENTS)})(?![A-Za-z@])\*?")
# a category code set (fudan's ``\\catcode`\\"=\\active`` before its ``\\def"#1"{…}``)
_CATCODE = re.compile(r"\\catcode\s*`\\?.\s*=?\s*(?:\\active\b|\d+)")


def without_layout_commands(tex: str) -> str:
    """``tex`` without :data:`_LAYOUT_ARGUMENTS`' commands and their arguments (options too),
    TeX's skips and category codes; a horizontal space stays a space between words."""
    out, position = [], 0
    for match in _LAYOUT.finditer(tex):
        if match.start() < position:
            continue
        end = match.end()
        while (option := balanced_group(tex, end, "[", "]")) is not None:
            end = option[1]
        for _ in range(_LAYOUT_ARGUMENTS[match[1]]):
            group = balanced_group(tex, end)
            end = group[1] if group is not None else end
        out += [tex[position : match.start()], " " if match[1] in ("hspace", "hfill") else ""]
        position = end
    return _CATCODE.sub("", TEX_SKIP.sub("", "".join(out) + tex[position:]))


def standard_environments(tex: str) -> str:
    """``tex`` with :data:`_ENVIRONMENT_ALIASES` renamed: pandoc keeps an environment it does not
    know raw, and the list's or float's text would be lost with it."""
    out, position = [], 0
    for match in _ALIASED_ENVIRONMENT.finditer(tex):
        if match.start() < position:
            continue
        name, arguments = _ENVIRONMENT_ALIASES[match[2]]
        out += [tex[position : match.start()], f"\\{match[1]}{{{name}}}"]
        position = match.end()
        if match[1] == "begin":
            while (option := balanced_group(tex, position, "[", "]")) is not None:
                position = option[1]
            for _ in range(arguments):
                group = balanced_group(tex, position)
                position = group[1] if group is not None else position
    return "".join(out) + tex[position:]


def _subcaption_argument(tex: str, start: int, command: str) -> str | None:
    """The caption a subcaption command at ``start`` prints: the braced argument of
    ``\\subcaption``/``\\subcaptionbox`` (after its optional list entry), the last optional
    argument of ``\\subfloat``/``\\subfigure`` (none: no caption)."""
    options: list[str] = []
    while (option := balanced_group(tex, start, "[", "]")) is not None:
        options.append(option[0])
        start = option[1]
    if command in ("subfloat", "subfigure"):
        return options[-1] if options and options[-1].strip() else None
    group = balanced_group(tex, start)
    return group[0] if group is not None else None


def normalize_figures(tex: str) -> str:
    """Figures as pandoc reads them: one picture and the caption. pandoc (2.x) keeps a
    ``figure*`` raw (dropped) and loses the caption of a figure with subfigures, several
    pictures or none (a TikZ figure); the subfigures' captions print before it as
    ``(a) …`` (as the page does, under their pictures). A figure holding a table stays (a
    ``tabular`` that only lays out pictures is no table)."""

    def rebuild(match: re.Match[str]) -> str:
        subcaptions: list[str] = []

        def subfigure(sub: re.Match[str]) -> str:
            if sub["command"] is None:
                caption = _last_caption(sub["body"])
            else:
                caption = _subcaption_argument(match[2], sub.end(), sub["command"])
            if caption is not None:
                subcaptions.append(f"({chr(ord('a') + len(subcaptions) % 26)}) {caption}")
            return "" if sub["command"] is None else sub[0]

        body = _SUBFIGURE.sub(subfigure, match[2])
        captions = _captions(body)
        if not captions or any(not _PICTURE.search(table[2]) for table in _TABULAR.finditer(body)):
            return match[0]
        lead = "\n\n" + " ".join(subcaptions) + "\n\n" if subcaptions else ""
        # captions side by side in minipages (megatron's Fig. 13 and 14): a figure each
        figures = "".join(
            f"\\begin{{figure}}\n\\includegraphics{{figure}}\n\\caption{{{caption}}}\n\\end{{figure}}"
            for caption in captions
        )
        text = "" if subcaptions else figure_text(body)
        return f"{text}{lead}{figures}"

    return _FIGURE.sub(rebuild, tex)


_PICTURE = re.compile(r"\\includegraphics\*?\s*(?:\[[^\]]*\]\s*)?(?=\{)")
_WORD = re.compile(r"[^\W\d_]{3,}")
_TABULAR = re.compile(r"\\begin\s*\{(tabular[xy*]?|tabu)\}(.*?)\\end\s*\{\1\}", re.DOTALL)
_LINE_BREAK = re.compile(r"\\\\(?:\s*\[[^\]]*\])?")  # between boxes: the text goes on below
# display math in a figure (megatron's grammar in an ``align*``): its ``\\`` ends a row, not a box
_DISPLAY_MATH = re.compile(
    r"\\begin\s*\{(align|alignat|flalign|gather|multline|equation|eqnarray|array)(\*?)\}"
    r".*?\\end\s*\{\1\2\}|\\\[.*?\\\]|\$\$.*?\$\$",
    re.DOTALL,
)


def figure_text(body: str) -> str:
    """The text a figure typesets besides its pictures and caption (flamingo's prompts and
    answers in boxes, an algorithm), in a :data:`FIGURE_TEXT` environment before it: the page
    prints it, and the page split moves it with the caption. A body with fewer than four words
    outside commands (``\\centering``, a picture's options) and no code has none."""
    text = FLOAT_PLACEMENT.sub("", body)
    for command in (CAPTION, _PICTURE):
        text = replace_commands(text, command, lambda _command, _inside: "")
    if len(_WORD.findall(_plain_text(text))) < 4 and not _TYPED_MARK.search(text):  # no code
        return ""
    pieces, end = [], 0
    for math in _DISPLAY_MATH.finditer(text):
        pieces += [_LINE_BREAK.sub("\n\n", text[end : math.start()]), math[0]]
        end = math.end()
    text = "".join([*pieces, _LINE_BREAK.sub("\n\n", text[end:])]).strip()
    return f"\n\n\\begin{{{FIGURE_TEXT}}}\n{text}\n\\end{{{FIGURE_TEXT}}}\n\n"


# expl3 internals a class offers (fduthesis's ``\\__fdu_chapter:n {引言}``, its variables
# ``\\c__fdu_name_tl``): pandoc would print their names; a function's arguments are the text
_EXPL3_INTERNAL = re.compile(r"\\[clg]?__[A-Za-z_@]+(?::[A-Za-z]*)?")
# \bgroup/\egroup as the braces they stand for (omeganet's \hl macro): pandoc knows neither
# apsrev's .bbl wraps lines where pandoc fails and TeX does not: after ``and\\`` (a control
# space) and between a command and its argument (``\\href`` ⏎ ``{…}``)
_CONTROL_SPACE_AT_LINE_END = re.compile(r"(?<!\\)(\\(?:\\\\)*)\n")
_ARGUMENT_ON_NEXT_LINE = re.compile(r"(\\[A-Za-z@]+)[ \t]*\n[ \t]*(?=\{)")
_IMPLICIT_BRACE = re.compile(r"\\([be])group\b")
_TABLE_FLOAT = re.compile(r"\\(begin|end)\s*\{table\*?\}")
_LISTS = re.compile(r"\\(tableofcontents|listoffigures|listoftables)\b\s*")
_LIST_FILES = {"tableofcontents": "toc", "listoffigures": "lof", "listoftables": "lot"}
_LIST_NAMES = {  # LaTeX's names, ctex's, and the macros a class renews them with
    "toc": ("contentsname", "Contents", "目录"),
    "lof": ("listfigurename", "List of Figures", "插图"),
    "lot": ("listtablename", "List of Tables", "表格"),
}
_REVTEX = re.compile(DOCUMENTCLASS + r"revtex")
# ctex names LaTeX's headings in Chinese (xeCJK only sets the fonts), and so do the Chinese
# thesis classes of TeX Live built on it (their .cls is not in the paper's folder)
_CTEX = re.compile(
    r"\\(?:documentclass|LoadClass|usepackage)\s*(?:\[[^\]]*\])?\s*"
    r"\{(?:ctex\w*|fduthesis|thuthesis|ustcthesis|pkuthss|njuthesis|bithesis|hithesis)\}"
)
_CAPTION_NAMES = {  # as _LIST_NAMES, for the caption labels
    "figure": ("figurename", "Figure", "图"),
    "table": ("tablename", "Table", "表"),
}
_CAPTION_LABEL = re.compile(r"^(Figure|Table) (\d+):(.*)", re.MULTILINE)
_CAPTION_LIST = {"figure": "lof", "table": "lot"}
_ENTRY_NUMBER = re.compile(r"[\w.-]*\d[\w.-]*")


def printed_name(sources: str, macro: str, english: str, chinese: str) -> str:
    """The name LaTeX prints for ``\\<macro>`` (``\\figurename``, ``\\contentsname`` …): the
    paper's or its class's last renewal, else ctex's Chinese name, else LaTeX's English one."""
    renewed = re.finditer(
        rf"\\(?:renewcommand\s*\{{?\\{macro}\}}?|def\\{macro})\s*\{{([^{{}}]*)\}}", sources
    )
    # a renewal to another class macro (``\\def\\bibname{\\ucas@label@ch@bibname}``) is not
    # followed: the defaults stand for it
    text = [
        (found.start(), found[1]) for found in renewed if not found[1].lstrip().startswith("\\")
    ]
    anywhere = [name for start, name in text if not _inside_definition(sources, start)]
    if anywhere:
        return anywhere[-1]
    if text:  # set only inside definitions, a class's languages (llncs): the first, its default
        return text[0][1]
    return chinese if _CTEX.search(sources) else english


# the start of a definition's body: what it sets is set only where the macro runs (llncs'
# ``\\switcht@deutsch`` names the German ``Tabelle``); a style's options are resolved already
# (``with_options``)
_DEFINITION_BODY = re.compile(
    r"\\(?:[gex]?def\s*\\[A-Za-z@]+[^{]*"
    r"|(?:re)?newcommand\*?\s*\{?\\[A-Za-z@]+\}?\s*(?:\[\d\]\s*)?)(?=\{)"
)
_DEFINITION_REACH = 20_000  # characters before a renewal searched for a definition around it


def _inside_definition(sources: str, position: int) -> bool:
    for found in _DEFINITION_BODY.finditer(sources, max(0, position - _DEFINITION_REACH), position):
        group = balanced_group(sources, found.end())
        if group is not None and found.end() < position < group[1]:
            return True
    return False


def printed_caption_labels(markdown: str, compiled: Compiled, sources: str) -> str:
    """Caption labels as the page prints them: the figure and table names (``printed_name``:
    ``图``, a renewed ``Fig.``) and the number of the compile's list-of-figures/tables entry
    the caption stands for (``2.1`` in a thesis; see ``listed_numbers``), else pandoc's running
    count. ctex prints no space between a Chinese name and the number."""
    names = {kind: printed_name(sources, *spelled) for kind, spelled in _CAPTION_NAMES.items()}
    numbers: dict[int, str] = {}
    for kind in _CAPTION_NAMES:
        entries = [
            (number[0], normalize(text[number.end() :]))
            for level, text, _ in compiled.contents.get(_CAPTION_LIST[kind], [])
            if level == kind and (number := _ENTRY_NUMBER.match(text)) is not None
        ]
        found = [m for m in _CAPTION_LABEL.finditer(markdown) if m[1].lower() == kind]
        listed = listed_numbers([normalize(m[3]) for m in found], entries)
        numbers |= {m.start(): n for m, n in zip(found, listed, strict=True) if n is not None}

    def label(match: re.Match[str]) -> str:
        name = names[match[1].lower()]
        number = numbers.get(match.start(), match[2])
        return f"{name}{'' if CJK.match(name[-1:]) else ' '}{number}:{match[3]}"

    return _CAPTION_LABEL.sub(label, markdown)


def listed_numbers(captions: list[str], entries: list[tuple[str, str]]) -> list[str | None]:
    """The list entry (number, text) each caption stands for, None where none does. An entry
    holds the short caption where a ``\\caption[short]{long}`` gives one, so its text may only
    start the caption. In order: the captions and entries whose texts agree so (an entry's text
    starts its caption) are aligned in order, as LaTeX ships floats of a kind in source order;
    a caption left that an entry left spells whole takes it (a ``longtable`` ships before an
    earlier float that moved); between two aligned pairs, as many captions left as entries left
    pair up in order; the last captions left take an entry left whose text starts them."""

    def similarity(text: str, caption: str) -> float:
        score = Indel.normalized_similarity(text, caption) if text else 0.0
        return score if score >= 0.8 else 0.0

    # compared without spaces: normalize spaces CJK characters, and the spaces would agree
    captions = [caption.replace(" ", "") for caption in captions]
    entries = [(number, text.replace(" ", "")) for number, text in entries]
    starts = [
        [similarity(text, caption[: len(text)]) for _, text in entries] for caption in captions
    ]
    pairs = _aligned_pairs(starts)
    taken = dict(pairs)

    def take(caption: int, candidates: list[int]) -> None:
        unused = set(range(len(entries))) - set(taken.values())
        taken[caption] = next(e for e in candidates if e in unused)

    for c, caption in enumerate(captions):
        whole = [e for e, (_, text) in enumerate(entries) if similarity(text, caption)]
        if c not in taken and set(whole) - set(taken.values()):
            take(c, whole)
    bounds = [(-1, -1), *pairs, (len(captions), len(entries))]
    for (c0, e0), (c1, e1) in itertools.pairwise(bounds):
        left = [c for c in range(c0 + 1, c1) if c not in taken]
        free = [e for e in range(e0 + 1, e1) if e not in taken.values()]
        if len(left) == len(free):
            taken |= dict(zip(left, free, strict=True))
    for c in range(len(captions)):
        starting = [e for e in range(len(entries)) if starts[c][e]]
        if c not in taken and set(starting) - set(taken.values()):
            take(c, starting)
    return [entries[taken[c]][0] if c in taken else None for c in range(len(captions))]


def _aligned_pairs(scores: list[list[float]]) -> list[tuple[int, int]]:
    """The in-order (row, column) pairs of positive score whose scores sum highest (a weighted
    longest common subsequence over the matrix)."""
    rows, cols = len(scores), len(scores[0]) if scores else 0
    best = [[0.0] * (cols + 1) for _ in range(rows + 1)]
    for r in range(rows - 1, -1, -1):
        for c in range(cols - 1, -1, -1):
            matched = best[r + 1][c + 1] + scores[r][c] if scores[r][c] else 0.0
            best[r][c] = max(matched, best[r + 1][c], best[r][c + 1])
    pairs, r, c = [], 0, 0
    while r < rows and c < cols:
        if scores[r][c] and best[r][c] == best[r + 1][c + 1] + scores[r][c]:
            pairs.append((r, c))
            r, c = r + 1, c + 1
        elif best[r + 1][c] >= best[r][c + 1]:
            r += 1
        else:
            c += 1
    return pairs


# (a ``\\protect``ed one is written into the contents file, for the entries after it: not read)
_TOC_DEPTH = re.compile(r"(?<!\\protect)\\setcounter\s*\{tocdepth\}\s*\{\s*(-?\d+)\s*\}")


def toc_depth(sources: str, lines: list[tuple[str, str, str]]) -> int:
    """The deepest level ``\\tableofcontents`` prints: the paper's last ``\\setcounter{tocdepth}``,
    else the standard classes' default (2 where there are chapters, 3 in an article)."""
    set_by_paper = _TOC_DEPTH.findall(sources)
    if set_by_paper:
        return int(set_by_paper[-1])
    return 2 if any(level == "chapter" for level, _, _ in lines) else 3


def contents_lists(tex: str, compiled: Compiled, sources: str) -> str:
    """``\\tableofcontents``, ``\\listoffigures`` and ``\\listoftables`` as the lines they
    print, from the compile's own ``.aux`` entries (each entry's number, text and page), under
    the heading the paper's class or ``ctex`` names them with."""

    def listed(match: re.Match[str]) -> str:
        kind = _LIST_FILES[match[1]]
        lines = compiled.contents.get(kind)
        if not lines:
            return ""
        macro, english, chinese = _LIST_NAMES[kind]
        name = printed_name(sources, macro, english, chinese)
        depth = toc_depth(sources, lines) if kind == "toc" else SECTIONING_LEVELS["subparagraph"]
        entries = "\n\n".join(
            f"{text} {page}"
            for level, text, page in lines
            if SECTIONING_LEVELS.get(level, 0) <= depth
        )
        return f"\\section*{{{name}}}\n\n{entries}\n\n"

    return _LISTS.sub(listed, tex)


def prepare_for_pandoc(tex: str, compiled: Compiled, sources: str = "") -> str:
    """Flattened, macro-expanded LaTeX made easy for pandoc: the compile's ``.bbl`` replaces
    ``\\bibliography``, the contents lists are printed from the ``.aux``, citations, ``\\ref``s
    and heading numbers become what the compile printed
    (``compiled``, read with the paper's ``sources`` for the citation style; a ``\\ref`` the
    compile did not resolve prints ``??``, as on the page), the reference list becomes labelled
    paragraphs under a *References* heading, tables become ``tabular``s; ``\\label``s go first
    (pandoc needs none; one alone on a caption's last line left a blank line in the caption,
    which fails pandoc on the whole paper)."""
    cleveref = _CLEVEREF.search(sources)
    tex = algorithms_as_printed(tex, compiled, sources)  # before the labels go: it reads them
    tex = number_equations(tex, compiled, sources)
    tex = replace_refs(
        LABEL.sub("", tex), compiled, cleveref[1] if cleveref else "", cleveref_names(sources)
    )
    citations, printed = printed_citations(compiled, sources)
    tex = number_theorems(cite_as_printed(tex, citations, printed), compiled, sources)
    tex = _PART.sub(r"\\section*", number_headings(tex, compiled))
    tex = standard_environments(without_layout_commands(BIBLIOGRAPHY_STYLE.sub("", tex)))
    tex = acm_concepts_and_keywords(acmart_front_matter(tex, compiled, sources))
    tex = revtex_front_matter(authblk_front_matter(tex))
    tex = elsarticle_front_matter(tex)
    tex = footnotes_at_their_marks(tex)
    tex = normalize_tables(bilingual_captions(tex))
    tex = _single_paragraph_captions(tex)
    tex = minted_shortcuts(text_symbols(chemical_formulas(bold_formulas_in_text(tex))), sources)
    tex = listing_captions(tex, compiled, sources)
    tex = contents_lists(normalize_figures(mathpar_as_displays(tex)), compiled, sources)
    if compiled.bbl is not None:
        # biber's: data for biblatex to print, which it prints here; bibtex's: LaTeX (ACM's
        # ``\\bibitem[Acar(2009)]%`` ends a line with a comment)
        bbl = (
            bibliography(read_entries(compiled.bbl), biblatex_style(sources))
            if is_biblatex(compiled.bbl)
            # IEEEtran's ``\\hskip 1em plus 0.5em minus 0.4em\\relax`` between the parts
            else TEX_SKIP.sub(" ", strip_comments(compiled.bbl))
        )
        place = _BIBLIOGRAPHY.search(tex)
        if place is not None:
            start, end = _enclosing_call(tex, place.start(), place.end())
            tex = tex[:start] + bbl + tex[end:]
    tex = _BIBLIOGRAPHY.sub("", tex)
    listed = _THEBIB.search(tex)
    if listed is not None:
        labels = {k: c.label for k, c in (citations or {}).items() if not printed.author_year}
        references = _references(listed[1], labels, _references_heading(sources))
        tex = tex[: listed.start()] + references + tex[listed.end() :]
    tex = _ARGUMENT_ON_NEXT_LINE.sub(r"\1 ", _CONTROL_SPACE_AT_LINE_END.sub(r"\1 \n", tex))
    tex = _TABLE_FLOAT.sub(r"\\\1{table*}", tex)  # read by markdown.lua (see its RawBlock)
    return _IMPLICIT_BRACE.sub(lambda m: "{" if m[1] == "b" else "}", _EXPL3_INTERNAL.sub("", tex))


def _enclosing_call(tex: str, start: int, end: int) -> tuple[int, int]:
    """The span of the command call whose braced argument holds ``tex[start:end]`` (the whole
    ``\\IfFileExists{x.bbl}{\\bibliography{x}}{}`` or a class's own conditional, which pandoc
    cannot evaluate: the compile made a ``.bbl``, so the branch that prints it was taken), or
    the span itself at the top level or inside an environment."""
    depth, opening = 0, -1
    for index in range(start - 1, -1, -1):
        char = tex[index]
        if index > 0 and tex[index - 1] == "\\":
            continue
        if char == "}":
            depth += 1
        elif char == "{":
            if depth == 0:
                opening = index
                break
            depth -= 1
    if opening < 0:
        return start, end
    first = opening  # back over the arguments before this one to the command's name
    while True:
        name = _COMMAND_BEFORE.search(tex, 0, first)
        if name is not None:
            break
        before = tex[:first].rstrip()
        if not before.endswith("}"):
            return start, end
        group_start = _group_start(tex, len(before) - 1)
        if group_start < 0:
            return start, end
        first = group_start
    if name[1] in ("begin", "end"):
        return start, end
    after = balanced_group(tex, opening)
    while after is not None:
        last = after[1]
        after = balanced_group(tex, last)
    begin = name.start()  # with the control words chained before it (``\\expandafter\\if…``)
    while (chained := _COMMAND_BEFORE.search(tex, 0, begin)) is not None:
        begin = chained.start()
    return begin, last


def _group_start(tex: str, closing: int) -> int:
    """The index of the ``{`` that the ``}`` at ``closing`` closes, or -1."""
    depth = 0
    for index in range(closing, -1, -1):
        if index > 0 and tex[index - 1] == "\\":
            continue
        if tex[index] == "}":
            depth += 1
        elif tex[index] == "{":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _references_heading(sources: str) -> str:
    """The bibliography's heading as the class prints it: revtex prints none, book-like classes
    ``\\bibname``, the others ``\\refname``."""
    if _REVTEX.search(sources):
        return ""
    book = BOOK_CLASS.search(sources)
    macro, english = ("bibname", "Bibliography") if book else ("refname", "References")
    return f"\\section*{{{printed_name(sources, macro, english, '参考文献')}}}"


def _references(body: str, labels: dict[str, str], heading: str) -> str:
    """The bibliography as paragraphs under its ``heading``, each led by its label as printed
    (``labels``: from the compile's ``\\bibcite``s; author-year entries have none); the entries'
    formatting macros (the ``.bbl``'s own, and kernel ones) print their text. An unbalanced
    ``$`` in an entry (TeX recovers from it) is printed as a dollar sign."""
    preamble, *entries = _BIBITEM.split(body)
    macros = {**bibliography_macros(preamble), **BIBLIOGRAPHY_TEXT}
    paragraphs = []
    for start in range(0, len(entries), 3):
        text = expand_macros(_NEWBLOCK.sub("", entries[start + 2]), known=macros).strip()
        if len(_DOLLAR.findall(text)) % 2:
            text = _DOLLAR.sub(r"\\$", text)
        label = labels.get(entries[start + 1].strip())
        paragraphs.append(f"[{label}] {text}" if label else text)
    return f"\n{heading}\n" + "\n\n".join(paragraphs) + "\n"


# Commands pandoc reads itself, which a bibliography style's fallback definitions would spoil
# (apsrev's ``\\url`` is catcode changes)
_PANDOC_READS = frozenset(["\\url", "\\href"])


def bibliography_macros(preamble: str) -> dict[str, Macro]:
    """The macros a ``.bbl``'s preamble defines for its entries (``\\bibinfo{author}{…}``,
    ``\\natexlab{a}``, ACM's ``\\showarticletitle``): pandoc knows none of them and drops their
    text. One that sets a register (IEEEtran's ``\\BIBentryALTinterwordspacing``:
    ``\\spaceskip=\\fontdimen2\\font plus …``) prints nothing."""
    defined, _ = collect_macros(preamble)
    return {
        name: Macro(macro.params, macro.default, "") if _ASSIGNMENT.match(macro.body) else macro
        for name, macro in defined.items()
        if name not in _PANDOC_READS
    }


_ASSIGNMENT = re.compile(r"\s*\\[A-Za-z@]+\s*=")


# vlpipe's markdown conventions as a pandoc Lua filter: a package data file next to this module.
LUA_FILTER = "markdown.lua"
# Plain markdown with pipe tables and $/$$ math; pandoc's attribute and div syntaxes off.
PANDOC_OUTPUT = (
    "markdown-header_attributes-link_attributes-fenced_divs-bracketed_spans-native_divs"
    "-native_spans-raw_attribute-simple_tables-multiline_tables-grid_tables-smart"
    "-fenced_code_attributes-inline_code_attributes"
)


class ConversionError(DocumentError):
    """pandoc could not convert the paper's LaTeX to markdown."""


def latex_to_markdown(tex: str, timeout_s: float = 60) -> str:
    """Convert LaTeX to markdown with pandoc (sandboxed: it reads no file). Tables it cannot
    read come back as ``<!--vlpipe:table:…-->`` markers (see :func:`render_table_fallbacks`)."""
    binary = shutil.which("pandoc")
    if binary is None:
        raise ConfigError("pandoc is not installed (Debian package: pandoc)")
    with tempfile.TemporaryDirectory(prefix="vlpipe-pandoc-") as tmp:
        lua = Path(tmp, "filter.lua")
        lua.write_bytes(resources.files("vlpipe.sources.arxiv").joinpath(LUA_FILTER).read_bytes())
        argv = [binary, "--sandbox", "-f", "latex+raw_tex", "-t", PANDOC_OUTPUT, "--wrap=none"]
        argv += [f"--lua-filter={lua}"]
        try:
            done = subprocess.run(
                argv, input=tex.encode(), capture_output=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise ConversionError(f"pandoc exceeded the {timeout_s:g}s time limit") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        where = next((line for line in message if line.startswith("Error at")), None)
        detail = " ".join(message[:2]) if where else (message[-1] if message else done.returncode)
        raise ConversionError(f"pandoc failed: {detail}")
    text = done.stdout.decode("utf-8", "replace").replace("\u00a0", " ")  # ~ ties are spaces
    # pandoc parts ``$\\sim$`` from a digit after it (``2$\\sim$<!-- -->20x``) with an empty
    # HTML comment, which is no text of the page's
    text = text.replace("<!-- -->", "")
    return unescape_brackets(text)


def unescape_brackets(markdown: str) -> str:
    """pandoc escapes ``[``/``]`` in text (they could start links); citations and reference
    numbers read ``[1]`` on the page, and math keeps its own backslashes."""
    parts = MATH.split(markdown)
    maths = MATH.findall(markdown)
    plain = [part.replace("\\[", "[").replace("\\]", "]") for part in parts]
    return "".join(p + m for p, m in zip(plain, [*maths, ""], strict=True))


_PANDOC_LINE = re.compile(r"\(line (\d+), column \d+\)")
_ENVIRONMENT = re.compile(r"\\(begin|end)\s*\{([^}]+)\}")
MAX_RETRIES = 8
_SECTION_START = re.compile(r"(?=\\section\*?\s*[\[{])")


def _convert(tex: str, timeout_s: float) -> tuple[str, list[str]]:
    """pandoc's markdown of ``tex`` and the fallbacks it took: when its reader fails, the tables
    as plain-text cells, then, up to :data:`MAX_RETRIES` times, the environment (or paragraph)
    at the line it names as plain text, and last each section converted on its own (one it
    cannot read as plain text), so that one construct pandoc cannot read does not lose the
    paper."""
    try:
        return latex_to_markdown(tex, timeout_s), []
    except ConversionError:
        tex = tables_as_markers(tex)
    fallbacks = ["every table as its cells' text"]
    for _ in range(MAX_RETRIES):
        try:
            return latex_to_markdown(tex, timeout_s), fallbacks
        except ConversionError as error:
            line = _PANDOC_LINE.search(str(error))
            if line is None:
                break
            tex = plain_text_at(tex, int(line[1]))
            fallbacks.append(f"plain text at line {line[1]}: {str(error).splitlines()[0][:120]}")
    markdown, plain = _convert_by_sections(tex, timeout_s)
    return markdown, [*fallbacks, f"section by section, {plain} as plain text"]


_LEVEL_MARK = "VLPIPELEVELMARK"
_LEVEL_MARK_HEADING = re.compile(rf"^# {_LEVEL_MARK}\n+", re.MULTILINE)


def _convert_by_sections(tex: str, timeout_s: float) -> tuple[str, int]:
    """Each section converted on its own; in a paper with chapters each piece starts with a
    marker chapter, so that pandoc puts its sections at level 2 as in the whole paper (a piece
    without a chapter had them at level 1), and the marker's heading is removed after."""
    head, begin, body = tex.partition("\\begin{document}")
    if not begin:
        head, body = "", tex
    parts = _SECTION_START.split(body.replace("\\end{document}", ""))
    level = f"\\chapter*{{{_LEVEL_MARK}}}\n\n" if "\\chapter" in body else ""
    out, plain = [], 0
    for index, part in enumerate(parts):
        chunk = (
            f"{head}{begin}{level}{part}\\end{{document}}" if index == 0 and begin else level + part
        )
        try:
            out.append(_LEVEL_MARK_HEADING.sub("", latex_to_markdown(chunk, timeout_s)))
        except ConversionError as error:
            if "time limit" in str(error):
                raise
            out.append(_plain_text(part))
            plain += 1
    return "\n\n".join(out), plain


def _plain_text(tex: str) -> str:
    text = re.sub(r"\\(?:begin|end)\s*\{[^}]*\}|\\[A-Za-z@]+\*?|[{}$]", " ", tex)
    return "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip())


def plain_text_at(tex: str, line: int) -> str:
    """``tex`` with the innermost environment around ``line`` (1-based), else that paragraph,
    replaced by its text: commands dropped, tables as table markers."""
    lines = tex.split("\n")
    offset = sum(len(part) + 1 for part in lines[: max(line - 1, 0)])
    if line - 1 < len(lines):  # where the line's text starts: an environment may begin there
        offset += len(lines[line - 1]) - len(lines[line - 1].lstrip())
    start, end = _enclosing_environment(tex, offset)
    chunk = tex[start:end]
    if "\\begin{tabular" in chunk or "\\begin{longtable" in chunk:
        replacement = tables_as_markers(chunk)
        replacement = re.sub(r"\\(?:begin|end)\s*\{[^}]*\}|\\[A-Za-z@]+\*?", " ", replacement)
    else:
        replacement = re.sub(r"\\[A-Za-z@]+\*?|[{}]", " ", chunk)
    replacement = re.sub(r"\$+", " ", replacement)
    return tex[:start] + "\n\n" + replacement.strip() + "\n\n" + tex[end:]


def _enclosing_environment(tex: str, offset: int) -> tuple[int, int]:
    stack: list[tuple[str, int]] = []
    found = None
    for match in _ENVIRONMENT.finditer(tex):
        if match[1] == "begin":
            stack.append((match[2], match.start()))
        elif stack and stack[-1][0] == match[2]:
            name, begin = stack.pop()
            inside = begin <= offset < match.end() and name != "document"
            if inside and (found is None or begin >= found[0]):
                found = (begin, match.end())
    if found is not None:
        return found
    start = tex.rfind("\n\n", 0, offset)
    end = tex.find("\n\n", offset)
    return (start + 1 if start >= 0 else 0), (end if end >= 0 else len(tex))


def render_table_fallbacks(markdown: str) -> tuple[str, int]:
    """Each table marker replaced by its caption (``Table N: …``, N from the Lua filter's count)
    and a pipe table of its cells as plain text, a block of its own; and how many."""
    count = 0

    def render(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        raw = bytes.fromhex(match[2] or match[3] or "").decode("utf-8", "replace")
        rows = cells_as_text(raw)
        width = max((len(row) for row in rows), default=0)
        lines = ["| " + " | ".join([*row, *[""] * (width - len(row))]) + " |" for row in rows]
        lines[1:1] = ["|" + "---|" * width] if rows else []
        caption = table_caption(raw)
        if match[1] and match[1] != "0" and caption is not None:
            lines = [f"Table {match[1]}: {caption}", "", *lines]
        return "\n\n" + "\n".join(lines) + "\n\n"

    return _TABLE_MARKER.sub(render, markdown), count


@dataclass(frozen=True)
class PaperMarkdown:
    text: str
    table_fallbacks: int  # tables pandoc could not read, rendered as their cells' text
    conversion_fallbacks: tuple[str, ...] = ()  # what was read as plain text when pandoc failed


def paper_markdown(
    files: dict[str, bytes],
    main: str,
    outputs: dict[str, bytes],
    timeout_s: float = 60,
) -> PaperMarkdown:
    """The whole paper as markdown: inputs inlined, text TeX leaves out (``\\iffalse``) gone,
    acronyms and macros expanded, and what the compile printed (its ``outputs``: ``.aux`` and
    ``.bbl`` files) for citations, references and heading numbers."""
    texts = tex_texts(files)
    compiled = read_compiled(outputs, main)
    tex, typed = verbatim_marked(flatten(main, texts))
    styles = loaded_styles(tex, files)
    tex = without_false_branches(tex, styles)
    sources = tex + "\n" + styles  # what sets the citation style
    known = {**PACKAGE_TEXT, **style_abbreviations(styles)}
    tex = expand_macros(replace_acronyms(tex), known=known)
    prepared = plain_code(verbatim_restored(prepare_for_pandoc(tex, compiled, sources), typed))
    markdown, conversion = _convert(prepared, timeout_s)
    text, fallbacks = render_table_fallbacks(markdown)
    text = printed_caption_labels(text, compiled, sources)
    text = _DISPLAY_MATH_MD.sub(lambda m: _BLANK_LINES.sub("\n", m[0]), join_cjk_lines(text))
    return PaperMarkdown(text, fallbacks, tuple(conversion))


_LOADS = re.compile(
    r"\\(documentclass|usepackage|RequirePackage)\s*(?:\[([^\]]*)\])?\s*\{([^}]*)\}"
)


def loaded_styles(tex: str, files: dict[str, bytes]) -> str:
    """The text (comments removed) of the paper's own classes and packages that ``tex`` loads:
    a folder often also holds the styles of other venues, which the paper does not use. Of two
    styles with one name, TeX finds the one next to the main file first (parabs-pldi's
    ``macros.sty``, not ``prophecy/macros.sty``)."""
    by_name: dict[str, str] = {}
    for name in sorted(files, key=lambda path: (path.count("/"), path)):
        by_name.setdefault(PurePosixPath(name).name, name)
    wanted: dict[str, set[str]] = {}  # a style's file → the options it is loaded with
    for load in _LOADS.finditer(tex):
        suffix = ".cls" if load[1] == "documentclass" else ".sty"
        options = {option.strip() for option in (load[2] or "").split(",")}
        # ``\\usepackage{Style/artratex}``: a path to the paper's own style
        for name in load[3].split(","):
            found = by_name.get(PurePosixPath(name.strip()).name + suffix)
            if found:
                wanted.setdefault(found, set()).update(options)
    loaded = (
        with_options(strip_comments(decode_tex(files[name])), options)
        for name, options in wanted.items()
    )
    return "\n".join(loaded)


def with_options(style: str, options: set[str]) -> str:
    """A class's or package's text as loaded with ``options``: the body of each
    ``\\DeclareOption`` it is loaded with (or executes by default) where it is declared, the others
    gone, then the branches of its switches those bodies set (sn-jnl's ``default`` option sets
    ``\\if@Default@refstyle``, whose branch loads natbib for numbers; the branches of its other
    reference styles load it for author-year)."""
    chosen = options | {
        option.strip() for group in _EXECUTE_OPTIONS.findall(style) for option in group.split(",")
    }
    out, position = [], 0
    for declared in _DECLARE_OPTION.finditer(style):
        body = balanced_group(style, declared.end())
        if body is None or declared.start() < position:
            continue
        out += [style[position : declared.start()], body[0] if declared[1] in chosen else ""]
        position = body[1]
    return without_false_branches("".join(out) + style[position:])


_DECLARE_OPTION = re.compile(r"\\DeclareOption\*?\s*(?:\{([^{}]*)\})?\s*(?=\{)")
_EXECUTE_OPTIONS = re.compile(r"\\ExecuteOptions\s*\{([^{}]*)\}")


# a display's blank lines (where a picture in it was, fduthesis' TikZ in math) would end it as a
# markdown paragraph, and the page split could cut it there
_DISPLAY_MATH_MD = re.compile(r"\$\$.*?\$\$", re.DOTALL)
_CJK_BREAK = re.compile(
    "(?<=[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]) "
    "(?=[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef])"
)


def join_cjk_lines(markdown: str) -> str:
    """The space pandoc puts for a source line break between two CJK characters removed: CJK
    text has none, and TeX (xeCJK, ctex) prints none."""
    return _CJK_BREAK.sub("", markdown)
