"""arXiv builds end to end with real TeX: formats, samples, drops, failures, hostile archives."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from PIL import Image
from rich.console import Console

from tests.arxiv.helpers import BULK, HOSTILE, PAPERS, SOURCES
from vlpipe.pipelines.build import run_build
from vlpipe.recipe import load_recipe

pytestmark = pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("pandoc") is None,
    reason="needs TeX Live and pandoc",
)


def build(inputs: list[Path], out: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    run_build(
        load_recipe("arxiv"),
        [str(p) for p in inputs],
        out,
        "inline",
        console=Console(file=io.StringIO()),
    )
    rows = pq.read_table(out / "ledger" / "documents").to_pylist()
    samples: dict[str, Any] = {}
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar:
                key, ext = member.name.split(".", 1)
                samples.setdefault(key, {})[ext] = tar.extractfile(member).read()
    return {row["doc_id"]: row for row in rows}, samples


@pytest.mark.slow
def test_loose_sources_in_arxiv_formats(tmp_path: Path) -> None:
    docs, samples = build([SOURCES], tmp_path / "out")
    statuses = {doc_id: row["status"] for doc_id, row in docs.items()}
    assert statuses == {
        "sources/2401.00001": "kept",
        "sources/2401.00002v2.gz": "kept",
        "sources/2401.00003.gz": "kept",
        "sources/2401.00004.tar.gz": "failed",
    }
    assert docs["sources/2401.00004.tar.gz"]["error_class"] == "TexError"
    assert "vlpipe-missing-package.sty' not found" in docs["sources/2401.00004.tar.gz"]["error"]
    metas = [json.loads(files["json"]) for files in samples.values()]
    full = sorted((m for m in metas if m["arxiv_id"] == "2401.00001"), key=lambda m: m["page"])
    assert [m["page"] for m in full] == list(range(1, full[0]["page_count"] + 1))
    assert full[0]["page_count"] >= 3 and full[0]["bibliography"] == "bibtex"
    twocol = [m for m in metas if m["arxiv_id"] == "2401.00002"]
    assert {m["version"] for m in twocol} == {2} and len(twocol) == 2
    for key, files in samples.items():
        meta = json.loads(files["json"])
        assert set(files) == {"png", "md", "json"}
        assert (meta["kind"], meta["task"], meta["target"], meta["source"]) == (
            "image_text",
            "ocr_page",
            "md",
            "arxiv",
        )
        assert meta["alignment_score"] >= 0.5 and meta["license"] is None
        assert max(Image.open(io.BytesIO(files["png"])).size) == 1024
        assert key.endswith(f"_{meta['page'] - 1:04d}")
    pages = {
        m["page"]: samples[k]["md"].decode()
        for k, m in ((k, json.loads(f["json"])) for k, f in samples.items())
        if m["arxiv_id"] == "2401.00001"
    }
    text = "\n\n".join(pages[p] for p in sorted(pages))
    assert text.count("# 3 Method") == 1 and "Figure 1: Validation loss" in text
    assert pages[1].startswith("# Learning to Read Scientific Pages")
    assert "# References" in pages[max(pages)]


@pytest.mark.slow
def test_bulk_archive_and_paper_folders(tmp_path: Path) -> None:
    folders = tmp_path / "folders"
    shutil.copytree(PAPERS / "twocol", folders / "twocol")
    docs, samples = build([BULK, folders], tmp_path / "out")
    reasons = {
        doc_id: (row["status"], row["reason"] or row["error_class"]) for doc_id, row in docs.items()
    }
    bulk = "bulk/arXiv_src_2401_001.tar#2401/"
    assert reasons == {
        f"{bulk}2401.00001.gz": ("kept", None),
        f"{bulk}2401.00002v2.gz": ("kept", None),
        f"{bulk}2401.00005.pdf": ("dropped", "pdf_only"),
        f"{bulk}2401.00006.gz": ("dropped", "withdrawn"),
        f"{bulk}2401.00007v3.gz": ("failed", "TexError"),
        "folders/twocol": ("kept", None),
    }
    ids = {(m["arxiv_id"], m["version"]) for m in (json.loads(f["json"]) for f in samples.values())}
    assert {("2401.00001", None), ("2401.00002", 2)} <= ids
    folder_pages = [
        m
        for m in (json.loads(f["json"]) for f in samples.values())
        if m["doc_id"] == "folders/twocol"
    ]
    assert len(folder_pages) == 2 and folder_pages[0]["main_file"] == "main.tex"


def test_hostile_archives_neither_write_nor_read_outside(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("traversal.tar.gz", "symlink.tar.gz"):
        shutil.copy(HOSTILE / name, inputs / name)
    docs, samples = build([inputs], tmp_path / "out")
    assert not list(tmp_path.rglob("escaped.tex"))
    assert docs["in/traversal.tar.gz"]["status"] == "kept"
    meta = json.loads(next(iter(samples.values()))["json"])
    assert meta["refused_members"] == ["../escaped.tex"]
    symlink = docs["in/symlink.tar.gz"]
    assert symlink["status"] == "failed" and "passwd.tex" in symlink["error"]
    assert all(b"root:" not in files["md"] for files in samples.values())


def test_mostly_figure_and_unaligned_pages_are_dropped(tmp_path: Path) -> None:
    paper = tmp_path / "in" / "figpaper"
    paper.mkdir(parents=True)
    shutil.copy(PAPERS / "full" / "figures" / "curve.png", paper / "curve.png")
    (paper / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{graphicx,pgffor}\\begin{document}\n"
        "A short page of text before the generated page.\\newpage\n"
        "\\foreach \\n in {1,...,300}{item\\n{} }\\clearpage\n"  # text pandoc cannot see
        "\\begin{figure}\\includegraphics[width=\\textwidth,height=0.8\\textheight]{curve.png}"
        "\\end{figure}\n"
        "\\end{document}\n"
    )
    docs, _ = build([tmp_path / "in"], tmp_path / "out")
    assert docs["in/figpaper"]["status"] == "kept"
    rows = pq.read_table(tmp_path / "out" / "ledger" / "samples").to_pylist()
    assert [(r["status"], r["reason"]) for r in rows] == [
        ("kept", None),
        ("dropped", "low_alignment"),
        ("dropped", "mostly_figure"),
    ]


@pytest.mark.slow
def test_a_real_world_paper_prints_what_its_page_shows(tmp_path: Path) -> None:
    """Recoverable TeX errors, an EPS figure in a folder with a space, tikzexternalize, bibtex
    from a .bib alone (one entry with an unescaped $), natbib numbers, glossaries, cleveref,
    a \\onedot macro, tables in a \\resizebox, tabularx and longtable, an appendix."""
    paper = tmp_path / "in" / "realistic"
    shutil.copytree(PAPERS / "realistic", paper)
    docs, samples = build([tmp_path / "in"], tmp_path / "out")
    assert docs["in/realistic"]["status"] == "kept"
    pages = sorted(
        ((json.loads(f["json"]), f["md"].decode()) for f in samples.values()),
        key=lambda page: page[0]["page"],
    )
    metas, texts = [m for m, _ in pages], [t for _, t in pages]
    text = "\n\n".join(texts)
    errors = metas[0]["tex_errors"]
    assert errors["count"] == 4 and errors["first"][0] == "main.tex:28: Undefined control sequence."
    assert metas[0]["bibliography"] == "bibtex" and metas[0]["lang"] == "en"
    assert metas[0]["fonts_substituted"] == {}
    assert "A convolutional neural network (CNN) reads pages; every later CNN is short." in text
    assert "*e.g*. optical character recognition" in text and "*e*" not in text
    assert "read lines [1, 3, 4]. Prices are quoted in dollars [2]." in text  # as printed
    assert "Table 1 lists the splits and Fig. 1 shows a plot, as Appendix A explains." in text
    assert "| Train |  120   | 1800  |" in text and "| Compile | runs TeX in a sandbox |" in text
    assert "# A Proofs\n\n## A.1 Long tables\n\nTable 2: Every stage." in text
    assert "[2] Eve Price. Costs of 5\\$ per page, 2021." in text
    assert "Figure 1: A plot drawn in PostScript." in text
    assert all(m["alignment_score"] > 0.9 for m in metas)


def test_a_chinese_paper_aligns_by_character(tmp_path: Path) -> None:
    shutil.copytree(PAPERS / "cjk", tmp_path / "in" / "cjk")
    docs, samples = build([tmp_path / "in"], tmp_path / "out")
    assert docs["in/cjk"]["status"] == "kept"
    ((files),) = samples.values()
    meta, markdown = json.loads(files["json"]), files["md"].decode()
    assert meta["lang"] == "zh" and meta["tex_engine"] == "xelatex"
    assert "# 1 引言\n\n视觉语言模型需要高质量的训练数据。" in markdown
    assert "文字。页面上" in markdown  # a source line break between CJK characters is no space
    assert meta["alignment_score"] > 0.95


def test_characters_a_font_draws_as_boxes_drop_their_page(tmp_path: Path) -> None:
    """The CJK font the paper names is installed but has no Chinese glyphs: each Chinese
    character is drawn as the font's missing-glyph box. The markdown would hold text the image
    does not show, so the page is dropped, naming the font. A CJK font that is not installed at
    all is replaced by an installed one of its kind instead, and its pages are kept."""
    for name, font in (("boxes", "DejaVu Serif"), ("nofont", "HYShuSongErS")):
        paper = tmp_path / "in" / name
        paper.mkdir(parents=True)
        (paper / "main.tex").write_text(
            f"\\documentclass{{article}}\\usepackage{{xeCJK}}\\setCJKmainfont{{{font}}}\n"
            "\\begin{document}\n中文文字 and English text.\\newpage\nOnly English here.\n"
            "\\end{document}\n",
            encoding="utf-8",
        )
    docs, samples = build([tmp_path / "in"], tmp_path / "out")
    assert docs["in/boxes"]["status"] == docs["in/nofont"]["status"] == "kept"
    rows = pq.read_table(tmp_path / "out" / "ledger" / "samples").to_pylist()
    boxed = sorted((row for row in rows if row["doc_id"] == "in/boxes"), key=lambda r: r["key"])
    assert (boxed[0]["status"], boxed[0]["filter"], boxed[0]["reason"]) == (
        "dropped",
        "arxiv",
        "missing_glyphs",
    )
    assert boxed[0]["detail"].startswith("page 1: 4 characters drawn as missing-glyph boxes")
    assert "DejaVuSerif (4)" in boxed[0]["detail"]
    assert boxed[1]["status"] == "kept"
    kept: dict[str, list[dict[str, bytes]]] = {}
    for files in samples.values():
        kept.setdefault(json.loads(files["json"])["doc_id"], []).append(files)
    assert [f["md"].decode() for f in kept["in/boxes"]] == ["Only English here."]
    substituted = [json.loads(f["json"]) for f in kept["in/nofont"]]
    assert len(substituted) == 2
    assert substituted[0]["fonts_substituted"] == {"HYShuSongErS": "Noto Serif CJK SC"}
