"""The arXiv benchmark (bench/bench_arxiv.py): the page text it measures against, and its
citation check (citations only, not the other bracketed numbers a page prints)."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pymupdf

_PATH = Path(__file__).resolve().parents[2] / "bench" / "bench_arxiv.py"
_SPEC = importlib.util.spec_from_file_location("bench_arxiv", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
bench_arxiv = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("bench_arxiv", bench_arxiv)
_SPEC.loader.exec_module(bench_arxiv)


def test_cited_numbers_reads_groups_and_ranges_of_labels_only() -> None:
    assert bench_arxiv.cited_numbers("see [1, 4–6] and [9]") == {1, 4, 5, 6, 9}
    labels = set(range(1, 40))
    # mesh-posets: an interval of patterns, not a citation
    assert bench_arxiv.cited_numbers("The interval [1, 123] (right) in P", labels) == set()
    assert bench_arxiv.cited_numbers("media [11, 32]; VGG2 [6]", labels) == {6, 11, 32}


def test_citation_mismatch_leaves_out_math_and_what_is_not_a_label() -> None:
    page = "Consider the subinterval [1∅, 12(0,2)] in Figure 2.2 and [1, 123]"
    markdown = "Consider the subinterval $[1^\\emptyset,12^{(0,2)}]$ and $[1, 123]$"
    assert not bench_arxiv.citation_mismatch(markdown, page, set(range(1, 30)))
    # a paper with alphabetic labels ([BC11]) prints no numeric citation: a macro's leftover
    # option "[4]" is no citation mismatch
    assert not bench_arxiv.citation_mismatch("[0/0,1/2][][][][][4].", "A mesh pattern", set())
    # a page printing author-year where the markdown printed numbers still mismatches
    labels = set(range(1, 17))
    assert bench_arxiv.citation_mismatch("Wikibook [15]", "Wikibook (Wikibook, 2014)", labels)
    assert bench_arxiv.citation_mismatch("media [11]", "media [11, 32] VGG [6, 14, 15]", labels)
    assert not bench_arxiv.citation_mismatch("media [11, 32]", "media [11, 32]", None)
    # an interval the markdown has in math is math on the page too, citations beside it count
    page = "for x ∈ [1, 2] as in [7]"
    assert not bench_arxiv.citation_mismatch("for $x \\in [1,2]$ as in [7]", page, labels)
    assert bench_arxiv.citation_mismatch("for $x \\in [1,2]$ as in", page, labels)


def test_markdown_math_is_measured_as_the_characters_it_prints() -> None:
    markdown = "With $\\tau_{pair}$ and $\\sin^2\\theta$, *e.g.* $\\mathrm{Cu_{2}MnAl}$"
    page = "With τpair and sin2 θ, e.g. Cu2MnAl"
    expected = ["with", "τpair", "and", "sin2", "θ", "eg", "cu2mnal"]
    assert bench_arxiv.markdown_words(markdown) == bench_arxiv.words(page) == expected
    # an accent joins its letter; one alone is no word (christodoulou-yau's text layer spells
    # its integral signs ``ˆ``)
    assert bench_arxiv.words("ˆ\nΣ\n|h|2dσ by M¨uller") == ["σ", "h2dσ", "by", "müller"]


def test_markdown_math_is_spaced_as_tex_sets_it() -> None:
    """TeX prints no space typed in math and sets relations, binary operators and punctuation
    apart (not in scripts); an operator name is a word; limits and a fraction's parts are
    stacked. The pages are pdfTeX's text layers of the papers named."""
    cases = [
        (
            "$\\mathrm{d} \\sigma_{g} = \\sqrt{\\det(g_{ij})} \\ "
            "\\mathrm{d} x^1 \\wedge \\mathrm{d} x^2$",
            "dσg =\n�\ndet(gij) dx1 ∧dx2",
        ),
        (
            "$H^i (X_\\text{\\it \\'{e}t}, \\mathbb{Z}^c (n)) "
            "\\cong H^i (U_\\text{\\it \\'{e}t}, \\mathbb{Z}^c (n))$",
            "Hi(X´et, Zc(n)) ∼= Hi(U´et, Zc(n))",
        ),
        (
            "$$\\sum_{i=1}^3 |x_{i+1}|^2 = 8\\pi\\deg(\\Phi) \\log n$$",
            "3\n�\ni=1\n|xi+1|2 = 8π deg(Φ) log n",
        ),
        ("$\\frac{\\partial u}{\\partial x^k} \\text{ if } k \\leq n$", "∂u\n∂xk if k ≤ n"),
        # an operator name's script is a command with its argument (weil-etale p. 11)
        (
            "$$\\operatorname{rk}_\\mathbb{Z} H^i (X_\\text{\\it \\'{e}t}, \\mathbb{Z}^c(n)) = "
            "\\operatorname{rk}_\\mathbb{Z} K_{-2n - i} (X).$$",
            "rkZ Hi(X´et, Zc(n)) = rkZ K−2n−i(X).",
        ),
        # an operator name before a braced group is set apart from it (asvc-llncs p. 26)
        ("takes $O(\\ell n {\\log{(\\ell n)}})$ group", "takes O(ℓn log (ℓn)) group"),
        # a kern prints nothing (parabs-pldi p. 19)
        ("$({\\mathit{past}} \\mathbin{+\\mkern-7mu+} {\\mathit{prophs}})$", "(past ++ prophs)"),
        # a tie in math is a space (omeganet-zh p. 9)
        ("$0.857~[0.819,~0.885]$", "0.857 [0.819, 0.885]"),
        # modular arithmetic (fudan p. 108)
        (
            "$$I = nb + c = n [(i+j)\\bmod n] + [(i+k)\\bmod n],$$",
            "𝐼= 𝑛𝑏+ 𝑐= 𝑛[(𝑖+ 𝑗) mod 𝑛] + [(𝑖+ 𝑘) mod 𝑛],",
        ),
        # a binary operator alone is an ordinary symbol, with no gaps (qroute-revtex p. 2,
        # mhgan-icml p. 7)
        (
            "circuit for 3$\\times$3 grid, on CelebA-HQ (1024$\\times$1024).",
            "circuit for 3×3 grid, on CelebA-HQ (1024×1024).",
        ),
        # a matrix's cells (fudan p. 105)
        ("$$B = \\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}$$", "B =\n1 0\n0 1"),
        # an operator's script is its own, the gap comes after it (christodoulou-yau p. 7)
        (
            "$$(F_t)^*g_{\\mathbb{S}^3} = \\cos^2 t \\ \\mathrm{d} \\theta "
            "\\otimes \\mathrm{d} \\theta$$",
            "(Ft)∗gS3 = cos2 t dθ ⊗dθ",
        ),
        # a name set under an operator (\\mathop, \\underset), a label over a relation
        # (\\stackrel), a strut (\\vphantom) and a line of text between rows (\\intertext):
        # namedtensor's pp. 6, 15
        (
            "$$\\begin{aligned}\\sum\\limits_{\\substack{{\\mathsf{\\vphantom{fg} ax}}}} X "
            "&\\stackrel{\\text{(5a)}}{=} "
            "\\mathop{\\underset{\\substack{{\\mathsf{\\vphantom{fg} ax}}}}"
            "{\\vphantom{fg}\\mathrm{softmax}}} X \\intertext{and use it on $A$:} A "
            "&= \\sum_{i \\in I} X_{{\\mathsf{\\vphantom{fg} ax}}(i)}\\end{aligned}$$",
            "�\nax\nX\n(5a)\n= softmax\nax\nX\nand use it on A:\nA =\n�\ni∈I\nXax(i)",
        ),
    ]
    for markdown, page in cases:
        # (in their order on the line: limits stacked above and below their operator)
        assert Counter(bench_arxiv.markdown_words(markdown)) == Counter(bench_arxiv.words(page))


