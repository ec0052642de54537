"""Splitting a paper's markdown into one part per PDF page, Nougat-style: both texts are
normalised, a word-level longest common subsequence with the pages' text layers labels markdown
words with their page, each page boundary is cut between the last word of one page and the first
of the next, and floats (captions, tables) are placed on the page that holds their words.
``char_f1`` scores a page's markdown against its text layer."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from rapidfuzz.distance import Indel, LCSseq

# Inline and display math in markdown (``$…$``, ``$$…$$``): kept whole, never read as words.
# (pandoc writes ``\$`` for a dollar sign: no math starts or ends there)
MATH = re.compile(r"(?<!\\)\$\$.*?(?<!\\)\$\$|(?<!\\)\$(?:\\\$|[^$\n])*\$", re.DOTALL)
# math inside a paragraph, line breaks and all (pandoc writes ``\$`` for a dollar sign)
_MATH_IN_BLOCK = re.compile(r"(?<!\\)\$\$.*?(?<!\\)\$\$|(?<!\\)\$.+?(?<!\\)\$", re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_EMPHASIS = re.compile(r"(?<![\\*])\*{1,3}(?!\*)")  # a run of asterisks pandoc did not escape
_COMMAND = re.compile(r"\\[A-Za-z]+|\\.")
# a caption as printed (``Figure 3:``, ``Table A.1:``, ctex's ``图2.1:``, a renamed ``Fig. 3:``,
# acmart's ``Fig. 3.``, REVTeX's ``FIG. 3.``: see ``caption_labels_as_on_pages``; an
# algorithm's ``Algorithm 2:``, ``算法 2:``)
_FLOAT = re.compile(
    r"^(?:(?i:fig(?:ure)?|tab(?:le)?|algorithm)\.?|图|表|算法) ?(?:[\w.-]*\d[\w.-]*|[IVXLC]+)[:.]"
)
# a caption's label in the markdown, and a line of a page's text layer that starts like one
_MARKDOWN_CAPTION = re.compile(
    r"^(?P<name>Figure|Table|Fig\.|Tab\.|图|表) ?(?P<number>[\w.-]*\d[\w.-]*):(?P<text>.*)$",
    re.MULTILINE,
)
_PAGE_CAPTION = re.compile(
    r"^\s*(?P<name>[A-Za-z][A-Za-z.]{0,9}|图|表) ?"
    r"(?P<number>[\w.-]*?\d[\w.-]*?|[IVXLC]+)(?P<sep>[:.])\s",
    re.MULTILINE,
)
_CAPTION_WORDS = 6  # words of a caption's text that must match to take the page's label
_SHORT_CAPTION_WORDS = 2  # a shorter caption's words, all of them, with the same number
_CAPTION_READ = 300  # characters after a page's label that hold those words, line breaks and all
_NOT_ALNUM = re.compile(r"[^\w\s]|_")  # \w: what str.isalnum() accepts, and "_"
_CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
CJK = re.compile(f"[{_CJK_RANGES}]")
# a CJK character (a word of its own, at its own offset) or a run of other characters
_PIECE = re.compile(f"[{_CJK_RANGES}]|[^{_CJK_RANGES}]+")
_PAGE_NUMBER = re.compile(r"\d+|[ivxlcdm]+")  # a normalised word that numbers a page
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")  # a code block's fence, and what follows it
_START_WORDS = 4  # a block's first words, found in its page's text to place a float
# what a piece of math prints between two words, glued to the word before or after it where TeX
# set no space (``PAR-SPREAD($\\Gamma_h$`` is ``parspreadγh``, ``$t\\,P$ represents`` is
# ``tprepresents``)
_MATH_WORDS = r"\S*(?: \S+){0,6} \S*?"
_MATH_OR_TEXT = re.compile(f"({MATH.pattern})|(?:\\\\\\$|(?!\\$).)+", re.DOTALL)
_TABLE_PAGES_AHEAD = 2  # a table's next row is on its page or one of the next two
RUNNING_REPEATS = 3  # a line on this many pages (page numbers aside) is a running head or foot


def normalize(text: str) -> str:
    """Text reduced to what both the markdown and the PDF text layer agree on: NFKC, lower-case
    letters and digits, one space between words (markup, LaTeX commands and punctuation
    removed). CJK text has no spaces between words: each CJK character is a word."""
    text = CJK.sub(r" \g<0> ", unicodedata.normalize("NFKC", _COMMAND.sub(" ", text)))
    return " ".join(_NOT_ALNUM.sub("", text.lower()).split())


def caption_labels_as_on_pages(markdown: str, page_texts: list[str]) -> str:
    """Caption labels as the pages print them. A class or the caption package may print
    ``Fig. 3.`` (acmart, llncs) or ``TABLE II.`` (REVTeX) where the markdown's label says
    ``Figure 3:``, ``Table 2:``: a caption whose first words follow a label on a line of the text
    layer takes that label, when the number is the same or the words are unique to one caption
    on both sides. The compile's output is the only place the format shows whole
    (``\\captionsetup`` in a class, ``\\fnum@figure``, a separator in ``\\@makecaption``)."""
    printed: dict[str, list[tuple[str, str, str]]] = {}
    for text in page_texts:
        for line in _PAGE_CAPTION.finditer(text):
            following = normalize(text[line.end() : line.end() + _CAPTION_READ])
            opening = " ".join(following.split()[:_CAPTION_WORDS])
            printed.setdefault(opening, []).append((line["name"], line["number"], line["sep"]))
    openings = Counter(
        " ".join(normalize(caption["text"]).split()[:_CAPTION_WORDS])
        for caption in _MARKDOWN_CAPTION.finditer(markdown)
    )

    def relabel(caption: re.Match[str]) -> str:
        words = normalize(caption["text"]).split()[:_CAPTION_WORDS]
        labels = printed.get(" ".join(words), []) if len(words) == _CAPTION_WORDS else []
        if _SHORT_CAPTION_WORDS <= len(words) < _CAPTION_WORDS:  # a short caption: all its words
            labels = [
                label
                for opening, found in printed.items()
                if opening.split()[: len(words)] == words
                for label in found
            ]
        same = [label for label in labels if label[1] == caption["number"]]
        unique = (
            len(labels) == 1 and openings[" ".join(words)] == 1 and len(words) == _CAPTION_WORDS
        )
        # the same kind of float: Fig./FIGURE for Figure, Tab./TABLE for Table, 图 for 图
        found = [x for x in (same or (labels if unique else [])) if x[0][0] == caption["name"][0]]
        if not found:
            return caption[0]
        name, number, separator = found[0]
        label = f"{name}{'' if CJK.match(name[-1]) else ' '}{number}{separator}"
        # only a label the page split still reads as a float's (REVTeX's ``FIG. 2.``)
        return label + caption["text"] if _FLOAT.match(label) else caption[0]

    return _MARKDOWN_CAPTION.sub(relabel, markdown)


def blank_pages(page_texts: list[str]) -> list[bool]:
    """Which pages show nothing but running heads or feet (lines that, their page numbers
    aside, recur on ``RUNNING_REPEATS`` pages or more) and page numbers: the empty versos of a
    two-sided thesis, a page left blank before a chapter. Such a page has no text to learn."""
    pages = [[_unnumbered(normalize(line)) for line in text.splitlines()] for text in page_texts]
    counts = Counter(line for lines in pages for line in set(lines) if line)
    return [all(not line or counts[line] >= RUNNING_REPEATS for line in lines) for lines in pages]


def _unnumbered(line: str) -> str:
    return " ".join(word for word in line.split() if not _PAGE_NUMBER.fullmatch(word))


def paper_lang(markdown: str) -> str:
    """``zh`` for a text whose words are mostly CJK characters (each counts as a word), else
    ``en``: a Chinese paper keeps English terms, formulas and references, so half is enough."""
    words = normalize(MATH.sub(" ", markdown)).split()
    cjk = sum(1 for word in words if CJK.fullmatch(word))
    return "zh" if words and cjk >= 0.5 * len(words) else "en"


def char_f1(markdown: str, page_text: str) -> float:
    """Character-level F1 of the normalised texts: 2·LCS / (len₁ + len₂)."""
    a, b = normalize(markdown), normalize(page_text)
    if not a and not b:
        return 0.0
    return float(Indel.normalized_similarity(a, b))


@dataclass(frozen=True)
class _Token:
    start: int  # offset in the prose markdown
    block: int
    text: str  # normalised


@dataclass(frozen=True)
class _Prose:
    text: str
    block_starts: tuple[int, ...]
    # spans that cannot be cut (tables, display math, math in a paragraph, an alignment's
    # row), and where a cut after one goes (past the blank line after a block)
    atomic: tuple[tuple[int, int, int], ...]
    tokens: tuple[_Token, ...]
    # alignments a page may end inside (between rows): where each starts and ends, its opening
    # (``\\begin{alignedat}{2}``) and its environment
    alignments: tuple[tuple[int, int, str, str], ...] = ()


# a display of rows (pandoc writes ``align`` as ``aligned``, ``gather`` as ``gathered``): TeX
# breaks it across pages between rows where the paper allows (``\allowdisplaybreaks``,
# ``\displaybreak``)
_ALIGNMENT = re.compile(r"\$\$\s*\\begin\{(aligned|gathered|alignedat)\}(?:\{\d+\})?")
_ROW_END = re.compile(r"\\begin\{|\\end\{|\\\\(?:\[[^\]]*\])?")


def _row_ends(display: str) -> list[int]:
    """Where each row but the last of an alignment (a ``$$\\begin{aligned}…`` display) ends:
    after its ``\\\\``, outside the environments inside it (a matrix's rows are not the
    display's)."""
    depth, ends = 0, []
    for mark in _ROW_END.finditer(display):
        if mark[0].startswith("\\begin"):
            depth += 1
        elif mark[0].startswith("\\end"):
            depth -= 1
        elif depth == 1:
            ends.append(mark.end())
    return ends


def markdown_blocks(markdown: str) -> list[str]:
    return [block.strip("\n").rstrip() for block in re.split(r"\n\s*\n", markdown) if block.strip()]


def _starts_as_float(block: str) -> bool:
    """A caption or a pipe table."""
    return bool(_FLOAT.match(block)) or block.lstrip().startswith("|")


def _is_float(block: str) -> bool:
    """A caption, a pipe table, or a figure's own text ending in its caption's line."""
    return _starts_as_float(block) or bool(_FLOAT.match(block.rsplit("\n", 1)[-1]))


FIGURE_TEXT = "vlpipefiguretext"  # read by markdown.lua: the figure's text follows a marker
FIGURE_TEXT_MARKS = ("<!--vlpipe:figure-->", "<!--vlpipe:/figure-->")  # markdown.lua's
# a mark, which pandoc may write on the line right after another block
_FIGURE_TEXT_MARK = re.compile(r"[ \t]*(<!--vlpipe:/?figure-->)[ \t]*")


FOOTNOTE_MARK = "<!--vlpipe:footnote-->"  # markdown.lua's, before a footnote's paragraph
_FOOTNOTE_MARK = re.compile(r"[ \t]*(<!--vlpipe:footnote-->)[ \t]*")


def _footnotes_unmarked(blocks: list[str]) -> tuple[list[str], set[int]]:
    """The blocks without :data:`FOOTNOTE_MARK`, and which of them are footnotes: a page prints
    a footnote at its foot, not after the paragraph that cites it, so it is placed like a
    float; as prose, its words on one page had pulled a page cut past the rest of a paragraph
    that goes on overleaf."""
    out: list[str] = []
    footnotes: set[int] = set()
    for block in blocks:
        if block.strip() == FOOTNOTE_MARK:
            footnotes.add(len(out))
        else:
            out.append(block)
    return out, footnotes


def with_figure_text_in_floats(blocks: list[str]) -> list[str]:
    """A figure's own text (the blocks between :data:`FIGURE_TEXT_MARKS`) joined, line by line,
    with the caption right after it: one float, which goes to the page that prints it. Without
    a caption there, the blocks stay as they are."""
    out: list[str] = []
    reading: list[str] | None = None  # a figure's text, its end mark not met yet
    read: list[str] = []  # a figure's text, waiting for its caption
    for block in blocks:
        if reading is not None and block != FIGURE_TEXT_MARKS[1]:
            reading.append(block)
        elif reading is not None:
            read, reading = reading, None
        elif block == FIGURE_TEXT_MARKS[0]:
            out += read
            read, reading = [], []
        elif read and _FLOAT.match(block):
            out.append("\n".join([*read, block]))
            read = []
        else:
            out += [*read, block]
            read = []
    return out + read + (reading or [])


def _prose(blocks: list[str]) -> _Prose:
    text_parts: list[str] = []
    starts: list[int] = []
    atomic: list[tuple[int, int, int]] = []
    alignments: list[tuple[int, int, str, str]] = []
    tokens: list[_Token] = []
    offset = 0
    for number, block in enumerate(blocks):
        starts.append(offset)
        spans = (
            [(0, len(block), len(block) + 2)]
            if block.startswith("$$") or block.lstrip().startswith(("|", "<"))
            else [(m.start(), m.end(), m.end()) for m in _MATH_IN_BLOCK.finditer(block)]
        )  # math inside a paragraph (a display too) is not cut either
        for start, end, after in spans:
            alignment = _ALIGNMENT.match(block, start)
            rows = _row_ends(block[start:end]) if alignment else []
            bounds = [start, *(start + row for row in rows), end]
            atomic += [
                (offset + low, offset + high, offset + (after if high == end else high))
                for low, high in pairwise(bounds)
            ]
            if rows:
                opening = alignment[0].lstrip("$").strip()
                alignments.append((offset + start, offset + end, opening, alignment[1]))
        for match in re.finditer(r"\S+", block):
            for piece in _PIECE.finditer(match[0]):  # CJK text has no spaces between words
                for word in normalize(piece[0]).split():
                    tokens.append(_Token(offset + match.start() + piece.start(), number, word))
        text_parts.append(block)
        offset += len(block) + 2
    text = "\n\n".join(text_parts)
    return _Prose(text, tuple(starts), tuple(atomic), tuple(tokens), tuple(alignments))


def _token_pages(tokens: tuple[_Token, ...], page_texts: list[str]) -> list[int | None]:
    """The page of each markdown token matched by a longest common subsequence of words:
    matched pages never decrease along the markdown, since both follow the reading order."""
    pdf_words: list[str] = []
    pdf_pages: list[int] = []
    for page, text in enumerate(page_texts):
        words = normalize(text).split()
        pdf_words.extend(words)
        pdf_pages.extend([page] * len(words))
    pages: list[int | None] = [None] * len(tokens)
    if not tokens or not pdf_words:
        return pages
    for block in LCSseq.opcodes([t.text for t in tokens], pdf_words):
        if block.tag == "equal":
            for offset in range(block.src_end - block.src_start):
                pages[block.src_start + offset] = pdf_pages[block.dest_start + offset]
    return pages


def _cut(prose: _Prose, last: int | None, first: int | None) -> int:
    """Where page boundary falls between the last token matched before it and the first after:
    a paragraph break in between if there is one, else right after the last token; never inside
    an atomic block."""
    low = prose.tokens[last].start + 1 if last is not None else 0
    high = prose.tokens[first].start if first is not None else len(prose.text)
    breaks = [start for start in prose.block_starts if low <= start <= high]
    if breaks:
        return breaks[0]
    following = next((t.start for t in prose.tokens[(last or -1) + 1 :]), len(prose.text))
    position = min(max(following, low), high)
    for start, end, after in prose.atomic:
        if start < position < end:
            return after if first is None or prose.tokens[first].start >= end else start
    return position


def _page_cuts(prose: _Prose, pages: list[int | None], count: int) -> list[int]:
    cuts = [0]
    for boundary in range(1, count):
        last = max((i for i, p in enumerate(pages) if p is not None and p < boundary), default=None)
        first = next((i for i, p in enumerate(pages) if p is not None and p >= boundary), None)
        cuts.append(max(cuts[-1], _cut(prose, last, first)))
    cuts.append(len(prose.text) + 2)
    return cuts


def _float_page(
    block: str, page_words: list[set[str]], home: int, lists: set[int], labels: dict[str, set[int]]
) -> int:
    """The page whose words (``page_words``) include most of the float's words (floats move away
    from their place in the source, ``home``), else ``home``. A page of a contents list
    (``lists``) holds no float, though a list of tables repeats each caption's words; a
    caption goes to a page that starts a line with its label (``labels``: a label's pages) if
    one does, since captions of one paper share most of their words."""
    words = set(normalize(block).split())
    if not words:
        return home
    pages = [p for p in range(len(page_words)) if p not in lists or p == home]
    labelled = [p for p in pages if p in labels.get(_caption_label(block), set())]
    pages = labelled or pages
    overlaps = {p: len(words & page_words[p]) / len(words) for p in pages}
    best = max(pages, key=lambda p: (overlaps[p], -abs(p - home)), default=home)
    return best if overlaps.get(best, 0.0) >= 0.5 else home


def _caption_label(block: str) -> str:
    """A caption's label (``table 7``, normalised), on its first line or, after a figure's own
    text, its last; ``""`` for a block without one."""
    for line in (block.split("\n", 1)[0], block.rsplit("\n", 1)[-1]):
        label = _FLOAT.match(line)
        if label:
            return normalize(label[0])
    return ""


def _printed_labels(page_texts: list[str]) -> dict[str, set[int]]:
    """The caption labels each page starts a line with (``table 7`` → its pages)."""
    labels: dict[str, set[int]] = {}
    for page, text in enumerate(page_texts):
        for line in _PAGE_CAPTION.finditer(text):
            labels.setdefault(normalize(f"{line['name']} {line['number']}"), set()).add(page)
    return labels


def _contents_pages(page_texts: list[str]) -> set[int]:
    """The pages that print a contents list: lines of dot leaders (``. . . . 15``)."""
    return {page for page, text in enumerate(page_texts) if len(_DOT_LEADERS.findall(text)) >= 3}


_DOT_LEADERS = re.compile(r"(?:\. ?){6,}\s*\S*$", re.MULTILINE)


def _table_pieces(block: str, page_words: list[set[str]], first: int) -> list[tuple[int, str]]:
    """A float as (page, markdown) pieces: a pipe table most of whose words no single page holds
    (a ``longtable``) is cut between rows, each piece keeping the header. Its rows go to pages
    in order, at most ``_TABLE_PAGES_AHEAD`` pages apart, on the path that matches the most row
    words with the pages' (a datasheet's rows repeat another's questions: its answers decide).
    Anything else, and a table whose words that path does not find either, is one piece on
    ``first``."""
    lines = block.split("\n")
    words = set(normalize(block).split())
    if (
        len(lines) < 4
        or not page_words
        or not all(line.lstrip().startswith("|") for line in lines)
        or len(words & page_words[first]) >= len(words) / 2
    ):
        return [(first, block)]
    head, rows = lines[:2], lines[2:]
    row_words = [set(normalize(row).split()) for row in rows]
    pages = _row_pages(row_words, page_words, first)
    found = set().union(*(row & page_words[p] for row, p in zip(row_words, pages, strict=True)))
    if len(found) < len(words) / 2:  # its pages do not hold its words either: cells the text
        return [(first, block)]  # layer spells otherwise (``0.631±0.003``), kept on ``first``
    pieces: list[tuple[int, list[str]]] = []
    for page, row in zip(pages, rows, strict=True):
        if not pieces or pieces[-1][0] != page:
            pieces.append((page, []))
        pieces[-1][1].append(row)
    return [(page, "\n".join(head + piece)) for page, piece in pieces]


def _row_pages(rows: list[set[str]], page_words: list[set[str]], first: int) -> list[int]:
    """The pages of a table's rows (their word sets): the non-decreasing path, steps of at most
    ``_TABLE_PAGES_AHEAD``, with the most words in common; ties start nearest ``first``."""
    count = len(page_words)
    score = [
        len(rows[0] & page) - abs(p - first) / (count + 1) for p, page in enumerate(page_words)
    ]
    back: list[list[int]] = []
    for row in rows[1:]:
        came = [
            max(range(max(0, p - _TABLE_PAGES_AHEAD), p + 1), key=score.__getitem__)
            for p in range(count)
        ]
        score = [score[came[p]] + len(row & page_words[p]) for p in range(count)]
        back.append(came)
    page = max(range(count), key=score.__getitem__)
    path = [page]
    for came in reversed(back):
        page = came[page]
        path.append(page)
    return path[::-1]


@dataclass(frozen=True)
class PageMarkdown:
    index: int
    markdown: str
    score: float  # character-level F1 against the page's text layer


def split_pages(markdown: str, page_texts: list[str]) -> list[PageMarkdown]:
    """The paper's markdown cut into one part per PDF page (Nougat-style alignment).

    Prose is aligned monotonically: a word-level longest common subsequence between the
    markdown and the pages' text layers labels matched words with their page, and each page
    boundary is cut between the last word of one page and the first of the next (at a paragraph
    break when there is one). Figure and table captions and tables are placed separately on the
    page that contains their words, since LaTeX floats them away from their source position.
    """
    marked = _FOOTNOTE_MARK.sub(r"\n\n\1\n\n", _FIGURE_TEXT_MARK.sub(r"\n\n\1\n\n", markdown))
    blocks, footnotes = _footnotes_unmarked(with_figure_text_in_floats(markdown_blocks(marked)))
    floats = [(n, block) for n, block in enumerate(blocks) if n in footnotes or _is_float(block)]
    float_indexes = {n for n, _ in floats}
    prose_blocks = [block for n, block in enumerate(blocks) if n not in float_indexes]
    prose = _prose(prose_blocks)
    cuts = _page_cuts(prose, _token_pages(prose.tokens, page_texts), len(page_texts))
    parts: list[list[str]] = []
    fence = None  # the fence line of a code block open where the page starts
    for text in _alignments_closed_at_cuts(
        _emphasis_closed_at_cuts(prose.text, cuts), cuts, prose.alignments
    ):
        page_blocks, fence = _code_blocks_whole(markdown_blocks(text), fence)
        parts.append(page_blocks)
    page_words = [set(normalize(text).split()) for text in page_texts] if floats else []
    labels = _printed_labels(page_texts) if floats else {}
    lists = _contents_pages(page_texts) if floats else set()
    placed: dict[int, int] = {}  # a float's block index → its page
    for index, block in floats:
        prose_before = sum(1 for n in range(index) if n not in float_indexes)
        offset = prose.block_starts[prose_before] if prose_before < len(prose_blocks) else None
        home = _page_of_offset(cuts, offset)
        if block.lstrip().startswith("|") and _FLOAT.match(blocks[index - 1] if index else ""):
            # a table whose cells the text layer spells otherwise (``0.631±0.003``) stays with
            # the caption before it
            home = placed.get(index - 1, home)
        first = placed[index] = _float_page(block, page_words, home, lists, labels)
        if index not in footnotes and not _starts_as_float(block):  # a figure's own text
            block = _printed_figure_text(block, page_words[first])
        for page, piece in _table_pieces(block, page_words, first):
            parts[page].insert(_float_position(parts[page], piece, page_texts[page]), piece)
    return [
        PageMarkdown(p, "\n\n".join(part), char_f1("\n\n".join(part), page_texts[p]))
        for p, part in enumerate(parts)
    ]


def _emphasis_closed_at_cuts(text: str, cuts: list[int]) -> list[str]:
    """The text of each page, where a cut falls inside emphasis (an italic theorem over two
    pages), closed at the page's end and opened again on the next: each page's markdown is
    whole."""
    pieces = [text[cuts[page] : cuts[page + 1]] for page in range(len(cuts) - 1)]
    for page in range(1, len(pieces)):
        cut = cuts[page]
        opened = _open_emphasis(text[text.rfind("\n\n", 0, cut) + 1 : cut])
        if opened and pieces[page - 1].strip() and pieces[page].strip():
            pieces[page - 1] = pieces[page - 1].rstrip() + "".join(reversed(opened))
            pieces[page] = "".join(opened) + pieces[page].lstrip()
    return pieces


def _alignments_closed_at_cuts(
    pieces: list[str], cuts: list[int], alignments: tuple[tuple[int, int, str, str], ...]
) -> list[str]:
    """The pages' texts, where a cut falls between two rows of an alignment, with the rows
    before it closed as a display at the page's end and the rows after it opened as one on the
    next (an ``align*`` TeX broke across two pages)."""
    for page in range(1, len(pieces)):
        for start, end, opening, environment in alignments:
            if start < cuts[page] < end:
                before = re.sub(r"\\\\(?:\[[^\]]*\])?\s*$", "", pieces[page - 1].rstrip())
                pieces[page - 1] = f"{before}\\end{{{environment}}}$$"
                pieces[page] = f"$${opening}\n{pieces[page].lstrip()}"
    return pieces


def _open_emphasis(paragraph: str) -> list[str]:
    """The emphasis markers (``*``, ``**``) open at the end of a paragraph's start, in the order
    they opened; math and code are no markup, nor is an asterisk with spaces on both sides."""
    plain = _CODE_SPAN.sub(" ", _MATH_IN_BLOCK.sub(" ", paragraph))
    opened: list[str] = []
    for run in _EMPHASIS.finditer(plain):
        before = plain[run.start() - 1] if run.start() else " "
        after = plain[run.end()] if run.end() < len(plain) else " "
        if before.isspace() and after.isspace():
            continue
        for marker in ("**", "*") if len(run[0]) == 3 else (run[0],):
            if marker in opened:
                opened.remove(marker)
            else:
                opened.append(marker)
    return opened


def _code_blocks_whole(blocks: list[str], fence: str | None) -> tuple[list[str], str | None]:
    """A page's blocks with each fenced code block one block (its blank lines split it), closed
    at the page's end and opened again on the next page where it runs on (a listing over three
    pages had its fence open on the first and closed on the third): each page's markdown is
    whole. Also the fence still open at the page's end, for the next page."""
    out: list[str] = []
    for block in blocks:
        if fence is not None and not out and _closes(block.split("\n", 1)[0], fence):
            fence, block = None, block.partition("\n")[2]  # closed where the last page ended
            if not block.strip():
                continue
        if fence is not None:
            out.append(f"{fence}\n{block}" if not out else f"{out.pop()}\n\n{block}")
        else:
            out.append(block)
        for line in block.split("\n"):
            found = _FENCE.match(line)
            if found is None:
                continue
            if fence is None:
                fence = line.strip()
            elif _closes(line, fence):
                fence = None
    if fence is not None and out:
        out[-1] += "\n" + fence[: len(fence) - len(fence.lstrip(fence[0]))]  # its marker alone
    return out, fence


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes the code block ``fence`` opened: the same character, at least
    as many, nothing after."""
    found, opened = _FENCE.match(line), _FENCE.match(fence)
    return bool(
        found
        and opened
        and not found[2].strip()
        and found[1][0] == opened[1][0]
        and len(found[1]) >= len(opened[1])
    )


def _printed_figure_text(block: str, page_words: set[str]) -> str:
    """A figure's own text without the lines its page does not print, most of their words
    missing from the page's text layer (a float taller than the page runs off its foot); its
    caption, the last line, stays. Display math is one line, however many it spans."""
    *text, caption = block.split("\n")
    lines: list[str] = []
    for line in text:
        if lines and lines[-1].count("$$") % 2:  # inside a display
            lines[-1] += "\n" + line
        else:
            lines.append(line)
    kept = []
    for line in lines:
        words = normalize(MATH.sub(" ", line)).split()
        if not words or 2 * sum(word in page_words for word in words) >= len(words):
            kept.append(line)
    return "\n".join([*kept, caption])


def _page_of_offset(cuts: list[int], offset: int | None) -> int:
    if offset is None:
        return len(cuts) - 2
    return max(p for p in range(len(cuts) - 1) if cuts[p] <= offset or p == 0)


def _float_position(part: list[str], block: str, page_text: str) -> int:
    """Where a float goes among the page's blocks: before the first block whose text comes
    after the float's in the page's text layer (top floats go on top), else at the end. A
    figure's own text of formulas alone (a figure of inference rules) is placed by its
    caption, the last line."""
    text = normalize(page_text)
    where = _find_start(block, text)
    if where < 0 and "\n" in block:
        where = _find_start(block.rsplit("\n", 1)[-1], text)
    if where < 0:
        return len(part)
    for index, other in enumerate(part):
        if _find_start(other, text) > where:
            return index
    return len(part)


def _find_start(block: str, text: str) -> int:
    r"""The position of a block's first words in normalised page text, -1 when not found. Where
    math stands between two of them, the page may print a few words of it there (``图3-11:
    $\mathcal{A}_{k+1}$ 模型``: ``图 311 ak1 模 型``); plain words must be adjacent. After a
    formula that opens the block, the first word may be glued to what it prints."""
    words: list[str] = []  # each word, with the math gap before it
    gap = False
    for piece in _MATH_OR_TEXT.finditer(block):
        if piece[1] is not None:
            gap = True
            continue
        for word in normalize(piece[0]).split()[: _START_WORDS - len(words)]:
            before = (_MATH_WORDS if words else r"\S*?") if gap else " " if words else ""
            words.append(before + re.escape(word))
            gap = False
        if len(words) == _START_WORDS:
            break
    if not words:
        return -1
    found = re.search(r"(?<!\S)" + "".join(words) + r"(?!\S)", text)
    return found.start() if found else -1
