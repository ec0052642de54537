"""One exam question row → one self-contained HTML page (plain functions, no browser).

* **Parts.** The stem, the options, the answer and the explanation are written in markdown
  (CommonMark with tables; raw HTML in it is shown as text) or HTML. Options are a list
  (labelled ``A.``, ``B.`` … unless every one already starts with its label) or a mapping from
  label to text; they sit four, two or one to a row by their length, as exam papers set them.
* **Math.** ``$…$`` and ``\\(…\\)`` are inline, ``$$…$$`` and ``\\[…\\]`` display formulas; an
  inline ``$`` opens only before a non-space and closes only after one, not before a digit
  (pandoc's rule: ``$5 and $10`` is text); ``\\$`` is a dollar. Each formula becomes an empty
  ``span.vq-math`` holding its TeX and its source (delimiters included, exactly as written; in
  an HTML row, after its character references are decoded), which the page script typesets
  with KaTeX and marks to read as that source.
* **HTML is untrusted.** It is rebuilt from an allow-list of tags and attributes: scripts,
  styles, frames, forms, event handlers, classes and inline styles are dropped, stray end tags
  ignored and open tags closed, so one part cannot break the page's structure.
* **Images** are named in the row's ``images`` (bytes, base64 or ``{"bytes": …}``) and inlined
  as ``data:`` URLs after their bytes are checked (decompression bombs, corrupt streams, SVG with
  entity declarations); a reference to anything else (a path, a URL) drops the question. Images
  no part refers to are set below the stem, as a figure.
* A line break between two CJK characters is removed (it would show as a space).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from markdown_it import MarkdownIt

from vlpipe.errors import DocumentError
from vlpipe.filters.image import Options as ImageLimits
from vlpipe.filters.image import check_image, decode_base64
from vlpipe.renderers.templates import primary_language
from vlpipe.schema import Drop
from vlpipe.sources.exams import Part

SOURCE = "exams"
HEADINGS = {"zh": ("答案：", "解析："), "en": ("Answer: ", "Explanation: ")}
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_BREAK = re.compile(f"(?<=[{_CJK}])[ \\t]*\\n[ \\t]*(?=[{_CJK}])")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
_LABEL = re.compile(r"^\s*[(（]?([A-Za-z])[)）]?\s*[.．、:：)）]")
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
_PRIVATE = re.compile("[\ue000\ue001]")
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")

ALLOWED_TAGS = frozenset(
    {
        *("p", "br", "div", "span", "b", "strong", "i", "em", "u", "s", "sub", "sup", "small"),
        *("ol", "ul", "li", "dl", "dt", "dd", "blockquote", "pre", "code", "hr"),
        *("table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption"),
        *("img", "figure", "figcaption", "h1", "h2", "h3", "h4", "h5", "h6"),
    }
)
VOID_TAGS = frozenset({"br", "hr", "img"})
# Dropped with everything inside them.
DROPPED_TAGS = frozenset(
    {"script", "style", "template", "noscript", "iframe", "object", "embed", "svg", "math"}
    | {"textarea", "select", "button", "title", "head", "frameset", "canvas", "audio", "video"}
)
ALLOWED_ATTRIBUTES = {
    "img": frozenset({"alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
    "ol": frozenset({"start", "type"}),
}


class InvalidQuestion(DocumentError):
    """The row is not a question: no stem, or parts of the wrong type."""


@dataclass(frozen=True)
class Formula:
    """A formula: its source exactly as written (delimiters included), its TeX, its mode."""

    source: str
    tex: str
    display: bool


@dataclass(frozen=True)
class Question:
    stem: str
    options: tuple[tuple[str, str], ...]  # (label, text); label "" when the text holds it
    answer: str | None
    explanation: str | None
    number: str | None
    fmt: Literal["markdown", "html"]
    lang: str
    images: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QuestionPage:
    """The page's HTML, or why the question is dropped; the formulas it typesets."""

    html: str = ""
    formulas: tuple[Formula, ...] = ()
    images: int = 0
    drop: Drop | None = None


# -- the row --------------------------------------------------------------------------------------