def test_tokens_read_math_however_the_text_layer_spaces_it() -> None:
    # pdfTeX's text layer of christodoulou-yau's page 2: a superscript after a space, a
    # differential glued to its variable
    page = "Let (M 3, g) be a Riemannian 3-manifold ... (RM + |h◦|2) dσ"
    markdown = (
        "Let $(M^3,g)$ be a Riemannian 3-manifold ... $(R^M+|h^\\circ|^2) \\ \\mathrm{d} \\sigma$"
    )
    expected = ["let", "m", "3", "g", "be", "a", "riemannian", "3", "manifold", "rm", "h", "2"]
    assert (
        bench_arxiv.tokens(page)
        == bench_arxiv.markdown_tokens(markdown)
        == [
            *expected,
            "d",
            "σ",
        ]
    )
    assert bench_arxiv.words(page) != bench_arxiv.markdown_words(markdown)  # m3g against m, 3, g
    assert bench_arxiv.tokens("中文 αβ x2") == ["中", "文", "α", "β", "x", "2"]


def test_author_year_citations_mismatch_when_their_brackets_differ() -> None:
    page = "is remarkably simple [Magnus, 1985]:\nas in [Jasak et al., 2007, Kochkov et al., 2021]"
    assert bench_arxiv.citation_mismatch("is remarkably simple (Magnus, 1985):", page, None)
    markdown = (
        "is remarkably simple [Magnus, 1985]: as in [Jasak et al., 2007, Kochkov et al., 2021]"
    )
    assert not bench_arxiv.citation_mismatch(markdown, page, None)
    # a year in brackets that is no citation, and a textual citation, are not compared
    assert not bench_arxiv.citation_mismatch("Magnus (1985) wrote", "Magnus [1985] wrote", None)


