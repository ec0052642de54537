"""Exam rows → pages without a browser: formulas found as pandoc finds them, untrusted HTML
rebuilt, markdown with math protected, options laid out, images checked."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image

from tests.exams.questions import CIRCLE_SVG, questions, triangle_png
from vlpipe.filters.image import Options as ImageLimits
from vlpipe.sources.exams import PARTS
from vlpipe.sources.exams.question import (
    Formula,
    InvalidQuestion,
    Question,
    option_columns,
    parse_question,
    question_page,
    rebuild_html,
    split_math,
)

LIMITS = ImageLimits(min_side=1, max_aspect_ratio=1000, min_ink=None, max_pixels=4_000_000)


def page(row: dict, fmt: str = "markdown", max_formula_chars: int = 2000):  # type: ignore[no-untyped-def]
    return question_page(parse_question(row, fmt, None), PARTS, LIMITS, max_formula_chars)  # type: ignore[arg-type]


def sources(text: str) -> list[str]:
    return [p.source for p in split_math(text) if isinstance(p, Formula)]


def test_formulas_are_found_as_pandoc_finds_them() -> None:
    assert sources("If $3x-7=11$, find $x$.") == ["$3x-7=11$", "$x$"]
    assert sources("It costs $5 and $10 today.") == []  # a $ before a digit does not close
    assert sources("$ x$ and $x $ are text") == []
    assert sources(r"Escaped \$5, then $\$x$.") == [r"$\$x$"]
    assert sources(r"Display $$\frac{a}{b}$$ and \[x^2\] and \(y\).") == [
        r"$$\frac{a}{b}$$",
        r"\[x^2\]",
        r"\(y\)",
    ]
    assert sources("$a\n\nb$") == []  # never across a blank line
    found = [p for p in split_math(r"$$\begin{cases}x\\y\end{cases}$$") if isinstance(p, Formula)]
    assert found[0].display and found[0].tex == r"\begin{cases}x\\y\end{cases}"
    text = "甲 $x$ 乙 $$y$$ 丙"
    assert "".join(p if isinstance(p, str) else p.source for p in split_math(text)) == text


def test_untrusted_html_is_rebuilt_from_the_allow_list() -> None:
    hostile = (
        '<p onclick="steal()" class="x" style="color:white">Compute <b>this</b>'
        "<script>document.body.innerHTML='HACKED'</script><style>p{display:none}</style>"
        '<iframe src="https://evil.example/"></iframe><a href="javascript:alert(1)">link</a>'
        "</div></div><table><tr><td colspan=2 onmouseover=x>cell</table><i>open"
    )
    rebuilt = rebuild_html(hostile, lambda t: t.replace("<", "&lt;"), lambda src: None)
    assert rebuilt == (
        '<p>Compute <b>this</b>link<table><tr><td colspan="2">cell</td></tr></table><i>open</i></p>'
    )


def test_markdown_keeps_math_verbatim_and_html_as_text() -> None:
    built = page({"question": r"Let $a_1 * b_2 * c_3$ be *given*, <b>bold</b> and \$5."})
    assert built.drop is None
    assert [f.source for f in built.formulas] == ["$a_1 * b_2 * c_3$"]
    assert 'data-tex="a_1 * b_2 * c_3"' in built.html and "<em>given</em>" in built.html
    assert "&lt;b&gt;bold&lt;/b&gt;" in built.html and "and $5." in built.html
    html = page({"question": "<p>If $a &lt; b$ then</p>", "format": "html"})
    assert [f.source for f in html.formulas] == ["$a < b$"]  # character references decoded


def test_cjk_line_breaks_and_the_question_number() -> None:
    built = page({"question": "已知集合\n中的元素，\nthen x", "number": 12})
    assert "已知集合中的元素，\nthen x" in built.html
    assert '<div class="vq-stem"><p><span class=vq-number>12.</span> 已知' in built.html


def test_options_are_labelled_and_set_by_length() -> None:
    row = {"question": "Pick one.", "options": ["1", "2", "3", "4"]}
    assert parse_question(row, "markdown", None).options[0] == ("A", "1")
    labelled = {"question": "Pick.", "options": ["A. one", "B. two"]}
    assert parse_question(labelled, "markdown", None).options == (("", "A. one"), ("", "B. two"))
    keyed = {"question": "Pick.", "options": {"甲": "一", "乙": "二"}}
    assert parse_question(keyed, "markdown", None).options == (("甲", "一"), ("乙", "二"))
    assert option_columns(["1", "2", "3", r"$\frac{11}{3}$"]) == 4
    assert option_columns(["a medium option", "b", "c", "d"]) == 2
    assert option_columns(["a rather long option that takes a whole line of the page"]) == 1
    assert "vq-options vq-cols-4" in page(row).html


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"question": "  "}, "empty"),
        ({"question": ["a"]}, "not text"),
        ({"question": "q", "options": "A B C"}, "neither a list"),
        ({"question": "q", "images": ["x.png"]}, "mapping"),
        ({"question": "q", "format": "latex"}, "format"),
    ],
)
def test_rows_that_are_not_questions_fail(row: dict, error: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidQuestion, match=error):
        parse_question(row, "markdown", None)


def _png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))


def test_images_are_checked_inlined_or_drop_the_question() -> None:
    figure = base64.b64encode(triangle_png()).decode()
    inline = page({"question": "See ![](fig.png).", "images": {"fig.png": figure}})
    assert (
        inline.drop is None and inline.images == 1 and 'src="data:image/png;base64,' in inline.html
    )
    below = page({"question": "As shown.", "images": {"fig.png": figure}})
    assert 'class="vq-figure"' in below.html  # an image no part names is set under the stem
    svg = page({"question": "![](c.svg)", "images": {"c.svg": CIRCLE_SVG}})
    assert "data:image/svg+xml;base64," in svg.html
    cases = {
        "missing_image": {"question": "![](nope.png)"},
        "bad_image": {"question": "![](b.png)", "images": {"b.png": _png_bomb()}},
    }
    remote = {"question": '<img src="https://evil.example/x.png">', "format": "html"}
    assert page(remote).drop.reason == "missing_image"  # type: ignore[union-attr]
    for reason, row in cases.items():
        assert page(row).drop.reason == reason  # type: ignore[union-attr]
    laughs = b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg>&a;</svg>'
    bad_svg = page({"question": "![](s.svg)", "images": {"s.svg": laughs}})
    assert bad_svg.drop.reason == "bad_image" and "not safe" in bad_svg.drop.detail  # type: ignore[union-attr]
    truncated = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(truncated, format="PNG")
    cut = page({"question": "![](t.png)", "images": {"t.png": truncated.getvalue()[:-30]}})
    assert cut.drop.reason == "bad_image"  # type: ignore[union-attr]


def test_a_huge_formula_drops_the_question_before_rendering() -> None:
    huge = "$" + "+".join(f"x_{{{n}}}" for n in range(2000)) + "$"
    built = page({"question": f"Simplify {huge}."})
    assert built.drop.reason == "formula_too_long"  # type: ignore[union-attr]


def test_bundled_questions_build_pages() -> None:
    for row in questions():
        content = {k: row.get(k) for k in ("question", "options", "answer", "explanation")}
        content |= {k: row[k] for k in ("images", "format", "number") if k in row}
        question: Question = parse_question(content, "markdown", None)
        built = question_page(question, PARTS, LIMITS, 2000)
        assert built.drop is None, row["id"]
        assert question.lang == ("zh" if row["id"].startswith("zh") else "en")
        assert built.html.startswith("<!DOCTYPE html>") and "katex/katex.min.css" in built.html
