"""The pure parts of the arXiv source: archives, main file, macros, markdown, page alignment."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from tests.arxiv.helpers import BULK, HOSTILE, PAPERS, SOURCES, tar_gz
from vlpipe.recipe import ArchiveLimits, InputConfig
from vlpipe.renderers import compile_latex_dir
from vlpipe.schema import Document, Drop
from vlpipe.sources.arxiv import (
    algorithms,
    align,
    archive,
    biblatex,
    compiled,
    macros,
    mainfile,
    pandoc,
    printed,
    tables,
)
from vlpipe.sources.arxiv.archive import ArchiveError
from vlpipe.sources.arxiv.mainfile import NoMainFile

LIMITS = ArchiveLimits(max_unpacked_bytes=2**24, max_members=100)
DOC = b"\\documentclass{article}\\begin{document}Hi\\end{document}"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2401.00001", ("2401.00001", None)),
        ("2401.00002v2.gz", ("2401.00002", 2)),
        ("1207.1234v11.tar.gz", ("1207.1234", 11)),
        ("2401/2401.00005.pdf", ("2401.00005", None)),
        ("hep-th9901001v1.gz", ("hep-th/9901001", 1)),
        ("math.AG0101001", ("math.AG/0101001", None)),
        ("paper.tex", (None, None)),
    ],
)
def test_parse_arxiv_id(name: str, expected: tuple[str | None, int | None]) -> None:
    parsed = archive.parse_arxiv_id(name)
    assert (parsed.id, parsed.version) == expected


def test_formats_are_detected_by_magic_bytes_not_names() -> None:
    tarball = archive.unpack_source((SOURCES / "2401.00001").read_bytes(), LIMITS)
    assert isinstance(tarball, archive.PaperFiles)
    assert {"paper.tex", "refs.bib", "figures/curve.png"} <= set(tarball.files)
    single = archive.unpack_source((SOURCES / "2401.00003.gz").read_bytes(), LIMITS)
    assert isinstance(single, archive.PaperFiles) and list(single.files) == ["main.tex"]
    assert archive.sniff(b"%PDF-1.5 ...") == "pdf"
    assert archive.sniff(b"\x00\x01\x02junk") == "binary"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.4\n...", "pdf_only"),
        (gzip.compress(b"This paper has been withdrawn by the author."), "withdrawn"),
        (gzip.compress(b"Just some notes, no TeX here."), "no_tex_source"),
    ],
)
def test_pdf_only_and_withdrawn_are_drops(data: bytes, reason: str) -> None:
    verdict = archive.unpack_source(data, LIMITS)
    assert isinstance(verdict, Drop) and verdict.reason == reason


def test_binary_junk_and_corrupt_gzip_fail() -> None:
    with pytest.raises(ArchiveError, match="binary"):
        archive.unpack_source(gzip.compress(bytes(range(256)) * 4), LIMITS)
    with pytest.raises(ArchiveError, match="corrupt gzip"):
        archive.unpack_source(b"\x1f\x8b\x08\x00garbage-garbage", LIMITS)


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (8 * 2**20), compresslevel=9)
    assert len(bomb) < 2**16
    with pytest.raises(ArchiveError, match="gzip bomb"):
        archive.unpack_source(bomb, ArchiveLimits(max_unpacked_bytes=2**20, max_members=10))


def test_tar_limits_on_members_and_total_size() -> None:
    many = tar_gz({f"f{n}.tex": b"x" for n in range(20)})
    with pytest.raises(ArchiveError, match="over 10 members"):
        archive.unpack_source(many, ArchiveLimits(max_unpacked_bytes=2**20, max_members=10))
    big = gzip.decompress(tar_gz({"a.tex": b"x" * 3000, "b.tex": b"y" * 3000}))  # a plain tar
    with pytest.raises(ArchiveError, match="over 5000 bytes"):
        archive.unpack_source(big, ArchiveLimits(max_unpacked_bytes=5000, max_members=10))


def test_traversal_and_symlink_members_are_refused() -> None:
    traversal = archive.unpack_source((HOSTILE / "traversal.tar.gz").read_bytes(), LIMITS)
    assert isinstance(traversal, archive.PaperFiles)
    assert set(traversal.files) == {"main.tex", "x.tex"}
    assert traversal.refused == ("../escaped.tex",)
    symlink = archive.unpack_source((HOSTILE / "symlink.tar.gz").read_bytes(), LIMITS)
    assert isinstance(symlink, archive.PaperFiles)
    assert set(symlink.files) == {"main.tex"} and symlink.refused == ("passwd.tex",)


def test_folder_reading_refuses_symlinks(tmp_path) -> None:
    paper = tmp_path / "paper"
    shutil.copytree(PAPERS / "twocol", paper)
    (paper / "leak.tex").symlink_to("/etc/passwd")
    files = archive.read_folder(paper, LIMITS)
    assert "leak.tex" not in files.files and files.refused == ("leak.tex",)
    assert archive.is_paper_folder(paper)
    assert not archive.is_paper_folder(paper / "sections")


def test_bulk_archive_members_become_documents_with_ids_and_versions() -> None:
    items = list(archive.read_bulk_archive(BULK, "bulk/arXiv_src_2401_001.tar", InputConfig()))
    assert all(isinstance(item, Document) for item in items)
    ids = [(d.origin["arxiv_id"], d.origin["version"]) for d in items if isinstance(d, Document)]
    assert ids == [
        ("2401.00001", None),
        ("2401.00002", 2),
        ("2401.00005", None),
        ("2401.00006", None),
        ("2401.00007", 3),
    ]
    # the place in the archive is the document id: two archives may hold the same paper
    assert [d.doc_id for d in items][:2] == [
        "bulk/arXiv_src_2401_001.tar#2401/2401.00001.gz",
        "bulk/arXiv_src_2401_001.tar#2401/2401.00002v2.gz",
    ]


def test_main_file_from_readme_hint_include_graph_and_failure() -> None:
    twocol = archive.read_folder(PAPERS / "twocol", LIMITS).files
    assert mainfile.find_main_file(twocol) == "main.tex"
    without_hint = {k: v for k, v in twocol.items() if k != "00README.json"}
    assert mainfile.find_main_file(without_hint) == "main.tex"  # has the .bbl, reaches most files
    graph = {
        "a_wrapper.tex": DOC.replace(b"Hi", b"\\input{z_body}"),
        "z_body.tex": DOC.replace(b"Hi", b"\\include{chapter}"),
        "chapter.tex": b"text",
    }
    assert mainfile.find_main_file(graph) == "a_wrapper.tex"
    legacy = {**graph, "00README.XXX": b"z_body.tex toplevelfile\n"}
    assert mainfile.find_main_file(legacy) == "z_body.tex"
    with pytest.raises(NoMainFile):
        mainfile.find_main_file({"notes.tex": b"\\section{x} no document"})


def test_flatten_inlines_inputs_recursively_and_survives_cycles() -> None:
    texts = {
        "main.tex": "A \\input{sec/one} B \\include{two} C",
        "sec/one.tex": "one \\input{inner}",
        "sec/inner.tex": "inner \\input{main}",
        "two.tex": "two",
    }
    flat = mainfile.flatten("main.tex", texts)
    assert " ".join(flat.split()) == "A one inner B two C"
    # a style read by its full name (parabs-pldi's \\input{prophecy/macros.sty})
    files = {"main.tex": b"\\input{prophecy/macros.sty} \\model", "prophecy/macros.sty": b"\\def"}
    flat = mainfile.flatten("main.tex", mainfile.tex_texts(files))
    assert " ".join(flat.split()) == "\\def \\model"


def test_expand_macros() -> None:
    tex = (
        "\\newcommand{\\R}{\\mathbb{R}}\\newcommand{\\pair}[2]{(#1, #2)}"
        "\\newcommand{\\opt}[1][x]{f(#1)}\\def\\eps{\\varepsilon}"
        "\\DeclareMathOperator*{\\argmax}{arg\\,max}\\newcommand\\name{Net}"
        "$\\R \\pair{a}{\\eps} \\opt \\opt[y] \\argmax_z$ \\name{} works, \\name s"
    )
    assert macros.expand_macros(tex) == (
        "$\\mathbb{R} (a, \\varepsilon) f(x) f(y) \\operatorname*{arg\\,max}_z$ Net works, Net s"
    )
    # namedtensor.sty's notation is standard math, and its \\ndef defines a macro where it is
    # used; a style's layout (\\kern, \\hrule) is not expanded
    style = (
        "\\newcommand{\\namedtensorstrut}{\\vphantom{fg}}"
        "\\newcommand{\\name}[1]{\\ensuremath{\\mathsf{\\namedtensorstrut #1}}}"
        "\\newcommand{\\nsum}[1]{\\sum\\limits_{\\substack{#1}}}"
        "\\newcommand{\\ndef}[2]{\\newcommand{#1}{\\name{#2}}}"
        "\\def\\footnoterule{\\kern-3pt \\hrule width 5pc \\kern 2.6pt}"
    )
    known = macros.style_abbreviations(style)
    assert set(known) == {"\\namedtensorstrut", "\\name", "\\nsum", "\\ndef"}
    used = "\\ndef{\\height}{height}$\\nsum{\\height} A$"
    assert macros.expand_macros(used, known=known) == (
        "$\\sum\\limits_{\\substack{\\ensuremath{\\mathsf{\\vphantom{fg} height}}}} A$"
    )
    # namedtensor's \\ndef defines a macro where it is used
    named = (
        "\\newcommand{\\ndef}[2]{\\newcommand{#1}{\\mathsf{#2}}}\\ndef{\\height}{height}$\\height$"
    )
    assert macros.expand_macros(named) == "$\\mathsf{height}$"
    # fudan's identity object, a macro named by a digit; a line break before a digit stays
    identity = "\\newcommand{\\1}{\\mathbb{1}}$d_{\\1} = 1$, $\\1_n$ a\\\\1"
    assert macros.expand_macros(identity) == "$d_{\\mathbb{1}} = 1$, $\\mathbb{1}_n$ a\\\\1"
    # fudan's \\pdv: a control word before a parameter stays one (\\partialE is no command)
    derivative = "\\newcommand{\\pdv}[2]{\\frac{\\partial#1}{\\partial#2}}$\\pdv{E}{x}$"
    assert macros.expand_macros(derivative) == "$\\frac{\\partial E}{\\partial x}$"


def test_a_let_copies_a_macro_and_a_heading_layout_is_not_expanded() -> None:
    """midas keeps ``\\let\\realparagraph\\paragraph`` before redefining ``\\paragraph``:
    expanded there, pandoc failed on the whole paper; a ``\\let`` after the redefinition copies
    it, as one of a text command does (parabs-pldi's ``\\let\\c\\texttt``, which pandoc read
    as a cedilla). datacomp restyles ``\\paragraph`` with ``\\@startsection``: expanded, its
    lengths printed as text and the heading was lost."""
    let = "\\let\\real\\paragraph\\renewcommand{\\paragraph}[1]{\\textbf{#1.}} \\paragraph{Hi} x"
    assert macros.expand_macros(let) == "\\let\\real\\paragraph \\textbf{Hi.} x"
    copy = "\\newcommand{\\p}[1]{\\textbf{#1.}}\\let\\real\\p\\let\\c\\texttt \\real{Hi} \\c{yield}"
    assert macros.expand_macros(copy) == " \\textbf{Hi.} \\texttt{yield}"
    layout = (
        "\\renewcommand\\paragraph{\\@startsection{paragraph}{4}{\\z@}{1.35ex \\@plus1ex}{-.5em}"
        "{\\bfseries}}\\paragraph{Candidate pool lead.} Vaishaal"
    )
    assert macros.expand_macros(layout) == "\\paragraph{Candidate pool lead.} Vaishaal"


def test_macro_bomb_stops_growing() -> None:
    tex = "\\newcommand{\\a}{\\b\\b\\b\\b}\\newcommand{\\b}{\\a\\a\\a\\a}\\a"
    assert len(macros.expand_macros(tex, max_passes=50)) < 400


def test_references_citations_and_labels_are_resolved() -> None:
    bbl = "\\begin{thebibliography}{9}\\bibitem{b} B. Two.\\bibitem{a} A. \\newblock One.\n"
    bbl += "\\end{thebibliography}"
    aux = "\\bibcite{b}{1}\n\\bibcite{a}{2}\n\\newlabel{e}{{1}{1}}\n\\newlabel{t}{{1}{1}}\n"
    found = compiled.parse_aux(aux)
    found.bbl = bbl
    tex = (
        "See \\cite{a,b} and Eq.~\\eqref{e} in Table~\\ref{t}, not \\ref{gone}."
        "\\begin{equation}x\\label{e}\\end{equation}"
        "\\begin{table}\\caption{c}\\label{t}\\end{table}\\bibliographystyle{plain}\\bibliography{r}"
    )
    prepared = pandoc.prepare_for_pandoc(tex, found)
    assert "See [2, 1] and Eq.~(1) in Table~1, not ??." in prepared
    assert "\\label" not in prepared and "[1] B. Two." in prepared and "[2] A. One." in prepared


def test_license_only_when_stated() -> None:
    stated = {"LICENSE": b"Licensed under https://creativecommons.org/licenses/by-sa/4.0/"}
    assert archive.find_license(stated) == "CC-BY-SA-4.0"
    assert archive.find_license({"main.tex": DOC}) is None


def test_contents_lists_print_the_compiles_own_entries() -> None:
    aux = (
        "\\@writefile{toc}{\\contentsline {chapter}{\\numberline {第1章}引言}{1}{chapter.1}}\n"
        "\\@writefile{toc}{\\contentsline {section}{\\numberline {1.1}研究背景}{1}{section.1.1}}\n"
        "\\@writefile{lof}{\\contentsline {figure}"
        "{\\numberline {2.1}{\\ignorespaces Q 判据}}{7}{figure.2.1}}\n"
        "\\@writefile{toc}{\\contentsline {chapter}{参考文献}{15}{chapter*.9}}\n"
        # fduthesis: font switches, a class-internal font command, a \hskip between characters
        "\\@writefile{toc}{\\contentsline {chapter}"
        "{\\normalfont \\sffamily 摘\\hskip 1em\\relax 要}{i}{chapter*.1}}\n"
        "\\@writefile{toc}{\\contentsline {subsection}{\\fdu@kai \\numberline {1.3.1}张量范畴}"
        "{8}{subsection.1.3.1}}\n"
    )
    compiled_ = compiled.parse_aux(aux)
    # the commands that print nothing are gone: pandoc had read each as taking the next word
    # (``.1 张量范畴``, ``摘1em要``)
    assert compiled_.contents["toc"] == [
        ("chapter", "第1章 引言", "1"),
        ("section", "1.1 研究背景", "1"),
        ("chapter", "参考文献", "15"),
        ("chapter", "摘 要", "i"),
        ("subsection", "1.3.1 张量范畴", "8"),
    ]
    assert "\n\n摘 要 i\n\n1.3.1 张量范畴 8\n" in pandoc.latex_to_markdown(
        pandoc.contents_lists("\\tableofcontents", compiled_, "")
    )
    sources = "\\documentclass{ctexbook}\\renewcommand{\\listfigurename}{图形列表}"
    tex = "\\tableofcontents\n\\listoffigures\n\\listoftables\nText"
    printed = pandoc.contents_lists(tex, compiled_, sources)
    assert printed.startswith("\\section*{目录}\n\n第1章 引言 1\n\n1.1 研究背景 1\n\n参考文献 15")
    assert "\\section*{图形列表}\n\n2.1 {Q 判据} 7" in printed
    assert printed.endswith("\nText")  # no list of tables was written: nothing printed
    # a Chinese thesis class of TeX Live built on ctex (its .cls is not in the paper's folder)
    thesis = pandoc.contents_lists(tex, compiled_, "\\documentclass[type=doctor]{fduthesis}")
    assert thesis.startswith("\\section*{目录}") and "\\section*{插图}" in thesis


def test_the_contents_print_down_to_tocdepth() -> None:
    """The ``.aux`` holds every level; an article prints down to subsubsections unless the paper
    sets ``tocdepth`` (datacomp's ``\\paragraph``s are in its ``.aux``, not in its contents)."""
    aux = "".join(
        f"\\@writefile{{toc}}{{\\contentsline {{{level}}}{{{text}}}{{{page}}}{{x}}}}\n"
        for level, text, page in (
            ("section", "\\numberline {1}Introduction", 2),
            ("paragraph", "The effects of data curation.", 4),
            ("subsection", "\\numberline {3.1}Competition design", 6),
            ("subsubsection", "\\numberline {3.1.1}Tracks", 7),
        )
    )
    contents = compiled.parse_aux(aux)
    tex = "\\tableofcontents\n"
    article = pandoc.contents_lists(tex, contents, "\\documentclass{article}")
    assert "1 Introduction 2\n\n3.1 Competition design 6\n\n3.1.1 Tracks 7" in article
    assert "curation" not in article
    shallow = "\\setcounter{tocdepth}{1}\\addtocontents{toc}{\\protect\\setcounter{tocdepth}{3}}"
    assert "Introduction 2\n\n" in pandoc.contents_lists(tex, contents, shallow)
    assert "3.1" not in pandoc.contents_lists(tex, contents, shallow)


def test_caption_labels_print_the_names_and_numbers_the_compile_printed() -> None:
    """A ctex thesis prints ``图2.1:`` where pandoc's running count said ``Figure 1:``. The
    ``.aux`` lists floats as pages ship (a longtable before an earlier float that moved), so a
    caption takes the number of the entry whose text it starts with."""
    entries = (
        ("lof", "figure", "A.1", "附图"),
        ("lof", "subfigure", "(a)", "子图"),
        ("lof", "figure", "2.1", "图题，长的说明"),
        ("lot", "table", "2.1", "表题"),
    )
    aux = "".join(
        f"\\@writefile{{{file}}}{{\\contentsline {{{kind}}}{{\\numberline {{{number}}}"
        f"{{\\ignorespaces {text}}}}}{{7}}{{}}}}\n"
        for file, kind, number, text in entries
    )
    found = compiled.parse_aux(aux)
    markdown = "Figure 1: 图题，长的说明\n\nText.\n\nTable 1: 表题\n\nFigure 2: 附图\n"
    ctex = "\\documentclass{ctexbook}"
    assert pandoc.printed_caption_labels(markdown, found, ctex) == (
        "图2.1: 图题，长的说明\n\nText.\n\n表2.1: 表题\n\n图A.1: 附图\n"
    )
    renamed = "\\documentclass{article}\\renewcommand{\\figurename}{Fig.}"
    assert pandoc.printed_caption_labels(markdown, found, renamed).startswith("Fig. 2.1: 图题")
    # a caption the compile did not list keeps pandoc's count
    extra = markdown + "\nFigure 3: 无编号\n"
    assert pandoc.printed_caption_labels(extra, found, "").endswith("Figure 3: 无编号\n")
    assert align._is_float("图2.1: 图题") and not align._is_float("图5展示了本方案")


def test_captions_take_the_list_entries_their_short_captions_stand_for() -> None:
    """fudan-thesis-zh: its list of figures holds the short captions (``\\caption[张量单元]{三种
    张量单元，…}``), which start no long caption but may start another figure's (``张量单元的
    取值由…``, figure 3-8): that figure took 2-1 and figure 2-1 kept pandoc's count. The entries
    whose text starts a caption are aligned in order, the rest pair up in order between them;
    a caption an entry spells whole takes it wherever it is (a longtable ships early)."""
    captions = ["三种张量单元，分别对应于向量", "矩阵乘积态 (MPS)。", "MPS 中的规范自由度。"]
    captions += ["张量单元的取值由四面体符号给出", "利用五边形方程来实现粗粒近似。", "附图"]
    captions += ["Ising 模型的能谱，对应于圆柱", "Ising 模型中能动量张量"]
    entries = [("2-1", "张量单元"), ("2-2", "矩阵乘积态"), ("2-3", "MPS 中的规范自由度")]
    entries += [("3-8", "四面体符号与表面的三角剖分"), ("3-9", "利用五边形方程来实现粗粒近似")]
    entries += [("A-1", "附图"), ("4-4", "Ising 模型的能谱"), ("4-5", "Ising 模型中的两点关联函数")]
    normalized = [align.normalize(caption) for caption in captions]
    found = pandoc.listed_numbers(normalized, [(n, align.normalize(t)) for n, t in entries])
    # 4-4 starts both of the last two captions as far as 80 % alike ("ising模型的能谱",
    # "ising模型中能动"): the closer takes it, the other the entry left after it
    assert found == ["2-1", "2-2", "2-3", "3-8", "3-9", "A-1", "4-4", "4-5"]
    assert pandoc.listed_numbers(["未列出"], []) == [None]


def test_a_class_s_expl3_internals_leave_their_text_not_their_names() -> None:
    tex = "\\__fdu_chapter:n { 引 \\quad 言 }\n\n\\__fdu_chapter:V \\c__fdu_name_tl\n\n正文"
    prepared = pandoc.prepare_for_pandoc(tex, compiled.Compiled())
    assert "__fdu" not in prepared and "{ 引 \\quad 言 }" in prepared and "正文" in prepared


def test_blank_pages_are_those_of_running_heads_and_page_numbers_only() -> None:
    head = "中国科学院大学学位论文 LaTeX 模板"
    pages = [
        f"{head}\n第1章 引言\n考虑到许多同学可能缺乏经验。\n1",
        f"{head}\nII",  # a verso left blank in a two-sided thesis
        "",
        f"{head}\n研究背景 {head} 的使用说明\n3",  # the head's words inside a content line
        f"{head}\n4",
        "Appendix\n5",  # a line of its own: content, however short
    ]
    assert align.blank_pages(pages) == [False, True, True, False, True, False]


def test_a_float_whose_caption_starts_with_math_goes_where_the_page_prints_it() -> None:
    """fudan-thesis-zh: ``图3-11: $\\mathcal{A}_{k+1}$ 模型中的边界条件`` on top of its page; the
    page prints the math between the label and the words (``图3-11 𝒜𝑘+1 模型``), so the caption's
    first words were not found and it went to the foot. Plain words must still be adjacent:
    ``Figure 2 shows the grid`` in the text is not the caption ``Figure 2: the grid``."""
    markdown = (
        "前文的最后一段。\n\n图3-11: $\\mathcal{A}_{k+1}$ 模型中的边界条件。\n\n"
        "Figure 2: the grid of cells.\n\n正文第一段：如 Figure 2 shows the grid。"
    )
    page = (
        "图3-11\n𝒜𝑘+1 模型中的边界条件。\n前文的最后一段。\n"
        "正文第一段：如 Figure 2 shows the grid。\nFigure 2: the grid of cells.\n"
    )
    [part] = align.split_pages(markdown, [page])
    blocks = part.markdown.split("\n\n")
    assert blocks[0].startswith("图3-11:") and blocks[-1].startswith("Figure 2:")


def test_a_code_block_over_pages_is_closed_and_opened_again_on_each() -> None:
    """offline-rl: a listing of model parameters over three pages had its fence open on the
    first page's markdown and closed on the third's; the second was code without a fence. Each
    page now has its own whole code block, and a float the page prints inside its run goes
    outside the block."""
    rows = [f"'{n}.ln_1.weight{n}x'," for n in range(60)]
    markdown = "Intro words here.\n\n``` python\n" + "\n".join(rows[:30]) + "\n\n"
    markdown += "\n".join(rows[30:]) + "\n```\n\nAfter words there.\n\nFigure 1: A plot of loss."
    pages = [
        "Intro words here.\n" + "\n".join(rows[:20]),
        "\n".join(rows[20:32]) + "\nFigure 1: A plot of loss.\n" + "\n".join(rows[32:45]),
        "\n".join(rows[45:]) + "\nAfter words there.",
    ]
    parts = [part.markdown for part in align.split_pages(markdown, pages)]
    for part, page in zip(parts, pages, strict=True):
        assert part.count("```") % 2 == 0, part
        assert set(re.findall(r"weight\d+x", part)) == set(re.findall(r"weight\d+x", page))
    assert parts[1].startswith("``` python\n'20.") and "'44.ln_1.weight44x',\n```" in parts[1]
    outside = re.sub(r"```.*?```", "", parts[1], flags=re.DOTALL)  # the float is no code
    assert outside.strip() == "Figure 1: A plot of loss."
    assert parts[2].endswith("```\n\nAfter words there.")


def test_a_page_cut_never_falls_inside_math_in_a_paragraph() -> None:
    """function-fields: a display (``$$…$$``) and inline math written over two lines inside a
    paragraph; their letters are words the alignment matches, and a page cut fell between the
    two dollar signs, leaving both pages with unbalanced math."""
    markdown = (
        "alpha beta gamma delta epsilon zeta. Then $$f = a_0 + a_1 x\n + a_2 y$$ so eta theta "
        "and $w \\in\n {V}$ iota kappa lambda mu."
    )
    pages = [
        "alpha beta gamma delta epsilon zeta. Then f = a0 + a1x",
        "+ a2y so eta theta and w ∈\nV iota kappa lambda mu.",
    ]
    for split in (pages, [pages[0] + "\n+ a2y so eta theta and w ∈", "V iota kappa lambda mu."]):
        for part in align.split_pages(markdown, split):
            assert part.markdown.count("$") % 2 == 0, part.markdown


def test_emphasis_cut_between_pages_is_closed_and_opened_again() -> None:
    """function-fields: a theorem's italic body (and bold inside it) over two pages had its
    ``*`` open on one page's markdown and closed on the next's. A literal asterisk with spaces
    on both sides, math and code are no markup."""
    markdown = (
        "**Theorem 1.** *Let alpha beta gamma delta $a*b$ and `x*y` with 2 * 3 be **bold words "
        "epsilon zeta** eta theta iota kappa.*\n\nNext paragraph here."
    )
    pages = [
        "Theorem 1. Let alpha beta gamma delta a*b and x*y with 2 * 3 be bold words",
        "epsilon zeta eta theta iota kappa.\nNext paragraph here.",
    ]
    first, second = (part.markdown for part in align.split_pages(markdown, pages))
    assert first.endswith("be **bold words***") and second.startswith("***epsilon zeta** eta")
    assert align._open_emphasis("*a $x*y$ `p*q` 2 * 3 **b") == ["*", "**"]


def test_split_pages_cuts_a_paragraph_that_crosses_pages_and_moves_floats() -> None:
    markdown = (
        "# 1 Intro\n\nalpha beta gamma delta epsilon zeta eta theta iota kappa\n\n"
        "Table 1: lambda mu nu.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "omicron pi rho sigma\n\n$$x^2$$\n\ntau upsilon phi chi psi omega"
    )
    pages = [
        "1 Intro alpha beta gamma delta epsilon zeta",
        "Table 1: lambda mu nu. a b 1 2 eta theta iota kappa omicron pi rho sigma x2",
        "tau upsilon phi chi psi omega 3",
    ]
    parts = align.split_pages(markdown, pages)
    assert parts[0].markdown == "# 1 Intro\n\nalpha beta gamma delta epsilon zeta"
    assert parts[1].markdown.startswith("Table 1: lambda mu nu.\n\n| a | b |")
    assert "eta theta iota kappa\n\nomicron pi rho sigma\n\n$$x^2$$" in parts[1].markdown
    assert parts[2].markdown == "tau upsilon phi chi psi omega"
    assert all(part.score > 0.9 for part in parts)


def test_a_caption_goes_to_the_page_that_starts_a_line_with_its_label() -> None:
    """coles-acmart's Tables 7 and 8 share their words with the prose and captions of the page
    before the one that prints them: a page whose line starts with the label holds the caption."""
    markdown = (
        "alpha beta as Table 7 shows the quality of the pretrained model on the downstream "
        "tasks gamma\n\nTable 7: Quality of the pretrained model on the downstream tasks\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\ntheta iota kappa\n\ndelta epsilon zeta eta"
    )
    pages = [
        "alpha beta as Table 7 shows the quality of the pretrained model on the downstream\n"
        "tasks gamma theta iota kappa",
        "delta epsilon\nTable 7: Quality of the pretrained model on the downstream\ntasks\n"
        "a b 1 2\nzeta eta",
    ]
    first, second = (part.markdown for part in align.split_pages(markdown, pages))
    assert "Table 7:" not in first and second.index("Table 7: Quality") < second.index("| a |")


def compiled_markdown(folder: Path, flags: int = 0) -> tuple[str, list[str]]:
    """The folder's ``main.tex`` compiled by TeX (bibtex too) and converted by vlpipe: the
    paper's markdown and the text of each page the compile made, the expected text."""
    result = compile_latex_dir(folder)
    files = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    markdown = pandoc.paper_markdown(files, "main.tex", result.outputs).text
    with pymupdf.open(stream=result.pdf) as doc:
        return markdown, [page.get_text(flags=flags) if flags else page.get_text() for page in doc]


def test_a_longtable_over_several_pages_is_cut_between_its_rows(tmp_path) -> None:
    """flamingo-zh's model card and datasheets are longtables of 3–4 pages each, whose rows
    repeat one another's questions: as one float on one page, the other pages were left with no
    markdown (dropped as low_alignment). Each page now gets its own rows, header kept."""
    rows = "\n".join(
        f"Question {n} about item{n} & Answer{n} with word{n}x and word{n}y \\\\"
        for n in range(150)
    )
    parts, texts = pages_with_their_items(
        tmp_path,
        "\\documentclass{article}\\usepackage{longtable}\\begin{document}Before.\n\n"
        f"\\begin{{longtable}}{{ll}}Question & Answer \\\\\\hline\\endhead\n{rows}\n"
        "\\caption{A datasheet.}\\end{longtable}\n\nAfter.\\end{document}",
    )
    assert len(texts) >= 3 and all(part.score > 0.9 for part in parts)
    for part, text in zip(parts, texts, strict=True):
        if re.search(r"item\d+", text):
            assert part.markdown.count("|---") + part.markdown.count("|:--") >= 1  # a table


def pages_with_their_items(tmp_path: Path, source: str) -> tuple[list, list[str]]:
    """``source`` compiled and its markdown split into pages, each page's markdown holding the
    ``itemN`` words its text layer prints; the pages' markdown and text."""
    (tmp_path / "main.tex").write_text(source)
    markdown, texts = compiled_markdown(tmp_path)
    parts = align.split_pages(markdown, texts)
    for part, text in zip(parts, texts, strict=True):
        shown = set(re.findall(r"item\d+", text))
        assert shown == set(re.findall(r"item\d+", part.markdown)), part.index
    return parts, texts


def test_a_table_float_prints_its_caption_once_with_its_subtables_captions(tmp_path) -> None:
    """compressive's Table 1 holds two subtables: pandoc gave both tables the last subcaption and
    lost the float's own; a float of two tabulars printed its caption twice, numbered twice."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{subcaption}\\begin{document}Before.\n"
        "\\begin{table}\\caption{Benchmarks on (a) 1 million and (b) 47 million molecules}\n"
        "\\begin{subtable}{1\\textwidth}\\caption{On 1 million molecules}\\label{one}\n"
        "\\begin{tabular}{cc}\\hline ID & Speedup \\\\\\hline 5957 & 31 \\\\\\end{tabular}"
        "\\end{subtable}\n\n\\vspace{1em}\n\n"
        "\\begin{subtable}{1\\textwidth}\\caption{On all of PubChem}\\label{two}\n"
        "\\begin{tabular}{cc}\\hline ID & Speedup \\\\\\hline 5957 & 51.3 \\\\\\end{tabular}"
        "\\end{subtable}\\end{table}\n"
        "\\begin{table}\\caption{Two tabulars}\\begin{tabular}{c}\\hline x\\\\\\hline y\\\\"
        "\\end{tabular}\n\n\\begin{tabular}{c}\\hline z\\\\\\hline w\\\\\\end{tabular}"
        "\\end{table}\n"
        "After Table~\\ref{two}.\\end{document}"
    )
    markdown, texts = compiled_markdown(tmp_path)
    assert re.findall(r"^Table \d+:.*$", markdown, re.MULTILINE) == [
        "Table 1: Benchmarks on (a) 1 million and (b) 47 million molecules "
        "(a) On 1 million molecules (b) On all of PubChem",
        "Table 2: Two tabulars",
    ]
    assert len(re.findall(r"^\|:", markdown, re.MULTILINE)) == 4  # four tables
    assert "After Table 1b." in markdown
    assert all("(a) On 1 million" in text and "(b) On all of PubChem" in text for text in texts)


def test_an_alignment_broken_across_pages_is_cut_between_its_rows(tmp_path) -> None:
    """fudan-thesis-zh's matrices and namedtensor's derivations are ``align*`` displays TeX
    breaks across pages (``\\allowdisplaybreaks``): as one piece, the whole display went to one
    page. Each page now gets the rows it prints, as a display of its own; a matrix's rows inside
    a row are not the display's."""
    rows = " \\\\\n".join(
        f"x_{{{n}}} &= \\text{{item{n}}} + \\begin{{pmatrix}} {n} & 1 \\\\ 0 & {n} \\end{{pmatrix}}"
        for n in range(60)
    )
    parts, texts = pages_with_their_items(
        tmp_path,
        "\\documentclass{article}\\usepackage{amsmath}\\allowdisplaybreaks\\begin{document}"
        f"Before the rows.\n\\begin{{align*}}\n{rows}\n\\end{{align*}}\nAfter.\\end{{document}}",
    )
    assert len(texts) >= 2
    for part in parts:
        assert part.markdown.count("$$") == 2, part.index
        assert part.markdown.count("\\begin{pmatrix}") == part.markdown.count("\\end{pmatrix}")
    assert parts[0].markdown.endswith("\\end{aligned}$$")
    assert parts[1].markdown.startswith("$$\\begin{aligned}\nx_{")


ALGPSEUDOCODE = r"""\documentclass{article}
\usepackage{algorithm}
\usepackage{algpseudocode}
\algrenewcommand\algorithmicrequire{\textbf{Input:}}
\begin{document}
The text before it.
\begin{algorithm}
\caption{Euclid's algorithm}\label{alg:euclid}
\begin{algorithmic}[1]
\Require integers $a$ and $b$
\Procedure{Euclid}{$a,b$}\Comment{The gcd of a and b}
\State $r\gets a\bmod b$
\While{$r\not=0$}\Comment{We have the answer if r is 0}
\State $a\gets b$
\State $r\gets a\bmod b$
\EndWhile
\If{$b > 1$} \State \Return $b$ \Else \State \Return $1$ \EndIf
\EndProcedure
\end{algorithmic}
\end{algorithm}
Algorithm~\ref{alg:euclid} is the text after it.
\end{document}
"""
ALGORITHM2E = r"""\documentclass{article}
\usepackage[linesnumbered,ruled]{algorithm2e}
\SetKwFunction{Send}{SendBeacon}
\begin{document}
The text before it.
\begin{algorithm}
\KwIn{a list $L$ of $n$ numbers}
\KwOut{the sum $s$}
$s \gets 0$\;
\For{$i \gets 1$ \KwTo $n$}{
  \eIf{$L_i > 0$}{$s \gets s + L_i$\; \tcp{a positive one}}{\Send{$i$}\;}
}
\Return{$s$}\;
\caption{Sum of a list}
\end{algorithm}
The text after it.
\end{document}
"""


@pytest.mark.parametrize("source", [ALGPSEUDOCODE, ALGORITHM2E], ids=["algpseudocode", "2e"])
def test_an_algorithm_prints_its_lines_keywords_and_numbers(tmp_path, source) -> None:
    """pandoc knows no algorithm package: ib-sagej's algorithms ran into one paragraph of their
    formulas, without their keywords, line numbers or comments. Each line the page prints is a
    line of the markdown, its words (outside math) in the page's order, and the caption is
    numbered as the compile numbered it."""
    (tmp_path / "main.tex").write_text(source)
    markdown, texts = compiled_markdown(tmp_path)
    page = align.normalize(texts[0])
    opened, closed = align.FIGURE_TEXT_MARKS
    lines = markdown.split(opened)[1].split(closed)[0].strip().split("\n\n")
    assert len(lines) >= 10 and "Algorithm 1: " in markdown.split(closed)[1]
    for line in lines:
        words = align.normalize(align.MATH.sub(" ", line)).split()
        # (a word may run into the formula after it: ``Euclid(a, b)`` is ``euclida b``)
        assert re.search(r"(?<!\S)" + r".*?(?<!\S)".join(map(re.escape, words)), page), line
    numbers = [line.split(None, 1)[0].rstrip(":") for line in lines if line[0].isdigit()]
    assert numbers == [str(n) for n in range(1, len(numbers) + 1)] and len(numbers) >= 9
    assert any(re.fullmatch(r"\d+:? \*\*end\*\*( \*\*while\*\*)?", line) for line in lines)


def test_inference_rules_print_their_names_premises_and_conclusions(tmp_path) -> None:
    """parabs-pldi's figures are mathpartir rules, which pandoc dropped: a figure of rules
    kept its caption alone. Each rule is now a display, its name where the page sets it, its
    premises side by side over its conclusion; the figure goes where the page prints it."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{mathpartir}\\begin{document}\n"
        "Typing rules come first.\n\\begin{figure}[t]\\begin{mathpar}\n"
        "\\inferrule[T-Var]{x : \\tau \\in \\Gamma}{\\Gamma \\vdash x : \\tau}\n\\and\n"
        "\\inferrule*[right=T-App]{\\Gamma \\vdash e_1 : \\tau \\to \\sigma \\\\ "
        "\\Gamma \\vdash e_2 : \\tau}{\\Gamma \\vdash e_1\\,e_2 : \\sigma}\n\\\\\n"
        "\\Gamma \\vdash \\mathsf{unit} : \\mathsf{Unit}\n\\end{mathpar}\n"
        "\\caption{Typing rules of the lambda calculus}\\end{figure}\n"
        "The text after the rules.\n\\end{document}\n"
    )
    markdown, texts = compiled_markdown(tmp_path)
    rules = [
        "$$\\text{\\textsc{T-Var}} \\quad "
        "\\frac{x : \\tau \\in \\Gamma}{\\Gamma \\vdash x : \\tau}$$",
        "$$\\frac{\\Gamma \\vdash e_1 : \\tau \\to \\sigma \\qquad \\Gamma \\vdash e_2 : \\tau}"
        "{\\Gamma \\vdash e_1\\,e_2 : \\sigma} \\quad \\text{\\textsc{T-App}}$$",
        "$$\\Gamma \\vdash \\mathsf{unit} : \\mathsf{Unit}$$",
    ]
    (page,) = align.split_pages(markdown, texts)
    assert page.markdown.split("\n")[:4] == [
        *rules,
        "Figure 1: Typing rules of the lambda calculus",
    ]
    assert page.markdown.endswith("Typing rules come first.\n\nThe text after the rules.")


def test_a_malformed_algorithm_reads_as_far_as_it_goes() -> None:
    """Unclosed groups, missing arguments, a keyword defined without its parts: the lines read
    so far, nothing raised."""
    broken = (
        "\\begin{algorithm}\\begin{algorithmic}[1]\\State \\If{x \\For\\end{algorithmic}"
        "\\caption{Broken\\end{algorithm} \\begin{algorithmic}\\EndFor\\end{algorithmic}"
    )
    out = algorithms.algorithms_as_printed(broken, compiled.Compiled(), "")
    assert "\\textbf{end} \\textbf{for}" in out
    lines = algorithms.algorithm2e_lines("\\For{$i$ \\KwTo{ \\eIf{a}{b}\\SetKw{K}", True, True, {})
    assert lines[0] == "1 \\textbf{for}  \\textbf{do}"


def test_page_without_matching_text_gets_a_low_score() -> None:
    parts = align.split_pages("one two three four\n\nfive six", ["one two three four", "", ""])
    assert parts[0].score > 0.9 and parts[2].score == 0.0


def test_char_f1_ignores_markup_and_punctuation() -> None:
    assert align.char_f1("## 2 *Method*: fast!", "2 Method fast") == 1.0
    assert align.char_f1("abc", "xyz") == 0.0


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_markdown_conventions_with_pandoc() -> None:
    files = archive.read_folder(PAPERS / "full", LIMITS).files
    outputs = compile_latex_dir(PAPERS / "full", "paper.tex").outputs
    markdown = pandoc.paper_markdown(files, "paper.tex", outputs).text
    assert markdown.startswith("# Learning to Read Scientific Pages\n\nAda Lovelace, Alan Turing")
    assert "# 3 Method\n\n## 3.1 Model" in markdown
    assert "$x \\in \\mathbb{R}^{H \\times W \\times 3}$" in markdown  # \R expanded, $…$
    assert "\n$$\\mathcal{L}_{\\text{ce}}" in markdown  # display math alone, $$…$$
    assert "Table 1: Sizes of the data splits.\n\n| Split" in markdown
    assert "Figure 1: Validation loss during training." in markdown
    assert "entirely.^1^" in markdown and "\n1 Mathematical expressions" in markdown
    assert "-   recognition errors" in markdown and "as Equation (1) shows" in markdown
    assert "\\cite" not in markdown and "\n[1] " in markdown  # labels as the compile printed
    latin1 = archive.unpack_source((SOURCES / "2401.00003.gz").read_bytes(), LIMITS)
    assert isinstance(latin1, archive.PaperFiles)
    assert "Une étude naïve des données" in pandoc.paper_markdown(latin1.files, "main.tex", {}).text


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_title_and_authors_keep_their_math_and_lose_pictures() -> None:
    tex = (
        "\\documentclass{article}\\title{\\includegraphics{logo.png} Flamingo: $k$-shot}"
        "\\author{Ann Lee$^{\\dagger}$ \\and Bob$^{*}$}\\begin{document}\\maketitle\\end{document}"
    )
    assert pandoc.latex_to_markdown(tex).startswith(
        "# Flamingo: $k$-shot\n\nAnn Lee$^{\\dagger}$, Bob$^{*}$"
    )


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_front_matter_prints_its_thanks_once_and_its_abstract_whole() -> None:
    """moptsp's IEEEtran \\thanks came out twice, as pandoc notes at the end of the paper; pandoc 2
    hands an abstract to Lua as a plain list of blocks, and read as inlines its math lost its
    dollars (2dpsd: ``\\^3He``) and its paragraphs ran together."""
    tex = (
        "\\documentclass{article}\\newcommand{\\He}{$^3$He }\\title{A title\\thanks{By EPSRC.}}"
        "\\author{Ann\\thanks{Ann is with Essex.} \\and Bob\\thanks{By EPSRC.}}\\begin{document}"
        "\\begin{abstract}A \\He filter.\n\nSecond paragraph.\\end{abstract}\\maketitle\n"
        "Body\\footnote{A note.}.\\end{document}"
    )
    assert pandoc.latex_to_markdown(tex) == (
        "# A title\n\nAnn, Bob\n\nBy EPSRC.\n\nAnn is with Essex.\n\n###### Abstract\n\n"
        "A $^3$He filter.\n\nSecond paragraph.\n\nBody^1^.\n\n<!--vlpipe:footnote-->\n\n"
        "1 A note.\n"
    )


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
@pytest.mark.parametrize(
    ("preamble", "figure", "table"),
    [
        ("\\documentclass[acmsmall,nonacm]{acmart}", "Fig. 1. ", "Table 1. "),
        ("\\documentclass{llncs}", "Fig. 1. ", "Table 1. "),
        ("\\documentclass{revtex4-2}", "FIG. 1. ", "TABLE I. "),
        ("\\documentclass{article}", "Figure 1: ", "Table 1: "),
    ],
)
def test_caption_labels_are_the_ones_the_pages_print(
    tmp_path, preamble: str, figure: str, table: str
) -> None:
    """acmart (through the caption package) and llncs print ``Fig. 1.``, where the markdown's
    label said ``Figure 1:``; the pages' text layer has the format whole."""
    title = "\\title{T}\\maketitle " if "acmart" in preamble else ""
    caption = "Accuracy of the three models on the held out test split"
    (tmp_path / "main.tex").write_text(
        f"{preamble}\\begin{{document}}{title}Some words before the floats.\n\n"
        f"\\begin{{figure}}[h]\\centering\\rule{{2cm}}{{1cm}}\\caption{{{caption}.}}\\end{{figure}}\n"
        f"\\begin{{table}}[h]\\caption{{Sizes of every corpus we gathered for this work.}}"
        "\\begin{tabular}{ll}a & b\\\\\\end{tabular}\\end{table}\n\\end{document}\n"
    )
    markdown, texts = compiled_markdown(tmp_path)
    relabelled = align.caption_labels_as_on_pages(markdown, texts)
    assert f"{figure}{caption}." in relabelled
    assert f"{table}Sizes of every corpus" in relabelled
    assert "".join(p.markdown for p in align.split_pages(relabelled, texts)).count(figure) == 1


def test_a_caption_label_changes_only_where_a_page_prints_its_number_and_words() -> None:
    markdown = (
        "Figure 2: The loss curve of every run we made in this study.\n\n"
        "Figure 3: Short one.\n\n"
        "Table 1: The loss curve of every run we made in this study.\n\n"
        "图4: 模型在测试集上的准确率随训练步数的变化\n\n"
        "Figure 8: `Pool`: Specification\n"
    )
    pages = [
        "Fig. 2. The loss curve of every run\nwe made in this study.\n"  # words across lines
        "Fig. 5. Short one.\n"  # too few words to be sure of another number
        "Fig. 8. Pool: Specification\n"  # a short caption's words, all of them, and its number
        "Tab. 7: The loss curve of every run we made in this study.\n"  # another number
        "Theorem 4. 模型在测试集上的准确率随训练步数的变化\n"
    ]
    assert align.caption_labels_as_on_pages(markdown, pages).split("\n\n") == [
        "Fig. 2. The loss curve of every run we made in this study.",
        "Figure 3: Short one.",
        "Table 1: The loss curve of every run we made in this study.",
        "图4: 模型在测试集上的准确率随训练步数的变化",  # a theorem is not its caption
        "Fig. 8. `Pool`: Specification\n",  # parabs-pldi's Fig. 7
    ]


def test_commands_that_print_nothing_leave_the_group_after_them() -> None:
    """pandoc reads ``\\boldmath``, ``\\relax``, ``\\normalfont`` … as taking the group after
    them, and dropped it: asvc-llncs' run-in headings (``\\parhead``) were lost."""
    tex = (
        "\\begin{document}\\medskip\\noindent{\\bfseries\\boldmath\\ignorespaces{Proofs for a "
        "$v_i$.}} A proof. \\relax{Kept} \\normalfont{too}.\\end{document}"
    )
    markdown = pandoc.latex_to_markdown(pandoc.prepare_for_pandoc(tex, compiled.Compiled()))
    assert markdown == "**Proofs for a $v_i$.** A proof. Kept too.\n"


def test_a_label_alone_on_a_captions_last_line_leaves_no_paragraph_break() -> None:
    tex = (
        "\\begin{document}\\begin{figure}\\includegraphics{a.pdf}\\caption{\\small The observables"
        " are found.\n\\label{fig:m12} \n}\\end{figure}\nText.\\end{document}"
    )
    markdown = pandoc.latex_to_markdown(pandoc.prepare_for_pandoc(tex, compiled.Compiled()))
    assert markdown == "Figure 1: The observables are found.\n\nText.\n"


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_a_highlight_macro_of_implicit_braces_converts() -> None:
    """omeganet's ``\\hl`` (``\\bgroup…\\egroup`` over %-joined lines) in a heading made pandoc
    fail on the whole paper."""
    files = {
        "main.tex": (
            "\\documentclass{article}\\newcommand\\hl[1]{%\n  \\bgroup\n  \\hskip0pt"
            "\\color{black!80!black}%\n  #1%\n  \\egroup\n}\n\\begin{document}\n"
            "\\subsection{\\hl{变换} 模块}\n正文。\n\\end{document}\n"
        ).encode()
    }
    assert pandoc.paper_markdown(files, "main.tex", {}).text == "## 0.1  变换模块\n\n正文。\n"


def test_bibers_entry_data_is_not_printed_as_the_reference_list() -> None:
    bbl = "\\refsection{0}\\entry{a}{article}{}\\field{year}{1991}\\endentry\\endrefsection"
    tex = "Text.\n\\printbibliography\n"
    prepared = pandoc.prepare_for_pandoc(tex, compiled.Compiled(bbl=bbl))
    assert "entry" not in prepared and "printbibliography" not in prepared
    bibtex = "\\begin{thebibliography}{1}\\bibitem{a} A. Author. Title.\\end{thebibliography}"
    assert "A. Author. Title." in pandoc.prepare_for_pandoc(tex, compiled.Compiled(bbl=bibtex))


def test_malformed_biber_data_prints_what_it_holds_and_never_raises() -> None:
    whole = (
        "\\entry{a}{article}{}\\name{author}{1}{}{{{hash=1}{family={Doe},given={Jane}}}}"
        "\\field{title}{On {T}hings}\\field{year}{2001}\\field{extradate}{28}\\endentry"
        "\\entry{b}{book}{}\\field{title}{Unclosed {brace}\\endentry"
    )
    style = biblatex.biblatex_style("\\usepackage[style=authoryear]{biblatex}")
    for cut in range(0, len(whole), 7):  # every truncation of the data
        entries = biblatex.read_entries(whole[:cut])
        biblatex.bibliography(entries, style)
        assert set(biblatex.citations(entries, style)) <= {"a", "b"}
    entries = biblatex.read_entries(whole)
    assert biblatex.citations(entries, style)["a"].year == "2001ab"
    assert "{a} Doe, Jane (2001ab). ``On {T}hings''.\n" in biblatex.bibliography(entries, style)


REFERENCES_BIB = """
@article{moon1969,
  author = {Moon, R. M. and Riste, T. and Koehler, W. C.},
  title = {Polarization analysis of thermal-neutron scattering},
  journal = {Physical Review}, volume = {181}, pages = {920--931}, year = {1969},
  doi = {10.1103/PhysRev.181.920}
}
@inproceedings{acar2009,
  author = {Acar, Umut A.},
  title = {Self-adjusting computation: an overview},
  booktitle = {Proceedings of the Workshop on Partial Evaluation},
  publisher = {Association for Computing Machinery}, year = {2009}, pages = {1--6},
  note = {AAI3166271}
}
"""


@pytest.mark.parametrize(
    ("preamble", "style"),
    [
        ("\\documentclass{revtex4-2}", "apsrev4-2"),
        ("\\documentclass{elsarticle}", "elsarticle-num-names"),
        ("\\documentclass[acmsmall,nonacm]{acmart}", "ACM-Reference-Format"),
        ("\\documentclass{article}\\usepackage{natbib}", "plainnat"),
    ],
)
def test_reference_lists_print_what_each_bibliography_style_typesets(
    tmp_path, preamble: str, style: str
) -> None:
    """Each style's ``.bbl`` wraps the entry text in its own macros (apsrev's ``\\bibinfo``,
    ``\\bibnamefont``; ACM's ``\\showarticletitle``; elsarticle's ``\\xfnm``), and wraps lines
    where pandoc fails: the reference list has the words of the page the compile made (save
    its page number, and ACM's address footer). revtex prints no heading."""
    (tmp_path / "refs.bib").write_text(REFERENCES_BIB)
    title = "\\title{T}\\maketitle " if "acmart" in preamble else ""
    (tmp_path / "main.tex").write_text(
        f"{preamble}\\begin{{document}}{title}See \\cite{{moon1969,acar2009}}.\n"
        f"\\bibliographystyle{{{style}}}\\bibliography{{refs}}\\end{{document}}\n"
    )
    markdown, texts = compiled_markdown(tmp_path, pymupdf.TEXT_DEHYPHENATE)
    page = texts[-1]

    def words(text: str) -> Counter[str]:
        return Counter(re.findall(r"[a-z0-9]+", re.sub(r"[*`]", "", text.lower())))

    furniture = Counter({"1": 1, "author": 1, "s": 1, "address": 1})
    assert words(markdown) - words(page) == Counter()
    assert words(page) - words(markdown) <= furniture
    assert ("References" in markdown) == (style != "apsrev4-2")


def test_a_bibliography_inside_a_conditional_and_a_class_built_on_a_book_class(tmp_path) -> None:
    """ucasthesis-zh's class (on ``\\LoadClass{ctexbook}``) holds ``\\bibliography`` in a
    conditional of its own, which pandoc dropped with the reference list in it, and renames
    ``\\bibname`` to another class macro: the reference page had no markdown. The list now
    stands where the conditional did, under the heading the class prints."""
    (tmp_path / "refs.bib").write_text(REFERENCES_BIB)
    (tmp_path / "thesis.cls").write_text(
        "\\NeedsTeXFormat{LaTeX2e}\\ProvidesClass{thesis}\\LoadClass{book}\n"
        "\\def\\thesis@bibname{Bibliography}\\def\\bibname{\\thesis@bibname}\n"
        "\\RequirePackage{etoolbox}\\newcommand{\\ifbib}{\\expandafter\\ifstrequal\\expandafter}\n"
        "\\def\\bibtool{bibtex}\n"
    )
    (tmp_path / "main.tex").write_text(
        "\\documentclass{thesis}\\begin{document}\\chapter{One}See \\cite{moon1969}.\n"
        "\\bibliographystyle{plain}\n"
        "\\ifbib{\\bibtool}{bibtex}{\\bibliography{refs}}{\\printbibliography}\n"
        "\\chapter{After}Thanks.\\end{document}\n"
    )
    markdown, texts = compiled_markdown(tmp_path)
    references = next(text for text in texts if "Polarization" in text)
    assert "Polarization analysis of thermal-neutron scattering" in markdown
    assert "# Bibliography" in markdown and "Bibliography" in references
    assert markdown.index("Polarization") < markdown.index("Thanks.")
    assert "printbibliography" not in markdown and "bibtex" not in markdown


BIBLATEX_BIB = """
@article{huisken1996,
  author = {Huisken, Gerhard and Yau, Shing-Tung},
  title = {Definition of center of mass for isolated physical systems},
  journaltitle = {Inventiones mathematicae}, volume = {124}, number = {1}, year = {1996},
  pages = {281--311}, doi = {10.1007/s002220050054}
}
@book{arbarello2011,
  author = {Arbarello, Enrico and Cornalba, Maurizio and Griffiths, Phillip A.},
  title = {Geometry of Algebraic Curves}, volume = {268},
  series = {Grundlehren der mathematischen Wissenschaften},
  publisher = {Springer}, location = {Heidelberg}, year = {2011}
}
@inproceedings{moon2009,
  author = {Moon, Rita and Riste, Tormod and Koehler, Wally and Acar, Umut},
  title = {Self-adjusting polarization analysis},
  booktitle = {Proceedings of the Workshop on Partial Evaluation},
  publisher = {ACM}, year = {2009}, pages = {17}
}
"""


@pytest.mark.parametrize("style", ["numeric-comp", "alphabetic", "authoryear"])
def test_biblatex_citations_and_reference_lists_print_as_the_style_typesets_them(
    tmp_path, style: str
) -> None:
    """biber's ``.bbl`` is data that biblatex's style prints: christodoulou-yau's markdown
    cited its keys (``[HuiskenYau_CenterMass]`` for the page's ``[HY96]``) and had no reference
    list. Its citations and list now have the words, labels and brackets of the compiled page,
    a postnote in the brackets; the fields that ``\\AtEveryBibitem`` clears are left out."""
    (tmp_path / "refs.bib").write_text(BIBLATEX_BIB)
    (tmp_path / "main.tex").write_text(
        f"\\documentclass{{article}}\\usepackage[style={style},backend=biber]{{biblatex}}\n"
        "\\addbibresource{refs.bib}\\AtEveryBibitem{\\clearfield{doi}}\n"
        "\\hyphenpenalty=10000\\exhyphenpenalty=10000\n"  # the page's words whole
        "\\begin{document}First \\cite{huisken1996}, then \\parencite[Chapter~2]{arbarello2011}"
        " and \\textcite{moon2009}; both \\parencite{huisken1996,arbarello2011}.\n"
        "\\printbibliography\\end{document}\n"
    )
    markdown, texts = compiled_markdown(tmp_path)
    page = " ".join(texts)

    def words(text: str) -> Counter[str]:
        return Counter(re.findall(r"[^\W_]+", re.sub(r"[*`]", "", text.lower())))

    assert words(markdown) - words(page) == Counter()
    assert words(page) - words(markdown) <= Counter({"1": 1})  # the page number
    cited = re.sub(r"\s+", " ", page.split("First")[1].split("References")[0]).strip()
    flat = re.sub(r"\s+", " ", markdown.split("First")[1].split("# References")[0])
    assert flat.replace("\\", "").strip().startswith(cited[:60])
    assert "doi" not in page.lower() and "doi" not in markdown.lower()


def test_chemical_formulas_print_as_mhchem_typesets_them() -> None:
    formulas = pandoc.chemical_formulas(
        "\\ce{Cu2MnAl}, \\ce{SO4^2-}, \\ce{Fe^{3+}}, \\ce{Ca(OH)2}, "
        "\\ce{2H2 + O2 -> 2H2O}, \\cell{x}"
    )
    assert formulas == (
        "\\ensuremath{\\mathrm{Cu_{2}MnAl}}, \\ensuremath{\\mathrm{SO_{4}^{2-}}}, "
        "\\ensuremath{\\mathrm{Fe^{3+}}}, \\ensuremath{\\mathrm{Ca(OH)_{2}}}, "
        "\\ensuremath{\\mathrm{2H_{2} + O_{2} \\rightarrow  2H_{2}O}}, \\cell{x}"
    )
    if shutil.which("pandoc") is not None:
        first = formulas.split(", ")[0]
        tex = f"\\documentclass{{article}}\\begin{{document}}A {first} b\\end{{document}}"
        assert pandoc.latex_to_markdown(tex) == "A $\\mathrm{Cu_{2}MnAl}$ b\n"


AUX = r"""\relax
\bibcite{smith2020}{{1}{2020}{{Smith et~al.}}{{Smith, Jones, and Doe}}}
\bibcite{doe2019}{{2}{2019}{{Doe}}{{Doe}}}
\bibcite{knuth}{Knu84}
\newlabel{sec:intro}{{1}{1}{Introduction}{section.1}{}}
\newlabel{eq:loss}{{3}{2}{}{equation.2.3}{}}
\newlabel{fig:plot}{{2}{2}}
\newlabel{fig:plot@cref}{{[figure][2][]2}{[1][2][]2}}
\@writefile{toc}{\contentsline {section}{\numberline {1}Introduction}{1}{section.1}}
\@input{chapter.aux}
"""
CHAPTER_AUX = r"""\@writefile{toc}{\contentsline {section}{\numberline {A}Proofs}{9}{appendix.A}}
\@writefile{toc}{\contentsline {subsection}{\numberline {A.1}Lemmas}{9}{subsection.A.1}}
"""


def test_the_compiles_aux_files_are_read_in_order() -> None:
    outputs = {"main.aux": AUX.encode(), "chapter.aux": CHAPTER_AUX.encode(), "main.bbl": b"B"}
    found = compiled.read_compiled(outputs, "main.tex")
    assert found.labels == {"sec:intro": "1", "eq:loss": "3", "fig:plot": "2"}
    assert found.kinds == {"sec:intro": "section", "eq:loss": "equation", "fig:plot": "figure"}
    assert found.citations["smith2020"] == compiled.Citation("1", "2020", "Smith et al.")
    assert found.citations["knuth"] == compiled.Citation("Knu84")
    assert found.headings == [("section", "1"), ("section", "A"), ("subsection", "A.1")]
    assert found.bbl == "B"


def test_citations_print_as_the_compile_and_the_style_say() -> None:
    found = compiled.parse_aux(AUX)
    numbers = "\\usepackage[numbers,sort&compress]{natbib}"
    tex = "see \\citep{doe2019,smith2020} and \\citet{smith2020}; \\nocite{x}"
    assert printed.replace_citations(tex, found, numbers) == ("see [1, 2] and Smith et al. [1]; ")
    author_year = "\\usepackage{natbib}\\setcitestyle{authoryear,round}"
    assert printed.replace_citations(tex, found, author_year) == (
        "see (Doe, 2019; Smith et al., 2020) and Smith et al. (2020); "
    )
    acm = "\\documentclass[sigconf]{acmart}"  # acmart and elsarticle load natbib for numbers
    assert printed.replace_citations("\\citep{smith2020}", found, acm) == "[1]"
    elsarticle = "\\documentclass{elsarticle}\\biboptions{authoryear}"  # natbib options, later
    assert printed.replace_citations("\\citep{doe2019}", found, elsarticle) == "(Doe, 2019)"
    superscript = "\\usepackage{natbib}\\setcitestyle{numbers,super}"
    assert printed.replace_citations("x \\cite{doe2019,smith2020}", found, superscript) == (
        "x \\textsuperscript{2,1}"
    )
    plain = compiled.Compiled(
        citations={k: compiled.Citation(str(n)) for n, k in enumerate("abcde", start=1)}
    )
    assert printed.replace_citations("\\cite{a,b,c,e}", plain, "\\usepackage{cite}") == "[1–3, 5]"
    # a key the compile did not define prints as "?", in brackets or in place of author and year
    assert printed.replace_citations("\\cite{a,zzz}", plain, "") == "[1, ?]"
    assert printed.replace_citations("\\citep{doe2019,zzz} \\citet{zzz}", found, author_year) == (
        "(Doe, 2019; ?) ?"
    )


def test_a_natbib_bibliography_style_sets_its_punctuation() -> None:
    """natbib gives ``\\bibliographystyle{plainnat}`` square brackets and commas (its
    ``\\bibstyle@plainnat``; torch-sla prints ``[Magnus, 1985]``) unless a load option or the
    paper sets punctuation itself."""
    found = compiled.parse_aux(AUX)
    tex = "\\citep{doe2019,smith2020}"
    plainnat = "\\usepackage{natbib}\\bibliographystyle{plainnat}"
    assert printed.replace_citations(tex, found, plainnat) == "[Doe, 2019, Smith et al., 2020]"
    chicago = "\\usepackage{natbib}\\bibliographystyle{chicago}"
    assert printed.replace_citations(tex, found, chicago) == "(Doe, 2019; Smith et al., 2020)"
    round_option = "\\usepackage[round]{natbib}\\bibliographystyle{plainnat}"
    assert printed.replace_citations(tex, found, round_option) == "(Doe, 2019; Smith et al., 2020)"
    own = plainnat + "\\bibpunct{(}{)}{;}{a}{,}{,}"
    assert printed.replace_citations(tex, found, own) == "(Doe, 2019; Smith et al., 2020)"
    no_natbib_default = "\\usepackage{natbib}\\bibliographystyle{mystyle}"
    assert printed.replace_citations(tex, found, no_natbib_default) == (
        "(Doe, 2019; Smith et al., 2020)"
    )
    # a paper shipping natbib.sty itself (author-disambiguation): the package's definitions
    # for other bibliography styles are not the paper's (it printed [Newman, 2001])
    shipped = (
        "\\usepackage{natbib}\\bibliographystyle{apalike}\n"
        "\\newcommand\\bibstyle@chicago{\\bibpunct{(}{)}{;}{a}{,}{,}}\n"
        "\\newcommand\\bibstyle@named{\\bibpunct{[}{]}{;}{a}{,}{,}}\n"
    )
    assert printed.replace_citations(tex, found, shipped) == "(Doe, 2019; Smith et al., 2020)"
    named = shipped.replace("{apalike}", "{named}")
    assert printed.replace_citations(tex, found, named) == "[Doe, 2019; Smith et al., 2020]"


def test_citeauthor_prints_names_in_a_numeric_style() -> None:
    """ntnu-master-thesis (biblatex, numeric): ``proposed by \\citeauthor{jia}`` prints "Jia et
    al.", the markdown had "[1]"; ``\\citeyear`` prints the year."""
    cites = {"jia": compiled.Citation("1", "2025", "Jia et al."), "x": compiled.Citation("2")}
    numeric = printed.CiteStyle(False, "[", "]", False, biblatex=True)
    assert printed.format_citation("citeauthor", ["jia"], cites, numeric) == "Jia et al."
    assert printed.format_citation("citeyear", ["jia"], cites, numeric) == "2025"
    assert printed.format_citation("cite", ["jia"], cites, numeric) == "[1]"
    assert printed.format_citation("citeauthor", ["x"], cites, numeric) == "[2]"  # no names known


def test_acmart_author_year_chosen_by_the_paper_over_the_class_default() -> None:
    found = compiled.parse_aux(AUX)
    acmart = (  # acmart.cls: both styles defined, numbers the default
        "\\newcommand{\\bibstyle@acmauthoryear}{%\n  \\setcitestyle{%\n    authoryear,%\n"
        "    open={[},close={]},citesep={;},%\n    aysep={},yysep={,},%\n    notesep={, }}}\n"
        "\\newcommand{\\bibstyle@acmnumeric}{%\n  \\setcitestyle{%\n    numbers,sort&compress,%\n"
        "    open={[},close={]},citesep={,},%\n    notesep={, }}}\n\\citestyle{acmnumeric}\n"
    )
    paper = "\\documentclass[acmsmall]{acmart}\n\\citestyle{acmauthoryear}\n"
    tex = "\\citep{doe2019} and \\citet{smith2020}"
    assert printed.replace_citations(tex, found, paper + acmart) == (
        "[Doe 2019] and Smith et al. [2020]"
    )
    default = "\\documentclass[acmsmall]{acmart}\n"  # the class's acmnumeric
    assert printed.replace_citations(tex, found, default + acmart) == "[2] and Smith et al. [1]"


def test_the_papers_load_option_picks_the_citation_style_among_a_styles_branches() -> None:
    # ucasthesis: \usepackage[authoryear]{artratex}, whose text holds every branch
    found = compiled.parse_aux(AUX)
    sources = (
        "\\usepackage[authoryear,list]{Style/artratex}\n"
        "\\newcommand{\\bibstyle@super}{\\bibpunct{[}{]}{,}{s}{,}{\\textsuperscript{,}}}"
        "\\newcommand{\\bibstyle@authoryear}{\\bibpunct{(}{)}{;}{a}{,}{,}}"
        "\\newcommand{\\bibstyle@alpha}{\\bibpunct{[}{]}{,}{n}{,}{,}}"
        "\\ifartx@numbers\\RequirePackage[sort&compress]{natbib}"
        "\\ifartx@super\\citestyle{super}\\else\\citestyle{numbers}\\fi\\fi"
        "\\ifartx@authoryear\\RequirePackage{natbib}\\citestyle{authoryear}\\fi"
    )
    tex = "\\citep{doe2019} and \\citet{smith2020}"
    assert printed.replace_citations(tex, found, sources) == ("(Doe, 2019) and Smith et al. (2020)")
    numbers = sources.replace("[authoryear,list]", "[numbers]")
    assert printed.replace_citations(tex, found, numbers) == "[2] and Smith et al. [1]"


FIGURES = [
    # bfw-face-bias: a figure* of subfigures (pandoc 2 dropped all of it, citations included)
    (
        "Before.\n\\begin{figure*}[h!]\\centering\n"
        "\\begin{subfigure}[t]{.3\\linewidth}\\includegraphics{a.pdf}"
        "\\caption{VGG16 [31]}\\end{subfigure}\n"
        "\\begin{subfigure}[t]{.3\\linewidth}\\includegraphics{b.pdf}"
        "\\caption{ResNet50 [14]}\\end{subfigure}\n"
        "\\caption{\\small{\\textbf{DET curves}. For VGG2 [6] models.}}\\vspace{-5mm}\n"
        "\\end{figure*}\nAfter.",
        "(a\\) VGG16 [31] (b) ResNet50 [14]",
        "Figure 1: **DET curves**. For VGG2 [6] models.",
    ),
    # offline-rl: subcaption's \\subcaption in minipages; subfig's \\subfloat (one without a
    # caption prints none), \\subcaptionbox with a list entry
    (
        "\\begin{figure}[H]\\begin{minipage}[b]{0.32\\linewidth}\\includegraphics{a.png}"
        "\\subcaption{Random Init. vs GPT2}\\end{minipage}\\subfloat[][GPT2 {vs} iGPT]{x}"
        "\\subfloat{y}\\subcaptionbox[list]{Return}{z}\\caption{CKA between models.}\\end{figure}",
        "(a\\) Random Init. vs GPT2 (b) GPT2 vs iGPT (c) Return",
        "Figure 1: CKA between models.",
    ),
    # fudan-thesis-zh: a tabular that only lays out pictures beside their subcaptions (it is
    # no table: the figure's caption had been lost with it)
    (
        "\\begin{figure}[htb]\\centering\\begin{tabular}{cc}\\parbox{2em}{\\subcaption{}} &"
        "$\\vcenter{\\hbox{\\includegraphics[width=0.7\\textwidth]{a.png}}}$ \\\\"
        "\\parbox{2em}{\\subcaption{}} & $\\vcenter{\\hbox{\\includegraphics{b.png}}}$"
        "\\end{tabular}\\caption[Two-site DMRG]{Two-site DMRG. (a) Contract. (b) Split.}"
        "\\end{figure}",
        "(b)",
        "Figure 1: Two-site DMRG. (a) Contract. (b) Split.",
    ),
]


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
@pytest.mark.parametrize(("tex", "subcaptions", "caption"), FIGURES)
def test_figures_keep_their_captions_and_subcaptions(
    tex: str, subcaptions: str, caption: str
) -> None:
    markdown = pandoc.latex_to_markdown(pandoc.normalize_figures(tex))
    assert subcaptions in markdown and caption in markdown
    table = "\\begin{figure}\\begin{tabular}{c}x\\end{tabular}\\caption{T}\\end{figure}"
    assert pandoc.normalize_figures(table) == table


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_floats_and_lists_of_other_packages_keep_their_text() -> None:
    """rotating's ``sidewaystable*`` (omeganet's table 2 had lost its caption), wrapfig's
    ``wrapfigure`` with its placement and width, paralist's ``compactitem``: pandoc keeps an
    environment it does not know raw, and its text was lost with it."""
    tex = (
        "\\begin{sidewaystable*}\\begin{center}\\begin{tabular}{cc}\\toprule a & b \\\\ c & d"
        "\\\\ \\bottomrule\\end{tabular}\\caption{Network performance.}\\end{center}"
        "\\end{sidewaystable*}\n\\begin{wrapfigure}{r}{0.4\\textwidth}\\includegraphics{x.png}"
        "\\caption{A wrapped picture.}\\end{wrapfigure}\n"
        "\\begin{compactitem}\\item one\\item two\\end{compactitem}"
    )
    renamed = pandoc.standard_environments(tex)
    markdown = pandoc.latex_to_markdown(pandoc.normalize_figures(tables.normalize_tables(renamed)))
    assert markdown.startswith("Table 1: Network performance.\n\n|")
    assert "|  c  |  d  |" in markdown
    assert markdown.endswith("Figure 1: A wrapped picture.\n\n-   one\n\n-   two\n")


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_captions_side_by_side_in_one_figure_are_two_figures() -> None:
    """megatron: one ``figure`` holding a picture and two minipages, each with its caption (the
    page prints Fig. 13 and Fig. 14); only the last one had reached the markdown."""
    side = "\\begin{{minipage}}{{0.48\\linewidth}}\\caption{{{}}}\\end{{minipage}}"
    figure = (
        "\\begin{figure}\\includegraphics{plot.png}"
        + side.format("Re-layout time per frame.")
        + side.format("A CDF of the speedups.")
        + "\\end{figure}"
    )
    markdown = pandoc.latex_to_markdown(pandoc.normalize_figures(figure))
    assert markdown == "Figure 1: Re-layout time per frame.\n\nFigure 2: A CDF of the speedups.\n"


def test_a_footnote_goes_to_its_pages_foot_and_a_paragraph_is_cut_across_the_pages() -> None:
    """fudan-thesis: a paragraph going on overleaf, its footnote at the first page's foot. As
    prose after the paragraph, the footnote's words on the first page pulled the cut past the
    whole paragraph, and its citation [82] sat on the wrong page; placed like a float, the
    paragraph is cut where the page turns and the footnote goes to the foot."""
    markdown = (
        "Strange correlators^1^ were first used to find phases [83] and then carried over to "
        "string-net models [82] by taking overlaps.\n\n<!--vlpipe:footnote-->\n\n"
        "1 SPT states have only short-range entanglement.\n\nThe next paragraph follows."
    )
    pages = [
        "Strange correlators1 were first used to find phases [83] and then carried over to\n"
        "1SPT states have only short-range entanglement.\n42",
        "string-net models [82] by taking overlaps.\nThe next paragraph follows.\n43",
    ]
    first, second = align.split_pages(markdown, pages)
    assert first.markdown == (
        "Strange correlators^1^ were first used to find phases [83] and then carried over to\n\n"
        "1 SPT states have only short-range entanglement."
    )
    assert second.markdown == (
        "string-net models [82] by taking overlaps.\n\nThe next paragraph follows."
    )


def test_a_figures_own_text_prints_before_its_caption(tmp_path) -> None:
    """flamingo's samples: a prompt and the answer typeset in boxes inside the figure are on the
    page (its text layer says so), so the markdown has them; a figure of pictures only has its
    caption alone."""
    Image.new("RGB", (40, 20), "gray").save(tmp_path / "frame.png")
    picture = "\\fbox{\\includegraphics[width=2cm]{frame.png}}"
    figure = (
        "\\begin{figure}[t]\\centering\\fbox{\\begin{minipage}{5cm}Question: What is happening "
        f"here? Answer:\\end{{minipage}}}}\\\\ {picture} \\textbf{{The puppy is being weighed.}}"
        "\\caption{Selected samples.}\\end{figure}"
    )
    pictures = f"\\begin{{figure}}\\centering{picture}\\caption{{Only pictures.}}\\end{{figure}}"
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{graphicx}\\begin{document}"
        f"{figure}{pictures}Prose before the figure.\\end{{document}}"
    )
    with pymupdf.open(stream=compile_latex_dir(tmp_path).pdf) as doc:
        page = " ".join(doc[0].get_text().split())
    assert "Question: What is happening here? Answer:" in page
    assert "The puppy is being weighed." in page
    markdown = pandoc.latex_to_markdown(pandoc.normalize_figures(figure + pictures))
    assert markdown == (
        "<!--vlpipe:figure-->\n\nQuestion: What is happening here? Answer:\n\n"
        "**The puppy is being weighed.**\n\n<!--vlpipe:/figure-->\n\n"
        "Figure 1: Selected samples.\n\nFigure 2: Only pictures.\n"
    )
    # the page split moves the figure's text with its caption, as one float, and drops the mark
    (part,) = align.split_pages("Prose before the figure.\n\n" + markdown, [page])
    assert part.markdown == (
        "Question: What is happening here? Answer:\n**The puppy is being weighed.**\n"
        "Figure 1: Selected samples.\n\nFigure 2: Only pictures.\n\nProse before the figure."
    )
    start, end = align.FIGURE_TEXT_MARKS  # a figure's text without its caption right after it
    assert align.with_figure_text_in_floats([start, "a", end, "b", "Figure 1: c"]) == [
        "a",
        "b",
        "Figure 1: c",
    ]
    # a line of the figure's text the page does not print (a float running off the page) goes
    overflowing = markdown.replace(end, f"Words the page never showed anywhere.\n\n{end}")
    (part,) = align.split_pages(overflowing, [page])
    assert "never showed" not in part.markdown and "The puppy" in part.markdown


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_a_display_with_a_picture_in_it_stays_one_display() -> None:
    """fudan-thesis: TikZ pictures inside display math, with blank lines between their
    commands; the display's blank lines made markdown paragraphs of its pieces, and the page
    split cut it there, leaving a page that began with a display's end."""
    document = (
        "\\documentclass{article}\\usepackage{tikz}\\begin{document}Before.\n\n"
        "\\[ F = \\begin{tikzpicture}\\draw (0,0) -- (1,1);\n\n\\draw (1,0) -- (0,1);"
        "\\end{tikzpicture} \\]\n\nAfter.\\end{document}"
    )
    markdown = pandoc.paper_markdown({"main.tex": document.encode()}, "main.tex", {}).text
    (display,) = align.MATH.findall(markdown)
    assert display.startswith("$$F =") and "\n\n" not in display
    assert markdown.startswith("Before.\n\n$$") and markdown.endswith("$$\n\nAfter.\n")
    # the picture's commands and coordinates are no text the page prints; a formula that is a
    # picture alone is none, and so is an inline \tikz
    assert "\\draw" not in markdown and "(0,0)" not in markdown
    alone = document.replace("F = ", "").replace(
        "After.", "After $a \\tikz[baseline]{\\draw (0,0) circle (1pt);}$."
    )
    markdown = pandoc.paper_markdown({"main.tex": alone.encode()}, "main.tex", {}).text
    assert markdown == "Before.\n\nAfter $a$.\n"
    # an included graphic set in boxes (fudan's \\vcenter{\\hbox{\\includegraphics{…}}}) prints no
    # file name, nor the boxes
    boxed = (
        "\\documentclass{article}\\usepackage{graphicx}\\begin{document}Before.\n\n\\[ F = "
        "\\vcenter{\\hbox{\\includegraphics[height=2cm]{images/d.pdf}}} \\]\n\n"
        "After.\\end{document}"
    )
    markdown = pandoc.paper_markdown({"main.tex": boxed.encode()}, "main.tex", {}).text
    assert markdown == "Before.\n\n$$F =$$\n\nAfter.\n"


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_a_figure_of_display_math_keeps_its_rows_in_one_formula() -> None:
    """megatron's grammar, an ``align*`` as a figure's body: its ``\\\\`` end rows of the
    formula (they are not breaks between boxes of text), so the markdown holds the whole
    formula, last row included, as display math."""
    figure = (
        "\\begin{figure}\\begin{align*}\\text{Layout} &= \\text{Rule}^+ \\\\\n"
        "A \\in \\text{Assignment} &= \\text{self}.V \\leftarrow T \\\\[4pt]\n"
        "F \\in \\text{Function} &= \\text{primitive functions}\\end{align*}"
        "\\caption{A minimal DSL.}\\end{figure}"
    )
    markdown = pandoc.latex_to_markdown(pandoc.normalize_figures(figure))
    (formula,) = align.MATH.findall(markdown)
    assert formula.startswith("$$\\begin{aligned}") and formula.count("\\\\") == 2
    assert "primitive functions" in formula
    assert markdown.endswith("Figure 1: A minimal DSL.\n")
    # the page split keeps the formula whole with its caption (its rows have no prose words)
    page = "Prose. Layout = Rule+ A ∈ Assignment F ∈ Function = primitive functions Figure 1: A "
    (part,) = align.split_pages(f"Prose.\n\n{markdown}", [page + "minimal DSL."])
    assert formula in part.markdown


def test_bilingual_captions_keep_both_texts() -> None:
    """ucasthesis' ``\\bicaption{总声压级。}{OASPL.}``: pandoc knows no ``\\bicaption`` and the
    figure came out as an empty ``Figure 2:``; the page prints both texts."""
    tex = (
        "\\begin{figure}\\centering\\includegraphics{a}\\bicaption{总声压级。}{OASPL.}\\end{figure}"
        "\\bicaption[短]{甲}[S]{Second.} \\bicaption{only one}"
    )
    assert pandoc.bilingual_captions(tex) == (
        "\\begin{figure}\\centering\\includegraphics{a}\\caption{总声压级。 OASPL.}\\end{figure}"
        "\\caption{甲 Second.} \\bicaption{only one}"
    )
    markdown = pandoc.latex_to_markdown(pandoc.normalize_figures(pandoc.bilingual_captions(tex)))
    assert markdown.startswith("Figure 1: 总声压级。 OASPL.\n")


@pytest.mark.parametrize(
    ("options", "printed"),
    [
        (
            "acmsmall",
            "CCS Concepts: • Networks → In-network processing; Data center networks; • Computer "
            "systems organization → Reliability;\n\nAdditional Key Words and Phrases: Total "
            "Order, CATOCS\n\n",
        ),
        (
            "sigconf,9pt",
            "# CCS Concepts\n\n• Networks → In-network processing; Data center networks; • "
            "Computer systems organization → Reliability;\n\n# Keywords\n\nTotal Order, CATOCS"
            "\n\n",
        ),
    ],
)
def test_acmart_prints_its_concepts_and_keywords_after_the_abstract(
    options: str, printed: str
) -> None:
    """1pipe (sigconf) and megatron (acmsmall): pandoc drops ``\\ccsdesc`` and ``\\keywords``,
    which the first page prints after the abstract, one way per format."""
    document = (
        f"\\documentclass[{options}]{{acmart}}\\ccsdesc[500]{{Networks~In-network processing}}"
        "\\ccsdesc[500]{Networks~Data center networks}"
        "\\ccsdesc[300]{Computer systems organization~Reliability}"
        "\\keywords{Total Order, CATOCS}\\begin{document}\\title{T}"
        "\\begin{abstract}We order 2$\\sim$20x faster.\\end{abstract}\\maketitle"
        "\\section{Introduction}Text.\\end{document}"
    )
    markdown = pandoc.paper_markdown({"main.tex": document.encode()}, "main.tex", {}).text
    # pandoc's empty comment between ``$\\sim$`` and a digit is not on the page
    assert "We order 2$\\sim$20x faster.\n\n" + printed + "# 1 Introduction" in markdown