def test_page_text_leaves_out_what_a_cropped_figure_hides_and_then_the_figure(
    tmp_path: Path,
) -> None:
    """An included PDF cropped with ``trim``/``clip`` keeps its whole text layer in the file
    (flamingo-zh crops figures out of the original paper's pages): the reference is only the
    text the page shows."""
    from vlpipe.renderers import compile_latex_dir

    figure, paper = tmp_path / "figure", tmp_path / "paper"
    figure.mkdir()
    paper.mkdir()
    (figure / "main.tex").write_text(
        "\\documentclass{article}\\pagestyle{empty}\\begin{document}"
        "Hidden words above.\\vspace{5cm}\n\nShown words.\\end{document}"
    )
    (paper / "fig.pdf").write_bytes(compile_latex_dir(figure).pdf)
    (paper / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{graphicx}\\pagestyle{empty}\\begin{document}"
        "Body text.\\vspace*{8cm}\n\n"
        "\\includegraphics[trim=0 500 0 150,clip,width=\\linewidth]{fig.pdf}\\end{document}"
    )
    pdf = compile_latex_dir(paper).pdf
    with pymupdf.open(stream=pdf) as doc:
        assert "Hidden" in doc[0].get_text(flags=0)
        shown = bench_arxiv.words(bench_arxiv.page_text(doc[0]))
    assert shown == ["body", "text", "shown", "words"]
    # the second reference: the page's own text, without what the included graphic draws
    with bench_arxiv.without_graphics(pdf) as doc:
        assert bench_arxiv.words(bench_arxiv.page_text(doc[0])) == ["body", "text"]


def test_words_join_the_spacing_accents_of_ot1_fonts_to_their_letters() -> None:
    """pdfTeX's OT1 fonts draw an accent as its own glyph, read as a spacing accent before the
    letter; NFKC alone would split ``M¨uhlbauer`` into two words."""
    layer = "S. M¨uhlbauer, J. ˇSaroun, Fran¸cois, 2.36 ˚A"
    assert bench_arxiv.words(layer) == bench_arxiv.words(
        "S. Mühlbauer, J. Šaroun, François, 2.36 Å"
    )
    assert bench_arxiv.words(layer)[1] == "mühlbauer"


def test_the_page_body_leaves_out_running_heads_feet_and_page_numbers() -> None:
    """fudan-thesis-zh's pp. 42–44 as their text layers start and end: a chapter's running head
    on even pages, a section's on odd ones, the page number at the foot; an equation's number
    at a page's foot stays."""
    pages = [
        "第3 章\n奇异关联子与全息张量网络\n表示为\n节）实际上是不同的。\n42",
        "3.2\n奇异关联子\n×\n(3.19)\n43",
        "第3 章\n奇异关联子与全息张量网络\n唯一非平凡的四面体以及对应的三角形张量为\n(3.24)\n44",
        "第3 章\n奇异关联子与全息张量网络\n在我们的奇异关联子构造中\n45",
        "3.2\n奇异关联子\n为了与经典二维 Ising 模型相对应\n46",
        "3.2\n奇异关联子\n融合规则为\n47",
    ]
    running = bench_arxiv.running_lines(pages)
    assert bench_arxiv.page_body(pages[0], running) == "表示为\n节）实际上是不同的。"
    assert bench_arxiv.page_body(pages[1], running) == "3.2\n×\n(3.19)"
    assert bench_arxiv.page_body(pages[2], running).endswith("三角形张量为\n(3.24)")
