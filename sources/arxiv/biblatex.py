"""biber's ``.bbl`` read back: the entries biblatex typesets, in the bibliography's order, the
label each is cited with, and each entry as biblatex's standard styles print it.

Unlike bibtex's ``.bbl`` (``thebibliography``: LaTeX to print), biber's holds data
(``\\entry … \\field{title}{…} … \\endentry``) that biblatex's style formats when the paper
compiles. This module does that formatting for the standard style families — numeric (and its
``-comp``), alphabetic and authoryear, which the other styles (``ieee``, ``nature``,
``gb7714-2015ay`` …) derive from — with the package options that change what prints
(``style``/``citestyle``, ``maxnames``/``maxcitenames``/``maxbibnames``, ``doi``/``url``/
``isbn``/``eprint``) and the fields ``\\AtEveryBibitem`` clears."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vlpipe.sources.arxiv.compiled import Citation, braced_groups
from vlpipe.sources.arxiv.macros import balanced_group

_BIBLATEX_DATA = re.compile(r"\\entry\s*\{|biblatex auxiliary file")
_ENTRY = re.compile(r"\\entry\{([^{}]*)\}\{([^{}]*)\}\{[^{}]*\}(.*?)\\endentry", re.DOTALL)
_ITEM = re.compile(r"\\(field|name|list|range)\{([^{}]+)\}")
_VERB = re.compile(r"\\verb\{([^{}]+)\}\s*\\verb\s+(.*?)\s*\\endverb", re.DOTALL)
_NAME_PART = re.compile(r"\b(family|given|prefix|suffix)=\{((?:[^{}]|\{[^{}]*\})*)\}")
_NAME_DELIMS = {
    "\\bibnamedelima": " ",
    "\\bibnamedelimb": " ",
    "\\bibnamedelimc": " ",
    "\\bibnamedelimd": " ",
    "\\bibnamedelimi": " ",
    "\\bibinitdelim": " ",
    "\\bibinitperiod": ".",
    "\\bibinithyphendelim": "-",
}
_NAME_DELIM = re.compile("(?:" + "|".join(re.escape(k) for k in _NAME_DELIMS) + r")\s*")
_RANGE_DASH = re.compile(r"\\bibrangedash\s*")
_LOAD = re.compile(r"\\(?:usepackage|RequirePackage)\s*\[([^\]]*)\]\s*\{biblatex\}")
_EXECUTE = re.compile(r"\\ExecuteBibliographyOptions\s*(?:\[[^\]]*\])?\s*\{([^{}]*)\}")
_AT_EVERY_BIBITEM = re.compile(r"\\AtEveryBibitem\s*")
_CLEAR = re.compile(r"\\clear(?:field|list|name)\s*\{(\w+)\}")


@dataclass(frozen=True)
class Name:
    family: str
    given: str = ""
    prefix: str = ""
    suffix: str = ""

    def given_first(self) -> str:
        return " ".join(p for p in (self.given, self.prefix, self.family, self.suffix) if p)

    def family_first(self) -> str:
        family = " ".join(p for p in (self.prefix, self.family) if p)
        return ", ".join(p for p in (family, self.suffix, self.given) if p)


@dataclass
class Entry:
    key: str
    kind: str
    fields: dict[str, str] = field(default_factory=dict)
    names: dict[str, list[Name]] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, str] = field(default_factory=dict)  # biber's count: 1 is a single page


@dataclass(frozen=True)
class BiblatexStyle:
    family: str  # numeric, alphabetic or authoryear
    compress: bool = False  # numeric-comp: [1–3]
    max_cite_names: int = 3
    min_cite_names: int = 1
    max_bib_names: int = 3
    min_bib_names: int = 1
    cleared: frozenset[str] = frozenset()  # fields the bibliography does not print


def is_biblatex(bbl: str | None) -> bool:
    return bbl is not None and _BIBLATEX_DATA.search(bbl) is not None


def read_entries(bbl: str) -> list[Entry]:
    """The ``.bbl``'s entries, in its order (biber's, as the bibliography prints them), each
    once."""
    entries: dict[str, Entry] = {}
    for match in _ENTRY.finditer(bbl):
        if match[1] not in entries:
            entries[match[1]] = _entry(match[1], match[2], match[3])
    return list(entries.values())


def _entry(key: str, kind: str, body: str) -> Entry:
    entry = Entry(key, kind)
    for item in _ITEM.finditer(body):
        groups = braced_groups(body, item.end())
        if not groups:
            continue
        if item[1] == "field":
            entry.fields[item[2]] = _RANGE_DASH.sub("--", groups[0])
        elif item[1] == "range":
            entry.ranges[item[2]] = groups[0]
        elif item[1] == "name":
            entry.names[item[2]] = [_name(text) for text in braced_groups(groups[-1], 0)]
        else:
            entry.lists[item[2]] = braced_groups(groups[-1], 0)
    for verb in _VERB.finditer(body):
        entry.fields[verb[1]] = verb[2].strip()
    return entry


def _name(text: str) -> Name:
    parts = {key: _NAME_DELIM.sub(lambda m: _NAME_DELIMS[m[0].strip()], value).strip()
             for key, value in _NAME_PART.findall(text)}  # fmt: skip
    return Name(
        parts.get("family", ""), parts.get("given", ""), parts.get("prefix", ""),
        parts.get("suffix", ""),
    )  # fmt: skip


def biblatex_style(sources: str) -> BiblatexStyle:
    """The style the paper loads biblatex with, and the options that change what prints."""
    options: dict[str, str] = {}
    for match in [*_LOAD.finditer(sources), *_EXECUTE.finditer(sources)]:
        for option in match[1].split(","):
            key, _, value = option.partition("=")
            options[key.strip()] = value.strip() or "true"
    name = options.get("citestyle") or options.get("style") or "numeric"
    family = (
        "alphabetic" if "alphabetic" in name
        else "authoryear" if re.search(r"authoryear|authortitle|apa|ay$|chicago", name)
        else "numeric"
    )  # fmt: skip
    cleared = {
        field_name
        for match in _AT_EVERY_BIBITEM.finditer(sources)
        for field_name in _CLEAR.findall((balanced_group(sources, match.end()) or ("",))[0])
    }
    cleared |= {f for f in ("doi", "url", "isbn", "eprint") if options.get(f) == "false"}
    if options.get("url") == "false":
        cleared |= {"urlyear", "urlmonth", "urlday"}

    def number(key: str, default: str) -> int:
        value = options.get(key, options.get(re.sub("cite|bib", "", key), default))
        return int(value) if value.isdigit() else int(default)

    return BiblatexStyle(
        family,
        compress="comp" in name,
        max_cite_names=number("maxcitenames", "3"),
        min_cite_names=number("mincitenames", "1"),
        max_bib_names=number("maxbibnames", "3"),
        min_bib_names=number("minbibnames", "1"),
        cleared=frozenset(cleared),
    )


def citations(entries: list[Entry], style: BiblatexStyle) -> dict[str, Citation]:
    """Each entry's citation: its label (its place in the list, or alphabetic's ``HY96a``), its
    year as cited (``2012a``) and its names as cited (``Huisken and Yau``, ``Arbarello et al.``)."""
    found = {}
    for number, entry in enumerate(entries, 1):
        alpha = entry.fields.get("labelalpha", "") + _letter(entry.fields.get("extraalpha", ""))
        cited = [" ".join(p for p in (n.prefix, n.family) if p) for n in _label_names(entry)]
        found[entry.key] = Citation(
            alpha if style.family == "alphabetic" else str(number),
            _year(entry) + _letter(entry.fields.get("extradate", "")),
            _joined(cited, style.max_cite_names, style.min_cite_names),
        )
    return found


def bibliography(entries: list[Entry], style: BiblatexStyle) -> str:
    """The entries as a ``thebibliography`` environment: what the style prints for each, led
    by its label (authoryear prints none)."""
    cited = citations(entries, style)
    items = []
    for entry in entries:
        label = "" if style.family == "authoryear" else cited[entry.key].label
        items.append(f"\\bibitem[{label}]{{{entry.key}}} {printed_entry(entry, style)}")
    return "\\begin{thebibliography}{0}\n" + "\n\n".join(items) + "\n\\end{thebibliography}"


_QUOTED_TITLE = {"article", "inbook", "incollection", "inproceedings", "patent", "thesis",
                 "unpublished", "phdthesis", "mastersthesis"}  # fmt: skip
_THESIS_TYPE = {"phdthesis": "PhD thesis", "mathesis": "MA thesis", "mastersthesis": "MA thesis"}


def printed_entry(entry: Entry, style: BiblatexStyle) -> str:
    """One entry as LaTeX, in the order and words of biblatex's standard bibliography style
    (``standard.bbx``): names, (authoryear: the year,) title, where it appeared, publisher and
    date, pages, then note, identifiers and URL."""
    fields = {k: v for k, v in entry.fields.items() if k not in style.cleared}
    lists = {k: ", ".join(v) for k, v in entry.lists.items() if k not in style.cleared}
    author_year = style.family == "authoryear"
    year = _year(entry) + (_letter(fields.get("extradate", "")) if author_year else "")
    blocks: list[str] = []
    people = entry.names.get("author") or entry.names.get("editor") or []
    if people:
        names = _bib_names(people, style, invert_first=author_year)
        if "author" not in entry.names:
            names += ", ed." if len(people) == 1 else ", eds."
        blocks.append(f"{names} ({year})" if author_year and year else names)
    if "title" in fields:
        title = fields["title"] + (f". {fields['subtitle']}" if "subtitle" in fields else "")
        blocks.append(f"``{title}''" if entry.kind in _QUOTED_TITLE else title)
    blocks += _venue(entry.kind, fields, lists, entry.ranges, "" if author_year else year)
    blocks += [fields[key] for key in ("note", "addendum") if key in fields]
    blocks += [f"{key}: {fields[key]}" for key in ("issn", "isbn") if key in fields]
    if "doi" in fields:
        blocks.append(f"doi: \\url{{{fields['doi']}}}")
    if "eprint" in fields:
        kind = fields.get("eprinttype", "eprint")
        blocks.append(f"{'arXiv' if kind.lower() == 'arxiv' else kind}: {fields['eprint']}")
    if "url" in fields:
        blocks.append(f"url: \\url{{{fields['url']}}}")
    ended = (block if block.endswith((".", "?", "!")) else block + "." for block in blocks if block)
    return " ".join(ended)


def _venue(
    kind: str, fields: dict[str, str], lists: dict[str, str], ranges: dict[str, str], year: str
) -> list[str]:
    """Where the entry appeared, its publisher and date (``year``: none for authoryear, which
    prints it after the names) and its pages."""
    pages = fields.get("pages", "")
    if pages:
        pages = ("p. " if ranges.get("pages", "1") == "1" else "pp. ") + pages
    place = lists.get("location", "")
    publisher = lists.get("publisher", "") or lists.get("institution", "")
    published = ": ".join(p for p in (place, publisher) if p)
    if kind == "article":
        journal = " ".join(p for p in (fields.get("journaltitle", ""), _issue(fields)) if p)
        journal += f" ({year})" if year else ""
        return [f"In: {journal}" + (f", {pages}" if pages else "")] if journal else [pages][:1]
    blocks = []
    if kind in ("inproceedings", "incollection", "inbook") and "booktitle" in fields:
        blocks.append(f"In: {fields['booktitle']}")
    if "volume" in fields and kind != "article":
        blocks.append(f"Vol. {fields['volume']}")
    if "series" in fields:
        blocks.append(fields["series"] + (f" {fields['number']}" if "number" in fields else ""))
    if kind in _THESIS_TYPE or kind == "thesis":
        blocks.append(_THESIS_TYPE.get(fields.get("type", kind), fields.get("type", "Thesis")))
    if kind == "report":
        blocks.append(
            fields.get("type", "Tech. rep.")
            + (f" {fields['number']}" if "number" in fields else "")
        )
    if "howpublished" in fields:
        blocks.append(fields["howpublished"])
    dated = ", ".join(p for p in (published, year, pages) if p)
    return [*blocks, dated] if dated else blocks


def _issue(fields: dict[str, str]) -> str:
    volume = fields.get("volume", "")
    number = fields.get("number", "") or fields.get("issue", "")
    return f"{volume}.{number}" if volume and number else volume or number


def _bib_names(names: list[Name], style: BiblatexStyle, invert_first: bool) -> str:
    written = [
        name.family_first() if invert_first and index == 0 else name.given_first()
        for index, name in enumerate(names)
    ]
    return _joined(written, style.max_bib_names, style.min_bib_names)


def _joined(names: list[str], most: int, least: int) -> str:
    """Names as biblatex lists them: ``A and B``, ``A, B, and C``; past ``most`` names, the
    first ``least`` and *et al.*"""
    if len(names) > most:
        return ", ".join(names[: max(least, 1)]) + " et al."
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + ", and " + names[-1]


def _label_names(entry: Entry) -> list[Name]:
    source = entry.fields.get("labelnamesource", "author")
    return entry.names.get(source) or entry.names.get("author") or entry.names.get("editor") or []


def _year(entry: Entry) -> str:
    return entry.fields.get("labelyear") or entry.fields.get("year", "")


def _letter(extra: str) -> str:
    """biber's ``extradate``/``extraalpha`` number as the letters printed after a year or label
    (biblatex's ``\\mknumalph``: 1 → a, 26 → z, 27 → aa)."""
    number = int(extra) if extra.isdigit() and len(extra) < 6 else 0
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters
