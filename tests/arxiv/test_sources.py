"""The pure parts of the arXiv source: archives, main file, macros, markdown, page alignment."""

from __future__ import annotations

import gzip
import shutil

import pytest

from tests.arxiv.helpers import BULK, HOSTILE, PAPERS, SOURCES, tar_gz
from vlpipe.recipe import ArchiveLimits, InputConfig
from vlpipe.schema import Document, Drop
from vlpipe.sources.arxiv import align, archive, macros, mainfile, pandoc
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


def test_macro_bomb_stops_growing() -> None:
    tex = "\\newcommand{\\a}{\\b\\b\\b\\b}\\newcommand{\\b}{\\a\\a\\a\\a}\\a"
    assert len(macros.expand_macros(tex, max_passes=50)) < 400


def test_references_citations_and_labels_are_resolved() -> None:
    bbl = "\\begin{thebibliography}{9}\\bibitem{b} B. Two.\\bibitem{a} A. \\newblock One.\n"
    bbl += "\\end{thebibliography}"
    tex = (
        "See \\cite{a,b} and Eq.~\\eqref{e} in Table~\\ref{t}."
        "\\begin{equation}x\\label{e}\\end{equation}"
        "\\begin{table}\\caption{c}\\label{t}\\end{table}\\bibliographystyle{plain}\\bibliography{r}"
    )
    prepared = pandoc.prepare_for_pandoc(tex, bbl)
    assert "See [2, 1] and Eq.~(1) in Table~1." in prepared
    assert "\\label" not in prepared and "[1] B. Two." in prepared and "[2] A. One." in prepared


def test_license_only_when_stated() -> None:
    stated = {"LICENSE": b"Licensed under https://creativecommons.org/licenses/by-sa/4.0/"}
    assert archive.find_license(stated) == "CC-BY-SA-4.0"
    assert archive.find_license({"main.tex": DOC}) is None


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


def test_page_without_matching_text_gets_a_low_score() -> None:
    parts = align.split_pages("one two three four\n\nfive six", ["one two three four", "", ""])
    assert parts[0].score > 0.9 and parts[2].score == 0.0


def test_char_f1_ignores_markup_and_punctuation() -> None:
    assert align.char_f1("## 2 *Method*: fast!", "2 Method fast") == 1.0
    assert align.char_f1("abc", "xyz") == 0.0


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="needs pandoc")
def test_markdown_conventions_with_pandoc() -> None:
    files = archive.read_folder(PAPERS / "full", LIMITS).files
    markdown = pandoc.paper_markdown(files, "paper.tex")
    assert markdown.startswith("# Learning to Read Scientific Pages\n\nAda Lovelace, Alan Turing")
    assert "# 3 Method\n\n## 3.1 Model" in markdown
    assert "$x \\in \\mathbb{R}^{H \\times W \\times 3}$" in markdown  # \R expanded, $…$
    assert "\n$$\\mathcal{L}_{\\text{ce}}" in markdown  # display math alone, $$…$$
    assert "Table 1: Sizes of the data splits.\n\n| Split" in markdown
    assert "Figure 1: Validation loss during training." in markdown
    assert "entirely.^1^" in markdown and "\n1 Mathematical expressions" in markdown
    assert "-   recognition errors" in markdown and "as Equation (1) shows" in markdown
    assert "# References" in markdown and "Nougat: Neural Optical" in markdown
    latin1 = archive.unpack_source((SOURCES / "2401.00003.gz").read_bytes(), LIMITS)
    assert isinstance(latin1, archive.PaperFiles)
    assert "Une étude naïve des données" in pandoc.paper_markdown(latin1.files, "main.tex")