ACM_AUTHORS = (
    "\\author{Marisa Kirisame}\\affiliation{\\institution{University of Utah}\\city{Salt Lake City}"
    "\\country{USA}}\\email{marisa@cs.utah.edu}\\author{Tiezhi Wang}\\affiliation{\\institution"
    "{Tongji University}\\city{Shanghai}\\country{China}}\\author{Pavel Panchekha}\\affiliation{"
    "\\department{School of Computing}\\institution{University of Utah}\\city{Salt Lake City}"
    "\\country{USA}}\\affiliation{\\institution{INRIA}\\city{Paris}\\country{France}}"
)


@pytest.mark.parametrize(
    ("options", "settings"),
    [
        (
            "acmsmall",
            "\\acmJournal{PACMPL}\\acmVolume{9}\\acmNumber{PLDI}\\acmArticle{219}\\acmMonth{6}",
        ),
        (
            "sigconf",
            "\\acmConference[SIGCOMM '21]{ACM SIGCOMM 2021 Conference}{August 23--28, 2021}"
            "{Virtual Event, USA}\\acmBooktitle{ACM SIGCOMM 2021 Conference (SIGCOMM '21), "
            "August 23--28, 2021, Virtual Event, USA}",
        ),
    ],
)
def test_acmart_front_matter_prints_as_the_first_page(
    tmp_path, options: str, settings: str
) -> None:
    """megatron, parabs (acmsmall) and 1pipe (sigconf): pandoc kept the authors' names alone;
    the page prints their affiliations (journal: ``NAME, Institution, Country`` per line;
    conference: department, institution, city and country, e-mail under each name), the *ACM
    Reference Format* paragraph and, in the journal formats, a footnote of the addresses."""
    (tmp_path / "main.tex").write_text(
        f"\\documentclass[{options}]{{acmart}}\\setcopyright{{none}}\\acmYear{{2025}}"
        f"\\acmDOI{{10.1145/3729322}}{settings}\\begin{{document}}\\title{{Spineless Traversal}}"
        f"{ACM_AUTHORS}\\begin{{abstract}}We order.\\end{{abstract}}\\keywords{{Web}}\\maketitle"
        "\\section{Intro}Text.\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path, pymupdf.TEXT_DEHYPHENATE)
    ours = Counter(align.normalize(markdown).split())
    # the title block down to the first heading (the journal's article number above it aside),
    # and the journal's footnote of addresses
    parts = [page[: page.index("INTRO")].removeprefix("219\n")]
    if "Authors" in page:
        start = page.index("Authors")
        parts.append(page[start : page.index(".\n", start)])
    for part in parts:  # (a range and a link broken over two lines are one word each)
        joined = part.replace("\u2013\n", "\u2013").replace(":\n//", "://")
        assert not Counter(align.normalize(joined).split()) - ours, part
    reference = "Marisa Kirisame, Tiezhi Wang, and Pavel Panchekha. 2025. Spineless Traversal."
    assert f"**ACM Reference Format:**\n\n{reference}" in markdown
    assert markdown.index("Web") < markdown.index("ACM Reference") < markdown.index("# 1 Intro")


def test_boxed_text_prints_and_math_keeps_its_boxes() -> None:
    """pandoc keeps ``\\fbox``, ``\\mbox``, ``\\makebox`` and ``\\raisebox`` raw, their text
    with them; the page prints that text. In math a box stays LaTeX."""
    body = (
        "A \\fbox{framed answer}, \\mbox{GPT-3}, \\makebox[2cm][l]{wide} "
        "\\raisebox{1pt}{lifted} and $a \\mbox{ if } b$."
    )
    document = f"\\documentclass{{article}}\\begin{{document}}{body}\\end{{document}}"
    markdown = pandoc.paper_markdown({"main.tex": document.encode()}, "main.tex", {}).text
    assert markdown == "A framed answer, GPT-3, wide lifted and $a \\mbox{ if } b$.\n"


CLEVEREF_REFS = (
    "X \\cref{a,b} Y \\cref{a,b,c} Z \\cref{a,c} W \\cref{d,a,b} V \\cref{a,f1} "
    "U \\crefrange{a}{c} T \\Crefrange{f1}{f2} S \\cref{e1,e2} R \\Cref{e1} Q \\cref{f1,f2} P"
)


@pytest.mark.parametrize("options", ["", "capitalise", "noabbrev"])
def test_cleveref_lists_print_as_cleveref_prints_them(tmp_path, options: str) -> None:
    """Names by counter, singular or plural (``\\Cref``: the full capitalised one), numbers
    sorted, three in a row as a range, joined with "and": the same text as the compiled page."""
    (tmp_path / "main.tex").write_text(
        f"\\documentclass{{article}}\\usepackage[{options}]{{cleveref}}\\begin{{document}}"
        "\\section{A}\\label{a}\\section{B}\\label{b}\\section{C}\\label{c}\\section{D}\\label{d}"
        "\\begin{figure}\\caption{x}\\label{f1}\\end{figure}"
        "\\begin{figure}\\caption{y}\\label{f2}\\end{figure}"
        "\\begin{equation}x\\label{e1}\\end{equation}\\begin{equation}y\\label{e2}\\end{equation}"
        f"\\clearpage {CLEVEREF_REFS}\\end{{document}}"
    )
    result = compile_latex_dir(tmp_path)
    with pymupdf.open(stream=result.pdf) as doc:
        page = " ".join(doc[-1].get_text().split()[:-1])  # the page number left out
    found = compiled.read_compiled(result.outputs, "main.tex")
    assert printed.replace_refs(CLEVEREF_REFS, found, options) == page


def test_cleveref_names_a_paper_sets_print_as_set(tmp_path) -> None:
    """meta-ot sets ``\\Crefname{section}{Sect.}{Sects.}`` only; its page prints "sect. 2" for
    ``\\cref`` (cleveref derives the other name), where vlpipe printed the default "section 2"."""
    names = "\\Crefname{section}{Sect.}{Sects.}\\crefname{figure}{pic.}{pics.}"
    refs = "\\cref{a} and \\Cref{a,b}; \\cref{f1} and \\Cref{f1}"
    (tmp_path / "main.tex").write_text(
        f"\\documentclass{{article}}\\usepackage{{cleveref}}{names}\\begin{{document}}"
        "\\section{A}\\label{a}\\section{B}\\label{b}"
        "\\begin{figure}\\caption{x}\\label{f1}\\end{figure}"
        f"\\clearpage {refs}\\end{{document}}"
    )
    result = compile_latex_dir(tmp_path)
    with pymupdf.open(stream=result.pdf) as doc:
        page = " ".join(doc[-1].get_text().split()[:-1])
    found = compiled.read_compiled(result.outputs, "main.tex")
    assert page == "sect. 1 and Sects. 1 and 2; pic. 1 and Pic. 1"
    assert printed.replace_refs(refs, found, "", printed.cleveref_names(names)) == page


def test_theorem_heads_print_the_numbers_latex_counts(tmp_path) -> None:
    """pandoc numbers each theorem environment from 1 ("Definition 1" where the page says
    "Definition 3.8"): a shared counter, a counter within sections and an unnumbered one, as
    the compiled page prints them."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{amsthm}\\newtheorem{thm}{Theorem}[section]"
        "\\newtheorem{lem}[thm]{Lemma}\\newtheorem{defn}{Definition}\\newtheorem*{rem}{Remark}"
        "\\begin{document}\\section{One}\\begin{thm}[Main]First.\\end{thm}"
        "\\begin{lem}Second.\\end{lem}\\begin{defn}Third.\\end{defn}\\section{Two}"
        "\\subsection{Sub}\\begin{lem}Fourth.\\end{lem}\\begin{rem}Fifth.\\end{rem}"
        "\\begin{defn}Sixth.\\end{defn}\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    markdown = markdown.replace("**", "")
    heads = ["Theorem 1.1 (Main). First.", "Lemma 1.2. Second.", "Definition 1. Third."]
    heads += ["Lemma 2.1. Fourth.", "Remark. Fifth.", "Definition 2. Sixth."]
    for head in heads:
        assert head in page and head in markdown, head


@pytest.mark.parametrize("documentclass", ["amsart", "article"])
def test_theorems_sharing_a_headings_counter_print_its_numbers(tmp_path, documentclass) -> None:
    """function-fields (amsart): ``\\newtheorem{example}[subsection]{Example}`` steps the
    subsection counter, which its subsection headings step too: Example 1.2 after Definition
    1.1, 1.4 after subsection 1.3; a theorem sharing the section counter is Theorem 2.
    amsart writes its contents lines as ``\\tocsection {}{1}{Places}``, which the headings'
    numbers had not been read from, so pandoc numbered every example 1."""
    (tmp_path / "main.tex").write_text(
        f"\\documentclass{{{documentclass}}}\\newtheorem{{defn}}[subsection]{{Definition}}"
        "\\newtheorem{example}[subsection]{Example}\\newtheorem{thm}[section]{Theorem}"
        "\\begin{document}\\section{Places}\\begin{defn}First.\\end{defn}"
        "\\begin{example}Second.\\end{example}\\subsection{Valuations}Words."
        "\\begin{example}Third.\\end{example}\\begin{thm}Fourth.\\end{thm}\\section{Divisors}"
        "\\begin{defn}Fifth.\\end{defn}\\begin{thm}Sixth.\\end{thm}\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    heads = re.compile(r"(Definition|Example|Theorem) (\d+(?:\.\d+)*)")
    printed = heads.findall(page)
    # the theorem steps the section counter it shares: the next section is 3
    assert [number for _, number in printed] == ["1.1", "1.2", "1.4", "2", "3.1", "4"]
    assert heads.findall(markdown.replace("**", "")) == printed


def test_a_theorem_counter_numbered_within_sections_prints_their_numbers(tmp_path) -> None:
    """mesh-posets: ``\\newtheorem{thm}{Theorem}`` and ``\\numberwithin{thm}{section}`` later
    (amsmath): Definition 2.1, not 1; the theorems sharing ``thm`` go with it."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{amsmath}\\newtheorem{thm}{Theorem}"
        "\\newtheorem{defn}[thm]{Definition}\\numberwithin{thm}{section}\\begin{document}"
        "\\section{One}\\begin{thm}A.\\end{thm}\\begin{defn}B.\\end{defn}\\section{Two}"
        "\\begin{defn}C.\\end{defn}\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    heads = re.compile(r"(Definition|Theorem) (\d+(?:\.\d+)*)")
    assert [number for _, number in heads.findall(page)] == ["1.1", "1.2", "2.1"]
    assert heads.findall(markdown.replace("**", "")) == heads.findall(page)


@pytest.mark.parametrize("within", ["", "\\numberwithin{equation}{section}"])
def test_equation_numbers_print_as_tags_counted_as_latex_counts(tmp_path, within: str) -> None:
    """One number per equation, one per align row (not a row with \\nonumber, not the rows of
    a cases inside), none for a starred display or a \\tag'ed one; within sections or not: the
    numbers the compiled page prints, in its order."""
    (tmp_path / "main.tex").write_text(
        f"\\documentclass{{article}}\\usepackage{{amsmath}}{within}\\begin{{document}}"
        "\\section{One}\\begin{equation} a = b \\end{equation}"
        "\\begin{align} c &= d \\\\ e &= f \\nonumber \\\\ g &= \\begin{cases} 1 & x \\\\ 2 & y"
        "\\end{cases} \\label{eq:g}\\end{align}\\begin{equation*} h \\end{equation*}"
        "\\begin{equation} i = j \\tag{$\\star$} \\end{equation}\\section{Two}"
        "\\begin{multline} k = l \\\\ + m \\end{multline}\\begin{gather} n \\\\ o \\end{gather}"
        "See \\eqref{eq:g}.\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    printed = re.findall(r"^\(([\d.]+)\)$", page, re.MULTILINE)
    assert len(printed) == 6
    assert re.findall(r"\\tag\{([\d.]+)\}", markdown) == printed
    assert f"See ({printed[2]})." in markdown


@pytest.mark.parametrize("documentclass", ["report", "article"])
def test_headings_deeper_than_the_contents_are_counted_under_them(tmp_path, documentclass) -> None:
    """ntnu-master-thesis (report): its contents list stops at subsections, its text has
    subsubsections, so the headings did not agree with the contents and the Lua filter counted
    every heading, appendix chapters as 9, 10, 11 where the page prints "Appendix A". Headings
    deeper than the contents are counted under their parent, numbered as the class numbers
    them (not in a report, 1.1.1 in an article with ``tocdepth`` 2)."""
    chapter = "\\chapter{Background}" if documentclass == "report" else ""
    appendix = "\\chapter{Block Design}" if documentclass == "report" else "\\section{Block Design}"
    (tmp_path / "main.tex").write_text(
        f"\\documentclass{{{documentclass}}}\\setcounter{{tocdepth}}{{2}}\\begin{{document}}"
        f"\\tableofcontents{chapter}\\section{{Predictor}}\\subsection{{Weights}}"
        "\\subsubsection{Quantization}Text.\\subsubsection{Sums}Text.\\subsection{Coder}"
        f"\\subsubsection{{Hybrid}}Text.\\appendix{appendix}Text.\\end{{document}}"
    )
    markdown, pages = compiled_markdown(tmp_path)
    text = " ".join(" ".join(pages).split())
    headings = re.findall(r"^#+ (.*)$", markdown, re.MULTILINE)
    if documentclass == "report":
        assert "1.1.1 Weights Quantization Text." in text and "Appendix A Block Design" in text
        assert headings[1:] == [
            "1 Background", "1.1 Predictor", "1.1.1 Weights", "Quantization", "Sums",
            "1.1.2 Coder", "Hybrid", "Appendix A Block Design",
        ]  # fmt: skip
    else:
        assert "1.1.1 Quantization Text." in text and "1.2.1 Hybrid" in text
        assert headings[1:] == [
            "1 Predictor", "1.1 Weights", "1.1.1 Quantization", "1.1.2 Sums", "1.2 Coder",
            "1.2.1 Hybrid", "A Block Design",
        ]  # fmt: skip


def test_equations_are_numbered_within_chapters_where_the_compile_did(tmp_path) -> None:
    """fduthesis (TeX Live's, so not in the paper's folder) numbers equations within chapters,
    which the markdown printed as ``(69)`` where the page says ``(3.69)``; its ``.aux`` shows it
    for a labelled display. amsbook has chapters and numbers equations on through the book."""
    aux = (
        "\\@writefile{toc}{\\contentsline {chapter}{\\numberline {第3章}奇异关联子}{39}{}}\n"
        "\\newlabel{eq:first}{{3.1}{39}{}{equation.3.1}{}}\n"
    )
    found = compiled.parse_aux(aux)
    tex = (
        "\\chapter{奇异关联子}\n\\begin{equation}a\\label{eq:first}\\end{equation}"
        "\\begin{equation}b\\end{equation}"
    )
    numbered = printed.number_equations(tex, found, "\\documentclass[type=doctor]{fduthesis}")
    assert re.findall(r"\\tag\{([\d.]+)\}", numbered) == ["3.1", "3.2"]
    (tmp_path / "main.tex").write_text(
        "\\documentclass{amsbook}\\begin{document}\\chapter{One}\\begin{equation}a=b\\label{x}"
        "\\end{equation}\\chapter{Two}\\begin{equation}c=d\\end{equation}\\end{document}"
    )
    markdown, texts = compiled_markdown(tmp_path)
    page_numbers = re.findall(r"^\(([\d.]+)\)$", "\n".join(texts), re.MULTILINE)
    assert page_numbers == ["1", "2"]
    assert re.findall(r"\\tag\{([\d.]+)\}", markdown) == page_numbers


def test_refs_and_headings_print_the_compiles_numbers() -> None:
    found = compiled.read_compiled(
        {"main.aux": AUX.encode(), "chapter.aux": CHAPTER_AUX.encode()}, "main.tex"
    )
    tex = "\\cref{fig:plot}, \\Cref{eq:loss}, \\autoref{sec:intro}, \\eqref{eq:loss}, \\ref{x}"
    assert printed.replace_refs(tex, found, "capitalize") == (
        "Fig. 2, Equation (3), Section 1, (3), ??"
    )
    assert printed.replace_refs("p. \\pageref{eq:loss}, \\nameref{sec:intro}", found) == (
        "p. 2, Introduction"
    )
    headings = (
        "\\section{Introduction}\\label{a} \\appendix\\section[Short]{Proofs} \\subsection{Lemmas}"
    )
    assert printed.number_headings(headings, found) == (
        "\\section*{1 Introduction}\\label{a} \\appendix\\section*{A Proofs} "
        "\\subsection*{A.1 Lemmas}"
    )
    assert printed.number_headings("\\section{Only one}", found) == "\\section{Only one}"


def test_a_papers_switches_print_the_branch_they_take(tmp_path) -> None:
    """asvc: ``\\newif\\ifCameraReady`` (left false), ``\\ifCameraReady\\NotCameraReadyfalse
    \\else\\NotCameraReadytrue\\fi``, then ``\\ifNotCameraReady … \\fi`` around text the
    page prints, and ``\\ifCameraReady\\linebreak[4]\\fi`` in math; pandoc failed on a switch
    and converted that part as plain text. A switch set inside a definition's braces is set
    only when the macro runs: not followed."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\newif\\ifCameraReady\\newif\\ifNotCameraReady\n"
        "\\ifCameraReady\\NotCameraReadyfalse\\else\\NotCameraReadytrue\\fi\n"
        "\\newcommand{\\ready}{\\CameraReadytrue}\\begin{document}\n"
        "Shown\\ifNotCameraReady{} with details\\fi. Then $(a, \\ifCameraReady\\linebreak[4]"
        "\\fi b)$.\\ifCameraReady Hidden.\\else{} Shown too.\\fi\n\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    assert "Shown with details. Then (a, b). Shown too." in " ".join(page.split())
    assert markdown == "Shown with details. Then $(a,  b)$. Shown too.\n"


def test_a_flag_nothing_defines_leaves_its_text_out(tmp_path) -> None:
    """bundler: ``\\ifdefined\\forArxiv`` around a citation notice; nothing defines the flag,
    so the page prints no notice, where the markdown had it. A name the paper uses otherwise (a
    class's command) or an engine's own is not judged."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\begin{document}\n\\ifdefined\\forArxiv If you cite this "
        "paper, cite the proceedings.\\fi Site-to-site control.\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    assert " ".join(page.split()) == "Site-to-site control. 1"
    assert markdown == "Site-to-site control.\n"
    assert not macros._undefined("section", "\\ifdefined\\section a\\fi \\section{b}")
    assert not macros._undefined("XeTeXversion", "\\ifdefined\\XeTeXversion x\\fi")


def test_springer_llncs_theorems_are_numbered_as_printed(tmp_path) -> None:
    """asvc: llncs.cls (shipped with the paper) declares its environments with ``\\spnewtheorem``
    and ``\\spn@wtheorem``, each counted on its own: the markdown had pandoc's heads."""
    shutil.copy(compiled_class("llncs.cls"), tmp_path / "llncs.cls")
    (tmp_path / "main.tex").write_text(
        "\\documentclass{llncs}\\begin{document}\\section{One}\\begin{definition}[Scheme]"
        "First.\\end{definition}\\begin{lemma}Second.\\end{lemma}\\begin{definition}Third."
        "\\end{definition}\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    heads = re.compile(r"(Definition|Lemma) (\d+)")
    assert heads.findall(page) == [("Definition", "1"), ("Lemma", "1"), ("Definition", "2")]
    assert heads.findall(markdown.replace("**", "")) == heads.findall(page)


def compiled_class(name: str) -> Path:
    """A class file of the TeX installation, to ship with a test paper as authors do."""
    found = subprocess.run(["kpsewhich", name], capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


def test_text_tex_leaves_out_is_not_in_the_markdown(tmp_path) -> None:
    """bundler: ``\\if 0`` ⏎ … ``\\fi`` (``\\if`` compares the 0 with a space: false) held a
    paragraph and a footnote the page never printed, and the markdown's footnotes were numbered
    one ahead of the page's; pandoc also ends ``\\iffalse`` at a nested ``\\ifx``'s ``\\fi``."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\newif\\ifdraft\\begin{document}\n"
        "Shown before.\n\\if 0\nHidden paragraph\\footnote{Hidden note.}.\n\\fi\n"
        "\\iffalse\\ifx a b Hidden nested\\fi\\ifdraft Hidden draft\\fi Hidden after.\\else "
        "Shown from else.\\fi\n\\def\\later{\\iffalse}\\if 11 Shown when equal.\\fi\n"
        "Shown last\\footnote{First note.}.\n\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    assert "Hidden" not in page and "Hidden" not in markdown
    for shown in ("Shown before.", "Shown from else.", "Shown when equal.", "1First note."):
        assert shown in " ".join(page.split())
    assert "Shown from else." in markdown and "Shown when equal." in markdown
    assert "1 First note." in markdown


def test_a_footnote_mark_and_its_text_are_one_footnote(tmp_path) -> None:
    """midas: ``\\footnotemark`` in the text and ``\\footnotetext{…}`` after the paragraph;
    pandoc dropped both, so the paper's next footnotes were numbered one behind the page's. A
    mark with its number given (``\\footnotemark[1]``) repeats a footnote: no new one."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\begin{document}\n"
        "Concurrent changes\\footnotemark{} to memory.\n\\footnotetext{Parallel writes too.}\n\n"
        "Again\\footnotemark[1] and a kernel oops\\footnote{A kernel problem.}.\n\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    text = " ".join(page.split())
    assert "1Parallel writes too." in text and "2A kernel problem." in text
    assert "1 Parallel writes too." in markdown and "2 A kernel problem." in markdown


def test_definitions_pandoc_cannot_read_leave_the_paper_convertible(tmp_path) -> None:
    """fudan-thesis-zh's appendix table: ``\\catcode`\\"=\\active`` and ``\\def"#1"{…}`` (bold
    cells between quotes). pandoc failed on the ``#1``, and the appendix went to pandoc section
    by section, as plain text; a ``\\def`` with delimited parameters is the same. Both are
    removed (their text is printed where they are used), the category code too."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\def\\pair(#1,#2){#1 to #2}\\begin{document}\n"
        '\\begin{table}\\centering\\catcode`\\"=\\active\\def"#1"{\\textbf{#1}}\n'
        '\\begin{tabular}{cc}spin & energy \\\\ "0" & "0.125" \\\\ 1 & 0.875\\end{tabular}'
        "\\caption{Energy levels.}\\end{table}\n\nThe range runs from \\pair(1,2).\n"
        "\\end{document}"
    )
    result = compile_latex_dir(tmp_path)
    files = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    converted = pandoc.paper_markdown(files, "main.tex", result.outputs)
    assert converted.conversion_fallbacks == ()
    assert "Table 1: Energy levels." in converted.text and "0.875" in converted.text
    assert "#1" not in converted.text and "catcode" not in converted.text
    # a command that starts with "def" is no \\def: meta-ot's $\\gS_2\\defeq\\{x\\}$ had lost the
    # rest of the paper
    tex = "\\newcommand{\\defeq}{:=}\\definecolor{g}{RGB}{1,2,3}$S\\defeq\\{x\\}$ and the rest."
    assert macros.expand_macros(tex) == "\\definecolor{g}{RGB}{1,2,3}$S:=\\{x\\}$ and the rest."


def test_a_macro_defined_again_expands_as_defined_where_it_is_used(tmp_path) -> None:
    """omeganet: ``\\renewcommand{\\captiontitle}{…}`` before each float, its caption then
    ``\\caption{\\captiontitle{}. …}``: every caption had the last float's title."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\newcommand{\\captiontitle}{Unset}\\newcommand{\\who}{Ann}"
        "\\begin{document}\n\\renewcommand{\\captiontitle}{Network layout}\n"
        "\\begin{figure}\\centering\\rule{1cm}{1cm}\\caption{\\captiontitle{}. Its parts.}"
        "\\end{figure}\n\\renewcommand{\\captiontitle}{Segmentation accuracy}\n"
        "\\begin{figure}\\centering\\rule{1cm}{1cm}\\caption{\\captiontitle{}. Per class.}"
        "\\end{figure}\n\\who{} wrote it. \\renewcommand{\\who}{Bo}\\who{} read it."
        "\n\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    text = " ".join(page.split())
    for shown in (
        "Figure 1: Network layout. Its parts.",
        "Figure 2: Segmentation accuracy. Per class.",
        "Ann wrote it. Bo read it.",
    ):
        assert shown in text and shown in markdown


def test_elsarticle_prints_its_authors_addresses_and_keywords(tmp_path) -> None:
    """fgcs, mesh-posets: elsarticle's ``\\author[a,b]{…}``, ``\\address[a]{…}``,
    ``\\corref``/``\\cortext``, ``\\fnref``/``\\fntext`` and the ``keyword`` environment, all of
    which pandoc dropped (the markdown had the names alone, and the keywords without their
    label)."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{elsarticle}\\begin{document}\\begin{frontmatter}\\title{Whole Tale}\n"
        "\\author[uiuc]{Ann Lee\\fnref{grant}}\\fntext[grant]{Funded by a grant.}"
        "\\author[uc,uiuc]{Kyle Chard\\corref{cor}}"
        "\\cortext[cor]{Corresponding author}\n\\address[uiuc]{University of Illinois}\n"
        "\\affiliation[uc]{organization={Computation Institute}, city={Chicago}}\n"
        "\\begin{abstract}Sharing science.\\end{abstract}\n"
        "\\begin{keyword}living papers \\sep provenance\\end{keyword}\n\\end{frontmatter}\n"
        "Body text.\\end{document}"
    )
    markdown, pages = compiled_markdown(tmp_path)
    text = " ".join(pages[0].split())
    for shown in (
        "Ann Leea,1, Kyle Chardb,a,∗",
        "1Funded by a grant.",
        "aUniversity of Illinois",
        "bComputation Institute, Chicago",
        "∗Corresponding author",
        "Keywords: living papers, provenance",
    ):
        assert shown in text
    assert "Ann Lee^a,1^, Kyle Chard^b,a,$\\ast$^\n" in markdown
    for shown in (
        "^a^University of Illinois",
        "^b^Computation Institute, Chicago",
        "^$\\ast$^Corresponding author",
        "^1^Funded by a grant.",
        "*Keywords:* living papers, provenance",
    ):
        assert shown in markdown


@pytest.mark.parametrize("superscripts", [True, False])
def test_revtex_prints_the_affiliations_under_the_authors(tmp_path, superscripts: bool) -> None:
    """2dpsd: REVTeX's ``\\affiliation`` (for the authors since the previous one), dropped by
    pandoc; ``superscriptaddress`` numbers them and raises the numbers after the names."""
    option = "superscriptaddress," if superscripts else ""
    (tmp_path / "main.tex").write_text(
        f"\\documentclass[{option}aps]{{revtex4-2}}\\begin{{document}}\\title{{Spin filters}}\n"
        "\\author{S.~Takahashi}\\author{Y.~Osawa}\\affiliation{University of Tokyo}\n"
        "\\author{R.~Kobayashi}\\affiliation{J-PARC Center}\\affiliation{University of Tokyo}\n"
        "\\begin{abstract}Polarized neutrons.\\end{abstract}\\maketitle\nBody.\\end{document}"
    )
    markdown, pages = compiled_markdown(tmp_path)
    text = " ".join(pages[0].split())
    if superscripts:
        assert "S. Takahashi,1 Y. Osawa,1 and R. Kobayashi2, 1" in text
        assert "1University of Tokyo 2J-PARC Center" in text
        assert "S. Takahashi^1^, Y. Osawa^1^, R. Kobayashi^2,1^\n" in markdown
        assert "^1^University of Tokyo\n\n^2^J-PARC Center\n" in markdown
    else:
        assert "University of Tokyo" in text and "J-PARC Center" in text
        assert "R. Kobayashi\n\nUniversity of Tokyo\n\nJ-PARC Center\n" in markdown


def test_authblk_prints_its_affiliations_under_the_authors(tmp_path) -> None:
    """authblk's ``\\author[1,2]{…}`` and ``\\affil[2]{…}``: pandoc printed the names alone."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{authblk}\\title{Tale}\\author[1,2]{Ann Lee}"
        "\\author[2]{Bo Chen}\\affil[1]{University of Illinois}\\affil[2]{Computation Institute}"
        "\\begin{document}\\maketitle Body.\\end{document}"
    )
    markdown, pages = compiled_markdown(tmp_path)
    text = " ".join(pages[0].split())
    assert "Ann Lee1,2 and Bo Chen2 1University of Illinois 2Computation Institute" in text
    assert markdown.startswith(
        "# Tale\n\nAnn Lee^1,2^, Bo Chen^2^\n\n^1^University of Illinois\n\n"
        "^2^Computation Institute\n\nBody."
    )


def test_a_listings_caption_prints_where_the_page_prints_it(tmp_path) -> None:
    """torch-sla: ``\\begin{lstlisting}[caption={Basic usage.}]`` prints "Listing 1: Basic
    usage." above the code; pandoc kept the caption only as an attribute of the code block."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{listings}\\begin{document}\n"
        "\\begin{lstlisting}\nplain = 0\n\\end{lstlisting}\n"
        "\\begin{lstlisting}[language=Python,caption={[Short]Basic usage, with gradients.}]\n"
        "import torch\n\\end{lstlisting}\nSee Listing~\\ref{lst:solve}.\n"
        "\\begin{lstlisting}[label=lst:solve,captionpos=b,caption=Solving]\nx = A.solve(b)\n"
        "\\end{lstlisting}\n\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    text = " ".join(page.split())
    assert "Listing 1: Basic usage, with gradients. import torch" in text
    assert "solve (b) Listing 2: Solving" in text and "See Listing 2." in text
    assert "Listing 1: Basic usage, with gradients.\n\n``` python\nimport torch\n```" in markdown
    assert "x = A.solve(b)\n```\n\nListing 2: Solving\n" in markdown
    assert markdown.count("Listing") == 3  # the uncaptioned one has no line


def test_a_listing_with_options_over_lines_and_escapes_is_its_code(tmp_path) -> None:
    """midas: a listing whose options run over several lines with braced values, and whose
    ``escapeinside`` lines print LaTeX in green. pandoc printed the options as the code and
    lost the code; the escaped lines print as their text; ``language=C`` is ``c`` (pandoc
    said ``objectivec``)."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{listings,xcolor}\\begin{document}\n"
        "\\begin{lstlisting}[language=C, escapeinside={<@}{@>},\n    basicstyle=\\ttfamily, "
        "frame=single,\n    caption={A double fetch in \\texttt{dedupe}.}, float]\n"
        "same = memdup_user(argp, size);\n<@\\texttt{\\color{green}{+ \\textbf{if}(same->dest\\_"
        "count != count)}}@>\nret = vfs_dedupe(file, same);\n\\end{lstlisting}\n\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    code = ["same = memdup_user(argp, size);", "+ if(same->dest_count != count)"]
    code.append("ret = vfs_dedupe(file, same);")
    shown = page.replace(" ", "")  # (the escaped line's \\_ prints as a space there)
    assert all(line.replace(" ", "").replace("_count", "count") in shown for line in code)
    assert "``` c\n" + "\n".join(code) + "\n```" in markdown
    assert "Listing 1: A double fetch in `dedupe`." in markdown and "basicstyle" not in markdown


def test_code_and_verbatim_text_stay_as_typed(tmp_path) -> None:
    """A ``%`` in a listing (``printf("%d")``) was read as a comment start, which unbalanced
    the paper and sent all of it to plain text; a line ending in a backslash, ``\\n`` and a
    LaTeX command in code were changed as LaTeX. What TeX reads as typed stays as typed: code
    environments, ``\\verb`` and ``\\lstinline``; a commented-out ``\\begin{verbatim}`` starts
    nothing."""
    code = [
        "#define MAX(a, b) \\",
        "  ((a) > (b) ? (a) : (b))",
        'printf("%d items\\n", n); // 100% done \\foo \\vspace{1em}',
    ]
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{listings}\\newcommand{\\foo}{EXPANDED}"
        "\\begin{document}\nText \\foo. % \\begin{verbatim} in a comment\n"
        "\\begin{lstlisting}[language=C,caption={[Short]A macro, 100\\% safe.}]\n"
        + "\n".join(code)
        + '\n\\end{lstlisting}\n\\begin{verbatim}\ns = "%s" % name  # 50%\n\\end{verbatim}\n'
        "Inline \\verb|a % b| and \\lstinline{x % y}.\n\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    assert "Inline a % b and x % y." in page and "Inline `a % b` and `x % y`." in markdown
    assert "Listing 1: A macro, 100% safe.\n\n``` c\n" + "\n".join(code) + "\n```" in markdown
    assert '```\ns = "%s" % name  # 50%\n```' in markdown and markdown.startswith("Text EXPANDED.")


def test_fancyvrb_commandchars_print_their_text_and_the_code_keeps_its_own(tmp_path) -> None:
    """megatron: ``\\begin{Verbatim}[commandchars=+~!]`` with ``+color~red!~…!`` highlighting in
    its code: the markdown held the commands as code. The code's own backslashes and braces
    stay; pygments' ``\\PY{k}{def}`` with the standard command characters prints ``def``."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{fancyvrb,xcolor}\\newcommand{\\PY}[2]{#2}"
        "\\begin{document}\n\\begin{Verbatim}[formatcom=\\color{gray}, commandchars=+~!]\n"
        '+color~red!~typename P=uint32_t;! +color~black!~// for "pointers"!\n'
        'void f() { x = "\\n"; }\n\\end{Verbatim}\n'
        "\\begin{Verbatim}[commandchars=\\\\\\{\\}]\n"
        "\\textcolor{red}{return} \\PY{k}{def} x\n\\end{Verbatim}\n\\end{document}"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    lines = ['typename P=uint32_t; // for "pointers"', 'void f() { x = "\\n"; }', "return def x"]
    assert all(" ".join(line.split()) in " ".join(page.split()) for line in lines)
    assert "```\n" + "\n".join(lines[:2]) + "\n```\n\n```\nreturn def x\n```" in markdown


def test_a_ctex_books_chapters_print_as_on_the_page(tmp_path) -> None:
    """ucasthesis: ctex writes a chapter's contents line as ``\\numberline {第一章\\hspace
    {.3em}}`` (``附录 A`` in the appendix, ``第1章`` where a class asks for arabic numbers),
    chapters of the back matter have no number, and a ``\\verb+\\chapter{…}+`` prints a
    command, not a chapter: each had put the source's headings out of step with the contents,
    so pandoc numbered the appendix 3 and 致谢 4."""
    (tmp_path / "main.tex").write_text(
        "\\documentclass{ctexbook}\\usepackage{amsmath}\\begin{document}"
        "\\frontmatter\\chapter{摘要}前言。\\mainmatter\\chapter{引言}\\section{背景}"
        "写 \\verb+\\chapter{name}+ 即可。\\begin{equation} a = b \\end{equation}"
        "\\appendix\\chapter{撰写要求}\\section{格式}\\begin{equation} c = d \\end{equation}"
        "\\backmatter\\chapter{致谢}感谢。\\end{document}",
        encoding="utf-8",
    )
    markdown, pages = compiled_markdown(tmp_path)
    text = " ".join("".join(pages).split())
    assert "第一章 引言" in text and "附录A 撰写要求" in text
    headings = re.findall(r"^#+ .*$", markdown, re.MULTILINE)
    assert headings == [
        "# 摘要",
        "# 第一章引言",  # no space between CJK characters, as everywhere in CJK text
        "## 1.1 背景",
        "# 附录 A 撰写要求",
        "## A.1 格式",
        "# 致谢",
    ]
    # equations count within the chapter, numbered as the page numbers them
    assert re.findall(r"\\tag\{([^}]*)\}", markdown) == ["1.1", "A.1"]
    assert "(1.1)" in text and "(A.1)" in text


def test_a_part_keeps_the_headings_levels_and_numbers() -> None:
    """offline-rl: ``\\renewcommand\\thepart{}`` and ``\\part{Appendix}`` before appendix A. A
    part's contents line has no ``\\numberline`` (LaTeX writes ``\\thepart\\hspace{1em}``);
    pandoc would put every section of a paper with a part at level 3."""
    aux = (
        "\\@writefile{toc}{\\contentsline {section}{\\numberline {1}Intro}{1}{section.1}}\n"
        "\\@writefile{toc}{\\contentsline {part}{\\hspace {1em}Appendix}{9}{part.1}}\n"
        "\\@writefile{toc}{\\contentsline {section}{\\numberline {A}Proofs}{9}{appendix.A}}\n"
    )
    outputs = {"main.aux": aux.encode()}
    assert compiled.read_compiled(outputs, "main.tex").headings == [
        ("section", "1"),
        ("part", ""),
        ("section", "A"),
    ]
    # fduthesis sets the entry's font before its number
    styled = (
        "\\@writefile{toc}{\\contentsline {chapter}{\\normalfont \\sffamily \\numberline "
        "{第1章}拓扑序}{5}{chapter.1}}\n\\@writefile{toc}{\\contentsline {subsection}"
        "{\\fdu@kai \\numberline {1.3.1}张量范畴}{8}{subsection.1.3.1}}\n"
    )
    assert compiled.parse_aux(styled).headings == [("chapter", "第1章"), ("subsection", "1.3.1")]
    body = "\\section{Intro}Text.\\appendix\\part{Appendix}\\section{Proofs}More \\cite{x}."
    document = f"\\documentclass{{article}}\\begin{{document}}{body}\\end{{document}}"
    markdown = pandoc.paper_markdown({"main.tex": document.encode()}, "main.tex", outputs)
    # the compile defined no citation: the page prints "[?]"
    assert markdown.text == "# 1 Intro\n\nText.\n\n# Appendix\n\n# A Proofs\n\nMore [?].\n"


def test_acronyms_print_their_first_use_expansion() -> None:
    tex = (
        "\\newacronym{cnn}{CNN}{convolutional neural network}"
        "\\acro{vlm}[VLM]{vision-language model}"
        "\\Gls{cnn} and \\glspl{cnn}; \\acrlong{cnn}. "
        "\\ac{vlm}, \\acp{vlm}, \\acs{vlm}, \\gls{other}"
    )
    assert printed.replace_acronyms(tex) == (
        "Convolutional neural network (CNN) and CNNs; convolutional neural network. "
        "vision-language model (VLM), VLMs, VLM, \\gls{other}"
    )
    # a long form with formatting (bfw-face-bias: \\textit{Asian}) keeps its braces balanced
    italic = "\\newacronym{a}{A}{\\textit{Asian}}(\\gls{a}) and \\gls{a}"
    assert printed.replace_acronyms(italic) == "(\\textit{Asian} (A)) and A"


def test_tables_are_rewritten_for_pandoc() -> None:
    assert tables.column_spec("|l|>{\\centering}p{2cm}@{}*{2}{c}X[l]S|") == "llcclc"
    tex = (
        "\\resizebox{\\linewidth}{!}{\\begin{tabularx}{\\linewidth}{lX}"
        "\\makecell{a\\\\b} & \\begin{tabular}[c]{@{}c@{}}x\\\\y\\end{tabular}\\\\\\end{tabularx}}"
    )
    assert tables.normalize_tables(tex) == "\\begin{tabular}{ll}a b & x y\\\\\\end{tabular}"
    assert tables.normalize_tables("\\begin{tabu} to \\linewidth {X[l]X[c]}a\\end{tabu}") == (
        "\\begin{tabular}{ll}a\\end{tabular}"
    )
    raw = "\\begin{tabular}{lc}\\toprule \\textbf{A} & \\multicolumn{1}{c}{B} \\\\ "
    raw += "\\midrule 1 & 2 \\\\"
    assert tables.cells_as_text(raw + "\\end{tabular}") == [["A", "B"], ["1", "2"]]
    # a table float's own end is not a row; three-argument rules leave no argument behind
    assert tables.cells_as_text(raw + "\\bottomrule\n\\end{tabular}\n\\end{table*}") == [
        ["A", "B"],
        ["1", "2"],
    ]
    # omeganet: the float's caption after the tabular is no row (it printed "tabular [title] …");
    # a tabularx's width comes before its columns
    captioned = raw + "\\end{tabular}\\caption[Short]{Long {title}.}\n\\end{table*}"
    assert tables.cells_as_text(captioned) == [["A", "B"], ["1", "2"]]
    wide = "\\begin{tabularx}{\\linewidth}{lX} a & b \\\\ c & d\\end{tabularx}"
    assert tables.cells_as_text(wide) == [["a", "b"], ["c", "d"]]
    # formulas stay markdown math (asvc's fallback cells had read ``$| _i|$`` for ``$|\\pi_i|$``),
    # a pipe in them as \\vert, which would end the cell
    maths = "\\begin{tabular}{ll} $|\\pi_i|$ & \\(O(\\log n)\\) \\textbf{time}\\\\\\end{tabular}"
    assert tables.cells_as_text(maths) == [["$\\vert \\pi_i\\vert $", "$O(\\log n)$ time"]]
    assert tables.table_caption("\\caption{Proof $\\pi_I$ sizes.}") == "Proof $\\pi_I$ sizes."
    ruled = "\\begin{tabular}{ll}a & b\\\\ \\specialrule{.05em}{.05em}{.05em} c & d\\\\"
    ruled += "\\rowcolors[\\hline]{2}{gray!10}{white} e & f\\\\\\end{tabular}"
    assert tables.normalize_tables(ruled) == (
        "\\begin{tabular}{ll}a & b\\\\   c & d\\\\  e & f\\\\\\end{tabular}"
    )


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_a_table_pandoc_cannot_read_becomes_its_cells() -> None:
    files = {
        "main.tex": (
            b"\\documentclass{article}\\begin{document}Text before.\n\n"
            b"\\begin{tabular}{ll}x & y & extra\\\\ z & w\\end{tabular}\n\n"  # TeX recovers
            b"Text after.\\end{document}"
        )
    }
    result = pandoc.paper_markdown(files, "main.tex", {})
    assert result.table_fallbacks == 1
    assert result.conversion_fallbacks == ()  # the paper converted: that one table came back raw
    assert "Text before." in result.text and "Text after." in result.text
    assert "| x | y | extra |\n|---|---|---|\n| z | w |  |" in result.text


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_column_types_and_pictures_in_cells_leave_the_table_its_text() -> None:
    files = {
        "main.tex": (
            b"\\documentclass{article}\\usepackage{array}\\begin{document}Before.\n\n"
            b"\\newcolumntype{M}[1]{>{\\centering\\arraybackslash}m{#1}}\n\n"
            b"\\begin{tabular}{M{2cm}l}a & b\\\\\\end{tabular}\n\n"
            b"\\begin{tabular}{ll}\\includegraphics[height=1.3\\fontcharht\\font`\\B]{icon.pdf} "
            b"Flamingo & 67.6 & x\\\\ y & z\\end{tabular}\n\nAfter.\\end{document}"
        )
    }
    result = pandoc.paper_markdown(files, "main.tex", {})
    assert result.text.startswith("Before.\n\n") and "After." in result.text
    assert "| a   | b   |" in result.text
    assert "| Flamingo | 67.6 | x |" in result.text and "icon" not in result.text


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_what_pandoc_cannot_read_is_plain_text_and_the_paper_says_so() -> None:
    files = {
        "main.tex": b"\\documentclass{article}\\begin{document}\\section{One}Fine text.\n\n"
        b"\\section{Two}Broken \\textbf{bold\n\n\\section{Three}More text.\\end{document}"
    }
    result = pandoc.paper_markdown(files, "main.tex", {})
    assert "# 1 One\n\nFine text." in result.text and "More text." in result.text
    assert result.conversion_fallbacks[0] == "every table as its cells' text"
    assert result.conversion_fallbacks[-1].startswith("section by section")
    # fudan-thesis: in a book, a section converted on its own keeps its level under the chapters
    book = (
        files["main.tex"]
        .replace(b"article", b"book")
        .replace(b"\\section{One}", b"\\chapter{C}\\section{One}")
    )
    text = pandoc.paper_markdown({"main.tex": book}, "main.tex", {}).text
    levels = [(h.split()[0], h.split()[-1]) for h in re.findall(r"^#+ .*$", text, re.M)]
    assert levels == [("#", "C"), ("##", "One")]


def test_cjk_text_aligns_by_character_and_is_zh() -> None:
    assert align.normalize("视觉语言 Model， ﬁne") == "视 觉 语 言 model fine"
    assert align.paper_lang("# 引言\n\n视觉语言模型需要 TeX Live 数据。") == "zh"
    assert align.paper_lang("A paper with one word 中文.") == "en"
    parts = align.split_pages(
        "# 引言\n\n视觉语言模型需要高质量的训练数据。", ["引言 视觉语言模型需要高质量的训练数据。"]
    )
    assert parts[0].score == 1.0
    assert pandoc.join_cjk_lines("数据。 页面 and text") == "数据。页面 and text"
    # a CJK paragraph crossing a page is cut between its characters, not at its start (every
    # character of a run without spaces used to share the run's offset)
    markdown = "构建能够快速适应新任务的模型是一个开放挑战。我们引入了Flamingo模型，它可以训练。"
    markdown += "\n\n第二段。"
    first, second = align.split_pages(
        markdown,
        [
            "构建能够快速适应新任务的模型是一个开放挑战。我们引入了",
            "Flamingo模型，它可以训练。第二段。",
        ],
    )
    assert first.markdown == "构建能够快速适应新任务的模型是一个开放挑战。我们引入了"
    assert second.markdown == "Flamingo模型，它可以训练。\n\n第二段。"


def test_onedot_macros_print_a_single_full_stop() -> None:
    tex = (
        "\\def\\onedot{\\ifx\\@let@token.\\else.\\null\\fi\\xspace}\\def\\eg{\\emph{e.g}\\onedot}"
        "\\def\\etal{et al\\onedot}We use \\eg cats, as Smith \\etal."
    )
    assert macros.expand_macros(tex) == "We use \\emph{e.g}. cats, as Smith et al."


def test_a_papers_own_style_abbreviations_are_expanded() -> None:
    style = (
        "\\def\\onedot{\\ifx\\@let@token.\\else.\\null\\fi\\xspace}"
        "\\def\\etal{\\emph{et al}\\onedot}\\def\\maketitle{\\par\\vskip 2em}\\def\\@internal{x}"
    )
    known = macros.style_abbreviations(style)
    assert set(known) == {"\\onedot", "\\etal"}
    assert macros.expand_macros("Smith \\etal. \\maketitle", known=known) == (
        "Smith \\emph{et al}. \\maketitle"
    )


def test_style_macros_made_of_text_macros_print_their_text() -> None:
    """parabs-pldi's macros.sty redefines the kernel's ``\\l`` (ł) and ``\\v`` (a caron) with its
    own ``\\ensureMath``, itself the kernel's ``\\TextOrMath``: the page prints the words, in math
    mode, in the text and in math alike."""
    style = (
        "\\newcommand{\\ensureMath}[1]{\\TextOrMath{$#1$\\xspace}{#1}}"
        "\\def\\v#1{\\ensureMath{\\mathit{#1}}}\\def\\l#1{\\ensureMath{\\textsf{\\upshape #1}}}"
    )
    body = "The \\l{stack-model} of \\v{x} and $\\l{inv} \\le \\v{y}$."
    preamble = "\\documentclass{article}\\usepackage{macros}"
    document = f"{preamble}\\begin{{document}}{body}\\end{{document}}"
    files = {"main.tex": document.encode(), "macros.sty": style.encode()}
    assert pandoc.paper_markdown(files, "main.tex", {}).text == (
        "The $\\textsf{\\upshape stack-model}$ of $\\mathit{x}$ and "
        "${\\textsf{\\upshape inv}} \\le {\\mathit{y}}$.\n"
    )


def test_an_empty_group_after_a_macro_is_an_argument_where_the_macro_ends_in_a_command() -> None:
    """parabs-pldi: ``\\Appendices`` is ``\\True`` (``#1`` of two), used as ``\\Appendices{}{…}``:
    ``{}`` is the first argument; taken as the end of ``\\Appendices``, the ``\\section`` after
    the group was the second and the paper lost its introduction's heading."""
    tex = (
        "\\providecommand{\\Appendices}{\\True}\\newcommand{\\True}[2]{#1}"
        "\\newcommand{\\model}{M}\\Appendices{}{No appendix.}\n\n"
        "\\section{Introduction} \\model{} x"
    )
    assert macros.expand_macros(tex) == "\n\n\\section{Introduction} M x"


def test_a_style_restyling_a_heading_keeps_the_heading() -> None:
    """NeurIPS's style first ``\\providecommand``s ``\\section`` empty (a no-op: the class has
    it), then restyles it with ``\\@startsection``: the heading stays, its text and number too."""
    style = (
        "\\providecommand{\\section}{}\\renewcommand{\\section}{\\@startsection{section}{1}{\\z@}"
        "{-2.0ex}{1.5ex}{\\large\\bf}}\\providecommand{\\subsection}{}"
        "\\providecommand{\\eg}{e.g.}\\providecommand{\\eg}{for example}"
    )
    known = macros.style_abbreviations(style)
    assert known == {"\\eg": macros.Macro(0, None, "e.g.")}
    tex = "\\section{Introduction}\\subsection{Setup}As \\eg here."
    assert macros.expand_macros(tex, known=known) == (
        "\\section{Introduction}\\subsection{Setup}As e.g. here."
    )
    document = f"\\documentclass{{article}}\\begin{{document}}{tex}\\end{{document}}"
    markdown = pandoc.paper_markdown({"main.tex": document.encode()}, "main.tex", {}).text
    assert markdown.startswith("# 1 Introduction\n\n## 1.1 Setup\n\n")


def test_package_text_pandoc_drops_is_printed() -> None:
    """minted's shortcuts, textcomp's symbols, pifont's marks, IEEEtran's drop cap and PMLR's
    acknowledgements: pandoc drops each, with its text (and a mark the group after it)."""
    files = {
        "main.tex": (
            b"\\documentclass{article}\\usepackage{code}\\begin{document}"
            b"\\IEEEPARstart{T}{his} scheduler runs \\ocamlinline{val run : t -> unit} "
            b"at 20\\textdegree C, 3.1\\textpm 0.2 s \\ding{51}{ok}.\n"
            b"\\begin{ocamlcode}\nlet x = 1\n\\end{ocamlcode}\n"
            b"\\acks{We thank the reviewers.}\\end{document}"
        ),
        "code.sty": b"\\RequirePackage{minted}\\newminted{ocaml}{}\\newmintinline{ocaml}{}",
    }
    markdown = pandoc.paper_markdown(files, "main.tex", {}).text
    assert "This scheduler runs `val run : t -> unit` at 20°C, 3.1±0.2 s ✓ok." in markdown
    assert "```" in markdown and "let x = 1" in markdown
    assert "# Acknowledgments\n\nWe thank the reviewers." in markdown


def test_environments_pandoc_does_not_know_keep_their_text() -> None:
    """pandoc keeps an unknown environment raw, and its text was lost with it: paralist's lists
    and wrapfig's floats become the standard ones, any other prints its content (megatron's
    acknowledgements, 2dpsd's widetext, a theorem a class defines, its title in parentheses)."""
    tex = (
        "\\begin{compactenum}\\item First.\\item Second.\\end{compactenum}\n\n"
        "\\begin{wraptable}[8]{r}{0.4\\textwidth}\\begin{tabular}{c}cell\\end{tabular}"
        "\\caption{Wrapped.}\\end{wraptable}\n\n"
        "\\begin{acks}We thank \\textbf{Ian} for \\href{http://x}{talks}.\\end{acks}\n\n"
        "\\begin{widetext}Wide \\begin{framed}framed\\end{framed} text.\\end{widetext}\n\n"
        "\\begin{lemma}[Bound]Every $x^2 \\ge 0$.\\end{lemma}\n\n"
        "\\begin{tcolorbox}[colback=red]Boxed.\\end{tcolorbox}\n\n"
        "\\begin{mathpar} a \\and b \\end{mathpar}\n\n"  # pandoc cannot read it either: dropped
        "\\begin{tikzpicture}\\draw (0,0) -- (1,1); \\node at (0,0) {Label};\\end{tikzpicture}\n\n"
        "\\begin{CCSXML}<ccs2012><concept_id>10011007</concept_id></ccs2012>\\end{CCSXML}\n\n"
        "\\begin{multicols}{2}Two columns.\\end{multicols}\n\n"  # arguments are no text
        "\\begin{CJK}{UTF8}{gbsn}Chinese.\\end{CJK}\n"
    )
    markdown = pandoc.latex_to_markdown(pandoc.prepare_for_pandoc(tex, compiled.Compiled()))
    assert "1.  First.\n\n2.  Second." in markdown
    assert "Table 1: Wrapped." in markdown and "cell" in markdown and "0.4" not in markdown
    assert "We thank **Ian** for talks." in markdown
    assert "Wide\n\nframed\n\ntext." in markdown and "Boxed." in markdown
    assert "(Bound) Every $x^2 \\ge 0$." in markdown
    assert "(0,0)" not in markdown and "Label" not in markdown  # a picture's commands are no text
    assert "ccs2012" not in markdown and "10011007" not in markdown  # nor acmart's CCS XML
    assert "\n\nTwo columns.\n\nChinese.\n" in markdown


def test_layout_commands_do_not_take_the_text_after_them() -> None:
    """pandoc reads an unknown command with every braced group after it: 1pipe's
    ``\\parab{…}`` (``\\noindent{\\bf …}``) lost its run-in heading, a ``\\color{red}{…}`` its
    text; its ``list`` environment (label and spacing arguments) is a list."""
    tex = (
        "\\vspace*{0.05in}\\noindent{\\bf Correctness Analysis.} In reliable 1Pipe,"
        "\\hspace{1em}a \\color[rgb]{1,0,0}{scattering} from \\hskip0pt plus 1fil sender.\n\n"
        "\\begin{list}{$\\bullet$}{\\parsep 1pt plus 1pt \\leftmargin 0.15in}"
        "\\item Packet loss.\\end{list}\n"
    )
    markdown = pandoc.latex_to_markdown(pandoc.prepare_for_pandoc(tex, compiled.Compiled()))
    assert markdown == (
        "**Correctness Analysis.** In reliable 1Pipe, a scattering from sender.\n\n"
        "-   Packet loss.\n"
    )


def test_a_styles_text_macros_with_arguments_print_their_text() -> None:
    style = (
        "\\newcommand{\\answerYes}[1][]{\\textcolor{blue}{[Yes] #1}}"
        "\\newcommand{\\answerTODO}[1][]{\\textcolor{red}{\\bf [TODO]}}"
        "\\newcommand{\\setup}[1]{\\vskip #1\\relax}"
    )
    known = macros.style_abbreviations(style)
    assert set(known) == {"\\answerYes"}  # \bf and \vskip are not text commands
    # its one parameter is optional: as in TeX, the braces after it are a group of their own
    assert macros.expand_macros("\\answerYes{See Datasheets \\cite{d}}", known=known) == (
        "\\textcolor{blue}{[Yes] }{See Datasheets \\cite{d}}"
    )


def test_only_the_styles_the_paper_loads_set_its_citations() -> None:
    files = {
        "main.tex": b"\\documentclass{acmart}\\usepackage{own, missing}",
        "acmart.cls": b"\\citestyle{acmnumeric} % \\bibpunct{<}{>}",
        "sty/own.sty": b"\\def\\eg{e.g.}",
        "sigplanconf.cls": b"\\bibpunct{(}{)}{;}{a}{}{,}",  # another venue's class, unused
    }
    tex = files["main.tex"].decode()
    assert pandoc.loaded_styles(tex, files) == "\\citestyle{acmnumeric} \n\\def\\eg{e.g.}"
    thesis = {"Thesis.tex": b"", "Style/artratex.sty": b"\\citestyle{authoryear}"}
    assert pandoc.loaded_styles("\\usepackage[authoryear]{Style/artratex}", thesis) == (
        "\\citestyle{authoryear}"
    )
    # a style of the same name in a subfolder (another paper's) does not shadow the paper's own
    shadowed = {
        "main.tex": b"",
        "macros.sty": b"\\def\\a{A}",
        "prophecy/macros.sty": b"\\def\\b{B}",
    }
    assert pandoc.loaded_styles("\\usepackage{macros}", shadowed) == "\\def\\a{A}"


def test_two_column_tables_convert_with_their_formulas_and_alpha_labels(tmp_path) -> None:
    """asvc (llncs, alpha labels) and datacomp: a ``table*`` had gone to the plain-text fallback
    (pandoc 2.x keeps it raw), which dropped its formulas' commands (``$| _i|$``) and the colour
    name of ``\\mathcolor`` stood in the cells; side-by-side ``\\ensuremath``s were written
    ``$a$$b$``, read as display math up to the next ``$$`` (a page split lost four pages); a
    row opening with a citation lost it as ``\\\\``'s option; the class's German table name,
    set only in a language switch, named the table; alpha's ``CFG+20`` printed ``CFG\\$^+\\$20``."""
    (tmp_path / "refs.bib").write_text(
        "@article{cfg, author={Ann Cat and Bob Fox and Cy Gale and Di Hart and Ed Ito},"
        " title={Vectors},"
        " journal={J. Crypto}, year={2020}}\n"
        "@article{lm, author={Lu Lai and Gi Mal}, title={Subvectors}, journal={J. Crypto},"
        " year={2019}}\n"
    )
    (tmp_path / "main.tex").write_text(
        "\\documentclass[twocolumn]{article}\\usepackage{booktabs,xcolor,bm}\n"
        "\\makeatletter\\def\\switcht@albion{\\def\\tablename{Table}}\\switcht@albion\n"
        "\\def\\switcht@deutsch{\\def\\tablename{Tabelle}}\\makeatother\n"
        "\\newcommand{\\rn}{\\ensuremath{\\mathcolor{red}{n}}}\n"
        "\\begin{document}\nVector commitments \\cite{cfg} cost \\$5 each.\n"
        "\\begin{table*}[t]\\caption{Costs of proofs $\\pi_i$ in \\cite{lm}.}\n"
        "\\begin{tabular}{lll}\\toprule\nScheme & Proof & Update\\\\\\midrule\n"
        "\\cite{lm} & \\rn & \\ensuremath{n}\\ensuremath{\\log n}\\\\\n"
        "\\cite{cfg} & \\bm{$0.602$} & $\\mathcolor{red}{n^2}$\\\\\\bottomrule\n"
        "\\end{tabular}\\end{table*}\n"
        "Proofs are small.\n\\bibliographystyle{alpha}\\bibliography{refs}\n\\end{document}\n"
    )
    markdown, texts = compiled_markdown(tmp_path)
    assert "Table 1: Costs of proofs $\\pi_i$ in [LM19]." in markdown and "Table 1" in texts[1]
    assert "[CFG+20]" in markdown and "CFG+20" in texts[0]
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    assert "[LM19]" in rows[2] and "$\\mathcolor" not in markdown and "red" not in markdown
    assert "$n \\log n$" in rows[2] and "$$" not in markdown
    assert "[CFG+20]" in rows[3] and "$\\boldsymbol{0.602}$" in rows[3]
    assert "cost \\$5 each" in markdown
    parts = align.split_pages(markdown, texts)
    assert all(part.score > 0.9 for part in parts), [part.score for part in parts]


def test_ieeetran_reference_skips_print_no_glue(tmp_path) -> None:
    """IEEEtran's bibliography puts ``\\hskip 1em plus 0.5em minus 0.4em\\relax`` between an
    entry's parts, and sets the spacing of an entry with a URL with a macro that assigns
    ``\\spaceskip``: every reference of tor-dns printed "1em plus 0.5em minus 0.4em", and
    "=plus 4minus" before it."""
    (tmp_path / "refs.bib").write_text(
        "@inproceedings{tor, author={Roger Dingledine}, title={Tor: the second-generation onion"
        " router}, booktitle={USENIX Security}, publisher={USENIX}, year={2004},"
        " url={https://example.org/tor.pdf}}\n"
    )
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\begin{document}Onion routing \\cite{tor}.\n"
        "\\bibliographystyle{IEEEtran}\\bibliography{refs}\\end{document}\n"
    )
    markdown, texts = compiled_markdown(tmp_path)
    reference = next(line for line in markdown.splitlines() if "Dingledine" in line)
    assert "plus" not in reference and "em" not in reference.split()
    printed = texts[0][texts[0].index("[1] R. Dingledine") :].rsplit("\n1\n", 1)[0]
    assert re.sub(r"\W", "", reference) == re.sub(r"\W", "", printed)  # "USENIX Se⏎curity"


def test_a_table_whose_cells_the_page_spells_otherwise_stays_with_its_caption() -> None:
    """coles (acmart): cells ``$0.631 \\pm 0.003$`` print as "0.631±0.003", so no page holds most
    of the table's words; it was cut up as a longtable and its rows went to an earlier page whose
    prose names the same baselines and numbers, away from its caption."""
    prose = "Baselines SOP, NSP and CPC reached 0.493, 0.622 and 0.594 in earlier work."
    markdown = (
        f"{prose}\n\nLater prose about something else entirely here.\n\n"
        "Table 6: Quality of embeddings for the downstream task\n\n"
        "| Method | Age | Churn |\n|---|---|---|\n"
        "| SOP | $0.493 \\pm 0.002$ | $0.782 \\pm 0.005$ |\n"
        "| NSP | $0.622 \\pm 0.004$ | $0.830 \\pm 0.004$ |\n"
        "| CPC | $0.594 \\pm 0.002$ | $0.802 \\pm 0.003$ |"
    )
    pages = [
        prose,
        "Later prose about something else entirely here.\nTable 6: Quality of embeddings for "
        "the downstream task\nMethod Age Churn\nSOP 0.493±0.002 0.782±0.005\n"
        "NSP 0.622±0.004 0.830±0.004\nCPC 0.594±0.002 0.802±0.003",
    ]
    first, second = align.split_pages(markdown, pages)
    assert "|" not in first.markdown and second.markdown.count("\n| ") == 4


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_inline_math_over_a_line_break_is_one_line() -> None:
    """author-disambiguation: ``$i \\neq`` ⏎ ``j$`` in the source; pandoc kept the line break,
    and the markdown's readers (the page split, the bench) paired its dollars with the next
    formula's, reading the prose between as math."""
    document = (
        "\\documentclass{article}\\begin{document}For all $i \\neq\nj$, and where subsets $c_i$, "
        "or clusters, each hold signatures.\\end{document}"
    )
    markdown = pandoc.paper_markdown({"main.tex": document.encode()}, "main.tex", {}).text
    assert align.MATH.findall(markdown) == ["$i \\neq j$", "$c_i$"]


def test_a_class_option_chooses_the_citation_style(tmp_path) -> None:
    """hdsnn (Springer Nature's sn-jnl): the class option ``default`` sets a switch whose branch
    loads natbib for numbers; another branch loads it for author-year, which vlpipe had read, so
    24 pages printed "(Bohte et al., 2002)" where the page prints "[7]"."""
    (tmp_path / "snlike.cls").write_text(
        "\\NeedsTeXFormat{LaTeX2e}\\ProvidesClass{snlike}\n"
        "\\newif\\if@basic@refstyle\\global\\@basic@refstylefalse\n"
        "\\newif\\if@Default@refstyle\\global\\@Default@refstylefalse\n"
        "\\DeclareOption{sn-basic}{\\global\\@basic@refstyletrue}\n"
        "\\DeclareOption{default}{\\global\\@Default@refstyletrue}\n"
        "\\DeclareOption*{\\PassOptionsToClass{\\CurrentOption}{article}}\n"
        "\\ProcessOptions\\relax\n\\LoadClass{article}\n"
        "\\if@basic@refstyle\\usepackage[authoryear]{natbib}\\fi\n"
        "\\if@Default@refstyle\\usepackage[numbers,sort&compress]{natbib}\\fi\n"
    )
    (tmp_path / "refs.bib").write_text(
        "@article{bohte, author={Sander Bohte and Joost Kok}, title={SpikeProp},"
        " journal={Neurocomputing}, year={2002}}\n"
    )
    (tmp_path / "main.tex").write_text(
        "\\documentclass[default]{snlike}\\begin{document}SpikeProp \\citep{bohte} learns "
        "spike times.\\bibliographystyle{apalike}\\bibliography{refs}\\end{document}\n"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    assert "SpikeProp [1] learns spike times." in " ".join(page.split())
    assert markdown.startswith("SpikeProp [1] learns spike times.")


def test_a_citation_style_a_class_calls_by_name_sets_the_punctuation(tmp_path) -> None:
    """nzmodes (AASTeX 7): the class sets numeric square brackets, then calls natbib's
    ``\\@citestyle{aas}``, whose ``\\bibpunct{(}{)}{;}{a}{}{,}`` prints "(Tegmark et al. 1997)":
    round brackets, no comma before the year. vlpipe printed "[Tegmark et al., 1997]"."""
    (tmp_path / "aaslike.cls").write_text(
        "\\NeedsTeXFormat{LaTeX2e}\\ProvidesClass{aaslike}\\LoadClass{article}\n"
        "\\RequirePackage{natbib}\\bibpunct{[}{]}{,}{n}{}{,}\n"
        "\\newcommand{\\bibstyle@aas}{\\bibpunct{(}{)}{;}{a}{}{,}}\\@citestyle{aas}\n"
    )
    (tmp_path / "main.tex").write_text(
        "\\documentclass{aaslike}\\begin{document}Band powers \\citep{TTH} compress the data."
        "\\begin{thebibliography}{}\\bibitem[Tegmark et al.(1997)]{TTH} Tegmark, M. 1997, ApJ"
        "\\end{thebibliography}\\end{document}\n"
    )
    markdown, [page] = compiled_markdown(tmp_path)
    assert "Band powers (Tegmark et al. 1997) compress" in " ".join(page.split())
    assert markdown.startswith("Band powers (Tegmark et al. 1997) compress the data.")
