"""LaTeX → PDF with real TeX Live: a real article, CJK through xelatex, and hostile sources."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pymupdf
import pytest

from tests.renderers._render_helpers import FIXTURES, processes_under
from vlpipe.renderers import TexConfig, TexError, compile_latex, compile_latex_dir
from vlpipe.renderers.tex import (
    _Sandbox,
    detect_engine,
    first_tex_error,
    minted_draft,
    read_by,
    strip_comments,
    unsafe_bcf_sources,
)

ARTICLE = FIXTURES / "article"


def _pdf_text(pdf: bytes) -> list[str]:
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        return [page.get_text() for page in doc]


def test_article_with_bibliography_and_cross_references(tools: None, tmp_path: Path) -> None:
    result = compile_latex_dir(ARTICLE, config=TexConfig(tmp_dir=tmp_path))
    assert result.engine == "pdflatex" and result.bibliography == "bibtex"
    assert result.runs == 3 and result.warnings == []
    pages = _pdf_text(result.pdf)
    assert len(pages) == 2
    assert "Section 2" in pages[0] and "Equation (1)" in pages[0] and "Table 1" in pages[0]
    assert "[2]" in pages[0] and "??" not in "".join(pages) and "[?]" not in "".join(pages)
    assert "Nougat: Neural optical understanding" in " ".join(pages[1].split())
    assert "Output written on main.pdf (2 pages" in result.log
    assert list(tmp_path.iterdir()) == []  # the private directory is removed
    assert not (ARTICLE / "main.aux").exists()  # the source folder is never written


def test_cjk_document_uses_xelatex_with_noto(tools: None) -> None:
    tex = (
        r"\documentclass{article}\usepackage{xeCJK}\setCJKmainfont{Noto Serif CJK SC}"
        "\n\\begin{document}\n视觉语言模型需要高质量的训练数据。\n\\end{document}\n"
    )
    result = compile_latex(tex, config=TexConfig(synctex=True))
    assert result.engine == "xelatex"
    assert "视觉语言模型需要高质量的训练数据。" in _pdf_text(result.pdf)[0]
    with pymupdf.open(stream=result.pdf, filetype="pdf") as doc:
        fonts = {f[3] for f in doc[0].get_fonts()}
    assert any("NotoSerifCJK" in f for f in fonts), fonts
    assert result.synctex is not None and result.synctex[:2] == b"\x1f\x8b"  # gzip


def test_cjk_fonts_that_are_not_installed_are_replaced_by_their_kind(tools: None) -> None:
    """fudan-thesis: ``\\setCJKmainfont{HYShuSongErS}`` and other commercial Hanyi fonts the
    author had: every Chinese character printed as a missing-glyph box (114 of 133 pages).
    The Song face becomes Noto Serif CJK, the Hei one Noto Sans CJK (named in expl3 code, which
    ignores spaces: ``Noto~Sans~CJK~SC`` there), and a Latin font that is not installed Latin
    Modern (its text had not printed at all)."""
    tex = (
        "\\documentclass{article}\\usepackage{xeCJK}\\setmainfont{Minion Pro Display}"
        "\\setCJKmainfont{HYShuSongErS}[BoldFont=HYZhongSongS]\n"
        "\\ExplSyntaxOn \\setCJKsansfont { HYZhongHeiS } \\ExplSyntaxOff\n"  # as fduthesis
        "\\begin{document}\n视觉语言模型 \\textsf{训练数据} Latin text.\n\\end{document}\n"
    )
    result = compile_latex(tex, config=TexConfig(max_errors=None))
    assert result.fonts_substituted == {
        "Minion Pro Display": "Latin Modern Roman",
        "HYShuSongErS": "Noto Serif CJK SC",
        "HYZhongSongS": "Noto Serif CJK SC",
        "HYZhongHeiS": "Noto Sans CJK SC",
    }
    assert "视觉语言模型训练数据Latin text." in " ".join(_pdf_text(result.pdf)[0].split())
    with pymupdf.open(stream=result.pdf, filetype="pdf") as doc:
        fonts = {f[3].split("+")[-1] for f in doc[0].get_fonts()}
    assert {"NotoSerifCJKjp-Regular-Identity-H", "NotoSansCJKjp-Regular-Identity-H"} <= fonts
    assert "LMRoman10-Regular-Identity-H" in fonts and result.errors == ()


def test_engine_detection() -> None:
    assert detect_engine([r"\documentclass{article}"]) == "pdflatex"
    assert detect_engine([r"\usepackage[slantfont]{xeCJK}"]) == "xelatex"
    assert detect_engine([r"\documentclass[UTF8]{ctexart}"]) == "xelatex"
    assert detect_engine(["中文"]) == "xelatex"
    assert detect_engine([r"\usepackage{CJKutf8} 中文"]) == "pdflatex"
    assert detect_engine([r"% \usepackage{xeCJK}" + "\n" + r"50\% done"]) == "pdflatex"


def test_the_engine_is_that_of_the_files_the_main_file_reads(tmp_path) -> None:
    """hdsnn (Springer Nature): the paper's folder also holds a poster that loads fontspec; the
    paper (``\\pdfoutput=1`` on its first line) went to xelatex, which stopped at 100 errors."""
    (tmp_path / "main.tex").write_text(
        "\\pdfoutput=1\n\\documentclass{article}\\begin{document}\\input{sections/intro}"
        "\\include{more}\\end{document}\n"
    )
    (tmp_path / "sections").mkdir()
    (tmp_path / "sections" / "intro.tex").write_text("Spiking networks.\n")
    (tmp_path / "more.tex").write_text("Delays.\n")
    (tmp_path / "poster.tex").write_text("\\documentclass{article}\\usepackage{fontspec}\n")
    texts = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in tmp_path.rglob("*.tex")}
    assert sorted(read_by("main.tex", texts)) == sorted(
        texts[name] for name in ("main.tex", "sections/intro.tex", "more.tex")
    )
    result = compile_latex_dir(tmp_path)
    assert result.errors == () and "Spiking networks." in _pdf_text(result.pdf)[0]
    # an input whose name TeX computes: every .tex of the folder is read for the engine
    texts["main.tex"] = "\\input{\\dir/intro}"
    assert len(read_by("main.tex", texts)) == 4


def test_first_error_line_and_biber_sources() -> None:
    log = "This is pdfTeX\n(./main.tex\n./main.tex:4: Undefined control sequence.\nl.4 \\foo\n"
    assert first_tex_error(log) == "main.tex:4: Undefined control sequence."
    assert first_tex_error("x\n! LaTeX Error: File `a.sty' not found.\n") == (
        "! LaTeX Error: File `a.sty' not found."
    )
    assert first_tex_error("all good\n") is None
    bcf = (
        "<bcf:datasource type='file'>refs.bib</bcf:datasource>"
        "<bcf:datasource type='file'>/etc/passwd</bcf:datasource>"
        "<bcf:datasource type='file'>../up.bib</bcf:datasource>"
    )
    assert unsafe_bcf_sources(bcf) == ["/etc/passwd", "../up.bib"]


HOSTILE = {
    "undefined": (r"Hello \foo", "main.tex:4: Undefined control sequence."),
    "missing_package": (
        r"\usepackage{nosuchpackagexyz}",
        "! LaTeX Error: File `nosuchpackagexyz.sty' not found.",
    ),
    "read_passwd": (r"\input{/etc/passwd}", "! LaTeX Error: File `/etc/passwd.tex' not found."),
}


def _doc(body: str) -> str:
    preamble, _, text = body.partition("\n") if body.startswith(r"\usepackage") else ("", "", body)
    return (
        f"\\documentclass{{article}}\n{preamble}\n\\begin{{document}}\n{text}\n\\end{{document}}\n"
    )


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_bad_sources_fail_with_the_first_tex_error(tools: None, tmp_path: Path, name: str) -> None:
    body, reason = HOSTILE[name]
    with pytest.raises(TexError) as info:
        compile_latex(_doc(body), config=TexConfig(tmp_dir=tmp_path / "tex"))
    assert str(info.value) == reason
    assert list((tmp_path / "tex").iterdir()) == []
    assert processes_under(tmp_path) == []


def test_shell_escape_and_writes_outside_are_refused(tools: None, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    pwned = outside / "pwned"
    body = (
        f"\\immediate\\write18{{touch {pwned}}}\nshell escape refused\n"
        f"\\immediate\\openout5=../escape.txt \\immediate\\write5{{x}}\\immediate\\closeout5\n"
    )
    with pytest.raises(TexError, match=r"I can't write on file `\.\./escape\.txt'"):
        compile_latex(_doc(body), config=TexConfig(tmp_dir=tmp_path / "tex"))
    absolute = f"\\immediate\\openout5={outside}/abs.txt \\immediate\\write5{{x}}"
    with pytest.raises(TexError, match="I can't write on file"):
        compile_latex(_doc(absolute), config=TexConfig(tmp_dir=tmp_path / "tex"))
    result = compile_latex(
        _doc(f"\\immediate\\write18{{touch {pwned}}} text"),
        config=TexConfig(tmp_dir=tmp_path / "tex"),
    )
    assert "runsystem(touch" in result.log and "disabled" in result.log
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["outside", "tex"]


@pytest.mark.parametrize("loop", [r"\def\a{\a}\a", r"\loop\iftrue\repeat"])
def test_infinite_loop_is_killed_at_the_time_limit(tools: None, tmp_path: Path, loop: str) -> None:
    with pytest.raises(
        TexError, match=r"^pdflatex exceeded the 2s time limit of one run \(killed\)$"
    ):
        compile_latex(_doc(loop), config=TexConfig(timeout_s=2, tmp_dir=tmp_path))
    assert processes_under(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_the_time_limit_is_per_run_not_per_compilation(tmp_path: Path) -> None:
    """Passes that together run past ``timeout_s`` are fine; one pass past it is killed."""
    box = _Sandbox(tmp_path, {"PATH": os.environ["PATH"]}, TexConfig(timeout_s=1.5))
    sleep = shutil.which("sleep")
    assert sleep is not None
    for _ in range(3):  # 2.4 s in all
        assert box.run([sleep, "0.8"]) == 0
    with pytest.raises(
        TexError, match=r"^sleep exceeded the 1.5s time limit of one run \(killed\)$"
    ):
        box.run([sleep, "30"])
    assert processes_under(tmp_path) == []


def test_minted_is_typeset_verbatim_and_shell_commands_still_run_nothing(
    tools: None, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    body = (
        "\\usepackage{minted}\\newminted{python}{}\\newmintinline{python}{}\n"
        "\\begin{minted}[linenos,fontsize=\\small]{python}\n"
        "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1)\n"
        "\\end{minted}\n"
        "Inline \\mintinline{ocaml}{let rec walk = 42} and \\pythoninline|squared_sum|.\n"
        '\\begin{pythoncode}\nprint("listing_two")\n\\end{pythoncode}\n'
        "\\inputminted{python}{shipped.py}\n"
        f"\\immediate\\write18{{touch {outside}/written}}\n"
    )
    result = compile_latex(
        _doc(body),
        files={"shipped.py": b"shipped_function = lambda: None\n"},
        config=TexConfig(tmp_dir=tmp_path / "tex", max_errors=None),
    )
    text = " ".join(" ".join(_pdf_text(result.pdf)).split())
    for words in ("def fibonacci(n):", "let rec walk = 42", "squared_sum", "listing_two"):
        assert words in text, text
    assert "shipped_function = lambda: None" in text
    assert result.errors == () and "Package minted Error" not in result.log
    runsystem = [line for line in result.log.splitlines() if line.startswith("runsystem(")]
    assert any(line.startswith("runsystem(touch") for line in runsystem), runsystem
    assert all(line.endswith("...disabled (restricted).") for line in runsystem), runsystem
    assert not any("pygmentize" in line for line in runsystem), runsystem
    piped = f'\\usepackage{{minted}}\n\\input|"touch {outside}/piped" text'
    with pytest.raises(TexError, match=r"I can't find file `\"\|touch "):
        compile_latex(_doc(piped), config=TexConfig(tmp_dir=tmp_path / "tex", max_errors=None))
    assert list(outside.iterdir()) == []
    assert processes_under(tmp_path) == []


def test_minted_draft_unless_the_paper_ships_a_frozen_cache() -> None:
    assert minted_draft([r"\usepackage[outputdir=build]{minted}"])
    assert minted_draft(["x", r"\RequirePackage{xcolor,minted}"])
    assert not minted_draft([r"\usepackage{myminted}", r"% \usepackage{minted}"])
    assert not minted_draft([r"\usepackage[frozencache,cachedir=mc]{minted}"])
    assert not minted_draft([r"\PassOptionsToPackage{frozencache}{minted}", r"\usepackage{minted}"])


def test_symlinks_in_a_source_folder_are_not_followed(tools: None, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.tex").write_text(_doc(r"\input{secret}"))
    (tmp_path / "secret.tex").write_text("TOP SECRET")
    (src / "secret.tex").symlink_to(tmp_path / "secret.tex")
    with pytest.raises(TexError, match=r"secret\.tex' not found"):
        compile_latex_dir(src)


def test_unsafe_file_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TexError, match="unsafe source path"):
        compile_latex(_doc("x"), files={"../evil.tex": b"x"}, config=TexConfig(tmp_dir=tmp_path))


def _eps(program: str) -> bytes:
    """An EPS file: a 200×40 pt box running ``program`` (PostScript)."""
    return (
        "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 200 40\n"
        f"/Helvetica findfont 12 scalefont setfont 10 15 moveto {program} showpage\n%%EOF\n"
    ).encode()


GRAPHICX = "\\usepackage{graphicx}\n"


def test_eps_figures_are_converted_in_the_sandbox_paths_with_spaces_included(
    tools: None, tmp_path: Path
) -> None:
    files = {"plot.eps": _eps("(FIRSTPLOT) show"), "my figs/curve.eps": _eps("(SPACEDPLOT) show")}
    body = GRAPHICX + "A \\includegraphics{plot.eps} and \\includegraphics{my figs/curve} end."
    result = compile_latex(_doc(body), files=files, config=TexConfig(tmp_dir=tmp_path))
    text = " ".join(_pdf_text(result.pdf))
    assert "FIRSTPLOT" in text and "SPACEDPLOT" in text
    assert result.errors == () and result.runs == 2  # the figures are there from the second run
    assert list(tmp_path.iterdir()) == []


def test_eps_with_postscript_file_operators_stays_sandboxed(tools: None, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    reads = "(/etc/passwd) (r) file 64 string readstring pop show"
    writes = (
        f"({outside}/pwned) (w) file closefile (../pwned) (w) file closefile "
        f"(%pipe%touch {outside}/piped) (w) file closefile"
    )
    files = {"reads.eps": _eps(reads), "writes.eps": _eps(writes), "ok.eps": _eps("(OK) show")}
    body = GRAPHICX + "\n".join(f"\\includegraphics{{{n}}}" for n in ("reads", "writes", "ok"))
    config = TexConfig(tmp_dir=tmp_path / "tex", max_errors=None)
    result = compile_latex(_doc(body), files=files, config=config)
    text = " ".join(_pdf_text(result.pdf))
    assert "root:" not in text and "OK" in text
    assert list(outside.iterdir()) == [] and not (tmp_path / "pwned").exists()
    assert list((tmp_path / "tex").iterdir()) == []  # nor anything left in the private folder


def test_hostile_file_names_never_reach_a_shell(tools: None, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    pipe_name = f"|touch {outside}/viapipe.eps"
    files = {
        pipe_name: _eps("(PIPE) show"),
        "-dNOSAFER.eps": _eps("(DASH) show"),
        # the allow-list's one name, present and executable in the folder: still never run
        "vlpipe-no-command": f"#!/bin/sh\ntouch {outside}/ran\n".encode(),
    }
    body = (
        GRAPHICX
        + f"\\includegraphics{{{pipe_name}}} \\includegraphics{{-dNOSAFER.eps}}\n"
        + "\\immediate\\write18{vlpipe-no-command}\\immediate\\write18{./vlpipe-no-command}"
    )
    src = tmp_path / "src"
    for name, data in {**files, "main.tex": _doc(body).encode()}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    (src / "vlpipe-no-command").chmod(0o755)
    result = compile_latex_dir(src, config=TexConfig(tmp_dir=tmp_path / "tex", max_errors=None))
    assert list(outside.iterdir()) == []
    assert "DASH" in " ".join(_pdf_text(result.pdf))


def test_recoverable_errors_keep_the_pdf_up_to_the_limit(tools: None, tmp_path: Path) -> None:
    body = "Before \\foo{} middle \\baz{} after."  # two undefined commands
    config = TexConfig(tmp_dir=tmp_path, max_errors=2)
    result = compile_latex(_doc(body), config=config)
    assert "Before middle after." in " ".join(_pdf_text(result.pdf).pop().split())
    assert result.errors == ("main.tex:4: Undefined control sequence.",) * 2
    with pytest.raises(TexError, match=r"^2 TeX errors \(over 1\), the first: main\.tex:4: Und"):
        compile_latex(_doc(body), config=TexConfig(tmp_dir=tmp_path, max_errors=1))


def test_tikz_externalize_draws_pictures_inline(tools: None, tmp_path: Path) -> None:
    preamble = "\\usepackage{tikz}\\usetikzlibrary{external}\\tikzexternalize[prefix=cache/]\n"
    body = preamble + "\\begin{tikzpicture}\\node{INLINENODE};\\end{tikzpicture}"
    result = compile_latex(_doc(body), config=TexConfig(tmp_dir=tmp_path))
    assert "INLINENODE" in _pdf_text(result.pdf)[0] and result.errors == ()
    assert not [name for name in result.outputs if "cache" in name or name.endswith(".md5")]


def test_runs_stop_when_the_aux_files_settle(tools: None, tmp_path: Path) -> None:
    body = "\\usepackage{hyperref}\nSee Section~\\ref{s}.\\section{S}\\label{s}"
    result = compile_latex(_doc(body), config=TexConfig(tmp_dir=tmp_path))
    assert result.runs == 2 and "See Section 1." in " ".join(_pdf_text(result.pdf)[0].split())


def test_compile_hands_back_its_aux_and_bbl(tools: None, tmp_path: Path) -> None:
    result = compile_latex_dir(ARTICLE, config=TexConfig(tmp_dir=tmp_path))
    assert {"main.aux", "main.bbl"} <= set(result.outputs)
    assert b"\\bibcite" in result.outputs["main.aux"]


def test_comments_start_after_an_even_number_of_backslashes() -> None:
    assert strip_comments("50\\% done % note\nrow \\\\% & old cell\n  x \\\\\\% y") == (
        "50\\% done row \\\\x \\\\\\% y"  # the comment takes its line break and the blanks after
    )
    # a URL is read verbatim: its percent-encoding is no comment (ucasthesis's wiki links),
    # unless the URL is itself in a comment
    tex = "see \\href{https://x.org/wiki/%E5%B8}{FAQ} % note \\url{a%b}\n% \\url{c%d} old\nend"
    assert strip_comments(tex) == "see \\href{https://x.org/wiki/%E5%B8}{FAQ} end"
    assert strip_comments("one %c\n\ntwo %d\n  joined") == "one \n\ntwo joined"  # a paragraph
    # omeganet-zh's .bbl wraps a URL over two lines: its second line's %5C is no comment either
    wrapped = "\\url{http://a.org/x?doi=1\n  http://a.org/y%5Cnhttp://b.org/z}.\n\\doi{10.1}"
    assert strip_comments(wrapped) == wrapped