def parse_question(
    content: Any, default_format: Literal["markdown", "html"], default_lang: str | None
) -> Question:
    """A row's parts, checked for type; ``InvalidQuestion`` otherwise."""
    row = content if isinstance(content, dict) else {"question": content}
    stem = _text(row, "question")
    if not stem or not stem.strip():
        raise InvalidQuestion("'question' is empty")
    fmt = row.get("format") or default_format
    if fmt not in ("markdown", "html"):
        raise InvalidQuestion(f"'format' is {fmt!r}, not markdown or html")
    images = row.get("images") or {}
    if not isinstance(images, dict):
        raise InvalidQuestion("'images' is not a mapping from name to image")
    number = row.get("number")
    options = _options(row.get("options"))
    parts = [stem, *(t for _, t in options)]
    lang = row.get("lang") or default_lang or ("zh" if _HAN.search("".join(parts)) else "en")
    return Question(
        stem=stem,
        options=options,
        answer=_text(row, "answer"),
        explanation=_text(row, "explanation"),
        number=None if number is None else str(number),
        fmt=fmt,
        lang=str(lang),
        images=images,
    )


def _text(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InvalidQuestion(f"'{name}' is a {type(value).__name__}, not text")


def _options(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if isinstance(raw, dict):
        items = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, list | tuple):
        items = [(chr(ord("A") + n), v) for n, v in enumerate(raw)]
    else:
        raise InvalidQuestion("'options' is neither a list nor a mapping")
    if len(items) > 26 or not all(isinstance(v, str | int | float) for _, v in items):
        raise InvalidQuestion("'options' must be up to 26 texts")
    texts = [(label, str(v)) for label, v in items]
    labelled = all(
        (m := _LABEL.match(t)) is not None and m.group(1).upper() == label.upper()
        for label, t in texts
    )
    return tuple(("" if labelled else label, t) for label, t in texts)


# -- math -----------------------------------------------------------------------------------------


def split_math(text: str) -> list[str | Formula]:
    """``text`` as runs of text and formulas, in order (see the module's rules)."""
    out: list[str | Formula] = []
    plain: list[str] = []
    i, n = 0, len(text)
    while i < n:
        found = _formula_at(text, i)
        if found is not None:
            formula, i = found
            if plain:
                out.append("".join(plain))
                plain = []
            out.append(formula)
            continue
        step = 2 if text[i] == "\\" and i + 1 < n else 1
        plain.append(text[i : i + step])
        i += step
    if plain:
        out.append("".join(plain))
    return out


def _formula_at(text: str, i: int) -> tuple[Formula, int] | None:
    """The formula starting at ``i`` and where it ends, if one does."""
    if text.startswith(("\\(", "\\["), i):
        close = "\\)" if text[i + 1] == "(" else "\\]"
        end = text.find(close, i + 2)
        if end < 0 or not text[i + 2 : end].strip():
            return None
        return Formula(text[i : end + 2], text[i + 2 : end], close == "\\]"), end + 2
    if text.startswith("$$", i):
        end = _closing(text, i + 2, "$$")
        if end is None or not text[i + 2 : end].strip():
            return None
        return Formula(text[i : end + 2], text[i + 2 : end], True), end + 2
    if text.startswith("$", i) and i + 1 < len(text) and not text[i + 1].isspace():
        end = _closing(text, i + 1, "$")
        if end is None:
            return None
        return Formula(text[i : end + 1], text[i + 1 : end], False), end + 1
    return None


def _closing(text: str, start: int, delimiter: str) -> int | None:
    """Where an unescaped ``delimiter`` closes a formula begun at ``start`` (no blank line in
    between; an inline ``$`` must follow a non-space and not precede a digit)."""
    j = start
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text.startswith("\n\n", j):
            return None
        if text.startswith(delimiter, j):
            after = j + len(delimiter)
            inline = delimiter == "$"
            if not inline or (
                not text[j - 1].isspace() and not (after < len(text) and text[after].isdigit())
            ):
                return j
        j += 1
    return None


def math_span(formula: Formula) -> str:
    kind = "vq-math vq-display" if formula.display else "vq-math"
    return (
        f'<span class="{kind}" data-tex="{html.escape(formula.tex)}"'
        f' data-source="{html.escape(formula.source)}"></span>'
    )


def join_cjk_lines(text: str) -> str:
    """Remove a line break between two CJK characters (it would render as a space)."""
    return _CJK_BREAK.sub("", text)


# -- HTML -----------------------------------------------------------------------------------------


class _Rebuilder(HTMLParser):
    """HTML → HTML from the allow-list, balanced; text runs through ``text`` (escaped, with
    formulas), image sources through ``image`` (a data: URL, or None to drop the image)."""

    def __init__(self, text: Callable[[str], str], image: Callable[[str], str | None]) -> None:
        super().__init__(convert_charrefs=True)
        self._text, self._image = text, image
        self.out: list[str] = []
        self._open: list[str] = []
        self._dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_TAGS:
            self._dropping += 1
            return
        if self._dropping or tag not in ALLOWED_TAGS:
            return
        kept = ALLOWED_ATTRIBUTES.get(tag, frozenset())
        pairs = [(name, value or "") for name, value in attrs if name in kept]
        if tag == "img":
            source = self._image(dict(attrs).get("src") or "")
            if source is None:
                return
            pairs.insert(0, ("src", source))
        rendered = "".join(f' {name}="{html.escape(value)}"' for name, value in pairs)
        self.out.append(f"<{tag}{rendered}>")
        if tag not in VOID_TAGS:
            self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_TAGS:
            self._dropping = max(0, self._dropping - 1)
            return
        if self._dropping or tag not in self._open:
            return
        while self._open:
            closing = self._open.pop()
            self.out.append(f"</{closing}>")
            if closing == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self.out.append(self._text(data))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{t}>" for t in reversed(self._open))


def rebuild_html(
    markup: str, text: Callable[[str], str], image: Callable[[str], str | None]
) -> str:
    """``markup`` rebuilt from the allow-list (see :class:`_Rebuilder`)."""
    rebuilder = _Rebuilder(text, image)
    rebuilder.feed(markup)
    return rebuilder.result()


# -- the page -------------------------------------------------------------------------------------


@dataclass
class _Builder:
    """Turns the parts of one question into HTML, collecting formulas and image problems."""

    question: Question
    limits: ImageLimits
    max_formula_chars: int
    formulas: list[Formula] = field(default_factory=list)
    images_used: set[str] = field(default_factory=set)
    problem: Drop | None = None

    def part(self, source: str, inline: bool) -> str:
        source = _PRIVATE.sub("", source)
        if self.question.fmt == "html":
            return rebuild_html(source, self._text_with_math, self.image)
        pieces = split_math(source)
        found = [p for p in pieces if isinstance(p, Formula)]
        protected = "".join(
            join_cjk_lines(p) if isinstance(p, str) else f"\ue000{found.index(p)}\ue001"
            for p in pieces
        )
        rendered = (_MARKDOWN.renderInline if inline else _MARKDOWN.render)(protected)
        return rebuild_html(rendered, lambda t: self._text_with_placeholders(t, found), self.image)

    def _formula(self, formula: Formula) -> str:
        if len(formula.source) > self.max_formula_chars and self.problem is None:
            detail = f"{len(formula.source)} characters > {self.max_formula_chars}"
            self.problem = Drop(SOURCE, "formula_too_long", detail)
        self.formulas.append(formula)
        return math_span(formula)

    def _text_with_math(self, text: str) -> str:
        return "".join(
            self._formula(p) if isinstance(p, Formula) else html.escape(join_cjk_lines(p))
            for p in split_math(text)
        )

    def _text_with_placeholders(self, text: str, found: list[Formula]) -> str:
        parts = _PLACEHOLDER.split(text)
        return "".join(
            self._formula(found[int(p)]) if n % 2 else html.escape(p) for n, p in enumerate(parts)
        )

    def image(self, name: str) -> str | None:
        """The checked image ``name`` as a data: URL; None (and the question's drop) if not."""
        data = self.question.images.get(name)
        checked = None if data is None else image_data_url(data, self.limits)
        if isinstance(checked, str):
            self.images_used.add(name)
            return checked
        if self.problem is None:
            reason = "missing_image" if checked is None else "bad_image"
            detail = f"{name[:200]!r}" + ("" if checked is None else f": {checked.detail}")
            self.problem = Drop(SOURCE, reason, detail)
        return None


def image_data_url(data: Any, limits: ImageLimits) -> str | Drop:
    """An image of the row as a ``data:`` URL once its bytes pass the checks, or why not."""
    if isinstance(data, dict):
        data = data.get("bytes")
    if isinstance(data, str):
        data = decode_base64(data)
    if not isinstance(data, bytes) or not data:
        return Drop(SOURCE, "bad_image", "images are bytes, {'bytes': …} or base64")
    if data.lstrip()[:5] in (b"<?xml", b"<svg ", b"<svg>", b"<!--") and b"<svg" in data[:4096]:
        problem = _svg_problem(data, limits.max_image_bytes)
        if problem is not None:
            return Drop(SOURCE, "bad_image", problem)
        mime = "image/svg+xml"
    else:
        checked = check_image(data, limits)
        if isinstance(checked, Drop):
            return Drop(SOURCE, "bad_image", f"{checked.reason}: {checked.detail}")
        mime = {"jpg": "image/jpeg"}.get(checked.ext, f"image/{checked.ext}")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _svg_problem(data: bytes, max_bytes: int) -> str | None:
    if len(data) > max_bytes:
        return f"SVG of {len(data)} bytes > {max_bytes}"
    try:
        root = SafeET.fromstring(data)
    except (DefusedXmlException, SafeET.ParseError) as exc:
        return f"SVG is not safe, well-formed XML: {type(exc).__name__}"
    return None if root.tag.rsplit("}", 1)[-1] == "svg" else "not an SVG document"


def option_columns(texts: list[str]) -> int:
    """Options per row, as exam papers set them: four short ones on one line, two medium ones,
    else one each (length of the visible text; a formula counts half its TeX)."""
    widths = [
        sum(len(p.tex) // 2 if isinstance(p, Formula) else len(p) for p in split_math(t))
        for t in texts
    ]
    longest = max(widths, default=0)
    return 4 if longest <= 12 and len(texts) == 4 else 2 if longest <= 30 else 1


def question_page(
    question: Question, parts: tuple[Part, ...], limits: ImageLimits, max_formula_chars: int
) -> QuestionPage:
    """The question as a page: its parts in ``parts`` order, or why it is dropped."""
    builder = _Builder(question, limits, max_formula_chars)
    answer_head, explanation_head = HEADINGS.get(primary_language(question.lang), HEADINGS["en"])
    blocks: dict[Part, str] = {}
    for part in parts:
        if part == "stem":
            blocks[part] = _stem(builder.part(question.stem, inline=False), question.number)
        elif part == "options" and question.options:
            items = "".join(
                f"<li>{f'<span class=vq-label>{html.escape(label)}.</span> ' if label else ''}"
                f"{builder.part(text, inline=True)}</li>"
                for label, text in question.options
            )
            columns = option_columns([text for _, text in question.options])
            blocks[part] = f'<ol class="vq-options vq-cols-{columns}">{items}</ol>'
        elif part == "answer" and question.answer:
            answer = builder.part(question.answer, inline=True)
            blocks[part] = f'<div class="vq-answer"><b>{answer_head}</b>{answer}</div>'
        elif part == "explanation" and question.explanation:
            explanation = builder.part(question.explanation, inline=False)
            head = f"<p class=vq-head><b>{explanation_head}</b></p>"
            blocks[part] = f'<div class="vq-explanation">{head}{explanation}</div>'
    figures = "".join(
        f'<p class="vq-figure"><img src="{html.escape(source)}" alt=""></p>'
        for name in sorted(set(question.images) - builder.images_used)
        if (source := builder.image(name)) is not None
    )
    if builder.problem is not None:
        return QuestionPage(drop=builder.problem)
    body = "".join(blocks.get(p, "") + (figures if p == "stem" else "") for p in parts)
    page = PAGE.format(lang=html.escape(question.lang), css=EXAM_CSS, body=body)
    return QuestionPage(page, tuple(builder.formulas), len(builder.images_used))


def _stem(stem_html: str, number: str | None) -> str:
    """The stem, its number (``12.``) at the start of its first paragraph."""
    if number:
        mark = f"<span class=vq-number>{html.escape(number)}.</span> "
        stem_html = (
            "<p>" + mark + stem_html[3:] if stem_html.startswith("<p>") else mark + stem_html
        )
    return f'<div class="vq-stem">{stem_html}</div>'


PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"/>
<link rel="stylesheet" href="katex/katex.min.css"/><style>{css}</style></head>
<body><div class="vq">{body}</div></body></html>"""

EXAM_CSS = """
.vq p { margin: 0 0 .5em 0; }
.vq-math { white-space: nowrap; }
.vq-math.vq-display { display: block; margin: .4em 0; text-align: center; }
.vq-options { list-style: none; margin: .4em 0 .6em 0; padding: 0 0 0 1.5em;
  display: grid; gap: .3em 1.5em; }
.vq-cols-4 { grid-template-columns: repeat(4, 1fr); }
.vq-cols-2 { grid-template-columns: repeat(2, 1fr); }
.vq-cols-1 { grid-template-columns: 1fr; }
.vq-answer, .vq-explanation { margin-top: .6em; }
.vq-explanation .vq-head { margin-bottom: .2em; }
.vq img { max-width: 100%; vertical-align: middle; }
.vq table { border-collapse: collapse; margin: .4em 0; }
.vq td, .vq th { border: 1px solid currentColor; padding: .15em .6em; }
"""
